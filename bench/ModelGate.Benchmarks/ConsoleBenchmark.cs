using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using ModelGate.Client;
using ModelGate.Storage;
using ModelGate.Storage.Gateway;

namespace ModelGate.Benchmarks;

/// <summary>
/// The web console's server-side render time on a full store: <see cref="BenchOptions.ConsoleModels"/> models of
/// <see cref="BenchOptions.ConsoleVersionsPerModel"/> versions each (1,000 by default, created through the REST API), ten
/// deployments, and <see cref="BenchOptions.ConsoleRequestRows"/> request-log rows (1 M by default) spread over the last 30
/// days, written straight into the store with the request log's own bulk insert (the API would take hours). Each page is
/// fetched by one signed-in client, sequentially: a timing is send → the whole HTML read, i.e. the server's render plus
/// loopback. A page that does not answer 200 (one this build does not have) is named in the notes, not measured.
/// </summary>
internal sealed class ConsoleBenchmark(BenchServer server, BenchOptions options, TextWriter log)
{
    private const int Deployments = 10;
    private readonly List<string> _notes = [];

    public IReadOnlyList<string> Notes => _notes;

    public async Task<IReadOnlyList<ScenarioResult>> RunAsync()
    {
        using var api = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromMinutes(5) };
        api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", BenchServer.AdminKey);
        var client = new ModelGateClient(api);
        var seedClock = Stopwatch.StartNew();
        await SeedRegistryAsync(client);
        _notes.Add($"{server.Provider}: {options.ConsoleModels * options.ConsoleVersionsPerModel:N0} versions of {options.ConsoleModels} models and {Deployments} deployments created through the REST API in {seedClock.Elapsed.TotalSeconds:F0} s");
        seedClock.Restart();
        await SeedRequestLogAsync();
        _notes.Add($"{server.Provider}: {options.ConsoleRequestRows:N0} request-log rows over 30 days bulk-inserted in {seedClock.Elapsed.TotalSeconds:F0} s");

