using System.Diagnostics;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using ModelGate.Client;

namespace ModelGate.Benchmarks;

/// <summary>
/// The scenarios against one running server. Timed requests go through plain <see cref="HttpClient"/>s (one per
/// simulated client, each with its own connection): a timing is send → full response body read, with request bodies
/// serialised before the clock starts and responses not deserialised, so client-side JSON work is not in the figures.
/// The typed <see cref="ModelGateClient"/> does the setup and checks that the measured endpoints answer what they should.
/// </summary>
internal sealed class RegistryBenchmark(BenchServer server, BenchOptions options, TextWriter log)
{
    private const string CreateModel = "bench-create";
    private const string ListModel = "bench-list";
    private const string WarmupModel = "bench-warmup";

    // Warm-up ends once the median latency of 4 successive windows of ≥ 0.5 s (and ≥ 5 requests) has not improved by 5 %
    // on the best earlier window. Tiering up proceeds in steps with plateaus of up to about a second between them.
    private const double WarmupWindowSeconds = 0.5;
    private const int WarmupWindowMinRequests = 5;
    private const int WarmupStableWindows = 4;
    private const double WarmupImprovement = 0.95;
    private static readonly MediaTypeHeaderValue JsonMediaType = new("application/json");

    private readonly List<string> _notes = [];
    private string _artifactSha256 = "";

    public IReadOnlyList<string> Notes => _notes;

    public async Task<IReadOnlyList<ScenarioResult>> RunAsync()
    {
        var results = new List<ScenarioResult>();
        using var setupHttp = NewHttpClient();
        var api = new ModelGateClient(setupHttp);
        using var http = NewHttpClient();
        if (options.GateOnly)
        {
            results.Add(await GateScenarioAsync(api, setupHttp, http));
            return results;
        }
        await SetupAsync(api);

        // (a) The floor: routing, middleware and Kestrel over loopback, no authentication, no database.
        results.Add(await SequentialAsync("GET /healthz (baseline)", http, options.ReadWarmup, options.HealthOps,
            _ => new HttpRequestMessage(HttpMethod.Get, "healthz")));

        // (b) Create version, one client: the warm-up creates go to a model of their own, so that the measured creates
        // run on a model that starts empty and ends with --create-ops versions, however long the warm-up took.
        results.Add(await SequentialAsync("create version", http, options.CreateWarmup, options.CreateOps,
            i => CreateVersionRequest(CreateModel, Version(i)),
            i => CreateVersionRequest(WarmupModel, Version(i))));
        var createdVersions = options.CreateOps;

        // Seeds the list model through the API as well, timing each create to see how the cost grows with the model's size.
        await SeedListModelAsync(http);

        // (c) Get version: random versions of the create model.
        var random = new Random(42);
        var check = await api.GetVersionAsync(CreateModel, Version(createdVersions - 1));
        Require(check.Version == Version(createdVersions - 1) && check.Artifacts.Count == 1, "get version answered the wrong version");
        results.Add(await SequentialAsync("get version", http, options.ReadWarmup, options.GetOps,
            _ => Get($"api/v1/models/{CreateModel}/versions/{Version(random.Next(createdVersions))}")));

        // (d) One page of the whole list model.
        var page = await api.ListVersionsAsync(ListModel, 0, options.ListSize);
        Require(page.Items.Count == options.ListSize && page.Total == options.ListSize && page.Items[0].Version == Version(options.ListSize - 1),
            $"list versions answered {page.Items.Count} of {page.Total} versions, expected {options.ListSize} newest first");
        results.Add(await SequentialAsync($"list {options.ListSize:N0} versions", http, options.ListWarmup, options.ListOps,
            _ => Get($"api/v1/models/{ListModel}/versions?limit={options.ListSize}")));

        // (e1) Concurrent reads: each client gets random versions of both models.
        var clientRandoms = Enumerable.Range(0, options.Clients).Select(k => new Random(1000 + k)).ToArray();
        results.Add(await ConcurrentAsync($"get version, {options.Clients} clients", options.ConcurrentWarmupPerClient, options.ConcurrentGetOpsPerClient,
            (k, _) =>
            {
                var r = clientRandoms[k];
                return r.Next(2) == 0
                    ? Get($"api/v1/models/{CreateModel}/versions/{Version(r.Next(createdVersions))}")
                    : Get($"api/v1/models/{ListModel}/versions/{Version(r.Next(options.ListSize))}");
            }));

        // (e2) Concurrent writes: each client creates versions on a model of its own.
        results.Add(await ConcurrentAsync($"create version, {options.Clients} clients", options.ConcurrentWarmupPerClient,
            options.ConcurrentCreateOpsPerClient, (k, i) => CreateVersionRequest(ConcurrentModel(k), Version(i))));

        // (f) The production gate, as `promote --dry-run` asks it, on a version with the evidence a release has.
        results.Add(await GateScenarioAsync(api, setupHttp, http));
        return results;
    }

