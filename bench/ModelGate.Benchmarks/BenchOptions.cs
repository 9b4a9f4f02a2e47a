using System.Globalization;

namespace ModelGate.Benchmarks;

/// <summary>
/// Command-line options. Registry counts are numbers of measured requests, evaluation counts numbers of measured runs or
/// passes; warm-up comes on top and is not recorded.
/// </summary>
internal sealed class BenchOptions
{
    public const string PostgresEnvironmentVariable = "MODELGATE_BENCH_POSTGRES";
    public const string DefaultPostgres = "Host=127.0.0.1;Port=5432;Username=modelgate;Password=modelgate;Database=postgres";

    public static readonly IReadOnlyList<string> AllSuites = ["registry", "evaluation", "gateway", "drift", "console", "requestlog"];
    public static readonly IReadOnlyList<string> AllGatewayPaths = ["direct", "bare", "full", "replica", "yarp", "portkey", "oip"];
    /// <summary>Every gateway path in run order, with the optional ones (not run unless named).</summary>
    public static readonly IReadOnlyList<string> KnownGatewayPaths = ["direct", "bare", "full", "replica", "nomon", "yarp", "portkey", "oip"];
    public const string DefaultPortkey = "@portkey-ai/gateway@1.15.2";

    public bool Quick { get; private set; }
    /// <summary>Which parts run, in this order: registry (REST API load), evaluation (evaluation throughput), gateway (data-plane overhead).</summary>
    public IReadOnlyList<string> Suites { get; private set; } = AllSuites;
    public bool RunsRegistry => Suites.Contains("registry");
    public bool RunsEvaluation => Suites.Contains("evaluation");
    public bool RunsGateway => Suites.Contains("gateway");
    public bool RunsDrift => Suites.Contains("drift");
    public bool RunsConsole => Suites.Contains("console");
    public bool RunsRequestLog => Suites.Contains("requestlog");
    // Request-log suite (PostgreSQL): the sustained insert's length, the rows filled, the repetitions of each query, the baseline.
    public int RequestLogInsertSeconds { get; private set; } = 30;
    public int RequestLogRows { get; private set; } = 10_000_000;
    public int RequestLogOps { get; private set; } = 20;
    public bool RequestLogBaseline { get; private set; } = true;
    // Console suite: the store's size and the fetches per page.
    public int ConsoleModels { get; private set; } = 100;
    public int ConsoleVersionsPerModel { get; private set; } = 10;
    public int ConsoleRequestRows { get; private set; } = 1_000_000;
    public int ConsoleOps { get; private set; } = 50;
    public int ConsoleWarmup { get; private set; } = 5;
    public IReadOnlyList<string> Providers { get; private set; } = ["sqlite", "postgres"];
    public int HealthOps { get; private set; } = 5000;
    public int CreateOps { get; private set; } = 500;
    public int GetOps { get; private set; } = 2000;
    public int ListOps { get; private set; } = 100;
    /// <summary>Production-gate dry runs (registry suite); with <see cref="GateOnly"/> the other registry scenarios are skipped.</summary>
    public int GateOps { get; private set; } = 500;
    public bool GateOnly { get; private set; }
    public int ListSize { get; private set; } = 1000;
    public int Clients { get; private set; } = 10;
    public int ConcurrentGetOps { get; private set; } = 10000;
    public int ConcurrentCreateOps { get; private set; } = 500;
    public int Warmup { get; private set; } = 100;
    public double WarmupSeconds { get; private set; } = 1.0;
    public double MaxWarmupSeconds { get; private set; } = 15.0;
    // Evaluation suite: runs per ONNX model through the server, passes of ONNX Runtime alone, batch size, poll period.
    public int EvalWarmupRuns { get; private set; } = 1;
    public int EvalRuns { get; private set; } = 3;
    public int OrtWarmupPasses { get; private set; } = 1;
    public int OrtPasses { get; private set; } = 5;
    public int OrtBatch { get; private set; } = 1024;
    public int PollMs { get; private set; } = 20;
    public string? FixturesDirectory { get; private set; }
    // Gateway suite: what runs, how long each wrk run lasts, how often the whole set is repeated, warm-up, streams.
    public IReadOnlyList<string> GatewayPaths { get; private set; } = AllGatewayPaths;
    public int LoadSeconds { get; private set; } = 4;
    public int Rounds { get; private set; } = 3;
    // Long enough for the runtime's tiered compilation to settle: ModelGate's JIT took 21 % of its CPU in the first 10 s
    // of load, 5 % at 20-28 s and 0.4 % at 40 s (lab, perf): a shorter warm-up measures start-up, not the steady state.
    public int GatewayWarmupSeconds { get; private set; } = 30;
    public int Connections { get; private set; } = 32;
    public int Streams { get; private set; } = 200;
    public int StreamTokens { get; private set; } = 8;
    public int TokenDelayMs { get; private set; } = 2;
    public int InferRounds { get; private set; } = 1;
    public int QuietWaitSeconds { get; private set; } = 30;
    public int OrtCalls { get; private set; } = 20_000;
    public string Portkey { get; private set; } = DefaultPortkey;
    public string? ModelGateBinary { get; private set; }
    public string? OutputDirectory { get; private set; }
    public List<string> ServerArgs { get; } = [];
    public bool WriteFile { get; private set; } = true;
    public string PostgresConnectionString { get; private set; } =
        Environment.GetEnvironmentVariable(PostgresEnvironmentVariable) is { Length: > 0 } cs ? cs : DefaultPostgres;

