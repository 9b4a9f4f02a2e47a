using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.Features;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Gateway.Telemetry;
using ModelGate.Security;

namespace ModelGate.Gateway;

/// <summary>
/// The OpenAI-compatible API over <c>upstream</c> deployments: <c>model</c> names a deployment (or
/// <c>deployment@version</c>); the routing table picks the version, the gateway applies its prompt template and forwards
/// the request, passing unknown fields through and streaming server-sent events through as they arrive.
/// </summary>
public static class OpenAiApi
{
    public static IEndpointRouteBuilder MapOpenAiApi(this IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/v1").WithTags("OpenAI-compatible").RequireAuthorization(Permissions.Infer);
        foreach (var path in new[] { "chat/completions", "completions", "embeddings" })
        {
            v1.MapPost("/" + path, (HttpContext c, RoutingSnapshots r, UpstreamForwarder f, DataPlaneGuard g, RequestLog log, InputSamples samples,
                TimeProvider time) => LoggedAsync(c, path, r, f, g, log, samples, time));
        }
        v1.MapGet("/models", ListModels);
        return app;
    }

    public static IResult ListModels(RoutingSnapshots routes) => Results.Json(new
    {
        @object = "list",
        data = routes.All.Where(r => r.Stable.Upstream is not null).OrderBy(r => r.Name, StringComparer.Ordinal)
            .Select(r => new { id = r.Name, @object = "model", created = 0, owned_by = "modelgate" }),
    });

    /// <summary>What one request did, filled in as it goes and written to the request log at the end.</summary>
    private sealed class Exchange
    {
        public string Deployment = "-";
        public VersionRoute? Served;
        public string? Route;
        public double? UpstreamMs;
        public JsonObject? RequestBody;
        public CaptureBuffer? Response;
    }

    private static async Task LoggedAsync(HttpContext context, string path, RoutingSnapshots routes, UpstreamForwarder forwarder, DataPlaneGuard guard,
        RequestLog log, InputSamples samples, TimeProvider time)
    {
        var started = time.GetTimestamp();
        var exchange = new Exchange();
        try
        {
            await ForwardAsync(context, path, routes, forwarder, guard, exchange);
        }
        finally
        {
            var (prompt, completion) = exchange.Response is { } response ? Usage.Read(response) : (null, null);
            string? usageSource = prompt is null ? null : UsageSources.Upstream;
            var succeeded = exchange.Response is not null && context.Response.StatusCode is >= 200 and < 300;
            string? completionText = null;
            if (succeeded && prompt is null && exchange.RequestBody is not null)
            {
                // The upstream reported no usage: count it ourselves, so that limits, budgets and costs still hold.
                completionText = ChatText.Completion(exchange.Response!.Text(), exchange.Response.Streamed);
                prompt = TokenCounter.CountPrompt(exchange.RequestBody, exchange.Served?.SystemPrompt);
                completion = path == "embeddings" ? 0 : TokenCounter.Count(completionText);
                usageSource = UsageSources.Tokenizer;
            }
            var upstream = exchange.Served?.Upstream;
            double? cost = upstream?.InputPricePer1K is null && upstream?.OutputPricePer1K is null
                ? null
                : (prompt ?? 0) / 1000.0 * (upstream.InputPricePer1K ?? 0) + (completion ?? 0) / 1000.0 * (upstream.OutputPricePer1K ?? 0);
            string? payload = null;
            if (exchange.RequestBody is not null && log.ShouldCapturePayload())
            {
                payload = PersonalDataRedactor.Redact(new JsonObject
                {
                    ["request"] = exchange.RequestBody.DeepClone(),
                    ["response"] = exchange.Response?.Text(),
                }.ToJsonString());
            }
            await guard.ChargeAsync(context.Items[typeof(AuthenticatedKey)] as AuthenticatedKey, (prompt ?? 0) + (completion ?? 0), cost ?? 0);
            log.Add(new Storage.Gateway.RequestLogEntity
            {
                RequestId = context.TraceIdentifier,
                Time = time.GetUtcNow().UtcDateTime,
                KeyId = (context.Items[typeof(AuthenticatedKey)] as AuthenticatedKey)?.Id,
                Deployment = exchange.Deployment,
                Version = exchange.Served?.Version,
                Route = exchange.Route,
                Protocol = "openai",
                Status = context.Response.StatusCode,
                LatencyMs = time.GetElapsedTime(started).TotalMilliseconds,
                UpstreamLatencyMs = exchange.UpstreamMs,
                PromptTokens = prompt,
                CompletionTokens = completion,
                Cost = cost,
                Payload = payload,
                UsageSource = usageSource,
            });
            if (exchange.Served is { } served && exchange.RequestBody is not null && samples.ShouldSample(chat: true))
            {
                completionText ??= succeeded ? ChatText.Completion(exchange.Response!.Text(), exchange.Response.Streamed) : "";
                samples.AddChat(exchange.Deployment, served.Version, time.GetUtcNow().UtcDateTime, ChatText.PromptLength(exchange.RequestBody),
                    completionText.Length, prompt, completion);
            }
        }
    }