    private const string GateModel = "bench-gate";

    // The admin key does every step, so the policy waives the independent evaluator (below the low tier's floor: the tier's
    // authority approves that once).
    private const string GatePolicy = """
        evaluated: { requirePlatformRun: false, requireIndependent: false, thresholds: [] }
        registered: { cardFields: [], requireLicense: false }
        """;

    /// <summary>
    /// <c>POST …/transitions?dryRun=true</c> to production on a staging version with three evaluations (one run by the server,
    /// two external), a card, a passed staging verification and two approvals: every record the production gate reads.
    /// </summary>
    private async Task<ScenarioResult> GateScenarioAsync(ModelGateClient api, HttpClient setupHttp, HttpClient http)
    {
        var clock = Stopwatch.StartNew();
        await SetupGateAsync(api, setupHttp);
        var note = $"{server.Provider}: gate set-up (a platform evaluation, two external ones, a card, a staging verification, two approvals) took {clock.Elapsed.TotalSeconds:F1} s";
        _notes.Add(note);
        log.WriteLine($"  {note}");
        var body = JsonSerializer.SerializeToUtf8Bytes(new TransitionRequest(Stages.Production, "benchmark dry run"), ModelGateJson.Options);
        HttpRequestMessage DryRun(int _)
        {
            var content = new ByteArrayContent(body);
            content.Headers.ContentType = JsonMediaType;
            return new HttpRequestMessage(HttpMethod.Post, $"api/v1/models/{GateModel}/versions/1.0.0/transitions?dryRun=true") { Content = content };
        }
        var report = await api.DryRunTransitionAsync(GateModel, "1.0.0", new TransitionRequest(Stages.Production, "benchmark check"));
        Require(report.Passed, "the production gate dry run did not pass: " +
                               string.Join("; ", report.Checks.Where(c => !c.Passed).Select(c => $"{c.Check}: {c.Actual}")));
        return await SequentialAsync("production gate dry run", http, options.ReadWarmup, options.GateOps, DryRun);
    }