    // Warm-up per scenario, derived from --warmup: cheap reads get it all, writes a fifth, the 1,000-row list a tenth.
    public int ReadWarmup => Warmup;
    public int CreateWarmup => Math.Max(1, Warmup / 5);
    public int ListWarmup => Math.Max(1, Warmup / 10);
    public int ConcurrentWarmupPerClient => Math.Max(1, Warmup / 5);

    public const string Usage = """
        ModelGate benchmarks. Both suites start the real host on Kestrel (127.0.0.1, random port) in-process and drive it
        over loopback with their own HTTP clients.
          registry    REST API load, for each database provider
          evaluation  evaluation throughput (SQLite): the adult-income ONNX models scored on fixtures/datasets/adult/test.csv
                      through POST .../evaluations, and ONNX Runtime alone on the same rows as the baseline
          gateway     data-plane overhead: a static OpenAI-compatible upstream reached directly, through `modelgate serve`
                      (bare and full path), a minimal YARP proxy and Portkey's gateway, each its own process, loaded with
                      wrk; streaming time to first byte; OIP v2 infer against ONNX Runtime in-process (needs wrk; see
                      bench/gateway/run.sh)

        usage: dotnet run -c Release --project bench/ModelGate.Benchmarks -- [options]

          --suite <list>              registry, evaluation, gateway, drift, console or all (default all); a comma-separated list also works
          --quick                     short smoke run (registry: small counts, list model of 200 versions;
                                      evaluation: 1 run per model, 2 ONNX Runtime passes; gateway: 1 round of 1 s runs,
                                      1 s warm-up, 20 streams: a smoke test, its figures are not warmed up)
          --server-arg <arg>          one more configuration argument for the host, repeatable, e.g.
                                      --server-arg=--Logging:LogLevel:Microsoft.EntityFrameworkCore.Database.Command=Information

        registry:
          --providers <list>          sqlite,postgres (default both; postgres is skipped with a note when unreachable)
          --health-ops <n>            GET /healthz, sequential (default 5000)
          --create-ops <n>            create version, sequential, one client (default 500)
          --get-ops <n>               get version, sequential, one client (default 2000)
          --list-ops <n>              list versions ?limit=<list-size>, sequential (default 100)
          --gate-ops <n>              production-gate dry runs (POST …/transitions?dryRun=true), sequential (default 500)
          --gate-only                 registry suite: only the production-gate dry run (with its set-up)
          --list-size <n>             versions seeded on the list model, at most 1000 (default 1000)
          --clients <n>               concurrent clients (default 10)
          --concurrent-get-ops <n>    get version, total over all clients (default 10000)
          --concurrent-create-ops <n> create version, total over all clients, one model per client (default 500)
          --warmup <n>                warm-up requests before reads; writes use n/5, lists n/10, each concurrent client n/5 (default 100)
          --warmup-seconds <s>        each sequential scenario warms up for at least this long and then until its latency
                                      stops improving (the JIT tiering up), each concurrent client for this long (default 1;
                                      --quick 0.2)
          --max-warmup-seconds <s>    but a sequential scenario for at most this long (default 15; --quick 2)

        evaluation:
          --eval-warmup <n>           unrecorded runs per model through the server before the measured ones (default 1)
          --eval-runs <n>             measured runs per model and suite variant through the server (default 3; --quick 1)
          --ort-warmup <n>            unrecorded passes over the test set with ONNX Runtime alone (default 1)
          --ort-passes <n>            measured passes with ONNX Runtime alone (default 5; --quick 2)
          --ort-batch <n>             rows per ONNX Runtime call in the baseline (default 1024, the suites' default batch)
          --poll-ms <n>               period of GET .../evaluations/{id} while a run is in progress (default 20)
          --fixtures <dir>            the repository's fixtures directory (default: found above the binary)

        gateway:
          --paths <list>              direct,bare,full,replica,yarp,portkey,oip (default: all of them; direct always runs, it
                                      is the baseline); replica is the full path served by a `--role gateway` process next
                                      to a `--role control` one on the same store; nomon adds the full path's configuration
                                      with Gateway:Monitoring=false, e.g. --paths all,nomon
          --load-seconds <n>          length of each measured run (default 4; --quick 1)
          --rounds <n>                how often every path is measured at 1 connection (closed-loop HttpClient, raw
                                      percentiles) and at --connections connections (wrk), paths interleaved
                                      (default 3; --quick 1); the report gives the median over rounds
          --gw-warmup-seconds <n>     wrk warm-up of each path at --connections connections (default 30, until tiered
                                      compilation has settled; --quick 1), then a quarter of it at 1 connection
          --connections <n>           the loaded case (default 32)
          --streams <n>               measured streaming requests per path, one connection (default 200; --quick 20)
          --stream-tokens <n>         content chunks per streamed answer (default 8)
          --token-delay-ms <n>        the upstream's pause between chunks (default 2)
          --infer-rounds <n>          rounds of the OIP v2 measurements (default 1)
          --quiet-wait <s>            before the warm-up and each round, wait up to this long for other processes to use
                                      less than a quarter of a core (default 30; 0: do not wait)
          --ort-calls <n>             one-row InferenceSession.Run calls timed in-process per model (default 20000; --quick 5000)
          --portkey <spec|off>        the npm package npx runs (default @portkey-ai/gateway@1.15.2); off skips it
          --modelgate <path>          the built modelgate binary (default src/ModelGate/bin/Release/net10.0/modelgate of
                                      this repository)

        console (the web console's render time; --providers applies):
          --console-models <n>        models seeded through the REST API (default 100; --quick 10)
          --console-versions <n>      versions per model (default 10: 1,000 versions)
          --console-rows <n>          request-log rows bulk-inserted over the last 30 days (default 1000000; --quick 100000)
          --console-ops <n>           measured fetches per page, sequential (default 50; --quick 10)
          --console-warmup <n>        unrecorded fetches per page first (default 5)

        requestlog (PostgreSQL only: the partitioned request log at volume, bench/README "Request log at volume"):
          --reqlog-insert-seconds <n> sustained insert through RequestLog and BulkInsert (default 30; --quick 5)
          --reqlog-rows <n>           rows filled by INSERT … SELECT generate_series over the last 30 days (default 10000000;
                                      --quick 200000)
          --reqlog-ops <n>            measured runs of each query (default 20; --quick 5), after 2 unrecorded ones
          --reqlog-no-baseline        skip the same queries on an unpartitioned copy of the rows

        output:
          --out <dir>                 where <suite>-<timestamp>.md goes (default bench/results)
          --no-file                   print only, write no results file

        PostgreSQL: the connection string comes from MODELGATE_BENCH_POSTGRES (default
        Host=127.0.0.1;Port=5432;Username=modelgate;Password=modelgate;Database=postgres). Its database is only used to
        CREATE and DROP a fresh mg_bench_<random> database, which the run uses.
        """;

