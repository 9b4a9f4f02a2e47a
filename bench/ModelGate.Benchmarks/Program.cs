using System.Diagnostics;
using ModelGate.Benchmarks;

// Reports; never passes or fails on speed. Exit code 0 unless the benchmark could not run (bad arguments, a broken server).
// `serve upstream|yarp`: the gateway suite's helper servers, each started by the suite as a process of its own.
if (args is ["serve", ..])
{
    return await GatewayServers.RunAsync(args[1..]);
}

var options = BenchOptions.Parse(args, Console.Error);
if (options is null)
{
    return args.Contains("--help") || args.Contains("-h") ? 0 : 2;
}

var log = Console.Error;
var started = DateTimeOffset.UtcNow;
var clock = Stopwatch.StartNew();
if (Report.ServerBuild != "Release")
{
    log.WriteLine("warning: the server assembly is a Debug build; run with -c Release for meaningful figures");
}

if (options.RunsRegistry)
{
    var registryStarted = DateTimeOffset.UtcNow;
    var registryClock = Stopwatch.StartNew();
    var results = new List<ScenarioResult>();
    var notes = new List<string>();
    foreach (var provider in options.Providers)
    {
        log.WriteLine($"== registry: {provider}");
        BenchServer? server;
        if (provider == "postgres")
        {
            (server, var skip) = await BenchServer.StartPostgresAsync(options.PostgresConnectionString, options.ServerArgs);
            if (server is null)
            {
                var note = $"postgres: skipped — {skip}. Set {BenchOptions.PostgresEnvironmentVariable} to a reachable server's connection string.";
                log.WriteLine($"  {note}");
                notes.Add(note);
                continue;
            }
        }
        else
        {
            server = await BenchServer.StartSqliteAsync(options.ServerArgs);
        }
        await using (server)
        {
            log.WriteLine($"  server at {server.BaseAddress}");
            var bench = new RegistryBenchmark(server, options, log);
            var providerClock = Stopwatch.StartNew();
            results.AddRange(await bench.RunAsync());
            notes.AddRange(bench.Notes);
            log.WriteLine($"  {provider} done in {providerClock.Elapsed.TotalSeconds:F0} s");
        }
    }
    await EmitAsync("registry", registryStarted, Report.Markdown(options, registryStarted, registryClock.Elapsed, results, notes));
}

if (options.RunsEvaluation)
{
    log.WriteLine("== evaluation");
    var evaluationStarted = DateTimeOffset.UtcNow;
    var evaluationClock = Stopwatch.StartNew();
    var loadAtStart = MachineActivity.LoadAverage();
    var activity = MachineActivity.Start();
    var evaluation = await new EvaluationBenchmark(options, log).RunAsync();
    var busy = activity.Describe();
    var loadAtEnd = MachineActivity.LoadAverage();
    if (busy is not null)
    {
        log.WriteLine($"  {busy}");
    }
    log.WriteLine($"  evaluation done in {evaluationClock.Elapsed.TotalSeconds:F0} s");
    await EmitAsync("evaluation", evaluationStarted,
        EvaluationReport.Markdown(options, evaluationStarted, evaluationClock.Elapsed, evaluation, loadAtStart, loadAtEnd, busy));
}
if (options.RunsGateway)
{
    log.WriteLine("== gateway");
    var gatewayStarted = DateTimeOffset.UtcNow;
    var loadAtStart = MachineActivity.LoadAverage();
    var gateway = await new GatewayBenchmark(options, log).RunAsync();
    var activity = $"load average {loadAtStart} at the start, {MachineActivity.LoadAverage()} at the end";
    log.WriteLine($"  gateway done in {gateway.Duration.TotalSeconds:F0} s");
    await EmitAsync("gateway", gatewayStarted, GatewayReport.Markdown(options, gatewayStarted, gateway, activity));
}
if (options.RunsDrift)
{
    log.WriteLine("== drift");
    var driftStarted = DateTimeOffset.UtcNow;
    var driftClock = Stopwatch.StartNew();
    var drift = new DriftBenchmark(options, log).Run();
    await EmitAsync("drift", driftStarted, DriftBenchmark.Markdown(options, driftStarted, driftClock.Elapsed, drift));
}
if (options.RunsConsole)
{
    var consoleStarted = DateTimeOffset.UtcNow;
    var consoleClock = Stopwatch.StartNew();
    var results = new List<ScenarioResult>();
    var notes = new List<string>();
    foreach (var provider in options.Providers)
    {
        log.WriteLine($"== console: {provider}");
        BenchServer? server;
        if (provider == "postgres")
        {
            (server, var skip) = await BenchServer.StartPostgresAsync(options.PostgresConnectionString, options.ServerArgs);
            if (server is null)
            {
                notes.Add($"postgres: skipped — {skip}");
                continue;
            }
        }
        else
        {
            server = await BenchServer.StartSqliteAsync(options.ServerArgs);
        }
        await using (server)
        {
            var bench = new ConsoleBenchmark(server, options, log);
            results.AddRange(await bench.RunAsync());
            notes.AddRange(bench.Notes);
        }
    }
    await EmitAsync("console", consoleStarted, ConsoleBenchmark.Markdown(options, consoleStarted, consoleClock.Elapsed, results, notes));
}
if (options.RunsRequestLog)
{
    log.WriteLine("== requestlog: postgres");
    var requestLogStarted = DateTimeOffset.UtcNow;
    var requestLogClock = Stopwatch.StartNew();
    // Retention off: the hourly step must not delete the month of rows being measured.
    var (server, skip) = await BenchServer.StartPostgresAsync(options.PostgresConnectionString,
        ["--Gateway:RequestLogRetention=3650.00:00:00", .. options.ServerArgs]);
    if (server is null)
    {
        log.WriteLine($"  skipped — {skip}");
    }
    else
    {
        await using (server)
        {
            await EmitAsync("requestlog", requestLogStarted, await new RequestLogBenchmark(server, options, log).RunAsync(requestLogStarted, requestLogClock));
        }
    }
}
log.WriteLine($"done in {clock.Elapsed.TotalSeconds:F0} s (started {started:HH:mm:ss} UTC)");
return 0;

// Prints the report and writes it to <out>/<suite>-<UTC timestamp>.md.
async Task EmitAsync(string suite, DateTimeOffset suiteStarted, string report)
{
    Console.Out.WriteLine();
    Console.Out.Write(report);
    if (options.WriteFile)
    {
        var directory = options.OutputDirectory ?? DefaultResultsDirectory();
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, $"{suite}-{suiteStarted:yyyyMMdd-HHmmss}.md");
        await File.WriteAllTextAsync(path, report);
        log.WriteLine();
        log.WriteLine($"written to {Path.GetFullPath(path)}");
    }
}

// bench/results of the repository this binary was built from (found by ModelGate.slnx above the output directory), else ./bench/results.
static string DefaultResultsDirectory()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
    {
        if (File.Exists(Path.Combine(dir.FullName, "ModelGate.slnx")))
        {
            return Path.Combine(dir.FullName, "bench", "results");
        }
    }
    return Path.Combine(Environment.CurrentDirectory, "bench", "results");
}
