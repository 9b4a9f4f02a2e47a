using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using ModelGate.Client;
using ModelGate.Evaluation.Datasets;
using ModelGate.Gateway.Onnx;

namespace ModelGate.Benchmarks;

/// <summary>One measured wrk run of one path.</summary>
/// <param name="ProxyCpuUs">CPU time of the measured process (the proxy; for <c>direct</c> the upstream) per request, µs.</param>
/// <param name="OtherCores">Cores kept busy by processes outside this benchmark during the run.</param>
internal sealed record LoadRun(string Path, int Connections, int Round, WrkResult Wrk, double? ProxyCpuUs, double? OtherCores);

/// <summary>A way to reach the static upstream's chat completions: directly, or through one proxy.</summary>
internal sealed class HttpPath(string key, string label)
{
    public string Key { get; } = key;
    public string Label { get; } = label;
    public string Detail { get; set; } = "";
    public Uri? Url { get; set; }
    public string BodyFile { get; set; } = "";
    public byte[] StreamBody { get; set; } = [];
    public string? HeadersFile { get; set; }
    public List<(string Name, string Value)> Headers { get; } = [];
    /// <summary>The process whose RSS and CPU are reported: the proxy's, or for <c>direct</c> the upstream's.</summary>
    public int? Pid { get; set; }
    public string ProcessName { get; set; } = "";
    public long? PeakRssKiB { get; set; }
    /// <summary>For the replica path: the control process next to the measured gateway replica (its RSS is a note).</summary>
    public int? ControlPid { get; set; }
    public string? NotRun { get; set; }
    public List<LoadRun> Runs { get; } = [];
    public StreamResult? Stream { get; set; }
    /// <summary>Why the streaming part did not run on this path (its plain requests did).</summary>
    public string? StreamNotRun { get; set; }
    public List<string> Notes { get; } = [];

    public bool Ran => NotRun is null && Url is not null;

    public IEnumerable<LoadRun> At(int connections) => Runs.Where(r => r.Connections == connections);
}

/// <summary>OIP v2 infer on one ONNX model: through ModelGate (wrk) and ONNX Runtime alone, in this process.</summary>
internal sealed class InferPath(string model, string deployment)
{
    public string Model { get; } = model;
    public string Deployment { get; } = deployment;
    public List<LoadRun> Runs { get; } = [];
    public double[] OrtRawUs { get; set; } = [];
    /// <summary>Process CPU time per call of the timed single-thread loop: above the wall time when ONNX Runtime's own threads spin.</summary>
    public double OrtRawCpuUs { get; set; }
    /// <summary>The same loop with a session of one intra-op thread (the server's options otherwise).</summary>
    public double[] OrtOneThreadUs { get; set; } = [];
    public double OrtOneThreadCpuUs { get; set; }
    public double[] OrtModelUs { get; set; } = [];
    public double OrtTwoThreadsPerSecond { get; set; }
    public int InputCount { get; set; }
    public double MaxDifference { get; set; }
}

internal sealed record GatewayResults(
    IReadOnlyList<HttpPath> Paths,
    IReadOnlyList<InferPath> Infer,
    long? InferRssKiB,
    string? InferNotRun,
    string? NotRun,
    IReadOnlyList<string> Notes,
    string WrkVersion,
    string? NodeVersion,
    string ModelGateBinary,
    TimeSpan Duration);

/// <summary>
/// The data-plane overhead benchmark (issue 3, "bench/gateway"): one static OpenAI-compatible upstream, reached directly,
/// through <c>modelgate serve</c> bare (routing only, monitoring off) and with the full path (scoped key with limits, a 90/10
/// canary, prices, request log), through a minimal YARP proxy and through Portkey's gateway; every server its own process,
/// wrk its own process, all on loopback. Then OIP v2 infer through ModelGate against ONNX Runtime in this process.
/// </summary>
internal sealed partial class GatewayBenchmark(BenchOptions options, TextWriter log)
{
    public const string ChatDeployment = "chat";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan NpxTimeout = TimeSpan.FromSeconds(240);

    [GeneratedRegex(@"listening on (http://[^\s,]+)")]
    private static partial Regex Listening();

    [GeneratedRegex(@"ModelGate listening on (http://[^\s,]+)")]
    private static partial Regex ModelGateListening();

    [GeneratedRegex(@"admin key: (\S+)")]
    private static partial Regex AdminKey();

    [GeneratedRegex(@"Ready for connections|is running at")]
    private static partial Regex PortkeyReady();

    private readonly List<ChildProcess> _children = [];
    private readonly List<string> _notes = [];
    private string _work = "";

