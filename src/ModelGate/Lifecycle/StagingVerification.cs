using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using ModelGate.Audit;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Evaluation;
using ModelGate.Gateway;
using ModelGate.Gateway.Onnx;
using ModelGate.Gateway.Telemetry;
using ModelGate.Registry;
using ModelGate.Security;
using ModelGate.Storage;
using ModelGate.Storage.Lifecycle;

namespace ModelGate.Lifecycle;

/// <summary>
/// <c>modelgate staging verify</c>: ModelGate checks a staging version itself, through its own data plane with a
/// short-lived key scoped to the staging deployment — it loads; it answers smoke requests built from the rows of its
/// evaluation suite's dataset; a short load measures latency and throughput; the request log and telemetry recorded the
/// traffic; and a rollback drill routes staging to the previous version, checks it answers, and routes back. The result
/// is stored as evidence that approvals cite.
/// </summary>
public static class StagingVerificationApi
{
    public static IEndpointRouteBuilder MapStagingVerificationApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/models/{model}/versions/{version}/staging-verifications").WithTags("Lifecycle");
        api.MapPost("/", Verify).WithName(nameof(Verify)).RequireAuthorization(Permissions.StagingVerify);
        api.MapGet("/", ListVerifications).WithName(nameof(ListVerifications)).RequireAuthorization(Permissions.Read).AllowScopedKeys();
        return app;
    }

    public static async Task<Results<Created<StagingVerificationDto>, ProblemHttpResult>> Verify(string model, string version, StagingVerificationRequest? request,
        ClaimsPrincipal user, ModelGateDbContext db, StagingVerifier verifier, CancellationToken cancellationToken)
    {
        request ??= new StagingVerificationRequest();
        var errors = new ValidationErrors();
        if (request.SmokeRows is < 1 or > 1000)
        {
            errors.Add("smokeRows", "1–1000");
        }
        if (request.LoadRequests is < 1 or > 100_000)
        {
            errors.Add("loadRequests", "1–100000");
        }
        if (request.Concurrency is < 1 or > 64)
        {
            errors.Add("concurrency", "1–64");
        }
        if (request.SmokeDataset is { } smoke && Digests.Normalize(smoke) is null)
        {
            errors.Add("smokeDataset", "the SHA-256 digest of an uploaded JSONL smoke set");
        }
        if (errors.Any)
        {
            return errors.ToProblem();
        }
        var (entity, problem) = await VersionsApi.FindAsync(db, model, version, cancellationToken);
        if (entity is null)
        {
            return problem!;
        }
        if (entity.Stage != Stages.Staging)
        {
            return Problems.Conflict("wrong_stage", $"{model}@{entity.Version} is in stage {entity.Stage}: staging verification checks a version in staging");
        }
        var deployments = await db.Deployments.AsNoTracking().Where(d => d.ModelId == entity.ModelId && d.Environment == DeploymentEnvironments.Staging)
            .ToListAsync(cancellationToken);
        var deployment = request.Deployment is null
            ? deployments.FirstOrDefault(d => Gates.Routing(d)?.Stable == entity.Version)
            : deployments.FirstOrDefault(d => d.Name == request.Deployment);
        if (deployment is null)
        {
            return Problems.Unprocessable("no_staging_deployment", request.Deployment is null
                ? $"no staging deployment of {model} routes {entity.Version} as its stable version"
                : $"'{ClientText.Echo(request.Deployment)}' is not a staging deployment of {model}");
        }
        return await verifier.RunAsync(entity, deployment, request, user, cancellationToken);
    }

    /// <summary>The version's staging verifications, each with its <c>integrity</c> (re-verified against its audit event).</summary>
    public static async Task<Results<Ok<List<StagingVerificationDto>>, ProblemHttpResult>> ListVerifications(string model, string version, ModelGateDbContext db,
        EvidenceVerifier evidence, CancellationToken cancellationToken)
    {
        var (entity, problem) = await VersionsApi.FindAsync(db, model, version, cancellationToken);
        if (entity is null)
        {
            return problem!;
        }
        var list = await db.StagingVerifications.AsNoTracking().Where(s => s.VersionId == entity.Id).OrderBy(s => s.CreatedAt).ToListAsync(cancellationToken);
        var integrity = await evidence.VerifyAsync(db, list.Select(EvidenceRecord.Of).ToList(), cancellationToken);
        return TypedResults.Ok(list.Select((s, i) => ToDto(model, entity.Version, s) with { Integrity = integrity[i].ToDto() }).ToList());
    }

    public static StagingVerificationDto ToDto(string model, string version, StagingVerificationEntity s) => new(s.Id, model, version, s.Deployment, s.Passed,
        JsonSerializer.Deserialize<List<StagingCheckResult>>(s.Checks, ModelGateJson.Options)!, s.CreatedAt, s.CreatedBy);
}