    private async Task SetupGateAsync(ModelGateClient api, HttpClient setupHttp)
    {
        var fixtures = EvaluationFixtures.Load(options.FixturesDirectory ?? EvaluationFixtures.DefaultDirectory());
        var onnx = fixtures.Models[0];
        foreach (var (bytes, sha) in new[] { (fixtures.Dataset, fixtures.DatasetSha256), (fixtures.NoBootstrap.Bytes, fixtures.NoBootstrap.Sha256), (onnx.Bytes, onnx.Sha256) })
        {
            using var stream = new MemoryStream(bytes, writable: false);
            await api.PushArtifactAsync(stream, sha);
        }
        await api.CreateModelAsync(new CreateModelRequest(GateModel, "bench", RiskTiers.Low, "classification", "MIT", "gate benchmark", ["bench"]));
        using (var put = await setupHttp.PutAsync($"api/v1/policies/{GateModel}", new StringContent(GatePolicy, System.Text.Encoding.UTF8, "application/yaml")))
        {
            if (!put.IsSuccessStatusCode)
            {
                var change = JsonDocument.Parse(await put.Content.ReadAsStringAsync()).RootElement.GetProperty("change").GetString()!;
                var authority = await PersonKeyAsync(api, "bench-authority", Roles.ProductOwner);
                await Person(authority).ApproveFloorChangeAsync(GateModel, new FloorApprovalRequest(change, "benchmark set-up"));
                await api.PutPolicyAsync(GateModel, GatePolicy);
            }
        }
        await api.CreateVersionAsync(GateModel, new CreateVersionRequest("1.0.0", [new ArtifactRef(onnx.Sha256, onnx.FileName)],
            new Attestation(Datasets: [new DatasetRef("adult-train", "fixtures/" + EvaluationFixtures.TrainPath, fixtures.TrainSha256)], Trainer: "bench-trainer")));
        var run = await api.StartEvaluationAsync(GateModel, "1.0.0", new StartEvaluationRequest(fixtures.NoBootstrap.Sha256));
        var started = Stopwatch.StartNew();
        while (!EvaluationStatuses.IsTerminal(run.Status))
        {
            Require(started.Elapsed < TimeSpan.FromMinutes(5), $"evaluation {run.Id} did not finish");
            await Task.Delay(50);
            run = await api.GetEvaluationAsync(GateModel, "1.0.0", run.Id);
        }
        Require(run.Status == EvaluationStatuses.Succeeded, $"evaluation {run.Id} ended {run.Status}: {run.Error}");
        foreach (var auc in new[] { 0.9, 0.91 })
        {
            await api.StartEvaluationAsync(GateModel, "1.0.0", new StartEvaluationRequest(fixtures.NoBootstrap.Sha256, External: true,
                Metrics: new Dictionary<string, double> { ["roc_auc"] = auc, ["accuracy"] = 0.85 }));
        }
        await api.TransitionAsync(GateModel, "1.0.0", new TransitionRequest(Stages.Evaluated, "benchmark set-up"));
        await api.PutCardAsync(GateModel, "1.0.0", new ModelCard("Aggregate census statistics.", "Decisions about individuals.", ["1994 US census data only."],
            "UCI Adult train split.", new CardEvaluation("Adult test split.", [run.Id]), [new EthicalConsideration("Sex and race are inputs", "gated")], "# bench"));
        await api.TransitionAsync(GateModel, "1.0.0", new TransitionRequest(Stages.Registered, "benchmark set-up"));
        await api.CreateDeploymentAsync(new CreateDeploymentRequest(GateModel + "-staging", DeploymentEnvironments.Staging, GateModel, new RoutingTable("1.0.0")));
        await api.TransitionAsync(GateModel, "1.0.0", new TransitionRequest(Stages.Staging, "benchmark set-up"));
        var verification = await api.VerifyStagingAsync(GateModel, "1.0.0", new StagingVerificationRequest(SmokeRows: 5, LoadRequests: 20, Concurrency: 2));
        Require(verification.Passed, "the staging verification failed: " + string.Join("; ", verification.Checks.Where(c => !c.Passed).Select(c => c.Detail)));
        foreach (var role in new[] { Roles.MlLead, Roles.ProductOwner })
        {
            var key = await PersonKeyAsync(api, "bench-" + role, role);
            await Person(key).ApproveAsync(GateModel, "1.0.0", new ApprovalRequest(ApprovalDecisions.Approve, role, [run.Id, verification.Id],
                "accepted", "alerts", "rollback", DateTime.UtcNow.AddDays(90)));
        }
    }

    private ModelGateClient? _peopleAdmin;

    /// <summary>
    /// A key of a new person principal holding <paramref name="role"/>: approving roles are held by people only, granted by another
    /// administrator than the admin key that registers and promotes the version (a grant by a party to the version does not count).
    /// </summary>
    private async Task<string> PersonKeyAsync(ModelGateClient api, string name, string role)
    {
        _peopleAdmin ??= Person((await api.CreateKeyAsync(new CreateKeyRequest("bench-people-admin", [Roles.Admin]))).Key!);
        var person = await _peopleAdmin.CreatePrincipalAsync(new CreatePrincipalRequest(PrincipalKinds.Person, $"{name}@bench.example", name, [role]));
        return (await api.CreateKeyAsync(new CreateKeyRequest(name, [role], Principal: person.Id))).Key!;
    }

