# syntax=docker/dockerfile:1
# ModelGate: one image for every role (modelgate serve --role all|control|gateway).
#   docker build -t modelgate .
#   docker run --read-only --tmpfs /tmp -v modelgate-data:/data -p 8080:8080 modelgate
# The build stage runs on the builder's platform and publishes for the target's (docker buildx --platform linux/amd64,linux/arm64).

FROM --platform=$BUILDPLATFORM mcr.microsoft.com/dotnet/sdk:10.0 AS build
ARG TARGETARCH
WORKDIR /src
# Restore first, from the project files only, so that a source change does not download the packages again. global.json is
# left out on purpose: the SDK image is the pin here (its tag, or better its digest), and a global.json asking for a newer
# feature band than the image carries would stop the build.
COPY Directory.Build.props Directory.Packages.props ./
COPY src/ModelGate/ModelGate.csproj src/ModelGate/
COPY src/ModelGate.Client/ModelGate.Client.csproj src/ModelGate.Client/
COPY src/ModelGate.Storage/ModelGate.Storage.csproj src/ModelGate.Storage/
COPY src/ModelGate.Storage.Sqlite/ModelGate.Storage.Sqlite.csproj src/ModelGate.Storage.Sqlite/
COPY src/ModelGate.Storage.Postgres/ModelGate.Storage.Postgres.csproj src/ModelGate.Storage.Postgres/
RUN dotnet restore src/ModelGate/ModelGate.csproj -a $TARGETARCH
COPY src/ src/
# Framework-dependent for the target architecture only (the ONNX Runtime's native library of that platform, not of all six).
RUN dotnet publish src/ModelGate/ModelGate.csproj -c Release -a $TARGETARCH --no-restore -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS final
# The image's unprivileged user "app" (uid and gid 1654). The application files stay root's and read-only to it; it writes
# only to /data (the SQLite file, artifacts, secret.key, audit keys and checkpoints) and /tmp (archive spools, the runtime's
# diagnostic sockets), so the container runs with a read-only root filesystem when both are volumes.
WORKDIR /app
COPY --from=build /app ./
RUN mkdir -p /data && chown 1654:1654 /data && chmod 0700 /data
ENV MODELGATE_DATA=/data \
    ASPNETCORE_URLS=http://+:8080 \
    ASPNETCORE_HTTP_PORTS= \
    MODELGATE_URL=http://127.0.0.1:8080 \
    DOTNET_NOLOGO=1
VOLUME ["/data", "/tmp"]
EXPOSE 8080
USER 1654:1654
# The runtime image has no curl or wget: the binary asks /healthz itself (modelgate health; MODELGATE_URL says where).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["/app/modelgate", "health", "--timeout", "3"]
ENTRYPOINT ["/app/modelgate", "serve"]
