using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.HttpResults;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Gateway.Onnx;
using ModelGate.Gateway.Telemetry;
using ModelGate.Registry;
using ModelGate.Security;

namespace ModelGate.Gateway;

/// <summary>
/// Open Inference Protocol v2 (the KServe/Triton REST protocol) over deployments: <c>{name}</c> is a deployment; the
/// routing table picks the version unless the path pins one.
/// </summary>
public static class InferenceProtocolApi
{
    public const string RequestIdHeader = "x-modelgate-request-id";
    public const string VersionHeader = "x-modelgate-version";
    public const string RouteHeader = "x-modelgate-route";
    public const string InvalidInput = "invalid_inference_input";
    private const string PredictionItem = "modelgate.prediction";

    public static IEndpointRouteBuilder MapInferenceProtocolApi(this IEndpointRouteBuilder app)
    {
        var v2 = app.MapGroup("/v2").WithTags("Open Inference Protocol v2");
        v2.MapGet("/health/live", () => TypedResults.Ok(new { live = true })).AllowAnonymous();
        v2.MapGet("/health/ready", async (RoutingSnapshots routes, ArtifactIntegrity integrity, CancellationToken ct) =>
            !routes.Loaded ? Results.Problem(Problems.Create(503, "not_ready", "The routing tables are not loaded yet."))
            : await routes.FirstCorruptArtifactAsync(integrity, null, ct) is { } corrupt ? ArtifactsApi.Corrupt(corrupt)
            : Results.Ok(new { ready = true })).AllowAnonymous();
        v2.MapGet("/models/{name}", ModelMetadata).RequireAuthorization(Permissions.Infer).ForOwnDeployment();
        v2.MapGet("/models/{name}/versions/{version}", ModelMetadata).RequireAuthorization(Permissions.Infer).ForOwnDeployment();
        v2.MapGet("/models/{name}/ready", ModelReady).RequireAuthorization(Permissions.Infer).ForOwnDeployment();
        v2.MapPost("/models/{name}/infer", Infer).RequireAuthorization(Permissions.Infer).AllowScopedKeys().AddEndpointFilter(LogRequestCounted);
        v2.MapPost("/models/{name}/versions/{version}/infer", Infer).RequireAuthorization(Permissions.Infer).AllowScopedKeys().AddEndpointFilter(LogRequestCounted);
        return app;
    }

    public static async Task<Results<Ok<JsonObject>, ProblemHttpResult>> ModelMetadata(string name, string? version, RoutingSnapshots routes,
        OnnxModelCache models, CancellationToken cancellationToken)
    {
        var (route, _, problem) = Resolve(routes, name, version, null);
        if (route is null)
        {
            return problem!;
        }
        if (route.Upstream is not null || route.OnnxSha256.Length == 0)
        {
            return WrongProtocol(name);
        }
        OnnxModel model;
        try
        {
            model = await models.GetAsync(route.OnnxSha256, cancellationToken);
        }
        catch (ArtifactCorruptException e)
        {
            return ArtifactsApi.Corrupt(e.Digest);
        }
        var deployment = routes.Find(name)!;
        return TypedResults.Ok(new JsonObject
        {
            ["name"] = name,
            ["versions"] = new JsonArray(deployment.Versions.Select(v => (JsonNode)v.Version).ToArray()),
            ["platform"] = "onnxruntime_onnx",
            ["inputs"] = Describe(model.Inputs),
            ["outputs"] = Describe(model.Outputs),
        });
    }

    /// <summary>Ready unless an ONNX artifact the deployment routes is corrupt on disk (503 <c>artifact_corrupt</c>, <c>ready: false</c>).</summary>
    public static async Task<Results<Ok<JsonObject>, ProblemHttpResult>> ModelReady(string name, RoutingSnapshots routes, ArtifactIntegrity integrity,
        CancellationToken cancellationToken)
    {
        if (routes.Find(name) is null)
        {
            return UnknownDeployment(name);
        }
        if (await routes.FirstCorruptArtifactAsync(integrity, name, cancellationToken) is { } corrupt)
        {
            var problem = ArtifactsApi.Corrupt(corrupt);
            problem.ProblemDetails.Extensions["name"] = name;
            problem.ProblemDetails.Extensions["ready"] = false;
            return problem;
        }
        return TypedResults.Ok(new JsonObject { ["name"] = name, ["ready"] = true });
    }

    /// <summary>Batches up to this many rows are scored where the request arrived; larger ones on the thread pool (see <see cref="Hosting.InlineIO"/>).</summary>
    private const int InlineRowLimit = 64;