    /// <summary>A client holding another key (approvers must not be the requester).</summary>
    private ModelGateClient Person(string key)
    {
        var http = NewHttpClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return new ModelGateClient(http);
    }

    private async Task SetupAsync(ModelGateClient api)
    {
        var content = RandomNumberGenerator.GetBytes(4096);
        _artifactSha256 = Convert.ToHexStringLower(SHA256.HashData(content));
        using (var stream = new MemoryStream(content))
        {
            await api.PushArtifactAsync(stream, _artifactSha256);
        }
        string[] models = [CreateModel, WarmupModel, ListModel, .. Enumerable.Range(0, options.Clients).Select(ConcurrentModel)];
        foreach (var model in models)
        {
            await api.CreateModelAsync(new CreateModelRequest(model, "bench", RiskTiers.Low, "classification", "MIT", "load benchmark", ["bench"]));
        }
    }

    private async Task SeedListModelAsync(HttpClient http)
    {
        log.WriteLine($"  seeding {ListModel} with {options.ListSize:N0} versions");
        var timings = new double[options.ListSize];
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < options.ListSize; i++)
        {
            var (ms, error) = await TimeAsync(http, CreateVersionRequest(ListModel, Version(i)));
            if (error is not null)
            {
                throw new InvalidOperationException($"seeding {ListModel}@{Version(i)} failed: {error}");
            }
            timings[i] = ms;
        }
        var seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var window = Math.Min(100, options.ListSize / 2);
        var note = $"{server.Provider}: seeding {ListModel} with {options.ListSize:N0} versions (sequential creates) took {seconds:F1} s";
        if (window > 0)
        {
            note += $"; median create: {ScenarioResult.Median(timings, 0, window):F2} ms for the first {window}, " +
                    $"{ScenarioResult.Median(timings, options.ListSize - window, window):F2} ms for the last {window}";
        }
        _notes.Add(note);
        log.WriteLine($"  {note}");
    }

    private async Task<ScenarioResult> SequentialAsync(string name, HttpClient http, int minWarmup, int ops, Func<int, HttpRequestMessage> request,
        Func<int, HttpRequestMessage>? warmupRequest = null)
    {
        var (warmupCount, warmupSeconds) = await WarmUpAsync(name, http, minWarmup, warmupRequest ?? request);
        log.WriteLine($"  {name}: {warmupCount:N0} warm-up requests in {warmupSeconds:F1} s, then {ops:N0} measured");
        Settle();
        var timings = new double[ops];
        var errors = 0;
        string? firstError = null;
        var sql = server.Sql.Count;
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < ops; i++)
        {
            // The request (and its JSON body) is built before TimeAsync starts the clock.
            var message = warmupRequest is null ? request(warmupCount + i) : request(i);
            var (ms, error) = await TimeAsync(http, message);
            timings[i] = ms;
            if (error is not null)
            {
                errors++;
                firstError ??= error;
            }
        }
        var elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
        return new ScenarioResult(server.Provider, name, 1, timings, elapsed, errors, firstError, server.Sql.Count - sql, warmupCount, warmupSeconds);
    }

    /// <summary>
    /// Sends warm-up requests until the latency stops improving, so that the JIT has tiered up (with dynamic PGO) the code
    /// the scenario runs: at least <paramref name="minCount"/> requests and --warmup-seconds, at most --max-warmup-seconds.
    /// On this 2-core machine a freshly started host takes several seconds of traffic to reach its steady state.
    /// </summary>
    private async Task<(int Count, double Seconds)> WarmUpAsync(string name, HttpClient http, int minCount, Func<int, HttpRequestMessage> request)
    {
        var start = Stopwatch.GetTimestamp();
        var windowStart = start;
        var window = new List<double>();
        var best = double.MaxValue;
        var stableWindows = 0;
        var count = 0;
        while (true)
        {
            var (ms, error) = await TimeAsync(http, request(count++));
            if (error is not null)
            {
                throw new InvalidOperationException($"{name}: warm-up request failed: {error}");
            }
            window.Add(ms);
            var now = Stopwatch.GetTimestamp();
            if (window.Count >= WarmupWindowMinRequests && Stopwatch.GetElapsedTime(windowStart, now).TotalSeconds >= WarmupWindowSeconds)
            {
                var median = ScenarioResult.Median(window, 0, window.Count);
                stableWindows = median < best * WarmupImprovement ? 0 : stableWindows + 1;
                best = Math.Min(best, median);
                window.Clear();
                windowStart = now;
            }
            var elapsed = Stopwatch.GetElapsedTime(start, now).TotalSeconds;
            if (count >= minCount && (elapsed >= options.MaxWarmupSeconds || (elapsed >= options.WarmupSeconds && stableWindows >= WarmupStableWindows)))
            {
                return (count, elapsed);
            }
        }
    }

    /// <summary>
    /// Each client warms up on its own connection (at least <paramref name="warmupPerClient"/> requests and --warmup-seconds; the
    /// sequential scenarios before have warmed up the same endpoints), then all start together; throughput is over the
    /// wall-clock time until the last finishes.
    /// </summary>
    private async Task<ScenarioResult> ConcurrentAsync(string name, int warmupPerClient, int opsPerClient, Func<int, int, HttpRequestMessage> request)
    {
        var clients = options.Clients;
        log.WriteLine($"  {name}: {clients} × (≥ {warmupPerClient:N0} warm-up + {opsPerClient:N0} measured)");
        var https = Enumerable.Range(0, clients).Select(_ => NewHttpClient()).ToArray();
        try
        {
            var ready = Enumerable.Range(0, clients).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
            var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var timings = new double[clients][];
            var ends = new long[clients];
            var errors = new int[clients];
            var firstErrors = new string?[clients];
            var warmupCounts = new int[clients];
            var warmupBegan = Stopwatch.GetTimestamp();
            var tasks = Enumerable.Range(0, clients).Select(k => Task.Run(async () =>
            {
                var next = 0;
                try
                {
                    var warmupStart = Stopwatch.GetTimestamp();
                    while (next < warmupPerClient || Stopwatch.GetElapsedTime(warmupStart).TotalSeconds < options.WarmupSeconds)
                    {
                        var (_, error) = await TimeAsync(https[k], request(k, next++));
                        if (error is not null)
                        {
                            throw new InvalidOperationException($"{name}: warm-up request of client {k} failed: {error}");
                        }
                    }
                    warmupCounts[k] = next;
                    ready[k].SetResult();
                }
                catch (Exception e)
                {
                    ready[k].TrySetException(e);
                    throw;
                }
                await go.Task;
                var mine = new double[opsPerClient];
                for (var i = 0; i < opsPerClient; i++)
                {
                    var message = request(k, next++);
                    var (ms, error) = await TimeAsync(https[k], message);
                    mine[i] = ms;
                    if (error is not null)
                    {
                        errors[k]++;
                        firstErrors[k] ??= error;
                    }
                }
                timings[k] = mine;
                ends[k] = Stopwatch.GetTimestamp();
            })).ToArray();

            try
            {
                await Task.WhenAll(ready.Select(r => r.Task));
            }
            catch
            {
                go.TrySetCanceled(); // releases the clients that did warm up
                throw;
            }
            var warmupSeconds = Stopwatch.GetElapsedTime(warmupBegan).TotalSeconds;
            Settle();
            var sql = server.Sql.Count;
            var start = Stopwatch.GetTimestamp();
            go.SetResult();
            await Task.WhenAll(tasks);
            var elapsed = Stopwatch.GetElapsedTime(start, ends.Max()).TotalSeconds;
            return new ScenarioResult(server.Provider, name, clients, timings.SelectMany(t => t).ToArray(), elapsed, errors.Sum(),
                firstErrors.FirstOrDefault(e => e is not null), server.Sql.Count - sql, warmupCounts.Sum(), warmupSeconds);
        }
        finally
        {
            foreach (var h in https)
            {
                h.Dispose();
            }
        }
    }

    /// <summary>Sends the request and reads the whole response body; the elapsed milliseconds, and the error if the answer was not 2xx.</summary>
    private static async Task<(double Ms, string? Error)> TimeAsync(HttpClient http, HttpRequestMessage request)
    {
        using (request)
        {
            var start = Stopwatch.GetTimestamp();
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead);
            var ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            if (response.IsSuccessStatusCode)
            {
                return (ms, null);
            }
            var body = await response.Content.ReadAsStringAsync();
            return (ms, $"{request.Method} {request.RequestUri} → {(int)response.StatusCode}: {(body.Length > 300 ? body[..300] + "…" : body)}");
        }
    }

    /// <summary>Collects garbage left by setup or the previous scenario, so that the next one does not pay for it.</summary>
    internal static void Settle()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
    }

    private HttpClient NewHttpClient()
    {
        var handler = new SocketsHttpHandler
        {
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            UseProxy = false,
            AllowAutoRedirect = false,
            UseCookies = false,
        };
        var http = new HttpClient(handler, disposeHandler: true)
        {
            BaseAddress = server.BaseAddress,
            Timeout = TimeSpan.FromSeconds(60),
        };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", BenchServer.AdminKey);
        return http;
    }

    private static HttpRequestMessage Get(string path) => new(HttpMethod.Get, path);

    private HttpRequestMessage CreateVersionRequest(string model, string version)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(new CreateVersionRequest(version,
            [new ArtifactRef(_artifactSha256, "model.onnx", "application/onnx")],
            // Each version serves the same artifact with its own serving configuration: a patch, as the versioning rules require.
            Attestation with { ServingConfig = new Dictionary<string, JsonElement> { ["replica"] = JsonSerializer.SerializeToElement(version) } },
            $"{model} {version}"), ModelGateJson.Options);
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = JsonMediaType;
        return new HttpRequestMessage(HttpMethod.Post, $"api/v1/models/{model}/versions") { Content = content };
    }

    /// <summary>A realistic training record (about 1 KiB of JSON), the same for every version.</summary>
    private static readonly Attestation Attestation = new(
        Datasets: [new DatasetRef("adult-train", "s3://datasets/adult/train.csv", new string('a', 64))],
        Code: new CodeRef("https://git.example/ml/adult", "9f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c"),
        Environment: new EnvironmentRef("sha256:" + new string('e', 64), new Dictionary<string, string> { ["scikit-learn"] = "1.5.2", ["numpy"] = "2.1.3" }),
        Architecture: "logistic-regression",
        Hyperparameters: new Dictionary<string, JsonElement>
        {
            ["C"] = JsonSerializer.SerializeToElement(1.0),
            ["max_iter"] = JsonSerializer.SerializeToElement(1000),
            ["solver"] = JsonSerializer.SerializeToElement("lbfgs"),
        },
        Metrics: new Dictionary<string, double> { ["train_accuracy"] = 0.853, ["train_auc"] = 0.904 },
        LogSummary: new LogSummary(0, 2, ["ConvergenceWarning: lbfgs failed to converge"]),
        Trainer: "bench-trainer",
        StartedAt: new DateTimeOffset(2026, 10, 30, 9, 0, 0, TimeSpan.Zero),
        FinishedAt: new DateTimeOffset(2026, 10, 30, 9, 4, 0, TimeSpan.Zero));

    private static string Version(int i) => $"1.0.{i}";

    private static string ConcurrentModel(int k) => $"bench-concurrent-{k:D2}";

    private static void Require(bool condition, string message)
    {
        if (!condition)
        {
            throw new InvalidOperationException(message);
        }
    }
}