    private static async Task ForwardAsync(HttpContext context, string path, RoutingSnapshots routes, UpstreamForwarder forwarder, DataPlaneGuard guard,
        Exchange exchange)
    {
        var ct = context.RequestAborted;
        context.Response.Headers[InferenceProtocolApi.RequestIdHeader] = context.TraceIdentifier;
        JsonObject body;
        try
        {
            body = await JsonNode.ParseAsync(context.Request.Body, cancellationToken: ct) as JsonObject
                   ?? throw new JsonException("the body must be a JSON object");
        }
        catch (JsonException e)
        {
            await Problems.Result(400, ProblemCodes.MalformedJson, "The request body is not a JSON object.", e.Message).ExecuteAsync(context);
            return;
        }
        if (body["model"] is not JsonValue modelValue || !modelValue.TryGetValue<string>(out var model) || model.Length == 0)
        {
            await Problems.Validation("model", "'model' names a deployment (or deployment@version)").ExecuteAsync(context);
            return;
        }
        var at = model.IndexOf('@');
        var (name, pinnedVersion) = at > 0 ? (model[..at], model[(at + 1)..]) : (model, null);
        exchange.Deployment = name;
        exchange.RequestBody = body;
        if (await guard.CheckAsync(context, name, pinnedVersion is not null) is { } refused)
        {
            await refused.ExecuteAsync(context);
            return;
        }
        var deployment = routes.Find(name);
        if (deployment is null)
        {
            await DeploymentsApi.NotFound(name).ExecuteAsync(context);
            return;
        }
        VersionRoute route;
        string kind;
        if (pinnedVersion is not null)
        {
            var pinned = deployment.Versions.FirstOrDefault(v => v.Version == pinnedVersion);
            if (pinned is null)
            {
                await Problems.NotFound("version_not_routed", $"deployment '{name}' does not route version '{pinnedVersion}'").ExecuteAsync(context);
                return;
            }
            (route, kind) = (pinned, RouteKinds.Pinned);
        }
        else
        {
            string? sticky = deployment.Stickiness switch
            {
                { Header: { } h } => context.Request.Headers[h],
                { User: true } => body["user"]?.GetValue<string>(),
                _ => null,
            };
            (route, kind) = deployment.Choose(sticky);
        }
        if (route.Upstream is null)
        {
            await Problems.Result(400, "wrong_protocol", "This deployment serves an ONNX model.",
                $"'{name}' is served by Open Inference Protocol v2: POST /v2/models/{name}/infer").ExecuteAsync(context);
            return;
        }

        var stream = body["stream"] is JsonValue s && s.TryGetValue<bool>(out var streaming) && streaming;
        if (pinnedVersion is null && deployment.ShadowFor() is { Upstream: not null } shadow)
        {
            // Mirrored after the fact and never awaited: the shadow's answer and its latency stay out of the client's request.
            // Everything the mirror needs is taken now: the HttpContext is recycled once the response is sent.
            var copy = (JsonObject)body.DeepClone();
            var log = context.RequestServices.GetRequiredService<RequestLog>();
            var time = context.RequestServices.GetRequiredService<TimeProvider>();
            var keyId = (context.Items[typeof(AuthenticatedKey)] as AuthenticatedKey)?.Id;
            _ = Task.Run(() => MirrorAsync(forwarder, shadow, path, copy, stream, log, time, name, keyId));
        }
        var upstreamClock = System.Diagnostics.Stopwatch.StartNew();
        var (response, served, servedKind) = await SendWithFallbackAsync(forwarder, deployment, route, kind, path, body, stream, ct);
        exchange.UpstreamMs = upstreamClock.Elapsed.TotalMilliseconds;
        (exchange.Served, exchange.Route) = (served, servedKind);
        if (response is null)
        {
            await Problems.Result(502, "upstream_unavailable", "The upstream did not answer.",
                $"{name}@{route.Version}: the upstream failed or timed out before answering, after retries").ExecuteAsync(context);
            return;
        }
        using (response)
        {
            context.Response.StatusCode = (int)response.StatusCode;
            context.Response.Headers[InferenceProtocolApi.VersionHeader] = served.Version;
            context.Response.Headers[InferenceProtocolApi.RouteHeader] = servedKind;
            if (response.Content.Headers.ContentType is { } contentType)
            {
                context.Response.ContentType = contentType.ToString();
            }
            // Server-sent events go out chunk by chunk; nothing in between may hold them back.
            context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
            await using var upstreamBody = await response.Content.ReadAsStreamAsync(ct);
            exchange.Response = new CaptureBuffer(stream);
            var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(16 * 1024);
            // One idle timer for the whole response, re-armed before every read.
            using var idle = CancellationTokenSource.CreateLinkedTokenSource(ct);
            try
            {
                while (true)
                {
                    idle.CancelAfter(served.Upstream!.IdleTimeout);
                    int read;
                    try
                    {
                        read = await upstreamBody.ReadAsync(buffer, idle.Token);
                    }
                    catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                    {
                        break; // the upstream went idle: end the response rather than hang the client
                    }
                    if (read == 0)
                    {
                        break;
                    }
                    await context.Response.Body.WriteAsync(buffer.AsMemory(0, read), ct);
                    exchange.Response.Append(buffer.AsSpan(0, read));
                    if (stream)
                    {
                        await context.Response.Body.FlushAsync(ct);
                    }
                }
            }
            finally
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    private static async Task MirrorAsync(UpstreamForwarder forwarder, VersionRoute shadow, string path, JsonObject body, bool stream, RequestLog log,
        TimeProvider time, string deployment, string? keyId)
    {
        var started = time.GetTimestamp();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var status = 502;
        try
        {
            using var response = await SendAsync(forwarder, shadow, path, body, stream, timeout.Token);
            if (response is not null)
            {
                status = (int)response.StatusCode;
                await response.Content.CopyToAsync(Stream.Null, timeout.Token);
            }
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or IOException)
        {
        }
        log.Add(new Storage.Gateway.RequestLogEntity
        {
            RequestId = Guid.NewGuid().ToString("N"),
            Time = time.GetUtcNow().UtcDateTime,
            KeyId = keyId,
            Deployment = deployment,
            Version = shadow.Version,
            Route = RouteKinds.Shadow,
            Protocol = "openai",
            Status = status,
            LatencyMs = time.GetElapsedTime(started).TotalMilliseconds,
        });
    }

    /// <summary>
    /// Tries the chosen version within its retry budget; when a canary (or pinned) version cannot answer, the stable
    /// version answers instead and the response says <c>fallback</c>.
    /// </summary>
    private static async Task<(HttpResponseMessage? Response, VersionRoute Served, string Kind)> SendWithFallbackAsync(UpstreamForwarder forwarder,
        DeploymentRoute deployment, VersionRoute route, string kind, string path, JsonObject body, bool stream, CancellationToken ct)
    {
        var response = await SendAsync(forwarder, route, path, body, stream, ct);
        if (response is not null || route == deployment.Stable || deployment.Stable.Upstream is null)
        {
            return (response, route, kind);
        }
        return (await SendAsync(forwarder, deployment.Stable, path, body, stream, ct), deployment.Stable, RouteKinds.Fallback);
    }

    private static async Task<HttpResponseMessage?> SendAsync(UpstreamForwarder forwarder, VersionRoute route, string path, JsonObject original, bool stream,
        CancellationToken ct)
    {
        var body = (JsonObject)original.DeepClone();
        body["model"] = route.Upstream!.Model;
        if (stream)
        {
            // Ask for usage on streams too, so that streamed requests are accounted like plain ones.
            var options = body["stream_options"] as JsonObject ?? new JsonObject();
            options["include_usage"] = true;
            body["stream_options"] = options;
        }
        if (route.SystemPrompt is { Length: > 0 } system && body["messages"] is JsonArray messages)
        {
            messages.Insert(0, new JsonObject { ["role"] = "system", ["content"] = system });
        }
        for (var attempt = 0; attempt <= route.Upstream.Retries; attempt++)
        {
            var response = await forwarder.TrySendAsync(route.Upstream, path, body, ct);
            if (response is not null)
            {
                return response;
            }
        }
        return null;
    }
}