    public static async Task<Results<Ok<JsonObject>, ProblemHttpResult>> Infer(string name, string? version, HttpContext context, RoutingSnapshots routes,
        OnnxModelCache models, DataPlaneGuard guard, CancellationToken cancellationToken)
    {
        var requestId = Activity.Current?.TraceId.ToString() ?? Guid.NewGuid().ToString("N");
        context.Response.Headers[RequestIdHeader] = requestId;
        if (await guard.CheckAsync(context, name, version is not null) is { } refused)
        {
            return refused;
        }
        var sticky = routes.Find(name)?.Stickiness?.Header is { } header ? (string?)context.Request.Headers[header] : null;
        var (route, kind, problem) = Resolve(routes, name, version, sticky);
        if (route is null)
        {
            return problem!;
        }
        if (route.Upstream is not null || route.OnnxSha256.Length == 0)
        {
            return WrongProtocol(name);
        }
        context.Response.Headers[VersionHeader] = route.Version;
        context.Response.Headers[RouteHeader] = kind;

        JsonDocument body;
        try
        {
            body = await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: cancellationToken);
        }
        catch (JsonException e)
        {
            return Problems.Result(400, ProblemCodes.MalformedJson, "The request body is not well-formed JSON.", e.Message);
        }
        using (body)
        {
            // The text rule for client input, checked over the bytes as they came (no string is made unless one breaks it).
            if (ClientText.CheckJson(System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(body.RootElement)) is { } fault)
            {
                var field = ClientJson.Find(body.RootElement, int.MaxValue) is { Path.Length: > 0 } found ? found.Path : "body";
                return TypedResults.Problem(ClientJson.Problem(ProblemCodes.InvalidText, field, fault.Reason));
            }
            OnnxModel model;
            try
            {
                model = await models.GetAsync(route.OnnxSha256, cancellationToken);
            }
            catch (ArtifactCorruptException e)
            {
                return ArtifactsApi.Corrupt(e.Digest);
            }
            var (columns, rows, error) = InferenceRequest.Read(body.RootElement, model);
            if (columns is null)
            {
                return error!;
            }
            if (rows > InlineRowLimit)
            {
                await Hosting.InlineIO.LeaveSocketThreadAsync();
            }
            IReadOnlyDictionary<string, OnnxOutput> outputs;
            try
            {
                outputs = model.Run(columns, rows);
            }
            catch (TensorInputException e)
            {
                return Problems.Result(400, InvalidInput, "An input does not fit the model.", e.Message, new Dictionary<string, object?> { ["input"] = e.Input });
            }
            var time = context.RequestServices.GetRequiredService<TimeProvider>();
            if (ClassifierOutputs.TryRead(outputs, rows, out var served))
            {
                context.RequestServices.GetRequiredService<GatewayTelemetry>().RecordPredictions(name, route.Version, kind, time.GetUtcNow().UtcDateTime, served);
            }
            if (version is null && routes.Find(name)?.ShadowFor() is { Upstream: null, OnnxSha256.Length: > 0 } shadow)
            {
                Mirror(context, name, requestId, shadow, models, columns, rows, served);
            }
            var samples = context.RequestServices.GetRequiredService<InputSamples>();
            if (samples.ShouldSample())
            {
                samples.AddTensorRows(name, route.Version, time.GetUtcNow().UtcDateTime, columns, rows);
            }
            if (rows == 1 && outputs.TryGetValue("label", out var label) && label.Data is Array { Length: > 0 } predicted)
            {
                // Kept with the request-log record so that feedback with the true label can be judged against it.
                context.Items[PredictionItem] = Convert.ToString(predicted.GetValue(0), System.Globalization.CultureInfo.InvariantCulture);
            }
            var requested = InferenceRequest.RequestedOutputs(body.RootElement);
            var response = new JsonObject
            {
                ["model_name"] = name,
                ["model_version"] = route.Version,
                ["id"] = body.RootElement.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String ? id.GetString() : requestId,
                ["outputs"] = new JsonArray(outputs.Where(o => requested is null || requested.Contains(o.Key)).Select(o => (JsonNode)new JsonObject
                {
                    ["name"] = o.Key,
                    ["datatype"] = o.Value.Datatype,
                    ["shape"] = new JsonArray(o.Value.Shape.Select(d => (JsonNode)d).ToArray()),
                    ["data"] = JsonSerializer.SerializeToNode(o.Value.Data),
                }).ToArray()),
            };
            return TypedResults.Ok(response);
        }
    }

    /// <summary>
    /// The shadow scores the same rows in the background; the client neither waits for it nor sees its answer. Its predictions
    /// are compared with what the served version answered (<paramref name="served"/>). Everything the background work needs is
    /// taken now: the HttpContext is recycled once the response is sent.
    /// </summary>
    private static void Mirror(HttpContext context, string name, string requestId, VersionRoute shadow, OnnxModelCache models,
        IReadOnlyDictionary<string, Array> columns, int rows, ClassifierOutputs served)
    {
        var log = context.RequestServices.GetRequiredService<RequestLog>();
        var telemetry = context.RequestServices.GetRequiredService<GatewayTelemetry>();
        var time = context.RequestServices.GetRequiredService<TimeProvider>();
        var keyId = (context.Items[typeof(AuthenticatedKey)] as AuthenticatedKey)?.Id;
        log.RecordInBackground(async () =>
        {
            var started = time.GetTimestamp();
            var status = 200;
            try
            {
                var outputs = (await models.GetAsync(shadow.OnnxSha256, CancellationToken.None)).Run(columns, rows);
                if (ClassifierOutputs.TryRead(outputs, rows, out var mirrored))
                {
                    telemetry.RecordShadowPredictions(name, shadow.Version, time.GetUtcNow().UtcDateTime, mirrored, served);
                }
            }
            catch (Exception e) when (e is TensorInputException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException or ArtifactCorruptException)
            {
                status = 500;
            }
            log.Add(new Storage.Gateway.RequestLogEntity
            {
                RequestId = requestId, Time = time.GetUtcNow().UtcDateTime, Deployment = name, Version = shadow.Version, Route = RouteKinds.Shadow,
                Protocol = "oip-v2", Status = status, LatencyMs = time.GetElapsedTime(started).TotalMilliseconds,
                KeyId = keyId,
            });
        });
    }

    private static (VersionRoute? Route, string Kind, ProblemHttpResult? Problem) Resolve(RoutingSnapshots routes, string name, string? version, string? sticky)
    {
        var deployment = routes.Find(name);
        if (deployment is null)
        {
            return (null, "", UnknownDeployment(name));
        }
        if (version is null)
        {
            var (route, kind) = deployment.Choose(sticky);
            return (route, kind, null);
        }
        var pinned = deployment.Versions.FirstOrDefault(v => v.Version == version);
        return pinned is null
            ? (null, "", Problems.NotFound("version_not_routed", $"deployment '{ClientText.Echo(name)}' does not route version '{ClientText.Echo(version)}' (it routes {string.Join(", ", deployment.Versions.Select(v => v.Version))})"))
            : (pinned, RouteKinds.Pinned, null);
    }

    /// <summary>
    /// <see cref="LogRequest"/>, counted as a recording in flight while it runs: a client that gave up waiting may flush the
    /// request log (<see cref="RequestLog.FlushAsync"/>) and still find the record the server makes once it notices.
    /// </summary>
    private static async ValueTask<object?> LogRequestCounted(EndpointFilterInvocationContext invocation, EndpointFilterDelegate next)
    {
        var log = invocation.HttpContext.RequestServices.GetRequiredService<RequestLog>();
        var recording = log.BeginRecording();
        try
        {
            return await LogRequest(invocation, next);
        }
        finally
        {
            log.EndRecording(recording);
        }
    }

    /// <summary>Writes one request-log record per infer call, whatever its outcome.</summary>
    private static async ValueTask<object?> LogRequest(EndpointFilterInvocationContext invocation, EndpointFilterDelegate next)
    {
        var context = invocation.HttpContext;
        var time = context.RequestServices.GetRequiredService<TimeProvider>();
        var started = time.GetTimestamp();
        object? result;
        int status;
        try
        {
            result = await next(invocation);
            var outcome = result is INestedHttpResult nested ? nested.Result : result;
            status = outcome is IStatusCodeHttpResult { StatusCode: { } code } ? code : context.Response.StatusCode;
        }
        catch (Exception e)
        {
            // Recorded too: a client that went away (499, as nginx logs it), a body the server refused (413), or a failure
            // the exception handler answers (500).
            Record(context.RequestAborted.IsCancellationRequested ? StatusCodes.Status499ClientClosedRequest
                : e is BadHttpRequestException bad ? bad.StatusCode
                : StatusCodes.Status500InternalServerError);
            throw;
        }
        Record(status);
        return result;

        void Record(int status) => context.RequestServices.GetRequiredService<RequestLog>().Add(new Storage.Gateway.RequestLogEntity
        {
            RequestId = context.Response.Headers[RequestIdHeader].ToString() is { Length: > 0 } id ? id : context.TraceIdentifier,
            Time = time.GetUtcNow().UtcDateTime,
            KeyId = (context.Items[typeof(AuthenticatedKey)] as AuthenticatedKey)?.Id,
            Deployment = invocation.HttpContext.GetRouteValue("name") as string ?? "-",
            Version = context.Response.Headers[VersionHeader].ToString() is { Length: > 0 } v ? v : null,
            Route = context.Response.Headers[RouteHeader].ToString() is { Length: > 0 } r ? r : null,
            Protocol = "oip-v2",
            Status = status,
            LatencyMs = time.GetElapsedTime(started).TotalMilliseconds,
            Prediction = context.Items[PredictionItem] as string,
        });
    }

    private static ProblemHttpResult WrongProtocol(string name) =>
        Problems.Result(400, ProblemCodes.WrongProtocol, "This deployment serves through an upstream.",
            $"'{name}' is served by the OpenAI-compatible API: POST /v1/chat/completions with model '{name}'");

    private static ProblemHttpResult UnknownDeployment(string name) =>
        DeploymentsApi.NotFound(name);

    private static JsonArray Describe(IEnumerable<TensorSpec> specs) =>
        new(specs.Select(s => (JsonNode)new JsonObject
        {
            ["name"] = s.Name,
            ["datatype"] = s.Datatype,
            ["shape"] = new JsonArray(s.Shape.Select(d => (JsonNode)d).ToArray()),
        }).ToArray());
}