public sealed class StagingVerifier(IServiceScopeFactory scopes, IBlobStore blobs, OnnxModelCache models, RoutingSnapshots routes, GatewayTelemetry telemetry,
    LoopbackClient loopback, DeploymentRouting routings, TemporaryKeys temporaryKeys, RequestLog requestLog)
{
    /// <summary>Smoke requests sent after each routing change of the rollback drill.</summary>
    private const int DrillRequests = 5;

    public async Task<Results<Created<StagingVerificationDto>, ProblemHttpResult>> RunAsync(Storage.Registry.ModelVersionEntity version,
        Storage.Gateway.DeploymentEntity deployment, StagingVerificationRequest request, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var model = version.Model!.Name;
        var table = DeploymentRouting.Read(deployment);
        var upstream = table.Backend == "upstream";
        var rows = upstream
            ? await ChatSmokeRowsAsync(version, table, request.SmokeRows, request.SmokeDataset is { } given ? Digests.Normalize(given) : null, cancellationToken)
            : await SmokeRowsAsync(version, request.SmokeRows, cancellationToken);
        if (rows.Problem is not null)
        {
            return rows.Problem;
        }
        var protocol = upstream ? SmokeProtocol.Chat(deployment.Name) : SmokeProtocol.Inference(deployment.Name);
        var checks = new List<StagingCheckResult>();
        var actor = user.ActorId();
        double latencyLimit;
        await using (var scope = scopes.CreateAsyncScope())
        {
            var (policy, _) = await PoliciesApi.EffectiveAsync(scope.ServiceProvider.GetRequiredService<ModelGateDbContext>(), model, cancellationToken);
            latencyLimit = policy.Production?.StagingLatencyP99Ms ?? ProductionGate.DefaultStagingLatencyP99Ms;
        }

        // 1. It loads, from a digest-verified artifact; an upstream-served version has its upstream in the staging table.
        if (upstream)
        {
            var target = table.Upstreams![version.Version];
            var endpoints = UpstreamBinding.Listed(target)
                .Select(l => new { list = l.List, url = UpstreamBinding.Shown(l.Endpoint.Url, hideQuerySecrets: true), model = l.Endpoint.Model ?? target.Model })
                .ToList();
            checks.Add(Check("upstream", true, endpoints.Count == 1
                    ? $"served by {endpoints[0].url} as model {endpoints[0].model}"
                    : $"served by {endpoints.Count} endpoints: {string.Join(", ", endpoints.Select(e => $"{e.url} ({e.model}, {e.list})"))}",
                new { endpoints[0].url, endpoints[0].model, endpoints = endpoints.Count > 1 ? endpoints : null }));
        }
        else
        {
            var onnx = version.Artifacts.First(a => a.FileName.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase));
            var clock = Stopwatch.StartNew();
            try
            {
                await models.GetAsync(onnx.Sha256, cancellationToken);
                checks.Add(Check("loads", true, $"{onnx.FileName} ({onnx.Sha256[..12]}) loaded, digest verified", new { loadMs = clock.Elapsed.TotalMilliseconds }));
            }
            catch (Exception e) when (e is Registry.ArtifactCorruptException or InvalidDataException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
            {
                checks.Add(Check("loads", false, e.Message));
                return await SaveAsync(version, deployment.Name, checks, actor, cancellationToken);
            }
        }

        await routes.ReloadAsync(cancellationToken);
        var (secret, keyId) = await temporaryKeys.IssueAsync(deployment.Name, $"staging verification of {deployment.Name}", actor, TimeSpan.FromMinutes(30), cancellationToken);
        try
        {
            using var client = loopback.Create(secret);

            // 2. Smoke: every row answered, with the model's outputs.
            var smokeIds = new List<string>();
            var smokeFailures = new List<string>();
            foreach (var body in rows.Bodies!)
            {
                using var response = await client.PostAsync(protocol.Path(version.Version), Json(protocol.Body(body, version.Version)), cancellationToken);
                if (response.Headers.TryGetValues(InferenceProtocolApi.RequestIdHeader, out var ids))
                {
                    smokeIds.Add(ids.First());
                }
                var text = await response.Content.ReadAsStringAsync(cancellationToken);
                if (response.StatusCode != HttpStatusCode.OK || !protocol.Answered(text))
                {
                    smokeFailures.Add($"{(int)response.StatusCode}: {Truncate(text)}");
                }
            }
            checks.Add(Check("smoke", smokeFailures.Count == 0,
                smokeFailures.Count == 0 ? $"{rows.Bodies!.Count} rows from the suite's dataset answered{(upstream ? " (chat completions with content)" : "")}" : $"{smokeFailures.Count} of {rows.Bodies!.Count} failed: {smokeFailures[0]}",
                new { requests = rows.Bodies.Count, failures = smokeFailures.Count }));

            // 3. A short load: latency and throughput as a client sees them.
            var latencies = new double[request.LoadRequests];
            var failures = 0;
            var next = -1;
            var wall = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, request.Concurrency).Select(async _ =>
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < request.LoadRequests)
                {
                    var started = Stopwatch.GetTimestamp();
                    using var response = await client.PostAsync(protocol.Path(version.Version), Json(protocol.Body(rows.Bodies[i % rows.Bodies.Count], version.Version)),
                        cancellationToken);
                    await response.Content.CopyToAsync(Stream.Null, cancellationToken);
                    latencies[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                    if (response.StatusCode != HttpStatusCode.OK)
                    {
                        Interlocked.Increment(ref failures);
                    }
                }
            }));
            var seconds = wall.Elapsed.TotalSeconds;
            Array.Sort(latencies);
            double P(double q) => latencies[Math.Clamp((int)Math.Ceiling(q * latencies.Length) - 1, 0, latencies.Length - 1)];
            checks.Add(LatencyCheck(request.LoadRequests, request.Concurrency, P(0.5), P(0.95), P(0.99), request.LoadRequests / seconds, failures, latencyLimit));

            // 4. The request log wrote the smoke requests (asynchronously, in batches: flushing waits for every record begun).
            await requestLog.FlushAsync(cancellationToken);
            int logged;
            await using (var scope = scopes.CreateAsyncScope())
            {
                var db = scope.ServiceProvider.GetRequiredService<ModelGateDbContext>();
                logged = await db.RequestLogs.CountAsync(r => smokeIds.Contains(r.RequestId) && r.Version == version.Version, cancellationToken);
            }
            checks.Add(Check("request_log", smokeIds.Count > 0 && logged == smokeIds.Count, $"{logged} of {smokeIds.Count} smoke requests in the request log",
                new { expected = smokeIds.Count, logged }));

            // 5. Telemetry counted them for this version.
            var counted = telemetry.Series.Where(s => s.Deployment == deployment.Name && s.Version == version.Version).Sum(s => s.Totals().Requests);
            var sent = rows.Bodies.Count + request.LoadRequests;
            checks.Add(Check("telemetry", counted >= sent, $"{counted} requests counted for {deployment.Name}@{version.Version} (sent {sent})",
                new { sent, counted }));

            // 6. Rollback drill: staging to the previous version, it answers; then back.
            checks.Add(await RollbackDrillAsync(client, protocol, deployment.Name, version, rows.Bodies, user, cancellationToken));
        }
        finally
        {
            await temporaryKeys.RevokeAsync(keyId, "staging verification finished");
        }
        return await SaveAsync(version, deployment.Name, checks, actor, cancellationToken);
    }

    /// <summary>
    /// The latency check: no errors, and the p99 a client saw within the policy's <see cref="ProductionGate.StagingLatencyP99Ms"/>.
    /// </summary>
    internal static StagingCheckResult LatencyCheck(int requests, int concurrency, double p50, double p95, double p99, double requestsPerSecond, int errors,
        double limitMs)
    {
        var passed = errors == 0 && p99 <= limitMs;
        return Check("latency_throughput", passed,
            $"{requests} requests at concurrency {concurrency}: p50 {p50:0.###} ms, p99 {p99:0.###} ms (limit {limitMs:0.###} ms), {requestsPerSecond:0} req/s, {errors} errors",
            new { requests, concurrency, p50Ms = p50, p95Ms = p95, p99Ms = p99, p99LimitMs = limitMs, requestsPerSecond, errors });
    }

    /// <summary>
    /// The version the deployment served before <paramref name="version"/>, from its routing history (the audit events of
    /// <see cref="DeploymentRouting"/>, newest first): the latest other stable version, else the latest other candidate that
    /// took traffic. Retired versions cannot be routed to and are passed over (and named). Null when it never served another.
    /// </summary>
    internal static (string? Previous, IReadOnlyList<string> Retired) PreviousVersion(IEnumerable<RoutingTable> newestFirst, string version,
        IReadOnlyDictionary<string, string> stages)
    {
        var tables = newestFirst.ToList();
        var retired = new List<string>();
        string? Pick(IEnumerable<string> served)
        {
            foreach (var v in served)
            {
                if (v == version)
                {
                    continue;
                }
                if (stages.GetValueOrDefault(v) is Stages.Retired or null)
                {
                    if (!retired.Contains(v))
                    {
                        retired.Add(v);
                    }
                    continue;
                }
                return v;
            }
            return null;
        }
        var previous = Pick(tables.Select(t => t.Stable)) ??
                       Pick(tables.SelectMany(t => (t.Candidates ?? []).Where(c => c.Weight > 0).Select(c => c.Version)));
        return (previous, retired);
    }

    /// <summary>The deployment's routing tables, newest first, as its creation and every routing change recorded them.</summary>
    private async Task<(List<RoutingTable> Tables, Dictionary<string, string> Stages)> HistoryAsync(string deployment, long modelId,
        CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ModelGateDbContext>();
        var subject = $"deployments/{deployment}";
        var events = await db.AuditEvents.AsNoTracking()
            .Where(e => e.Subject == subject &&
                        (e.Action == DeploymentRouting.Created || e.Action == RoutingChange.Changed || e.Action == RoutingChange.RolledBack))
            .OrderByDescending(e => e.Sequence).Select(e => e.Details).ToListAsync(cancellationToken);
        var tables = new List<RoutingTable>();
        foreach (var details in events)
        {
            using var json = JsonDocument.Parse(details);
            // A change records the table it made and the one it replaced; a creation only the table it made.
            foreach (var name in new[] { "routing", "previous" })
            {
                if (json.RootElement.TryGetProperty(name, out var table) && table.ValueKind == JsonValueKind.Object &&
                    table.Deserialize<RoutingTable>(ModelGateJson.Options) is { Stable: not null } routing)
                {
                    tables.Add(routing);
                }
            }
        }
        var stages = await db.ModelVersions.AsNoTracking().Where(v => v.ModelId == modelId).ToDictionaryAsync(v => v.Version, v => v.Stage, cancellationToken);
        return (tables, stages);
    }

    /// <summary>
    /// Routes staging to the version it served before, checks that version serves (its ONNX artifact loads with a verified
    /// digest; the smoke requests are answered by it), routes back to the table as it was, checks again, and times each leg.
    /// </summary>
    private async Task<StagingCheckResult> RollbackDrillAsync(HttpClient client, SmokeProtocol protocol, string deployment, Storage.Registry.ModelVersionEntity tested,
        IReadOnlyList<JsonObject> bodies, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var version = tested.Version;
        RoutingTable current;
        await using (var scope = scopes.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<ModelGateDbContext>();
            current = DeploymentRouting.Read(await db.Deployments.AsNoTracking().FirstAsync(d => d.Name == deployment, cancellationToken));
        }
        var (history, stages) = await HistoryAsync(deployment, tested.ModelId, cancellationToken);
        var (previous, retired) = PreviousVersion(history, version, stages);
        if (previous is null)
        {
            return retired.Count == 0
                ? Check("rollback_drill", true, $"{version} is the first version served by {deployment}: it never served another version to roll back to",
                    new { first = true })
                : Check("rollback_drill", true, $"{deployment} served only retired versions before {version} ({string.Join(", ", retired)}): none can be routed to",
                    new { first = false, retired });
        }

        async Task<Leg> RouteAndCheck(string expected, Func<RoutingTable, RoutingTable> change)
        {
            var clock = Stopwatch.StartNew();
            await using (var scope = scopes.CreateAsyncScope())
            {
                await using var tx = await scope.ServiceProvider.GetRequiredService<AuditedWrite>().BeginAsync(cancellationToken);
                var routed = await routings.ChangeAsync(tx, deployment, new RoutingChange(user.ActorId(), RoutingChange.Changed, change,
                    $"staging verification of {version}: rollback drill"), cancellationToken);
                if (!routed.IsChanged)
                {
                    return new Leg(expected, null, 0, [], $"the routing change was refused: {routed.Explain()}", clock.Elapsed.TotalMilliseconds, 0);
                }
                await tx.CommitAsync(cancellationToken);
            }
            var routeMs = clock.Elapsed.TotalMilliseconds;
            string? digest = null;
            if (current.Backend == "onnx")
            {
                var onnx = await OnnxArtifactAsync(tested.ModelId, expected, cancellationToken);
                if (onnx is null)
                {
                    return new Leg(expected, null, 0, [], $"{expected} has no ONNX artifact", routeMs, clock.Elapsed.TotalMilliseconds);
                }
                try
                {
                    await models.GetAsync(onnx.Sha256, cancellationToken);
                    digest = onnx.Sha256;
                }
                catch (Exception e) when (e is Registry.ArtifactCorruptException or InvalidDataException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
                {
                    return new Leg(expected, null, 0, [], $"{expected} does not load: {e.Message}", routeMs, clock.Elapsed.TotalMilliseconds);
                }
            }
            var answeredBy = new List<string>();
            var answered = 0;
            string? failure = null;
            foreach (var body in bodies.Take(DrillRequests))
            {
                using var response = await client.PostAsync(protocol.Path(null), Json(protocol.Body(body, null)), cancellationToken);
                var by = response.Headers.TryGetValues(InferenceProtocolApi.VersionHeader, out var v) ? v.First() : null;
                if (by is not null && !answeredBy.Contains(by))
                {
                    answeredBy.Add(by);
                }
                if (response.StatusCode == HttpStatusCode.OK && by == expected)
                {
                    answered++;
                }
                else
                {
                    failure ??= $"{(int)response.StatusCode} from {by ?? "no version"}: {Truncate(await response.Content.ReadAsStringAsync(cancellationToken))}";
                }
            }
            return new Leg(expected, digest, answered, answeredBy, failure, routeMs, clock.Elapsed.TotalMilliseconds);
        }

        var sent = Math.Min(DrillRequests, bodies.Count);
        var total = Stopwatch.StartNew();
        var back = await RouteAndCheck(previous, table => table with { Stable = previous, Candidates = [new CandidateRoute(version, 0)], Shadow = null });
        // Back to the table as it was; the upstreams come from the stored table given to the change, so that each keeps its stored key.
        var restore = await RouteAndCheck(version, table => table with
        {
            Stable = current.Stable, Candidates = current.Candidates, Shadow = current.Shadow, Stickiness = current.Stickiness,
        });
        var totalMs = total.Elapsed.TotalMilliseconds;
        string Describe(Leg leg, string what) => $"{what} {leg.Version}" + (leg.Digest is null ? "" : $" (artifact {leg.Digest[..12]} loaded, digest verified)") +
                                                 $": {leg.Answered} of {sent} smoke requests answered by it in {leg.TotalMs:0} ms" +
                                                 (leg.Failure is null ? "" : $" — {leg.Failure}");
        var passed = back.Answered == sent && restore.Answered == sent && sent > 0;
        return Check("rollback_drill", passed, $"{Describe(back, "routed back to the previous version")}; {Describe(restore, "restored")}",
            new
            {
                first = false, previous, requests = sent, rollbackRouteMs = back.RouteMs, rollbackMs = back.TotalMs, restoreRouteMs = restore.RouteMs,
                restoreMs = restore.TotalMs, totalMs, previousDigest = back.Digest, restoredDigest = restore.Digest,
                answeredAfterRollback = back.AnsweredBy.Count == 1 ? back.AnsweredBy[0] : null,
                answeredAfterRestore = restore.AnsweredBy.Count == 1 ? restore.AnsweredBy[0] : null,
            });
    }

    /// <summary>One leg of the drill: the version routed to, its verified digest, how many smoke requests it answered, and the times.</summary>
    private sealed record Leg(string Version, string? Digest, int Answered, List<string> AnsweredBy, string? Failure, double RouteMs, double TotalMs);

    private async Task<Storage.Registry.VersionArtifactEntity?> OnnxArtifactAsync(long modelId, string version, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ModelGateDbContext>();
        var entity = await db.ModelVersions.AsNoTracking().Include(v => v.Artifacts).FirstAsync(v => v.ModelId == modelId && v.Version == version, cancellationToken);
        return entity.Artifacts.FirstOrDefault(a => a.FileName.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>OIP v2 bodies, one row each, from the dataset of the version's latest succeeded platform evaluation.</summary>
    private async Task<(List<JsonObject>? Bodies, ProblemHttpResult? Problem)> SmokeRowsAsync(Storage.Registry.ModelVersionEntity version, int count,
        CancellationToken cancellationToken)
    {
        if (!version.Artifacts.Any(a => a.FileName.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase)))
        {
            return (null, Problems.Unprocessable("no_onnx_artifact", $"{version.Version} has no ONNX artifact: staging verification serves ONNX versions"));
        }
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ModelGateDbContext>();
        var evaluation = await db.Evaluations.AsNoTracking()
            .Where(e => e.VersionId == version.Id && e.Status == EvaluationStatuses.Succeeded && !e.External && e.DatasetSha256 != null)
            .NewestFirst().FirstOrDefaultAsync(cancellationToken);
        if (evaluation is null)
        {
            return (null, Problems.Unprocessable("no_smoke_data", $"{version.Version} has no succeeded evaluation with a dataset: its rows are the smoke requests"));
        }
        var (suite, problem) = await SuitePreparation.LoadAsync(evaluation.SuiteSha256, blobs, cancellationToken);
        if (suite is null)
        {
            return (null, problem);
        }
        var (prepared, preparedProblem) = await SuitePreparation.PrepareAsync(suite, evaluation.SuiteSha256, version, blobs, models, cancellationToken);
        if (prepared is null)
        {
            return (null, preparedProblem);
        }
        var bodies = new List<JsonObject>();
        for (var row = 0; row < Math.Min(count, prepared.Table.RowCount); row++)
        {
            var inputs = new JsonArray();
            foreach (var input in prepared.Model.Inputs)
            {
                var text = prepared.Table.Strings(prepared.InputColumns[input.Name])[row];
                JsonNode? value = input.Datatype == "FP32"
                    ? JsonValue.Create(float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var f) ? f : float.NaN)
                    : JsonValue.Create(text);
                inputs.Add(new JsonObject
                {
                    ["name"] = input.Name, ["datatype"] = input.Datatype, ["shape"] = new JsonArray(1, 1), ["data"] = new JsonArray(value),
                });
            }
            bodies.Add(new JsonObject { ["id"] = $"staging-smoke-{row}", ["inputs"] = inputs });
        }
        return (bodies, null);
    }

    /// <summary>The name of a version's own smoke set among its artifacts (llm-chat rows, JSONL).</summary>
    public const string SmokeSetFileName = "smoke.jsonl";

    /// <summary>The smoke prompts' <c>max_tokens</c> when they do not come from an evaluation's suite.</summary>
    private const int SmokeMaxTokens = 64;

    /// <summary>
    /// Chat bodies for an upstream-served version, one per row of its smoke set: the one given (<paramref name="smokeDataset"/>),
    /// else its own <see cref="SmokeSetFileName"/> artifact, else the dataset of its latest succeeded llm-chat evaluation; each
    /// row's variables as <c>prompt_variables</c> (those its template takes), its prompt as the user message when the template
    /// writes none, and the suite's <c>maxTokens</c> (<see cref="SmokeMaxTokens"/> for a smoke set).
    /// </summary>
    private async Task<(List<JsonObject>? Bodies, ProblemHttpResult? Problem)> ChatSmokeRowsAsync(Storage.Registry.ModelVersionEntity version,
        RoutingTable table, int count, string? smokeDataset, CancellationToken cancellationToken)
    {
        if (table.Upstreams?.ContainsKey(version.Version) != true)
        {
            return (null, Problems.Unprocessable("no_upstream", $"the staging deployment has no upstream for {version.Version}: set one before verifying it"));
        }
        var (datasetSha, maxTokens, source) = (smokeDataset, SmokeMaxTokens, "the smoke set given");
        if (datasetSha is null && version.Artifacts.FirstOrDefault(a => a.FileName == SmokeSetFileName) is { } own)
        {
            (datasetSha, source) = (own.Sha256, $"{version.Version}'s {SmokeSetFileName}");
        }
        if (datasetSha is null)
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<ModelGateDbContext>();
            var evaluations = await db.Evaluations.AsNoTracking()
                .Where(e => e.VersionId == version.Id && e.Status == EvaluationStatuses.Succeeded && !e.External && e.DatasetSha256 != null)
                .NewestFirst().ToListAsync(cancellationToken);
            foreach (var e in evaluations)
            {
                var (loaded, _) = await SuitePreparation.LoadAsync(e.SuiteSha256, blobs, cancellationToken);
                if (loaded?.Task == "llm-chat")
                {
                    (datasetSha, maxTokens, source) = (e.DatasetSha256!, loaded.MaxTokens, $"the dataset of evaluation {e.Id}");
                    break;
                }
            }
        }
        if (datasetSha is null)
        {
            return (null, Problems.Unprocessable("no_smoke_data",
                $"{version.Version} has no smoke set: give smokeDataset, register a {SmokeSetFileName} artifact with it, or evaluate it with an llm-chat suite first (its rows are the smoke prompts)"));
        }
        var stream = await blobs.OpenReadAsync(datasetSha, cancellationToken);
        if (stream is null)
        {
            return (null, Problems.Unprocessable(ProblemCodes.UnknownArtifact, $"{source} ({datasetSha}) is not stored"));
        }
        string text;
        await using (stream)
        {
            using var reader = new StreamReader(stream, Encoding.UTF8);
            text = await reader.ReadToEndAsync(cancellationToken);
        }
        var renderer = PromptRenderer.For(RegistryMapping.ReadAttestation(version.Attestation).PromptTemplate);
        var bodies = new List<JsonObject>();
        var number = 0;
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Take(count))
        {
            number++;
            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(line);
            }
            catch (JsonException e)
            {
                return (null, Problems.Unprocessable("invalid_smoke_data", $"{source}, line {number}: not a JSON object ({e.Message})"));
            }
            using var parsed = document;
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                return (null, Problems.Unprocessable("invalid_smoke_data", $"{source}, line {number}: not a JSON object"));
            }
            var (prompt, given, _) = Evaluation.Text.TextSuitePreparation.ReadChatRow(document.RootElement);
            var variables = new JsonObject();
            foreach (var (name, value) in given.Where(v => renderer?.Variables.Contains(v.Key) == true))
            {
                variables[name] = value;
            }
            var messages = new JsonArray();
            if (renderer?.WritesUserMessage != true && prompt is not null)
            {
                messages.Add(new JsonObject { ["role"] = "user", ["content"] = prompt });
            }
            var body = new JsonObject { ["messages"] = messages, ["max_tokens"] = maxTokens };
            if (variables.Count > 0)
            {
                body["prompt_variables"] = variables;
            }
            bodies.Add(body);
        }
        return bodies.Count == 0 ? (null, Problems.Unprocessable("no_smoke_data", $"{source} has no rows")) : (bodies, null);
    }


    /// <summary>
    /// How smoke traffic reaches the staging deployment: Open Inference Protocol v2 for ONNX versions, chat completions for
    /// upstream-served ones; pinned to a version (smoke, load) or routed by the table (the drill), and what counts as an answer.
    /// </summary>
    private sealed record SmokeProtocol(Func<string?, string> Path, Func<JsonObject, string?, JsonObject> Body, Func<string, bool> Answered)
    {
        public static SmokeProtocol Inference(string deployment) => new(
            version => version is null ? $"v2/models/{deployment}/infer" : $"v2/models/{deployment}/versions/{version}/infer",
            (body, _) => body,
            text => text.Contains("\"outputs\"", StringComparison.Ordinal));

        public static SmokeProtocol Chat(string deployment) => new(
            _ => "v1/chat/completions",
            (body, version) =>
            {
                var sent = (JsonObject)body.DeepClone();
                sent["model"] = version is null ? deployment : $"{deployment}@{version}";
                return sent;
            },
            text =>
            {
                try
                {
                    using var document = JsonDocument.Parse(text);
                    return document.RootElement.TryGetProperty("choices", out var choices) && choices.ValueKind == JsonValueKind.Array &&
                           choices.GetArrayLength() > 0 && choices[0].TryGetProperty("message", out var message) &&
                           message.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String;
                }
                catch (JsonException)
                {
                    return false;
                }
            });
    }

    private async Task<Results<Created<StagingVerificationDto>, ProblemHttpResult>> SaveAsync(Storage.Registry.ModelVersionEntity version, string deployment,
        List<StagingCheckResult> checks, string actor, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var write = scope.ServiceProvider.GetRequiredService<AuditedWrite>();
        await using var tx = await write.BeginAsync(cancellationToken);
        var entity = new StagingVerificationEntity
        {
            Id = "stg_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)),
            VersionId = version.Id,
            Deployment = deployment,
            Passed = checks.All(c => c.Passed),
            Checks = JsonSerializer.Serialize(checks, ModelGateJson.Options),
            CreatedAt = tx.Now,
            CreatedBy = actor,
        };
        tx.Db.StagingVerifications.Add(entity);
        var stamp = EvidenceHashes.Stamp(entity);
        var recorded = await tx.AppendAsync(actor, "version.staging_verified", RegistryMapping.VersionSubject(version.Model!.Name, version.Version),
            new { entity.Id, deployment, entity.Passed, checks = checks.Select(c => new { c.Check, c.Passed }), evidenceHash = stamp }, cancellationToken: cancellationToken);
        entity.EvidenceAuditSequence = recorded.Sequence;
        await tx.CommitAsync(cancellationToken);
        var dto = StagingVerificationApi.ToDto(version.Model!.Name, version.Version, entity);
        return TypedResults.Created($"/api/v1/models/{dto.Model}/versions/{dto.Version}/staging-verifications", dto);
    }

    private static StagingCheckResult Check(string name, bool passed, string detail, object? figures = null) =>
        new(name, passed, detail, figures is null ? null : JsonSerializer.SerializeToElement(figures, ModelGateJson.Options));

    private static StringContent Json(JsonObject body) => new(body.ToJsonString(), Encoding.UTF8, "application/json");

    private static string Truncate(string text) => text.Length <= 300 ? text : text[..300] + "…";

}