        using var browser = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromMinutes(5) };
        var cookie = await SignInAsync(browser);
        var model = ModelName(0);
        var last = Version(options.ConsoleVersionsPerModel - 1);
        (string Name, string Path)[] pages =
        [
            ("catalog", "console"),
            ("catalog, search", $"console?q={ModelName(options.ConsoleModels / 2)}"),
            ($"model page ({options.ConsoleVersionsPerModel} versions)", $"console/models/{model}"),
            ("version page", $"console/models/{model}/versions/{last}"),
            ("compare", $"console/models/{model}/compare?a={Version(0)}&b={last}"),
            ("deployments", "console/deployments"),
            ("deployment page", $"console/deployments/{DeploymentName(0)}"),
            ("deployment rollouts", $"console/deployments/{DeploymentName(0)}/rollouts"),
            ("deployment drift", $"console/deployments/{DeploymentName(0)}/drift"),
            ("alerts", "console/alerts"),
            ("audit (first page)", "console/audit"),
            ("dashboard: executive, 24h", "console/dashboards/executive?window=24h"),
            ("dashboard: executive, 30d", "console/dashboards/executive?window=30d"),
            ("dashboard: on-call", "console/dashboards/on-call"),
            ("dashboard: debug", $"console/dashboards/debug?deployment={DeploymentName(0)}"),
            ("keys", "console/keys"),
            ("principals", "console/principals"),
        ];
        var results = new List<ScenarioResult>();
        foreach (var (name, path) in pages)
        {
            var (status, _) = await FetchAsync(browser, path, cookie);
            if (status != HttpStatusCode.OK)
            {
                _notes.Add($"{server.Provider}: {name} (/{path.Split('?')[0]}): answered {(int)status}, not measured (not in this build)");
                continue;
            }
            log.WriteLine($"  {name}");
            results.Add(await MeasureAsync(browser, cookie, name, path));
        }
        return results;
    }

    private static string ModelName(int i) => $"bench-m-{i:D3}";
    private static string Version(int i) => $"1.0.{i}";
    private static string DeploymentName(int i) => $"bench-d-{i}";

    private async Task SeedRegistryAsync(ModelGateClient api)
    {
        log.WriteLine($"  seeding {options.ConsoleModels} models × {options.ConsoleVersionsPerModel} versions");
        var artifact = RandomNumberGenerator.GetBytes(2048);
        var sha = Convert.ToHexStringLower(SHA256.HashData(artifact));
        using (var stream = new MemoryStream(artifact))
        {
            await api.PushArtifactAsync(stream, sha);
        }
        string[] tiers = [RiskTiers.Low, RiskTiers.Medium, RiskTiers.High];
        for (var m = 0; m < options.ConsoleModels; m++)
        {
            await api.CreateModelAsync(new CreateModelRequest(ModelName(m), $"team-{m % 7}", tiers[m % 3], "llm-chat", "MIT", "console benchmark", [$"tag-{m % 5}"]));
            for (var v = 0; v < options.ConsoleVersionsPerModel; v++)
            {
                // Each version's prompt differs: a new version of the same artifact is a patch, as the versioning rules require.
                await api.CreateVersionAsync(ModelName(m), new CreateVersionRequest(Version(v), [new ArtifactRef(sha, "model.onnx")], new Attestation(
                    Datasets: [new DatasetRef("tickets", "s3://datasets/tickets.jsonl", new string('a', 64))], Trainer: "bench-trainer", Architecture: "upstream",
                    PromptTemplate: new PromptTemplate("You summarise support tickets.", $"Summarise (revision {v}): {{{{ticket}}}}", ["ticket"])), $"{ModelName(m)} {Version(v)}"));
            }
        }
        for (var d = 0; d < Deployments; d++)
        {
            var upstream = new UpstreamBackend("http://127.0.0.1:9/v1", "stand-in", InputPricePer1K: 0.001, OutputPricePer1K: 0.002);
            await api.CreateDeploymentAsync(new CreateDeploymentRequest(DeploymentName(d), DeploymentEnvironments.Development, ModelName(d), new RoutingTable(Version(0),
                [new CandidateRoute(Version(1), 10)], Backend: "upstream", Upstreams: new Dictionary<string, UpstreamBackend> { [Version(0)] = upstream, [Version(1)] = upstream })));
        }
    }

    /// <summary>Rows as the gateway writes them: 90 % stable, 10 % canary, 0.5 % 5xx, latencies around 20 ms with a tail, tokens and cost.</summary>
    private async Task SeedRequestLogAsync()
    {
        log.WriteLine($"  seeding {options.ConsoleRequestRows:N0} request-log rows");
        await using var scope = server.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ModelGateDbContext>();
        var insert = new BulkInsert<RequestLogEntity>(db);
        var random = new Random(19);
        var now = DateTime.UtcNow;
        const int batch = 50_000;
        var rows = new List<RequestLogEntity>(batch);
        for (var i = 0; i < options.ConsoleRequestRows; i++)
        {
            var d = random.Next(Deployments);
            var canary = random.NextDouble() < 0.1;
            var status = random.NextDouble() < 0.005 ? 502 : 200;
            var latency = 15 + 10 * -Math.Log(1 - random.NextDouble());
            long prompt = 200 + random.Next(400), completion = 50 + random.Next(150);
            rows.Add(new RequestLogEntity
            {
                RequestId = $"req-{i:x8}", Time = now - TimeSpan.FromSeconds(random.NextDouble() * 30 * 86_400), KeyId = "key_bench",
                Deployment = DeploymentName(d), Version = canary ? Version(1) : Version(0), Route = canary ? "canary" : "stable", Protocol = "openai",
                Status = status, LatencyMs = latency, UpstreamLatencyMs = latency - 1, PromptTokens = status == 200 ? prompt : null,
                CompletionTokens = status == 200 ? completion : null, UsageSource = "upstream",
                Cost = status == 200 ? prompt / 1000.0 * 0.001 + completion / 1000.0 * 0.002 : null,
                Payload = i % 1000 == 0 ? """{"request":{"messages":[{"role":"user","content":"Summarise: my invoice is wrong"}]},"response":{"choices":[{"message":{"content":"Invoice dispute."}}]}}""" : null,
            });
            if (rows.Count == batch)
            {
                await insert.InsertAsync(db, rows, CancellationToken.None);
                rows.Clear();
            }
        }
        await insert.InsertAsync(db, rows, CancellationToken.None);
    }

    private static async Task<string> SignInAsync(HttpClient browser)
    {
        using var response = await browser.PostAsync("console/sign-in", new FormUrlEncodedContent([KeyValuePair.Create("apiKey", BenchServer.AdminKey)]));
        if (response.StatusCode != HttpStatusCode.Redirect || !response.Headers.TryGetValues("Set-Cookie", out var cookies))
        {
            throw new InvalidOperationException($"console sign-in answered {(int)response.StatusCode}");
        }
        return cookies.First().Split(';')[0];
    }

    private static async Task<(HttpStatusCode Status, long Bytes)> FetchAsync(HttpClient browser, string path, string cookie)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Add("Cookie", cookie);
        using var response = await browser.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var body = await response.Content.ReadAsByteArrayAsync();
        return (response.StatusCode, body.LongLength);
    }

    private async Task<ScenarioResult> MeasureAsync(HttpClient browser, string cookie, string name, string path)
    {
        for (var i = 0; i < options.ConsoleWarmup; i++)
        {
            await FetchAsync(browser, path, cookie);
        }
        var timings = new double[options.ConsoleOps];
        var errors = 0;
        string? firstError = null;
        long bytes = 0;
        var sqlBefore = server.Sql.Count;
        var started = Stopwatch.GetTimestamp();
        for (var i = 0; i < options.ConsoleOps; i++)
        {
            var t = Stopwatch.GetTimestamp();
            var (status, size) = await FetchAsync(browser, path, cookie);
            timings[i] = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
            bytes = size;
            if (status != HttpStatusCode.OK)
            {
                errors++;
                firstError ??= $"{(int)status}";
            }
        }
        var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
        _notes.Add(string.Create(CultureInfo.InvariantCulture, $"{server.Provider}: {name}: {bytes / 1024.0:F0} KiB of HTML"));
        return new ScenarioResult(server.Provider, name, 1, timings, elapsed, errors, firstError, server.Sql.Count - sqlBefore, options.ConsoleWarmup, 0);
    }

    public static string Markdown(BenchOptions options, DateTimeOffset started, TimeSpan duration, IReadOnlyList<ScenarioResult> results, IReadOnlyList<string> notes)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine(inv, $"# ModelGate web console render benchmark — {started:yyyy-MM-dd HH:mm:ss} UTC");
        sb.AppendLine();
        sb.AppendLine(inv, $"- Machine: {Environment.ProcessorCount} logical CPUs, {RuntimeInformation.OSDescription}; server build: {Report.ServerBuild}; load average at the end {MachineActivity.LoadAverage()}");
        sb.AppendLine(inv, $"- Store: {options.ConsoleModels * options.ConsoleVersionsPerModel:N0} versions ({options.ConsoleModels} models), 10 deployments, {options.ConsoleRequestRows:N0} request-log rows over 30 days");
        sb.AppendLine(inv, $"- Each page: {options.ConsoleWarmup} unrecorded fetches, then {options.ConsoleOps} sequential fetches by one signed-in client (send → whole HTML read over loopback); run {duration.TotalSeconds:F0} s");
        sb.AppendLine();
        sb.AppendLine("| store | page | p50 ms | p95 ms | max ms | SQL/page | errors |");
        sb.AppendLine("|---|---|---:|---:|---:|---:|---:|");
        foreach (var r in results)
        {
            sb.AppendLine(inv, $"| {r.Provider} | {r.Scenario} | {r.Percentile(50):F1} | {r.Percentile(95):F1} | {r.Max:F1} | {r.SqlPerOp:F1} | {r.Errors}{(r.FirstError is null ? "" : $" ({r.FirstError})")} |");
        }
        if (notes.Count > 0)
        {
            sb.AppendLine();
            foreach (var note in notes)
            {
                sb.AppendLine(inv, $"- {note}");
            }
        }
        return sb.ToString();
    }
}