    /// <summary>Returns null and prints the problem (or the usage) when the arguments are not valid.</summary>
    public static BenchOptions? Parse(string[] args, TextWriter error)
    {
        var o = new BenchOptions();
        if (args.Contains("--quick"))
        {
            o.Quick = true;
            o.HealthOps = 500;
            o.CreateOps = 50;
            o.GetOps = 200;
            o.ListOps = 10;
            o.GateOps = 50;
            o.ListSize = 200;
            o.ConcurrentGetOps = 500;
            o.ConcurrentCreateOps = 50;
            o.Warmup = 20;
            o.WarmupSeconds = 0.2;
            o.MaxWarmupSeconds = 2.0;
            o.EvalRuns = 1;
            o.OrtPasses = 2;
            o.LoadSeconds = 1;
            o.Rounds = 1;
            o.GatewayWarmupSeconds = 1;
            o.Streams = 20;
            o.OrtCalls = 5_000;
            o.ConsoleModels = 10;
            o.ConsoleRequestRows = 100_000;
            o.ConsoleOps = 10;
            o.RequestLogInsertSeconds = 5;
            o.RequestLogRows = 200_000;
            o.RequestLogOps = 5;
        }
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            string? inline = null;
            var eq = arg.IndexOf('=', StringComparison.Ordinal);
            if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 0)
            {
                inline = arg[(eq + 1)..];
                arg = arg[..eq];
            }
            string Value()
            {
                if (inline is not null)
                {
                    return inline;
                }
                if (i + 1 >= args.Length)
                {
                    throw new ArgumentException($"{arg} needs a value");
                }
                return args[++i];
            }
            int Count(int min = 1)
            {
                var text = Value();
                if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < min)
                {
                    throw new ArgumentException($"{arg} needs a whole number ≥ {min}, not '{text}'");
                }
                return n;
            }
            double Seconds()
            {
                var text = Value();
                if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) || seconds is < 0 or > 600)
                {
                    throw new ArgumentException($"{arg} needs a number of seconds (0–600), not '{text}'");
                }
                return seconds;
            }
            try
            {
                switch (arg)
                {
                    case "--quick":
                        break;
                    case "-h" or "--help":
                        error.WriteLine(Usage);
                        return null;
                    case "--suite" or "--suites":
                        var suites = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                            .Select(p => p.ToLowerInvariant()).ToList();
                        if (suites.Count == 0 || suites.Any(p => p is not ("registry" or "evaluation" or "gateway" or "drift" or "console" or "requestlog" or "all")))
                        {
                            throw new ArgumentException("--suite is registry, evaluation, gateway, drift, console, requestlog or all");
                        }
                        o.Suites = suites.Contains("all") ? AllSuites : AllSuites.Where(suites.Contains).ToList();
                        break;
                    case "--providers":
                        var providers = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                            .Select(p => p.ToLowerInvariant()).Distinct().ToList();
                        if (providers.Count == 0 || providers.Any(p => p is not ("sqlite" or "postgres")))
                        {
                            throw new ArgumentException("--providers is a comma-separated list of sqlite and postgres");
                        }
                        o.Providers = providers;
                        break;
                    case "--health-ops": o.HealthOps = Count(); break;
                    case "--create-ops": o.CreateOps = Count(); break;
                    case "--get-ops": o.GetOps = Count(); break;
                    case "--list-ops": o.ListOps = Count(); break;
                    case "--gate-ops": o.GateOps = Count(); break;
                    case "--gate-only": o.GateOnly = true; break;
                    case "--list-size": o.ListSize = Count(); break;
                    case "--clients": o.Clients = Count(); break;
                    case "--concurrent-get-ops": o.ConcurrentGetOps = Count(); break;
                    case "--concurrent-create-ops": o.ConcurrentCreateOps = Count(); break;
                    case "--warmup": o.Warmup = Count(min: 0); break;
                    case "--warmup-seconds": o.WarmupSeconds = Seconds(); break;
                    case "--max-warmup-seconds": o.MaxWarmupSeconds = Seconds(); break;
                    case "--eval-warmup": o.EvalWarmupRuns = Count(min: 0); break;
                    case "--eval-runs": o.EvalRuns = Count(); break;
                    case "--ort-warmup": o.OrtWarmupPasses = Count(min: 0); break;
                    case "--ort-passes": o.OrtPasses = Count(); break;
                    case "--ort-batch": o.OrtBatch = Count(); break;
                    case "--poll-ms": o.PollMs = Count(); break;
                    case "--fixtures": o.FixturesDirectory = Value(); break;
                    case "--paths":
                        var paths = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                            .Select(p => p.ToLowerInvariant()).ToList();
                        if (paths.Count == 0 || paths.Any(p => !KnownGatewayPaths.Contains(p) && p != "all"))
                        {
                            throw new ArgumentException($"--paths is a comma-separated list of {string.Join(", ", KnownGatewayPaths)} or all");
                        }
                        o.GatewayPaths = KnownGatewayPaths.Where(p => p == "direct" || paths.Contains(p) || (paths.Contains("all") && AllGatewayPaths.Contains(p))).ToList();
                        break;
                    case "--load-seconds": o.LoadSeconds = Count(); break;
                    case "--rounds": o.Rounds = Count(); break;
                    case "--gw-warmup-seconds": o.GatewayWarmupSeconds = Count(min: 0); break;
                    case "--connections": o.Connections = Count(min: 2); break;
                    case "--streams": o.Streams = Count(); break;
                    case "--stream-tokens": o.StreamTokens = Count(); break;
                    case "--token-delay-ms": o.TokenDelayMs = Count(min: 0); break;
                    case "--infer-rounds": o.InferRounds = Count(); break;
                    case "--quiet-wait": o.QuietWaitSeconds = Count(min: 0); break;
                    case "--ort-calls": o.OrtCalls = Count(); break;
                    case "--portkey": o.Portkey = Value(); break;
                    case "--modelgate": o.ModelGateBinary = Value(); break;
                    case "--console-models": o.ConsoleModels = Count(); break;
                    case "--console-versions": o.ConsoleVersionsPerModel = Count(); break;
                    case "--console-rows": o.ConsoleRequestRows = Count(min: 0); break;
                    case "--console-ops": o.ConsoleOps = Count(); break;
                    case "--console-warmup": o.ConsoleWarmup = Count(min: 0); break;
                    case "--reqlog-insert-seconds": o.RequestLogInsertSeconds = Count(); break;
                    case "--reqlog-rows": o.RequestLogRows = Count(min: 0); break;
                    case "--reqlog-ops": o.RequestLogOps = Count(); break;
                    case "--reqlog-no-baseline": o.RequestLogBaseline = false; break;
                    case "--out": o.OutputDirectory = Value(); break;
                    case "--no-file": o.WriteFile = false; break;
                    case "--server-arg": o.ServerArgs.Add(Value()); break;
                    default:
                        throw new ArgumentException($"unknown option '{args[i]}'");
                }
            }
            catch (ArgumentException e)
            {
                error.WriteLine($"error: {e.Message}");
                error.WriteLine();
                error.WriteLine(Usage);
                return null;
            }
        }
        if (o.ListSize > 1000)
        {
            error.WriteLine("error: --list-size is at most 1000, the API's largest page");
            return null;
        }
        o.MaxWarmupSeconds = Math.Max(o.MaxWarmupSeconds, o.WarmupSeconds);
        // Every client gets at least one measured request.
        o.ConcurrentGetOps = Math.Max(o.ConcurrentGetOps, o.Clients);
        o.ConcurrentCreateOps = Math.Max(o.ConcurrentCreateOps, o.Clients);
        return o;
    }

    public int ConcurrentGetOpsPerClient => ConcurrentGetOps / Clients;
    public int ConcurrentCreateOpsPerClient => ConcurrentCreateOps / Clients;
}