    public async Task<GatewayResults> RunAsync()
    {
        var clock = Stopwatch.StartNew();
        _work = Path.Combine(Path.GetTempPath(), "mg-gateway-bench-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(_work);
        var binary = options.ModelGateBinary ?? DefaultModelGateBinary();
        try
        {
            var (wrk, problem) = await Wrk.FindAsync(_work);
            if (wrk is null)
            {
                log.WriteLine($"  not run: {problem}");
                return new GatewayResults([], [], null, null, problem, _notes, "-", null, binary, clock.Elapsed);
            }
            log.WriteLine($"  {wrk.Version} at {wrk.Path}; work directory {_work}");
            if (!File.Exists(binary))
            {
                var why = $"the modelgate binary {binary} does not exist: build it first (dotnet build -c Release src/ModelGate) or pass --modelgate";
                log.WriteLine($"  not run: {why}");
                return new GatewayResults([], [], null, null, why, _notes, wrk.Version, null, binary, clock.Elapsed);
            }
            log.WriteLine($"  modelgate: {binary}");

            var upstream = ChildProcess.StartSelf("upstream",
                ["serve", "upstream", "--tokens", $"{options.StreamTokens}", "--delay-ms", $"{options.TokenDelayMs}"]);
            _children.Add(upstream);
            var upstreamBase = new Uri((await upstream.WaitForAsync(Listening(), StartTimeout)).Groups[1].Value.TrimEnd('/'));
            log.WriteLine($"  upstream (pid {upstream.Pid}) at {upstreamBase}: {options.StreamTokens} chunks per stream, {options.TokenDelayMs} ms apart");

            var paths = new List<HttpPath>();
            var direct = new HttpPath("direct", "direct to the upstream")
            {
                Url = new Uri(upstreamBase, "/v1/chat/completions"), Pid = upstream.Pid, ProcessName = "upstream (Kestrel)",
                Detail = "the static upstream itself (this program, `serve upstream`, Kestrel); RSS and CPU are the upstream's",
            };
            WriteBodies(direct, GatewayServers.Model);
            paths.Add(direct);
            foreach (var key in options.GatewayPaths.Where(p => p is "bare" or "full" or "replica" or "nomon" or "yarp" or "portkey"))
            {
                var path = key switch
                {
                    "bare" => new HttpPath(key, "ModelGate bare"),
                    "full" => new HttpPath(key, "ModelGate full path"),
                    "replica" => new HttpPath(key, "ModelGate full path, gateway replica"),
                    "nomon" => new HttpPath(key, "ModelGate full path, monitoring off"),
                    "yarp" => new HttpPath(key, "YARP (minimal)"),
                    _ => new HttpPath(key, "Portkey gateway"),
                };
                paths.Add(path);
                try
                {
                    await (key switch
                    {
                        "bare" => SetUpModelGateAsync(path, binary, upstreamBase, full: false, monitoring: false),
                        "full" => SetUpModelGateAsync(path, binary, upstreamBase, full: true, monitoring: true),
                        "replica" => SetUpModelGateAsync(path, binary, upstreamBase, full: true, monitoring: true, replica: true),
                        "nomon" => SetUpModelGateAsync(path, binary, upstreamBase, full: true, monitoring: false),
                        "yarp" => SetUpYarpAsync(path, upstreamBase),
                        _ => SetUpPortkeyAsync(path, upstreamBase),
                    });
                    await CheckAsync(path);
                }
                catch (Exception e) when (e is InvalidOperationException or HttpRequestException or IOException or ModelGateApiException
                                              or System.ComponentModel.Win32Exception or TaskCanceledException)
                {
                    path.NotRun = e.Message.Split('\n')[0];
                    path.Notes.Add(e.Message);
                    log.WriteLine($"  {path.Label}: not run — {e.Message}");
                }
            }
            await CheckAsync(direct);
            var live = paths.Where(p => p.Ran).ToList();

            await WaitForQuietAsync();
            log.WriteLine($"  warm-up: {options.GatewayWarmupSeconds} s at {options.Connections} connections, then {WarmupAtOne} s at 1, per path");
            foreach (var path in live)
            {
                if (options.GatewayWarmupSeconds > 0)
                {
                    var w = await wrk.RunAsync(path.Url!, options.Connections, options.GatewayWarmupSeconds, path.BodyFile, path.HeadersFile);
                    var w1 = await ClosedLoopClient.RunAsync(path.Url!, File.ReadAllBytes(path.BodyFile), path.Headers, WarmupAtOne);
                    log.WriteLine($"    {path.Key,-8} {w.RequestsPerSecond,8:N0} req/s at {options.Connections}, {w1.RequestsPerSecond,7:N0} at 1" +
                                  (w.Errors + w1.Errors > 0 ? $"; errors: {w.ErrorDetail} / {w1.ErrorDetail}" : ""));
                }
            }

            for (var round = 1; round <= options.Rounds; round++)
            {
                await WaitForQuietAsync();
                foreach (var connections in new[] { 1, options.Connections })
                {
                    foreach (var path in live)
                    {
                        var run = await MeasureAsync(wrk, path.Key, path.Url!, path.BodyFile, path.Headers, path.HeadersFile, path.Pid, connections, round);
                        path.Runs.Add(run);
                        log.WriteLine($"  round {round} c{connections,-3} {path.Key,-8} p50 {run.Wrk.P50Us,7:N0} µs  p99 {run.Wrk.P99Us,7:N0} µs  " +
                                      $"{run.Wrk.RequestsPerSecond,8:N0} req/s  errors {run.Wrk.Errors}  cpu/req {run.ProxyCpuUs,5:N0} µs  others {run.OtherCores:F2} cores");
                    }
                }
            }

            log.WriteLine($"  streaming: {options.Streams} streams per path after {StreamWarmup} unrecorded, one connection");
            foreach (var path in live.Where(p => p.StreamNotRun is null))
            {
                path.Stream = await StreamingProbe.RunAsync(path.Url!, path.StreamBody, path.Headers, StreamWarmup, options.Streams);
                log.WriteLine($"    {path.Key,-8} first byte p50 {path.Stream.FirstByte(50):F3} ms, p99 {path.Stream.FirstByte(99):F3} ms; " +
                              $"last byte p50 {path.Stream.LastByte(50):F2} ms; {path.Stream.MeanReadsPerStream:F1} reads/stream; errors {path.Stream.Errors}" +
                              (path.Stream.FirstError is { } fe ? $" ({fe})" : ""));
            }

            foreach (var path in live)
            {
                path.PeakRssKiB = path.Pid is { } pid ? ProcFs.PeakRssKiB(pid) : null;
                if (path.ControlPid is { } control && ProcFs.PeakRssKiB(control) is { } controlKiB)
                {
                    path.Notes.Add($"the `--role control` process next to the replica (set-up, REST API, workers) peaked at {controlKiB / 1024} MB; it served none of the measured requests");
                }
            }
            if (paths.FirstOrDefault(p => p.Key == "full" && p.Ran) is { } fullPath)
            {
                await ReportUsageAsync(fullPath);
            }
            foreach (var child in _children.ToList())
            {
                await child.DisposeAsync();
                _children.Remove(child);
            }

            var infer = new List<InferPath>();
            long? inferRss = null;
            string? inferNotRun = null;
            if (options.GatewayPaths.Contains("oip"))
            {
                try
                {
                    (infer, inferRss) = await InferAsync(wrk, binary);
                }
                catch (Exception e) when (e is InvalidOperationException or HttpRequestException or IOException or ModelGateApiException
                                              or OnnxRuntimeException or TaskCanceledException)
                {
                    inferNotRun = e.Message.Split('\n')[0];
                    _notes.Add("OIP v2: " + e.Message);
                    log.WriteLine($"  OIP v2: not run — {e.Message}");
                }
            }
            return new GatewayResults(paths, infer, inferRss, inferNotRun, null, _notes, wrk.Version, await NodeVersionAsync(), binary, clock.Elapsed);
        }
        finally
        {
            foreach (var child in _children)
            {
                await child.DisposeAsync();
            }
            try
            {
                Directory.Delete(_work, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                log.WriteLine($"  note: could not remove {_work}: {e.Message}");
            }
        }
    }

    /// <summary>
    /// Waits (up to --quiet-wait seconds) until other processes keep less than <see cref="QuietCores"/> cores busy over
    /// one second: this machine is shared, and a build next door moves every figure. Each run's report still states how
    /// busy the others were.
    /// </summary>
    private async Task WaitForQuietAsync()
    {
        var waited = Stopwatch.StartNew();
        var limit = TimeSpan.FromSeconds(options.QuietWaitSeconds);
        while (options.QuietWaitSeconds > 0)
        {
            var before = CpuSnapshot.Take();
            await Task.Delay(1000);
            var others = CpuSnapshot.Take().OthersSince(before);
            if (others is null || others < QuietCores)
            {
                if (waited.Elapsed > TimeSpan.FromSeconds(1.5))
                {
                    log.WriteLine($"  waited {waited.Elapsed.TotalSeconds:F0} s for other processes to quieten down");
                }
                return;
            }
            if (waited.Elapsed > limit)
            {
                log.WriteLine($"  other processes still keep {others:F2} cores busy after {limit.TotalSeconds:F0} s; measuring anyway");
                _notes.Add($"a round started while other processes kept {others:F2} cores busy (after waiting {limit.TotalSeconds:F0} s)");
                return;
            }
        }
    }

    private const double QuietCores = 0.25;

    private int WarmupAtOne => Math.Max(1, options.GatewayWarmupSeconds / 4);
    private int StreamWarmup => Math.Max(5, options.Streams / 10);

    /// <summary>One measured run: at 1 connection with the closed-loop client, at more with wrk.</summary>
    private async Task<LoadRun> MeasureAsync(Wrk wrk, string key, Uri url, string bodyFile, IReadOnlyList<(string Name, string Value)> headers,
        string? headersFile, int? pid, int connections, int round)
    {
        var body = await File.ReadAllBytesAsync(bodyFile);
        await Task.Delay(200); // let the previous run's connections close
        var cpuBefore = pid is { } p1 ? ProcFs.CpuSeconds(p1) : null;
        var before = CpuSnapshot.Take();
        var result = connections == 1
            ? await ClosedLoopClient.RunAsync(url, body, headers, options.LoadSeconds)
            : await wrk.RunAsync(url, connections, options.LoadSeconds, bodyFile, headersFile);
        var after = CpuSnapshot.Take();
        var cpuAfter = pid is { } p2 ? ProcFs.CpuSeconds(p2) : null;
        double? cpuUs = cpuBefore is { } b && cpuAfter is { } a && result.Requests > 0 ? (a - b) / result.Requests * 1e6 : null;
        return new LoadRun(key, connections, round, result, cpuUs, after.OthersSince(before));
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Paths.

    private void WriteBodies(HttpPath path, string model)
    {
        var plain = JsonSerializer.Serialize(new
        {
            model,
            messages = new[] { new { role = "user", content = "Say hello to the benchmark." } },
            max_tokens = 16,
        });
        var streamed = JsonSerializer.Serialize(new
        {
            model,
            messages = new[] { new { role = "user", content = "Say hello to the benchmark." } },
            max_tokens = 16,
            stream = true,
        });
        path.BodyFile = Path.Combine(_work, $"{path.Key}-body.json");
        File.WriteAllText(path.BodyFile, plain);
        path.StreamBody = Encoding.UTF8.GetBytes(streamed);
        if (path.Headers.Count > 0)
        {
            path.HeadersFile = Path.Combine(_work, $"{path.Key}-headers.txt");
            File.WriteAllLines(path.HeadersFile, path.Headers.Select(h => $"{h.Name}: {h.Value}"));
        }
    }

    private async Task SetUpYarpAsync(HttpPath path, Uri upstreamBase)
    {
        var yarp = ChildProcess.StartSelf("yarp", ["serve", "yarp", "--to", upstreamBase.ToString()]);
        _children.Add(yarp);
        var url = new Uri((await yarp.WaitForAsync(Listening(), StartTimeout)).Groups[1].Value.TrimEnd('/'));
        path.Url = new Uri(url, "/v1/chat/completions");
        path.Pid = yarp.Pid;
        path.ProcessName = "YARP (this program, `serve yarp`)";
        path.Detail = $"`IHttpForwarder.SendAsync` with `HttpTransformer.Default` (YARP {typeof(Yarp.ReverseProxy.Forwarder.IHttpForwarder).Assembly.GetName().Version}), " +
                      "Kestrel, one `HttpMessageInvoker` (no activity-header propagation); no routes config, no transforms, logging off";
        WriteBodies(path, GatewayServers.Model);
        log.WriteLine($"  yarp (pid {yarp.Pid}) at {url}");
    }

    /// <summary>
    /// <c>modelgate serve</c> on a fresh data directory, set up through its REST API with the bootstrap admin key: model
    /// <c>bench-chat</c> with versions 1.0.0 and 1.1.0 (an <c>upstream</c> backend each, both the static upstream) and
    /// deployment <c>chat</c>. Bare: stable 1.0.0 only, a key without scope or limits, monitoring off. Full: a 90/10 split
    /// between 1.0.0 and 1.1.0, prices on both, a key scoped to the deployment with RPM and TPM limits, monitoring on.
    /// </summary>
    private async Task SetUpModelGateAsync(HttpPath path, string binary, Uri upstreamBase, bool full, bool monitoring, bool replica = false)
    {
        var monitoringArg = $"--Gateway:Monitoring={(monitoring ? "true" : "false")}";
        // The replica path: everything is set up through a control process; a gateway replica started afterwards on the
        // same store (DESIGN's way to scale the data plane) serves the measured traffic.
        var (server, baseUrl, admin) = replica
            ? await StartModelGateAsync(path.Key, binary, monitoringArg, "--role", "control")
            : await StartModelGateAsync(path.Key, binary, monitoringArg);
        using var http = new HttpClient { BaseAddress = baseUrl, Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", admin);
        var api = new ModelGateClient(http);
        const string Model = "bench-chat";
        await api.CreateModelAsync(new CreateModelRequest(Model, "bench", RiskTiers.Low, "llm-chat", Description: "gateway benchmark"));
        foreach (var version in new[] { "1.0.0", "1.1.0" })
        {
            var config = Encoding.UTF8.GetBytes($$"""{"serving":"{{upstreamBase}}","version":"{{version}}"}""");
            var sha = EvaluationFixtures.Sha256(config);
            using (var content = new MemoryStream(config))
            {
                await api.PushArtifactAsync(content, sha);
            }
            await api.CreateVersionAsync(Model, new CreateVersionRequest(version, [new ArtifactRef(sha, "serving.json", "application/json", config.Length)],
                new Attestation(Architecture: "upstream", Trainer: "bench-trainer")));
        }
        var upstreamUrl = new Uri(upstreamBase, "/v1").ToString();
        RoutingTable routing;
        CreateKeyRequest key;
        if (full)
        {
            routing = new RoutingTable("1.0.0", [new CandidateRoute("1.1.0", 10)], Backend: "upstream", Upstreams: new Dictionary<string, UpstreamBackend>
            {
                ["1.0.0"] = new(upstreamUrl, GatewayServers.Model, "sk-bench-stable", InputPricePer1K: 0.5, OutputPricePer1K: 1.5),
                ["1.1.0"] = new(upstreamUrl, GatewayServers.Model, "sk-bench-candidate", InputPricePer1K: 0.25, OutputPricePer1K: 0.75),
            });
            key = new CreateKeyRequest("bench-full", [Roles.Viewer], Deployments: [ChatDeployment], RequestsPerMinute: FullRequestsPerMinute,
                TokensPerMinute: FullTokensPerMinute);
        }
        else
        {
            routing = new RoutingTable("1.0.0", Backend: "upstream", Upstreams: new Dictionary<string, UpstreamBackend>
            {
                ["1.0.0"] = new(upstreamUrl, GatewayServers.Model),
            });
            key = new CreateKeyRequest("bench-bare", [Roles.Viewer]);
        }
        await api.CreateDeploymentAsync(new CreateDeploymentRequest(ChatDeployment, DeploymentEnvironments.Development, Model, routing));
        var dataKey = (await api.CreateKeyAsync(key)).Key ?? throw new InvalidOperationException("the key was created without its secret");
        path.Url = new Uri(baseUrl, "/v1/chat/completions");
        path.Pid = server.Pid;
        path.ProcessName = "`modelgate serve`";
        if (replica)
        {
            var (gateway, gatewayUrl, _) = await StartModelGateAsync(path.Key, binary, monitoringArg, "--role", "gateway");
            path.Url = new Uri(gatewayUrl, "/v1/chat/completions");
            path.Pid = gateway.Pid;
            path.ControlPid = server.Pid;
            path.ProcessName = "`modelgate serve --role gateway`";
        }
        path.Detail = full
            ? $"`Gateway:Monitoring={(monitoring ? "true` (request log, telemetry)" : "false` (the full path's configuration without the request log: to isolate what monitoring costs)")}; key scoped to `{ChatDeployment}`, {FullRequestsPerMinute:N0} RPM and {FullTokensPerMinute:N0} TPM; " +
              "canary 90/10 between 1.0.0 and 1.1.0 (both the static upstream, each with its own upstream key); prices on both versions" +
              (replica ? "; served by a `--role gateway` replica, set up through a `--role control` process on the same SQLite store (both running)" : "")
            : "`Gateway:Monitoring=false`; one deployment, stable 1.0.0 only, `upstream` backend; a key with no scope and no limits";
        path.Headers.Add(("Authorization", "Bearer " + dataKey));
        WriteBodies(path, ChatDeployment);
        path.Notes.Add(replica
            ? $"{binary} serve --data <temp> --urls http://127.0.0.1:0 --Security:AllowedEgress:0=127.0.0.0/8 {monitoringArg} --role control (set-up), then the same with --role gateway (measured)"
            : $"{binary} serve --data <temp> --urls http://127.0.0.1:0 --Security:AllowedEgress:0=127.0.0.0/8 {monitoringArg}");
    }

    private const int FullRequestsPerMinute = 1_000_000; // the most a key may be given
    private const int FullTokensPerMinute = 1_000_000_000;

    private async Task<(ChildProcess Server, Uri BaseUrl, string AdminKey)> StartModelGateAsync(string label, string binary, params string[] config)
    {
        var data = Path.Combine(_work, "data-" + label);
        Directory.CreateDirectory(data);
        // The benchmark's upstream listens on loopback, which the egress policy refuses unless allowed.
        string[] args = ["serve", "--data", data, "--urls", "http://127.0.0.1:0", "--Security:AllowedEgress:0=127.0.0.0/8", .. config];
        var server = binary.EndsWith(".dll", StringComparison.OrdinalIgnoreCase)
            ? ChildProcess.Start("modelgate " + label, "dotnet", [binary, .. args])
            : ChildProcess.Start("modelgate " + label, binary, args);
        _children.Add(server);
        var url = new Uri((await server.WaitForAsync(ModelGateListening(), StartTimeout)).Groups[1].Value.TrimEnd('/') + "/");
        // A process started on a store that already has keys (the replica's second process) prints no admin key.
        var admin = config.Contains("gateway") ? "" : (await server.WaitForAsync(AdminKey(), TimeSpan.FromSeconds(5))).Groups[1].Value;
        log.WriteLine($"  modelgate {label} (pid {server.Pid}) at {url} {string.Join(' ', config)}");
        return (server, url, admin);
    }

    /// <summary>
    /// Portkey's open-source gateway through npx. It has no option for the listen address (it calls @hono/node-server's
    /// serve with a port only, which listens on every interface), so Node is started with a preloaded module that pins
    /// every listening socket to 127.0.0.1; the socket table is then checked.
    /// </summary>
    private async Task SetUpPortkeyAsync(HttpPath path, Uri upstreamBase)
    {
        if (options.Portkey is "off" or "none")
        {
            throw new InvalidOperationException("skipped (--portkey off)");
        }
        var preload = Path.Combine(_work, "loopback-only.cjs");
        await File.WriteAllTextAsync(preload, LoopbackOnly);
        var port = FreePort();
        var npx = ChildProcess.Start("portkey (npx)", "npx", ["-y", options.Portkey, $"--port={port}", "--headless"],
            new Dictionary<string, string> { ["NODE_OPTIONS"] = $"--require {preload}", ["npm_config_update_notifier"] = "false" }, _work);
        _children.Add(npx);
        log.WriteLine($"  portkey: npx -y {options.Portkey} --port={port} --headless (NODE_OPTIONS=--require loopback-only.cjs); waiting up to {NpxTimeout.TotalSeconds:F0} s");
        await npx.WaitForAsync(PortkeyReady(), NpxTimeout);
        List<(string Address, string Inode)> listeners = [];
        for (var i = 0; i < 50 && listeners.Count == 0; i++)
        {
            listeners = ProcFs.Listeners(port);
            if (listeners.Count == 0)
            {
                await Task.Delay(100);
            }
        }
        if (listeners.Count == 0)
        {
            throw new InvalidOperationException($"Portkey said it was ready, but nothing listens on port {port}");
        }
        if (listeners.Any(l => l.Address != "127.0.0.1"))
        {
            throw new InvalidOperationException($"Portkey listens on {string.Join(", ", listeners.Select(l => l.Address))}:{port}, not on 127.0.0.1 only; stopped");
        }
        var pid = ProcFs.OwnerOfSocket(listeners[0].Inode, ProcFs.Descendants(npx.Pid).Prepend(npx.Pid))
                  ?? throw new InvalidOperationException($"no process under npx (pid {npx.Pid}) holds the socket on port {port}");
        path.Url = new Uri($"http://127.0.0.1:{port}/v1/chat/completions");
        path.Pid = pid;
        path.ProcessName = "node (Portkey)";
        var version = options.Portkey.LastIndexOf('@') > 0 ? options.Portkey[(options.Portkey.LastIndexOf('@') + 1)..] : "latest";
        path.Detail = $"`npx -y {options.Portkey} --headless`, Node {await NodeVersionAsync()}; provider `openai` with " +
                      $"`x-portkey-custom-host: {upstreamBase}v1`; verified listening on 127.0.0.1:{port} only (pid {pid})";
        path.Notes.Add($"Portkey {version} listened on {string.Join(", ", listeners.Select(l => $"{l.Address}:{port}"))} only (from /proc/net/tcp{{,6}}); server pid {pid}");
        path.Headers.Add(("x-portkey-provider", "openai"));
        path.Headers.Add(("x-portkey-custom-host", new Uri(upstreamBase, "/v1").ToString()));
        path.Headers.Add(("Authorization", "Bearer sk-bench-unused"));
        WriteBodies(path, GatewayServers.Model);
        log.WriteLine($"  portkey (node pid {pid}) at http://127.0.0.1:{port}, listening on 127.0.0.1 only");
    }

    /// <summary>Preloaded into Node (NODE_OPTIONS=--require): every server socket listens on 127.0.0.1, whatever the caller asked.</summary>
    private const string LoopbackOnly = """
        // ModelGate gateway benchmark: keep every listening socket of this Node process on the loopback interface.
        const net = require('net');
        const listen = net.Server.prototype.listen;
        net.Server.prototype.listen = function (...args) {
          if (typeof args[0] === 'number' || (typeof args[0] === 'string' && /^\d+$/.test(args[0]))) {
            if (args.length < 2 || args[1] === undefined || args[1] === null || typeof args[1] === 'string') args[1] = '127.0.0.1';
            else if (typeof args[1] === 'function') args.splice(1, 0, '127.0.0.1');
          } else if (args[0] && typeof args[0] === 'object' && args[0].port !== undefined) {
            args[0] = { ...args[0], host: '127.0.0.1' };
          }
          return listen.apply(this, args);
        };
        """;

    /// <summary>One plain and one streamed request before any load: the path must answer the upstream's completion.</summary>
    private async Task CheckAsync(HttpPath path)
    {
        if (!path.Ran)
        {
            return;
        }
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        using var request = new HttpRequestMessage(HttpMethod.Post, path.Url) { Content = new ByteArrayContent(File.ReadAllBytes(path.BodyFile)) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        foreach (var (name, value) in path.Headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        if (response.StatusCode != HttpStatusCode.OK || !text.Contains("Hello from the static upstream.", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"{path.Label}: the check request got HTTP {(int)response.StatusCode}: {(text.Length > 400 ? text[..400] : text)}");
        }
        var route = response.Headers.TryGetValues("x-modelgate-route", out var r) ? $" (x-modelgate-route: {r.First()})" : "";
        var stream = await StreamingProbe.RunAsync(path.Url!, path.StreamBody, path.Headers, 0, 1);
        if (stream.Errors > 0)
        {
            // The path still serves plain requests; only its streaming figures are missing.
            await Task.Delay(200);
            var cause = _children.Where(c => c.Pid == path.Pid || ProcFs.Descendants(c.Pid).Contains(path.Pid ?? -1))
                .SelectMany(c => c.Output).LastOrDefault(l => l.Contains("Error", StringComparison.Ordinal));
            path.StreamNotRun = $"the streamed check request failed: {stream.FirstError}" + (cause is null ? "" : $"; the proxy logged: `{cause.Trim()}`");
            log.WriteLine($"  {path.Key}: plain check passed{route}; streaming not run — {path.StreamNotRun}");
            return;
        }
        log.WriteLine($"  {path.Key}: check passed{route}");
    }

    /// <summary>What the full path's request log recorded: requests, tokens and cost per version, and dropped records.</summary>
    private async Task ReportUsageAsync(HttpPath full)
    {
        var server = full.Url!.GetLeftPart(UriPartial.Authority);
        var admin = _children.FirstOrDefault(c => c.Label == "modelgate " + full.Key)?.Output
            .Select(l => AdminKey().Match(l)).FirstOrDefault(m => m.Success)?.Groups[1].Value;
        if (admin is null)
        {
            return;
        }
        await Task.Delay(2000); // the request log is written in batches
        using var http = new HttpClient { BaseAddress = new Uri(server), Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", admin);
        var usage = await http.GetFromJsonAsync<UsageDto>($"/api/v1/usage?deployment={ChatDeployment}&groupBy=version", ModelGateJson.Options);
        if (usage is null)
        {
            return;
        }
        var total = usage.Rows.Sum(r => r.Requests);
        var inv = CultureInfo.InvariantCulture;
        foreach (var row in usage.Rows)
        {
            full.Notes.Add(string.Create(inv,
                $"request log, version {row.Version}: {row.Requests:N0} requests ({100.0 * row.Requests / Math.Max(1, total):F1} %), {row.Errors} errors, " +
                $"{row.PromptTokens:N0} prompt + {row.CompletionTokens:N0} completion tokens, cost {row.Cost:N2}, mean latency {row.MeanLatencyMs:F3} ms"));
        }
        full.Notes.Add(string.Create(inv, $"request log: {total:N0} records in all, {usage.DroppedRecords:N0} dropped (buffer full)"));
        log.WriteLine($"  full path request log: {total:N0} records, {usage.DroppedRecords:N0} dropped; " +
                      string.Join("; ", usage.Rows.Select(r => string.Create(inv, $"{r.Version}: {100.0 * r.Requests / Math.Max(1, total):F1} %"))));
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Open Inference Protocol v2.

    private static readonly (string Model, string Deployment, string Version)[] InferModels =
        [("v1-logreg", "adult-logreg", "1.0.0"), ("v2-mlp", "adult-mlp", "2.0.0")];

    private async Task<(List<InferPath> Paths, long? RssKiB)> InferAsync(Wrk wrk, string binary)
    {
        log.WriteLine("== gateway: OIP v2 infer");
        var fixtures = options.FixturesDirectory ?? EvaluationFixtures.DefaultDirectory();
        var table = CsvTable.Parse(await File.ReadAllTextAsync(Path.Combine(fixtures, EvaluationFixtures.DatasetPath)));
        var (server, baseUrl, admin) = await StartModelGateAsync("oip", binary, "--Gateway:Monitoring=true");
        using var http = new HttpClient { BaseAddress = baseUrl, Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", admin);
        var api = new ModelGateClient(http);
        const string Model = "adult-income";
        await api.CreateModelAsync(new CreateModelRequest(Model, "bench", RiskTiers.Low, "classification", Description: "gateway benchmark"));
        var bytes = new Dictionary<string, byte[]>();
        foreach (var (name, _, version) in InferModels)
        {
            var file = Path.Combine(fixtures, EvaluationFixtures.ModelsPath, name + ".onnx");
            var onnx = await File.ReadAllBytesAsync(file);
            bytes[name] = onnx;
            var sha = EvaluationFixtures.Sha256(onnx);
            using (var content = new MemoryStream(onnx))
            {
                await api.PushArtifactAsync(content, sha);
            }
            await api.CreateVersionAsync(Model, new CreateVersionRequest(version, [new ArtifactRef(sha, name + ".onnx", "application/onnx", onnx.Length)],
                new Attestation(Architecture: name.Contains("mlp", StringComparison.Ordinal) ? "mlp" : "logistic-regression", Trainer: "bench-trainer")));
        }
        foreach (var (_, deployment, version) in InferModels)
        {
            await api.CreateDeploymentAsync(new CreateDeploymentRequest(deployment, DeploymentEnvironments.Development, Model, new RoutingTable(version)));
        }
        var dataKey = (await api.CreateKeyAsync(new CreateKeyRequest("bench-oip", [Roles.Viewer], Deployments: [.. InferModels.Select(m => m.Deployment)],
            RequestsPerMinute: FullRequestsPerMinute, TokensPerMinute: FullTokensPerMinute))).Key!;
        var headersFile = Path.Combine(_work, "oip-headers.txt");
        await File.WriteAllTextAsync(headersFile, $"Authorization: Bearer {dataKey}\n");
        List<(string Name, string Value)> inferHeaders = [("Authorization", "Bearer " + dataKey)];

        var paths = new List<InferPath>();
        foreach (var (name, deployment, _) in InferModels)
        {
            using var model = OnnxModel.FromBytes(EvaluationFixtures.Sha256(bytes[name]), bytes[name]);
            var columns = model.Inputs.ToDictionary(i => i.Name, i => i.Datatype == "FP32"
                ? (Array)new[] { table.Floats(i.Name)[0] }
                : new[] { table.Strings(i.Name)[0] }, StringComparer.Ordinal);
            var body = new JsonObject
            {
                ["id"] = "bench-row-0",
                ["inputs"] = new JsonArray(model.Inputs.Select(i => (JsonNode)new JsonObject
                {
                    ["name"] = i.Name,
                    ["shape"] = i.Shape.Count == 1 ? new JsonArray(1) : new JsonArray(1, 1),
                    ["datatype"] = i.Datatype,
                    ["data"] = i.Datatype == "FP32" ? new JsonArray(((float[])columns[i.Name])[0]) : new JsonArray(((string[])columns[i.Name])[0]),
                }).ToArray()),
            };
            var bodyFile = Path.Combine(_work, $"oip-{name}.json");
            await File.WriteAllTextAsync(bodyFile, body.ToJsonString());
            var url = new Uri(baseUrl, $"/v2/models/{deployment}/infer");
            var path = new InferPath(name, deployment) { InputCount = model.Inputs.Count };

            // Check once, with the data-plane key: the server's probabilities are those of ONNX Runtime in this process.
            using var checkRequest = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };
            checkRequest.Headers.Authorization = new AuthenticationHeaderValue("Bearer", dataKey);
            using (var check = await http.SendAsync(checkRequest))
            {
                check.EnsureSuccessStatusCode();
                var answer = (await check.Content.ReadFromJsonAsync<JsonObject>())!;
                var served = answer["outputs"]!.AsArray().Single(o => (string?)o!["name"] == "probabilities")!["data"]!.AsArray().Select(d => (double)d!).ToArray();
                var local = (float[])model.Run(columns, 1)["probabilities"].Data;
                path.MaxDifference = served.Zip(local, (s, l) => Math.Abs(s - l)).Max();
                if (path.MaxDifference > 1e-5)
                {
                    throw new InvalidOperationException($"{deployment}: the server's probabilities differ from ONNX Runtime's by {path.MaxDifference}");
                }
            }
            if (options.GatewayWarmupSeconds > 0)
            {
                var w = await wrk.RunAsync(url, options.Connections, options.GatewayWarmupSeconds, bodyFile, headersFile);
                var w1 = await ClosedLoopClient.RunAsync(url, await File.ReadAllBytesAsync(bodyFile), inferHeaders, WarmupAtOne);
                log.WriteLine($"  {deployment} warm-up: {w.RequestsPerSecond:N0} req/s at {options.Connections}, {w1.RequestsPerSecond:N0} at 1" +
                              (w.Errors + w1.Errors > 0 ? $"; errors: {w.ErrorDetail} / {w1.ErrorDetail}" : ""));
            }
            for (var round = 1; round <= options.InferRounds; round++)
            {
                foreach (var connections in new[] { 1, options.Connections })
                {
                    var run = await MeasureAsync(wrk, deployment, url, bodyFile, inferHeaders, headersFile, server.Pid, connections, round);
                    path.Runs.Add(run);
                    log.WriteLine($"  round {round} c{connections,-3} {deployment,-13} p50 {run.Wrk.P50Us,7:N0} µs  p99 {run.Wrk.P99Us,7:N0} µs  " +
                                  $"{run.Wrk.RequestsPerSecond,8:N0} req/s  errors {run.Wrk.Errors}  cpu/req {run.ProxyCpuUs,5:N0} µs  others {run.OtherCores:F2} cores");
                }
            }
            paths.Add(path);
        }
        var rss = ProcFs.PeakRssKiB(server.Pid);
        _children.Remove(server);
        await server.DisposeAsync();

        // ONNX Runtime alone, in this process, on the same one-row input: the raw session and ModelGate's OnnxModel wrapper.
        foreach (var path in paths)
        {
            var onnx = bytes[path.Model];
            using var model = OnnxModel.FromBytes(EvaluationFixtures.Sha256(onnx), onnx);
            var columns = model.Inputs.ToDictionary(i => i.Name, i => i.Datatype == "FP32"
                ? (Array)new[] { table.Floats(i.Name)[0] }
                : new[] { table.Strings(i.Name)[0] }, StringComparer.Ordinal);
            (path.OrtRawUs, path.OrtRawCpuUs, path.OrtTwoThreadsPerSecond) = OrtAlone(onnx, model.Inputs, columns, intraOpThreads: null);
            (path.OrtOneThreadUs, path.OrtOneThreadCpuUs, _) = OrtAlone(onnx, model.Inputs, columns, intraOpThreads: 1);
            path.OrtModelUs = Time(() => model.Run(columns, 1), options.OrtCalls);
            log.WriteLine($"  {path.Model}: InferenceSession.Run p50 {Stats.Percentile(path.OrtRawUs, 50):F1} µs, p99 {Stats.Percentile(path.OrtRawUs, 99):F1} µs, " +
                          $"CPU {path.OrtRawCpuUs:F1} µs/call, {path.OrtTwoThreadsPerSecond:N0} calls/s on 2 threads; 1 intra-op thread: p50 " +
                          $"{Stats.Percentile(path.OrtOneThreadUs, 50):F1} µs, CPU {path.OrtOneThreadCpuUs:F1} µs/call; OnnxModel.Run p50 {Stats.Percentile(path.OrtModelUs, 50):F1} µs");
        }
        return (paths, rss);
    }

    /// <summary>
    /// <see cref="InferenceSession.Run(RunOptions, IReadOnlyCollection{string}, IReadOnlyCollection{OrtValue}, IReadOnlyCollection{string})"/>
    /// on input tensors made once, with the session options the server uses: per-call µs on one thread, and calls per
    /// second with two threads sharing the session.
    /// </summary>
    private (double[] Us, double CpuUs, double TwoThreads) OrtAlone(byte[] onnx, IReadOnlyList<TensorSpec> inputs, Dictionary<string, Array> columns,
        int? intraOpThreads)
    {
        using var sessionOptions = new Microsoft.ML.OnnxRuntime.SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, InterOpNumThreads = 1 };
        if (intraOpThreads is { } n)
        {
            sessionOptions.IntraOpNumThreads = n;
        }
        using var session = new InferenceSession(onnx, sessionOptions);
        var names = inputs.Select(i => i.Name).ToArray();
        var values = inputs.Select(i =>
        {
            long[] shape = i.Shape.Count == 1 ? [1] : [1, 1];
            return columns[i.Name] is float[] f
                ? OrtValue.CreateTensorValueFromMemory(f, shape)
                : OrtValue.CreateFromStringTensor(new DenseTensor<string>((string[])columns[i.Name], shape.Select(d => (int)d).ToArray()));
        }).ToArray();
        var outputs = session.OutputNames.ToArray();
        using var runOptions = new RunOptions();
        try
        {
            void Once()
            {
                using var result = session.Run(runOptions, names, values, outputs);
            }
            var us = Time(Once, options.OrtCalls);
            // CPU of the whole process over the same number of calls, timed as a block: ONNX Runtime's pool threads included.
            var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            for (var i = 0; i < options.OrtCalls; i++)
            {
                Once();
            }
            var cpuUs = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalMicroseconds / options.OrtCalls;
            if (intraOpThreads is not null)
            {
                return (us, cpuUs, 0);
            }
            var perThread = options.OrtCalls / 2;
            RegistryBenchmark.Settle();
            var start = Stopwatch.GetTimestamp();
            Parallel.For(0, 2, new ParallelOptions { MaxDegreeOfParallelism = 2 }, _ =>
            {
                for (var i = 0; i < perThread; i++)
                {
                    Once();
                }
            });
            return (us, cpuUs, 2.0 * perThread / Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
        finally
        {
            foreach (var v in values)
            {
                v.Dispose();
            }
        }
    }

    /// <summary>Per-call µs of <paramref name="action"/>: a tenth of <paramref name="calls"/> unrecorded, then <paramref name="calls"/> timed.</summary>
    private static double[] Time(Action action, int calls)
    {
        for (var i = 0; i < Math.Max(100, calls / 10); i++)
        {
            action();
        }
        RegistryBenchmark.Settle();
        var us = new double[calls];
        for (var i = 0; i < calls; i++)
        {
            var start = Stopwatch.GetTimestamp();
            action();
            us[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
        }
        return us;
    }

    private static double[] Time(Func<object> action, int calls) => Time(() => { GC.KeepAlive(action()); }, calls);

    // ---------------------------------------------------------------------------------------------------------------

    private static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    private static async Task<string?> NodeVersionAsync()
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo("node", "--version") { RedirectStandardOutput = true, RedirectStandardError = true });
            if (p is null)
            {
                return null;
            }
            var v = (await p.StandardOutput.ReadToEndAsync()).Trim();
            await p.WaitForExitAsync();
            return v;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    /// <summary>src/ModelGate/bin/Release/net10.0/modelgate of the repository this binary was built from.</summary>
    private static string DefaultModelGateBinary()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "ModelGate.slnx")))
            {
                var bin = Path.Combine(dir.FullName, "src", "ModelGate", "bin", "Release", "net10.0");
                return File.Exists(Path.Combine(bin, "modelgate")) ? Path.Combine(bin, "modelgate") : Path.Combine(bin, "modelgate.dll");
            }
        }
        return "modelgate";
    }
}
