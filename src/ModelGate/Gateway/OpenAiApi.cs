using System.Buffers;
using System.Collections.Frozen;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Gateway.Telemetry;
using ModelGate.Security;
using ModelGate.Storage;

namespace ModelGate.Gateway;

/// <summary>
/// The OpenAI-compatible API over <c>upstream</c> deployments: <c>model</c> names a deployment (or
/// <c>deployment@version</c>); the routing table picks the version, the gateway applies its prompt template and forwards
/// the request, passing unknown fields through and streaming server-sent events through as they arrive.
/// </summary>
public static class OpenAiApi
{
    private const string ChatPath = "chat/completions";
    /// <summary>OpenAI's Responses API, forwarded to upstreams that speak it.</summary>
    private const string ResponsesPath = "responses";
    private static readonly string[] Paths = [ChatPath, "completions", "embeddings", ResponsesPath];

    public static IEndpointRouteBuilder MapOpenAiApi(this IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/v1").WithTags("OpenAI-compatible").RequireAuthorization(Permissions.Infer).AllowScopedKeys();
        foreach (var (path, handler) in Handlers(app.ServiceProvider))
        {
            v1.MapPost("/" + path, handler);
        }
        v1.MapGet("/models", ListModels);
        return app;
    }

    /// <summary>
    /// The OpenAI routes ahead of the general middleware: <c>POST /v1/chat/completions</c>, <c>/v1/completions</c>,
    /// <c>/v1/embeddings</c> and <c>/v1/responses</c> are answered here, with the same key check
    /// (<see cref="ApiKeyAuthenticationHandler.AuthenticateAsync"/>), the same policy (<see cref="Permissions.Infer"/>)
    /// and the same handlers as the endpoints <see cref="MapOpenAiApi"/> maps, but without a per-request authentication
    /// handler, authorization service, status-code pages and endpoint dispatch. Every other request goes on down the
    /// pipeline. Body limits and the exception handler come before this.
    /// </summary>
    public static IApplicationBuilder UseOpenAiFastPath(this IApplicationBuilder app)
    {
        var handlers = Handlers(app.ApplicationServices).ToDictionary(h => "/v1/" + h.Path, h => h.Handler, StringComparer.OrdinalIgnoreCase)
            .ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);
        var keys = app.ApplicationServices.GetRequiredService<ApiKeyService>();
        var allowed = Permissions.Policies[Permissions.Infer];
        return app.Use(async (context, next) =>
        {
            if (!HttpMethods.IsPost(context.Request.Method) || !handlers.TryGetValue(context.Request.Path.Value ?? "", out var handler))
            {
                await next(context);
                return;
            }
            var (key, failure) = await ApiKeyAuthenticationHandler.AuthenticateAsync(context, keys);
            if (key is null)
            {
                await ApiKeyAuthenticationHandler.ChallengeAsync(context, failure);
                return;
            }
            context.User = key.Principal;
            if (!key.Roles.Any(allowed.Contains))
            {
                await ProblemAuthorizationResultHandler.ForbidAsync(context, allowed);
                return;
            }
            await handler(context);
        });
    }

    /// <summary>The handlers of the OpenAI routes; the services are singletons, taken once here rather than from each request's scope.</summary>
    private static IEnumerable<(string Path, RequestDelegate Handler)> Handlers(IServiceProvider services)
    {
        var (routes, forwarder, guard, log, samples, time) = (services.GetRequiredService<RoutingSnapshots>(), services.GetRequiredService<UpstreamForwarder>(),
            services.GetRequiredService<DataPlaneGuard>(), services.GetRequiredService<RequestLog>(), services.GetRequiredService<InputSamples>(),
            services.GetRequiredService<TimeProvider>());
        var limit = services.GetRequiredService<IOptions<LimitsOptions>>().Value.MaxRequestBodyBytes;
        var recorder = new Recorder(guard, log, samples, time, services.GetRequiredService<GatewayTelemetry>());
        return Paths.Select(path => (path, (RequestDelegate)(c => LoggedAsync(c, path, limit, routes, forwarder, recorder)))).ToList();
    }

    public static IResult ListModels(RoutingSnapshots routes, HttpContext context) => Results.Json(new
    {
        @object = "list",
        data = routes.All.Where(r => r.Stable.Upstream is not null && DeploymentScope.Allows(context, r.Name)).OrderBy(r => r.Name, StringComparer.Ordinal)
            .Select(r => new { id = r.Name, @object = "model", created = 0, owned_by = "modelgate" }),
    });

    /// <summary>What one request did, filled in as it goes and recorded once the response is out.</summary>
    private sealed class Exchange
    {
        public string Deployment = "-";
        public VersionRoute? Served;
        public string? Route;
        public double? UpstreamMs;
        public OpenAiRequest? Request;
        public CaptureBuffer? Response;
        public byte[]? Body;
        public int Status;
        /// <summary>The status line sent (the upstream's, once it answered), even when <see cref="Status"/> says the client left.</summary>
        public int ResponseStatus;
        public bool IdleCut;
        public AuthenticatedKey? Key;
        /// <summary>What the request holds of its key's token limit and budget, settled once its usage is known.</summary>
        public DataPlaneGuard.Reservation? Reservation;
        public string RequestId = "";
        public double LatencyMs;
        public string Path = "";
        public required Recorder Recorder;
        /// <summary>When the attempt that served the request was sent (<see cref="TimeProvider.GetTimestamp"/>).</summary>
        public long SentAt;
        /// <summary>Milliseconds from <see cref="SentAt"/> to the answer's first body byte; negative until one arrived.</summary>
        public double FirstByteMs = -1;
        /// <summary>The chosen version when it failed and the stable version was tried instead: its route kind, status and time spent.</summary>
        public VersionRoute? Failed;
        public string? FailedKind;
        public int FailedStatus;
        public double FailedMs;
        /// <summary>Set when the request was mirrored to a shadow version and the stable version was chosen to answer it.</summary>
        public ShadowComparison? Comparison;
        /// <summary>The request log's count of records in flight (<see cref="RequestLog.BeginRecording"/>), ended once recorded.</summary>
        public int Recording;
    }

    /// <summary>The services that account and record a finished exchange.</summary>
    private sealed record Recorder(DataPlaneGuard Guard, RequestLog Log, InputSamples Samples, TimeProvider Time, GatewayTelemetry Telemetry);

    /// <summary>
    /// Pairs a mirrored request's two answers, the stable version's (known when its exchange is accounted) and the shadow's
    /// (known when the mirror finishes), without a lock: each side leaves its figures, and the second to finish records the
    /// comparison on the shadow series, when both succeeded.
    /// </summary>
    private sealed class ShadowComparison(string deployment, string shadowVersion)
    {
        private long _stableTokens, _shadowTokens;
        private double _stableMs, _shadowMs;
        private bool _stableSucceeded, _shadowSucceeded;
        private int _finished;

        public void Stable(bool succeeded, long completionTokens, double latencyMs, GatewayTelemetry telemetry, DateTime now)
        {
            (_stableSucceeded, _stableTokens, _stableMs) = (succeeded, completionTokens, latencyMs);
            Finish(telemetry, now);
        }

        public void Shadow(bool succeeded, long completionTokens, double latencyMs, GatewayTelemetry telemetry, DateTime now)
        {
            (_shadowSucceeded, _shadowTokens, _shadowMs) = (succeeded, completionTokens, latencyMs);
            Finish(telemetry, now);
        }

        private void Finish(GatewayTelemetry telemetry, DateTime now)
        {
            // The increment is a full fence: the second side to arrive sees the figures the first one left.
            if (Interlocked.Increment(ref _finished) == 2 && _stableSucceeded && _shadowSucceeded)
            {
                telemetry.RecordCompletionComparison(deployment, shadowVersion, now, _shadowTokens - _stableTokens, _shadowMs - _stableMs);
            }
        }
    }

    private static async Task LoggedAsync(HttpContext context, string path, long limit, RoutingSnapshots routes, UpstreamForwarder forwarder,
        Recorder recorder)
    {
        var time = recorder.Time;
        var started = time.GetTimestamp();
        var exchange = new Exchange { Path = path, Recorder = recorder, Recording = recorder.Log.BeginRecording() };
        try
        {
            await ForwardAsync(context, path, limit, routes, forwarder, recorder.Guard, recorder.Log, time, exchange);
        }
        finally
        {
            // A client that went away is logged as 499 (as nginx does), whatever status line may have gone out before.
            exchange.Status = exchange.IdleCut ? StatusCodes.Status504GatewayTimeout
                : context.RequestAborted.IsCancellationRequested ? StatusCodes.Status499ClientClosedRequest
                : context.Response.StatusCode;
            exchange.ResponseStatus = context.Response.StatusCode;
            exchange.Key = context.Items[typeof(AuthenticatedKey)] as AuthenticatedKey;
            exchange.RequestId = context.TraceIdentifier;
            exchange.LatencyMs = time.GetElapsedTime(started).TotalMilliseconds;
            if (exchange.Key is { TokensPerMinute: not null } or { CostBudget: not null })
            {
                // A key with a token limit or a budget is charged before this connection's next request is read, so
                // that a client sending one request after another cannot overrun its limit.
                await RecordAsync(exchange);
            }
            else
            {
                // The response is out: accounting and the request log are done on the thread pool, so that the connection's
                // next request (and the socket thread it arrives on) does not wait for them.
                ThreadPool.UnsafeQueueUserWorkItem(static e => _ = RecordAsync(e), exchange, preferLocal: false);
            }
        }
    }

    private static async Task RecordAsync(Exchange exchange)
    {
        try
        {
            await AccountAsync(exchange);
        }
        catch (Exception e)
        {
            exchange.Recorder.Log.RecordingFailed(e);
        }
        finally
        {
            exchange.Recorder.Log.EndRecording(exchange.Recording);
            if (exchange.Body is not null)
            {
                ArrayPool<byte>.Shared.Return(exchange.Body);
            }
        }
    }

    /// <summary>Accounting and monitoring of a finished request: usage (from the upstream or counted), cost, the key's limits, the request log.</summary>
    private static async Task AccountAsync(Exchange exchange)
    {
        var (path, log, samples, time) = (exchange.Path, exchange.Recorder.Log, exchange.Recorder.Samples, exchange.Recorder.Time);
        var (prompt, completion) = exchange.Response is { } response ? Usage.Read(response) : (null, null);
        string? usageSource = prompt is null ? null : UsageSources.Upstream;
        // A request the client abandoned mid-answer is still charged for what the upstream produced (a stream cut short
        // carries no usage, so its tokens are counted).
        var succeeded = exchange.Response is not null && (exchange.Status is >= 200 and < 300
            || exchange.Status == StatusCodes.Status499ClientClosedRequest && exchange.ResponseStatus is >= 200 and < 300);
        string? completionText = null;
        if (succeeded && prompt is null && exchange.Request is not null)
        {
            // The upstream reported no usage: count it ourselves, so that limits, budgets and costs still hold.
            completionText = ChatText.Completion(exchange.Response!.Text(), exchange.Response.Streamed);
            prompt = TokenCounter.CountPrompt(exchange.Request.Json, exchange.Served?.Prompt?.Texts(exchange.Request.PromptVariables), exchange.Request.Responses);
            completion = path == "embeddings" ? 0 : TokenCounter.Count(completionText);
            usageSource = UsageSources.Tokenizer;
        }
        var upstream = exchange.Served?.Upstream;
        double? cost = upstream?.InputPricePer1K is null && upstream?.OutputPricePer1K is null
            ? null
            : (prompt ?? 0) / 1000.0 * (upstream.InputPricePer1K ?? 0) + (completion ?? 0) / 1000.0 * (upstream.OutputPricePer1K ?? 0);
        if (exchange.Reservation is { } reservation)
        {
            DataPlaneGuard.Settle(reservation, (prompt ?? 0) + (completion ?? 0), cost ?? 0);
        }
        string? payload = null;
        if (exchange.Request is not null && log.ShouldCapturePayload())
        {
            payload = PersonalDataRedactor.Payload(exchange.Request.Json, exchange.Response, completionText);
        }
        var key = exchange.Key;
        var now = time.GetUtcNow().UtcDateTime;
        var telemetry = exchange.Recorder.Telemetry;
        if (exchange.Failed is { } failed)
        {
            // The chosen version's failure is its own, whoever answered the client: a record of its own (no usage, no cost), and
            // a fallback on its series when the stable version answered instead.
            log.Add(new Storage.Gateway.RequestLogEntity
            {
                RequestId = exchange.RequestId,
                Time = now,
                KeyId = key?.Id,
                Deployment = exchange.Deployment,
                Version = failed.Version,
                Route = RouteKinds.FailedAttempt,
                Protocol = "openai",
                Status = exchange.FailedStatus,
                LatencyMs = exchange.FailedMs,
                UpstreamLatencyMs = exchange.FailedMs,
            });
            if (exchange.Response is not null)
            {
                telemetry.RecordFallback(exchange.Deployment, failed.Version, RouteKinds.FailedAttempt, now);
            }
        }
        log.Add(new Storage.Gateway.RequestLogEntity
        {
            RequestId = exchange.RequestId,
            Time = now,
            KeyId = key?.Id,
            Deployment = exchange.Deployment,
            Version = exchange.Served?.Version,
            Route = exchange.Route,
            Protocol = "openai",
            Status = exchange.Status,
            LatencyMs = exchange.LatencyMs,
            UpstreamLatencyMs = exchange.UpstreamMs,
            PromptTokens = prompt,
            CompletionTokens = completion,
            Cost = cost,
            Payload = payload,
            UsageSource = usageSource,
        });
        if (exchange.FirstByteMs >= 0 && exchange.ResponseStatus is >= 200 and < 300 && exchange.Served is { } answered)
        {
            telemetry.RecordFirstByte(exchange.Deployment, answered.Version, exchange.Route!, now, exchange.FirstByteMs);
        }
        // Compared only when the whole answer came (not cut short by the client or an idle upstream).
        exchange.Comparison?.Stable(exchange.Status is >= 200 and < 300 && exchange.Response is not null && completion is not null, completion ?? 0,
            exchange.LatencyMs, telemetry, now);
        // An abandoned request's answer is cut short wherever the client left: not a sample of what the version answers.
        if (exchange.Served is { } served && exchange.Request is not null && exchange.Status != StatusCodes.Status499ClientClosedRequest
            && samples.ShouldSample(chat: true))
        {
            completionText ??= succeeded ? ChatText.Completion(exchange.Response!.Text(), exchange.Response.Streamed) : "";
            samples.AddChat(exchange.Deployment, served.Version, now, ChatText.PromptLength(exchange.Request.Json),
                completionText.Length, prompt, completion);
        }
    }

    /// <summary>
    /// The whole body in one pooled buffer (the caller returns it). A body past <paramref name="limit"/> fails with 413,
    /// which the exception handler answers as a problem (Kestrel enforces the same limit; other servers may not).
    /// </summary>
    private static async Task<(byte[] Buffer, int Length)> ReadBodyAsync(HttpRequest request, long limit, CancellationToken ct)
    {
        var reader = request.BodyReader;
        while (true)
        {
            var result = await reader.ReadAsync(ct);
            if (result.Buffer.Length > limit)
            {
                reader.AdvanceTo(result.Buffer.End);
                throw new BadHttpRequestException($"Request body too large. The max request body size is {limit} bytes.", StatusCodes.Status413PayloadTooLarge);
            }
            if (result.IsCompleted)
            {
                var length = checked((int)result.Buffer.Length);
                var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
                result.Buffer.CopyTo(buffer);
                reader.AdvanceTo(result.Buffer.End);
                return (buffer, length);
            }
            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    /// <summary>Answers the request. The pooled buffer holding the request body goes to <see cref="Exchange.Body"/> as soon as it is read, so that it is returned however the request ends.</summary>
    private static async Task ForwardAsync(HttpContext context, string path, long limit, RoutingSnapshots routes, UpstreamForwarder forwarder,
        DataPlaneGuard guard, RequestLog log, TimeProvider time, Exchange exchange)
    {
        var ct = context.RequestAborted;
        context.Response.Headers[InferenceProtocolApi.RequestIdHeader] = context.TraceIdentifier;
        var (buffer, length) = await ReadBodyAsync(context.Request, limit, ct);
        exchange.Body = buffer;
        OpenAiRequest request;
        try
        {
            request = OpenAiRequest.Parse(buffer, length, responses: path == ResponsesPath);
        }
        catch (ClientInputException e)
        {
            await TypedResults.Problem(ClientJson.Problem(e)).ExecuteAsync(context);
            return;
        }
        catch (JsonException e)
        {
            await Problems.Result(400, ProblemCodes.MalformedJson, "The request body is not a JSON object.", e.Message).ExecuteAsync(context);
            return;
        }
        if (request.Model is not { Length: > 0 } model)
        {
            await Problems.Validation("model", "'model' names a deployment (or deployment@version)").ExecuteAsync(context);
            return;
        }
        var at = model.IndexOf('@');
        var (name, pinnedVersion) = at > 0 ? (model[..at], model[(at + 1)..]) : (model, null);
        exchange.Deployment = name;
        exchange.Request = request;
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
                await Problems.NotFound("version_not_routed", $"deployment '{ClientText.Echo(name)}' does not route version '{ClientText.Echo(pinnedVersion)}'").ExecuteAsync(context);
                return;
            }
            (route, kind) = (pinned, RouteKinds.Pinned);
        }
        else
        {
            string? sticky = deployment.Stickiness switch
            {
                { Header: { } h } => context.Request.Headers[h],
                { User: true } => request.User,
                _ => null,
            };
            (route, kind) = deployment.Choose(sticky);
        }
        if (route.Upstream is null)
        {
            await Problems.Result(400, ProblemCodes.WrongProtocol, "This deployment serves an ONNX model.",
                $"'{name}' is served by Open Inference Protocol v2: POST /v2/models/{name}/infer").ExecuteAsync(context);
            return;
        }
        if ((route.Prompt is { Variables.Count: > 0 } || request.PromptVariables is not null) && PromptVariablesProblem(deployment, route, request) is { } badVariables)
        {
            await badVariables.ExecuteAsync(context);
            return;
        }
        if (context.Items[typeof(AuthenticatedKey)] is AuthenticatedKey { TokensPerMinute: not null } or AuthenticatedKey { CostBudget: not null })
        {
            var (reservation, limited) = await ReserveAsync(context, path, guard, request, route, deployment.Stable);
            if (limited is not null)
            {
                await limited.ExecuteAsync(context);
                return;
            }
            exchange.Reservation = reservation;
        }

        var stream = request.Stream;
        if (pinnedVersion is null && deployment.ShadowFor() is { Upstream: not null } shadow && request.CanRender(shadow))
        {
            // Mirrored after the fact and never awaited: the shadow's answer and its latency stay out of the client's request.
            // Everything the mirror needs is taken now: the HttpContext is recycled once the response is sent.
            var shadowBody = request.UpstreamBody(shadow, path == ChatPath);
            var keyId = (context.Items[typeof(AuthenticatedKey)] as AuthenticatedKey)?.Id;
            // Compared with stable only when the stable version is the one chosen to answer (not a canary).
            var comparison = kind == RouteKinds.Stable ? new ShadowComparison(name, shadow.Version) : null;
            exchange.Comparison = comparison;
            var telemetry = exchange.Recorder.Telemetry;
            log.RecordInBackground(() => MirrorAsync(forwarder, shadow, path, shadowBody, stream, log, telemetry, time, name, keyId, comparison));
        }
        // The routed version is known from here on, so that a request the client abandons is still logged against it.
        (exchange.Served, exchange.Route) = (route, kind);
        var upstreamStarted = System.Diagnostics.Stopwatch.GetTimestamp();
        HttpResponseMessage? response;
        VersionRoute served;
        string servedKind;
        try
        {
            (response, served, servedKind) = await SendWithFallbackAsync(forwarder, deployment, route, kind, path, request, time, exchange, ct);
        }
        catch (Security.EgressDeniedException)
        {
            // The address is named in the server's log (by the egress policy), not to data-plane callers.
            exchange.UpstreamMs = System.Diagnostics.Stopwatch.GetElapsedTime(upstreamStarted).TotalMilliseconds;
            await Problems.Result(502, ProblemCodes.EgressDenied, "The upstream may not be reached.",
                $"{name}@{route.Version}: the upstream's address is refused by the egress policy (Security:AllowedEgress)").ExecuteAsync(context);
            return;
        }
        exchange.UpstreamMs = System.Diagnostics.Stopwatch.GetElapsedTime(upstreamStarted).TotalMilliseconds;
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
            if (!stream && response.Content.Headers.ContentLength is { } contentLength)
            {
                // Passed through byte for byte, so the length holds, and the client gets a plain body instead of chunks.
                context.Response.ContentLength = contentLength;
            }
            // Server-sent events go out chunk by chunk; nothing in between may hold them back.
            context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
            await using var upstreamBody = await response.Content.ReadAsStreamAsync(ct);
            exchange.Response = new CaptureBuffer(stream);
            var copy = ArrayPool<byte>.Shared.Rent(16 * 1024);
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
                        read = await upstreamBody.ReadAsync(copy, idle.Token);
                    }
                    catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                    {
                        // The upstream went idle mid-answer. The status line is gone already, so the connection is cut:
                        // a client must not take a truncated answer (or a stream without its end) for a whole one.
                        // The request log records it as 504.
                        exchange.IdleCut = true;
                        context.Abort();
                        break;
                    }
                    if (read == 0)
                    {
                        break;
                    }
                    if (exchange.FirstByteMs < 0)
                    {
                        exchange.FirstByteMs = time.GetElapsedTime(exchange.SentAt).TotalMilliseconds;
                    }
                    // Kept before it is passed on: what the upstream answered is accounted even if the client is gone.
                    exchange.Response.Append(copy.AsSpan(0, read));
                    await context.Response.Body.WriteAsync(copy.AsMemory(0, read), ct);
                    if (stream)
                    {
                        await context.Response.Body.FlushAsync(ct);
                    }
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(copy);
            }
        }
    }

    /// <summary>
    /// The prompt variables against the routed version's template: each variable it takes must be given, and each one given
    /// must be taken by some version the deployment routes (so that clients may send both prompts' variables while a new prompt
    /// is rolled out); 400 <c>invalid_prompt_variables</c> naming them otherwise.
    /// </summary>
    private static IResult? PromptVariablesProblem(DeploymentRoute deployment, VersionRoute route, OpenAiRequest request)
    {
        var missing = route.Prompt?.Missing(request.PromptVariables) ?? [];
        var unknown = (request.PromptVariables?.Keys ?? []).Where(v => !deployment.Versions.Any(r => r.Prompt?.Variables.Contains(v) == true))
            .Order(StringComparer.Ordinal).ToList();
        if (missing.Count == 0 && unknown.Count == 0)
        {
            return null;
        }
        var reasons = new List<string>();
        if (missing.Count > 0)
        {
            reasons.Add($"{deployment.Name}@{route.Version}'s prompt template needs {string.Join(", ", missing)}");
        }
        if (unknown.Count > 0)
        {
            reasons.Add($"no version of {deployment.Name} takes {string.Join(", ", unknown.Select(ClientText.Echo))}");
        }
        return Problems.Result(400, ProblemCodes.InvalidPromptVariables, "The prompt variables do not fit the prompt template.",
            string.Join("; ", reasons) + " (send them as \"prompt_variables\": {\"name\": \"value\"})",
            new Dictionary<string, object?> { ["missing"] = missing, ["unknown"] = unknown });
    }

    /// <summary>
    /// Reserves against the key's limits the most the request may use: its prompt (bounded by its size) and completion
    /// (its maximum, or the configured default), priced at the dearer of the chosen version and the stable one it may fall
    /// back to.
    /// </summary>
    private static ValueTask<(DataPlaneGuard.Reservation, Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult?)> ReserveAsync(HttpContext context,
        string path, DataPlaneGuard guard, OpenAiRequest request, VersionRoute route, VersionRoute stable)
    {
        var key = (AuthenticatedKey)context.Items[typeof(AuthenticatedKey)]!;
        var length = request.Bytes.Length;
        var prompt = DataPlaneGuard.PromptBound(length, route.Prompt, request.PromptVariables);
        if (stable != route && request.CanRender(stable))
        {
            prompt = Math.Max(prompt, DataPlaneGuard.PromptBound(length, stable.Prompt, request.PromptVariables));
        }
        var completion = path == "embeddings" ? 0 : guard.CompletionBound(request.Bytes);
        var inputPrice = Math.Max(route.Upstream?.InputPricePer1K ?? 0, stable.Upstream?.InputPricePer1K ?? 0);
        var outputPrice = Math.Max(route.Upstream?.OutputPricePer1K ?? 0, stable.Upstream?.OutputPricePer1K ?? 0);
        return guard.ReserveAsync(context, key, prompt + completion, prompt / 1000.0 * inputPrice + completion / 1000.0 * outputPrice);
    }

    /// <summary>
    /// Sends the shadow copy and reads its answer (never to the client): its record carries its status, latency and usage (from
    /// the answer, or counted), and, when the stable version answers the same request, the two are compared.
    /// </summary>
    private static async Task MirrorAsync(UpstreamForwarder forwarder, VersionRoute shadow, string path, byte[] body, bool streamed, RequestLog log,
        GatewayTelemetry telemetry, TimeProvider time, string deployment, string? keyId, ShadowComparison? comparison)
    {
        var started = time.GetTimestamp();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var status = 502;
        CaptureBuffer? answer = null;
        try
        {
            var attempt = await SendAsync(forwarder, shadow.Upstream!, path, body, timeout.Token);
            using var response = attempt.Response;
            status = response is null ? attempt.FailedStatus : (int)response.StatusCode;
            if (response is not null)
            {
                var captured = new CaptureBuffer(streamed);
                await using var content = await response.Content.ReadAsStreamAsync(timeout.Token);
                var copy = ArrayPool<byte>.Shared.Rent(16 * 1024);
                try
                {
                    int read;
                    while ((read = await content.ReadAsync(copy, timeout.Token)) > 0)
                    {
                        captured.Append(copy.AsSpan(0, read));
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(copy);
                }
                answer = captured;
            }
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or IOException)
        {
        }
        var latencyMs = time.GetElapsedTime(started).TotalMilliseconds;
        long? prompt = null, completion = null;
        string? usageSource = null;
        if (answer is not null && status is >= 200 and < 300)
        {
            (prompt, completion) = Usage.Read(answer);
            usageSource = prompt is null ? null : UsageSources.Upstream;
            if (prompt is null)
            {
                // As for served requests: an upstream that reports no usage is counted (the body sent carries the shadow's system prompt).
                prompt = JsonNode.Parse(body) is JsonObject sent ? TokenCounter.CountPrompt(sent, responses: path == ResponsesPath) : 0;
                completion = path == "embeddings" ? 0 : TokenCounter.Count(ChatText.Completion(answer.Text(), answer.Streamed));
                usageSource = UsageSources.Tokenizer;
            }
        }
        var now = time.GetUtcNow().UtcDateTime;
        // No cost: mirrored traffic is not charged to the caller's key, and a key's spend is summed from the records' costs.
        log.Add(new Storage.Gateway.RequestLogEntity
        {
            RequestId = Guid.NewGuid().ToString("N"),
            Time = now,
            KeyId = keyId,
            Deployment = deployment,
            Version = shadow.Version,
            Route = RouteKinds.Shadow,
            Protocol = "openai",
            Status = status,
            LatencyMs = latencyMs,
            PromptTokens = prompt,
            CompletionTokens = completion,
            UsageSource = usageSource,
        });
        comparison?.Shadow(completion is not null, completion ?? 0, latencyMs, telemetry, now);
    }

    /// <summary>
    /// Tries the chosen version within its retry budget; when a canary (or pinned) version cannot answer (it answered 5xx,
    /// or not at all), the stable version answers instead and the response says <c>fallback</c>. The failed attempt is
    /// left on the exchange, to be recorded as the chosen version's own.
    /// </summary>
    private static async Task<(HttpResponseMessage? Response, VersionRoute Served, string Kind)> SendWithFallbackAsync(UpstreamForwarder forwarder,
        DeploymentRoute deployment, VersionRoute route, string kind, string path, OpenAiRequest request, TimeProvider time, Exchange exchange,
        CancellationToken ct)
    {
        exchange.SentAt = time.GetTimestamp();
        var attempt = await SendAsync(forwarder, route.Upstream!, path, request.UpstreamBody(route, path == ChatPath), ct);
        if (attempt.Response is not null || route == deployment.Stable || deployment.Stable.Upstream is null || !request.CanRender(deployment.Stable))
        {
            return (attempt.Response, route, kind);
        }
        (exchange.Failed, exchange.FailedKind, exchange.FailedStatus) = (route, kind, attempt.FailedStatus);
        exchange.FailedMs = time.GetElapsedTime(exchange.SentAt).TotalMilliseconds;
        exchange.SentAt = time.GetTimestamp();
        return ((await SendAsync(forwarder, deployment.Stable.Upstream, path, request.UpstreamBody(deployment.Stable, path == ChatPath), ct)).Response, deployment.Stable,
            RouteKinds.Fallback);
    }

    /// <summary>
    /// Up to the upstream's retries more attempts while it cannot answer; the last attempt's outcome. A version with several
    /// endpoints (<see cref="UpstreamRoute.Pool"/>) is sent to as <see cref="SendToPoolAsync"/> says.
    /// </summary>
    private static async Task<UpstreamAttempt> SendAsync(UpstreamForwarder forwarder, UpstreamRoute upstream, string path, byte[] body,
        CancellationToken ct)
    {
        if (upstream.Pool is { } pool)
        {
            return await SendToPoolAsync(forwarder, upstream, pool, path, body, ct);
        }
        var outcome = UpstreamAttempt.NoAnswer;
        for (var attempt = 0; attempt <= upstream.Retries; attempt++)
        {
            outcome = await forwarder.TrySendAsync(upstream, path, body, ct);
            if (outcome.Response is not null)
            {
                return outcome;
            }
        }
        return outcome;
    }

    /// <summary>
    /// The version's attempt and retries go to its primary endpoints (<see cref="UpstreamPool.Choose"/>: by weight, those whose
    /// circuit is open skipped, a retry to another endpoint when there is one); when none answered, its fallbacks, once each, in
    /// order. An endpoint with a model name of its own gets the body with that name. An endpoint whose address the egress
    /// policy refuses counts as one that did not answer; when no endpoint answered, that refusal is what the caller gets.
    /// </summary>
    private static async Task<UpstreamAttempt> SendToPoolAsync(UpstreamForwarder forwarder, UpstreamRoute version, UpstreamPool pool, string path,
        byte[] body, CancellationToken ct)
    {
        var outcome = UpstreamAttempt.NoAnswer;
        Security.EgressDeniedException? denied = null;
        var tried = 0;
        var fallback = 0;
        for (var attempt = 0; ; attempt++)
        {
            var endpoint = attempt <= version.Retries ? pool.Choose(ref tried, forwarder.Breakers) : null;
            if (endpoint is null)
            {
                // The primary endpoints' attempts are spent (or every one's circuit is open): the fallbacks, in order.
                if (fallback == pool.Fallbacks.Length)
                {
                    break;
                }
                endpoint = pool.Fallbacks[fallback++];
                attempt = version.Retries;
            }
            try
            {
                outcome = await forwarder.TrySendAsync(endpoint, path, BodyFor(endpoint, version, body), ct);
            }
            catch (Security.EgressDeniedException e)
            {
                (denied, outcome) = (e, UpstreamAttempt.NoAnswer);
            }
            if (outcome.Response is not null)
            {
                return outcome;
            }
        }
        return denied is null ? outcome : throw denied;
    }

    private static byte[] BodyFor(UpstreamRoute endpoint, UpstreamRoute version, byte[] body) =>
        string.Equals(endpoint.Model, version.Model, StringComparison.Ordinal) ? body : WithModel(body, endpoint.EncodedModel);

    /// <summary>An upstream body (always an object with a <c>model</c> member) with another model name in it.</summary>
    internal static byte[] WithModel(byte[] body, ReadOnlyMemory<byte> encodedModel)
    {
        var reader = new Utf8JsonReader(body);
        reader.Read();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isModel = reader.ValueTextEquals("model"u8);
            reader.Read();
            if (isModel)
            {
                var (start, end) = ((int)reader.TokenStartIndex, (int)reader.BytesConsumed);
                return [.. body.AsSpan(0, start), .. encodedModel.Span, .. body.AsSpan(end)];
            }
            reader.Skip();
        }
        return body;
    }
}
