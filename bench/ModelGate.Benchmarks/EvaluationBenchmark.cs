using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using ModelGate.Client;
using ModelGate.Evaluation;
using ModelGate.Evaluation.Datasets;
using ModelGate.Evaluation.Metrics;
using ModelGate.Gateway.Onnx;

namespace ModelGate.Benchmarks;

/// <summary>One evaluation run through the server: POST → polled until terminal, with the server's own figures.</summary>
internal sealed record EvaluationRun(
    string Model,
    SuiteVariant Suite,
    bool Warmup,
    double PostMs,
    double WallSeconds,
    double? ServerQueueMs,
    double? ServerRunMs,
    int Polls,
    long Rows,
    long RowsScored,
    long RowsFailed,
    double P50MsPerRow,
    double P95MsPerRow,
    double P99MsPerRow,
    int Batches,
    bool Passed,
    double? RocAuc,
    string RocAucCi)
{
    public double RowsPerSecond => WallSeconds > 0 ? Rows / WallSeconds : 0;
}

/// <summary>ONNX Runtime alone (through <see cref="OnnxModel.Run"/>) over the whole test set, in batches.</summary>
internal sealed record OrtResult(string Model, int Rows, int BatchSize, int Batches, double SessionMs, int WarmupPasses, double[] PassSeconds,
    double[] BatchMsPerRow)
{
    public double MedianSeconds => Stats.Median(PassSeconds);
    public double RowsPerSecond => Rows / MedianSeconds;
}

/// <summary>An in-process step of the server's evaluation path, timed on its own.</summary>
internal sealed record ComponentTiming(string Name, string Detail, double[] Ms, double AllocatedMiB, double Collections);

internal sealed record EvaluationResults(
    EvaluationFixtures Fixtures,
    int DatasetRows,
    IReadOnlyList<EvaluationRun> Runs,
    IReadOnlyList<OrtResult> Ort,
    IReadOnlyList<ComponentTiming> Components);

/// <summary>
/// Evaluation throughput. Scenario A: each adult-income ONNX model is evaluated on the adult test set through the real
/// server (SQLite), as users run it: POST .../evaluations, then GET every --poll-ms until the run is terminal.
/// Scenario B, the baseline: ONNX Runtime alone on the same rows in the same batches, in this process, without the
/// server. Also times the other in-process steps of a run (CSV parse, metrics with and without the bootstrap) so that
/// the gap between A and B can be attributed.
/// </summary>
internal sealed class EvaluationBenchmark(BenchOptions options, TextWriter log)
{
    private const string Version = "1.0.0";
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(10);

    public async Task<EvaluationResults> RunAsync()
    {
        var directory = options.FixturesDirectory ?? EvaluationFixtures.DefaultDirectory();
        var fixtures = EvaluationFixtures.Load(directory);
        var table = CsvTable.Parse(Encoding.UTF8.GetString(fixtures.Dataset));
        log.WriteLine($"  fixtures: {Path.GetFullPath(directory)}; {EvaluationFixtures.DatasetPath}: {table.RowCount:N0} rows, sha256 {fixtures.DatasetSha256[..12]}…");

        List<EvaluationRun> runs;
        await using (var server = await BenchServer.StartSqliteAsync(options.ServerArgs))
        {
            log.WriteLine($"  server at {server.BaseAddress}");
            runs = await ServerScenarioAsync(server, fixtures);
        }

        log.WriteLine("  ONNX Runtime alone (baseline)");
        var (ort, probabilities) = OrtScenario(fixtures, table);
        var components = Components(fixtures, table, probabilities);
        return new EvaluationResults(fixtures, table.RowCount, runs, ort, components);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Scenario A: through the server.

    private async Task<List<EvaluationRun>> ServerScenarioAsync(BenchServer server, EvaluationFixtures fixtures)
    {
        using var http = NewHttpClient(server);
        var api = new ModelGateClient(http);

        var setup = Stopwatch.StartNew();
        await PushAsync(api, fixtures.Dataset, fixtures.DatasetSha256);
        await PushAsync(api, fixtures.Suite.Bytes, fixtures.Suite.Sha256);
        await PushAsync(api, fixtures.NoBootstrap.Bytes, fixtures.NoBootstrap.Sha256);
        await PushAsync(api, fixtures.ServerDefault.Bytes, fixtures.ServerDefault.Sha256);
        foreach (var m in fixtures.Models)
        {
            await PushAsync(api, m.Bytes, m.Sha256);
            await api.CreateModelAsync(new CreateModelRequest(ModelName(m), "bench", RiskTiers.Low, "classification", "MIT",
                $"evaluation benchmark: {m.FileName}", ["bench"]));
            await api.CreateVersionAsync(ModelName(m), new CreateVersionRequest(Version,
                [new ArtifactRef(m.Sha256, m.FileName, "application/onnx", m.Bytes.Length)], Attestation(fixtures, m), m.FileName));
        }
        log.WriteLine($"  setup: {fixtures.Models.Count} models, dataset and 3 suites uploaded in {setup.Elapsed.TotalSeconds:F1} s");

        var runs = new List<EvaluationRun>();
        // Warm-up of every model first, with the default suite: the first run of a model also loads its ONNX session into the
        // server's cache, and the JIT keeps tiering up the scoring and metrics code over the first runs of the process.
        foreach (var m in fixtures.Models)
        {
            for (var i = 0; i < options.EvalWarmupRuns; i++)
            {
                runs.Add(await RunOnceAsync(api, m, fixtures.Suite, warmup: true));
            }
        }
        foreach (var m in fixtures.Models)
        {
            // Measured runs, the two suite variants alternating so that a slow patch of the machine hits both.
            for (var i = 0; i < options.EvalRuns; i++)
            {
                runs.Add(await RunOnceAsync(api, m, fixtures.Suite, warmup: false));
                runs.Add(await RunOnceAsync(api, m, fixtures.NoBootstrap, warmup: false));
            }
        }
        // What a suite that leaves out the bootstrap section costs: the server's default number of resamples (first model only).
        for (var i = 0; i < options.EvalRuns; i++)
        {
            runs.Add(await RunOnceAsync(api, fixtures.Models[0], fixtures.ServerDefault, warmup: false));
        }
        return runs;
    }

    private async Task<EvaluationRun> RunOnceAsync(ModelGateClient api, FixtureModel model, SuiteVariant suite, bool warmup)
    {
        var name = ModelName(model);
        RegistryBenchmark.Settle();
        var start = Stopwatch.GetTimestamp();
        var dto = await api.StartEvaluationAsync(name, Version, new StartEvaluationRequest(suite.Sha256));
        var postMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        var polls = 0;
        using (var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(options.PollMs)))
        {
            while (!EvaluationStatuses.IsTerminal(dto.Status))
            {
                if (Stopwatch.GetElapsedTime(start) > RunTimeout)
                {
                    throw new TimeoutException($"{name}@{Version} evaluation {dto.Id} still {dto.Status} after {RunTimeout.TotalMinutes} minutes");
                }
                await timer.WaitForNextTickAsync();
                dto = await api.GetEvaluationAsync(name, Version, dto.Id);
                polls++;
            }
        }
        var wall = Stopwatch.GetElapsedTime(start).TotalSeconds;
        if (dto.Status != EvaluationStatuses.Succeeded || dto.Result is not { } result)
        {
            throw new InvalidOperationException($"{name}@{Version} evaluation {dto.Id} ended {dto.Status}: {dto.Error}");
        }

        var latency = result.GetProperty("latency");
        double? rocAuc = null;
        var rocAucCi = "none";
        if (result.GetProperty("metrics").TryGetProperty("roc_auc", out var auc))
        {
            if (auc.GetProperty("value").ValueKind == JsonValueKind.Number)
            {
                rocAuc = auc.GetProperty("value").GetDouble();
            }
            if (auc.TryGetProperty("ci", out var ci) && ci.ValueKind == JsonValueKind.Array)
            {
                rocAucCi = "[" + string.Join(", ", ci.EnumerateArray().Select(x => x.GetDouble().ToString("F6", System.Globalization.CultureInfo.InvariantCulture))) + "]";
            }
        }
        var run = new EvaluationRun(model.Name, suite, warmup, postMs, wall,
            dto.StartedAt - dto.CreatedAt is { } queue ? queue.TotalMilliseconds : null,
            dto.FinishedAt - dto.StartedAt is { } running ? running.TotalMilliseconds : null,
            polls,
            result.GetProperty("rows").GetInt64(),
            result.GetProperty("rowsScored").GetInt64(),
            result.GetProperty("rowsFailed").GetInt64(),
            latency.GetProperty("p50MsPerRow").GetDouble(),
            latency.GetProperty("p95MsPerRow").GetDouble(),
            latency.GetProperty("p99MsPerRow").GetDouble(),
            latency.GetProperty("batches").GetInt32(),
            result.GetProperty("passed").GetBoolean(),
            rocAuc,
            rocAucCi);
        log.WriteLine($"  {(warmup ? "warm-up " : "")}{model.Name,-10} {suite.Label,-28} {wall:F3} s wall ({run.RowsPerSecond:N0} rows/s), " +
                      $"POST {postMs:F0} ms, server run {run.ServerRunMs:F0} ms, scoring p50 {run.P50MsPerRow:F4} ms/row, {polls} polls");
        return run;
    }

    private static async Task PushAsync(ModelGateClient api, byte[] content, string sha256)
    {
        using var stream = new MemoryStream(content, writable: false);
        await api.PushArtifactAsync(stream, sha256);
    }

    private static string ModelName(FixtureModel m) => "adult-" + m.Name;

    private static Attestation Attestation(EvaluationFixtures fixtures, FixtureModel m) => new(
        Datasets: [new DatasetRef("adult-train", "fixtures/" + EvaluationFixtures.TrainPath, fixtures.TrainSha256)],
        Architecture: m.Name.Contains("mlp", StringComparison.Ordinal) ? "mlp" : "logistic-regression",
        Trainer: "bench-trainer");

    private static HttpClient NewHttpClient(BenchServer server)
    {
        var handler = new SocketsHttpHandler
        {
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            UseProxy = false,
            AllowAutoRedirect = false,
            UseCookies = false,
        };
        var http = new HttpClient(handler, disposeHandler: true) { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromMinutes(2) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", BenchServer.AdminKey);
        return http;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Scenario B: ONNX Runtime alone.

    /// <summary>
    /// For each model: a session as the server creates it (<see cref="OnnxModel.FromBytes"/>), the input columns built once
    /// as the server builds them and cut into --ort-batch slices up front; then warm-up passes and measured passes of
    /// <see cref="OnnxModel.Run"/> over every slice, taking P(positive) out of each answer. Returns P(positive) per model too.
    /// </summary>
    private (List<OrtResult> Results, Dictionary<string, double[]> Probabilities) OrtScenario(EvaluationFixtures fixtures, CsvTable table)
    {
        var results = new List<OrtResult>();
        var probabilities = new Dictionary<string, double[]>(StringComparer.Ordinal);
        var n = table.RowCount;
        foreach (var m in fixtures.Models)
        {
            var sessionClock = Stopwatch.StartNew();
            using var model = OnnxModel.FromBytes(m.Sha256, m.Bytes);
            var sessionMs = sessionClock.Elapsed.TotalMilliseconds;
            var columns = InputColumns(model, table);
            var batches = new List<(Dictionary<string, Array> Columns, int Start, int Count)>();
            for (var start = 0; start < n; start += options.OrtBatch)
            {
                var count = Math.Min(options.OrtBatch, n - start);
                var slice = new Dictionary<string, Array>(columns.Count, StringComparer.Ordinal);
                foreach (var (name, data) in columns)
                {
                    var part = Array.CreateInstance(data.GetType().GetElementType()!, count);
                    Array.Copy(data, start, part, 0, count);
                    slice[name] = part;
                }
                batches.Add((slice, start, count));
            }

            var probability = new double[n];
            var batchMsPerRow = new List<double>();
            double Pass(List<double>? perBatch)
            {
                var passStart = Stopwatch.GetTimestamp();
                foreach (var (slice, start, count) in batches)
                {
                    var batchStart = Stopwatch.GetTimestamp();
                    var outputs = model.Run(slice, count);
                    perBatch?.Add(Stopwatch.GetElapsedTime(batchStart).TotalMilliseconds / count);
                    var p = outputs["probabilities"];
                    var data = (float[])p.Data;
                    var width = p.Shape.Length == 2 ? p.Shape[1] : 1;
                    for (var i = 0; i < count; i++)
                    {
                        probability[start + i] = width == 1 ? data[i] : data[i * width + (width - 1)];
                    }
                }
                return Stopwatch.GetElapsedTime(passStart).TotalSeconds;
            }

            var warmups = new List<double>();
            for (var i = 0; i < options.OrtWarmupPasses; i++)
            {
                warmups.Add(Pass(null));
            }
            var seconds = new double[options.OrtPasses];
            for (var i = 0; i < seconds.Length; i++)
            {
                RegistryBenchmark.Settle();
                seconds[i] = Pass(batchMsPerRow);
            }
            var r = new OrtResult(m.Name, n, options.OrtBatch, batches.Count, sessionMs, options.OrtWarmupPasses, seconds, [.. batchMsPerRow]);
            results.Add(r);
            probabilities[m.Name] = probability;
            log.WriteLine($"  {m.Name,-10} session {sessionMs:F0} ms; warm-up {string.Join(", ", warmups.Select(s => $"{s * 1000:F0} ms"))}; " +
                          $"passes {string.Join(", ", seconds.Select(s => $"{s * 1000:F0} ms"))} → {r.RowsPerSecond:N0} rows/s");
        }
        return (results, probabilities);
    }

    /// <summary>Each model input's column, as the server's scorer builds it: FP32 inputs parsed to float[], BYTES inputs as the strings.</summary>
    private static Dictionary<string, Array> InputColumns(OnnxModel model, CsvTable table) =>
        model.Inputs.ToDictionary(i => i.Name, i => i.Datatype == "FP32" ? (Array)table.Floats(i.Name) : table.Strings(i.Name), StringComparer.Ordinal);

    // ---------------------------------------------------------------------------------------------------------------
    // The other in-process steps of a run, to attribute the difference between A and B.

    private List<ComponentTiming> Components(EvaluationFixtures fixtures, CsvTable table, Dictionary<string, double[]> probabilities)
    {
        const int Repeats = 5;
        var components = new List<ComponentTiming>();

        components.Add(Time("read the dataset", $"UTF-8 decode + `CsvTable.Parse` of test.csv ({fixtures.Dataset.Length / 1024.0 / 1024.0:F1} MiB), as every POST does", Repeats,
            () => CsvTable.Parse(Encoding.UTF8.GetString(fixtures.Dataset))));

        var first = fixtures.Models[0];
        using var model = OnnxModel.FromBytes(first.Sha256, first.Bytes);
        components.Add(Time("input columns", $"`Floats`/`Strings` of the {model.Inputs.Count} inputs, as the runner's scorer does", Repeats,
            () => InputColumns(model, table)));

        // EvaluationScoring.Compute on the baseline's probabilities of the first model: metrics, slices, fairness, thresholds,
        // and the bootstrap intervals when the suite asks for them.
        var suite = JsonSerializer.Deserialize<EvaluationSuite>(fixtures.Suite.Bytes, ModelGateJson.Options)
                    ?? throw new InvalidDataException("the suite did not deserialise");
        var target = table.Strings(suite.Target!);
        var truth = target.Select(t => t == suite.PositiveLabel ? 1 : 0).ToArray();
        var scored = target.Select(t => t.Length > 0).ToArray();
        var rows = new ScoredRows(scored, probabilities[first.Name], ProbabilityMetrics.Float32Epsilon, truth, [0.0]); // the models output float32
        var mapping = model.Inputs.ToDictionary(i => i.Name, i => i.Name, StringComparer.Ordinal);
        foreach (var variant in new[] { fixtures.Suite, fixtures.NoBootstrap })
        {
            var s = suite with { Bootstrap = (suite.Bootstrap ?? new BootstrapSpec()) with { Resamples = variant.Resamples } };
            var prepared = new PreparedSuite(s, variant.Sha256, fixtures.DatasetSha256, table, model, mapping);
            components.Add(Time($"metrics, {variant.Resamples} resamples",
                $"`EvaluationScoring.Compute` ({first.Name}, {suite.Metrics?.Count ?? 0} metrics, slices {string.Join("/", suite.Slices ?? [])}) + result JSON",
                variant.Resamples > 0 ? 3 : Repeats,
                () => JsonSerializer.Serialize(EvaluationScoring.Compute(prepared, rows), ModelGateJson.Options)));
        }
        return components;
    }

    private ComponentTiming Time(string name, string detail, int repeats, Func<object> action)
    {
        GC.KeepAlive(action()); // warm-up
        var ms = new double[repeats];
        long allocated = 0, collections = 0;
        for (var i = 0; i < repeats; i++)
        {
            RegistryBenchmark.Settle();
            // Process-wide (the bootstrap runs on several threads); the server is stopped by now.
            var bytes = GC.GetTotalAllocatedBytes(precise: true);
            var gcs = GC.CollectionCount(0);
            var start = Stopwatch.GetTimestamp();
            GC.KeepAlive(action());
            ms[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            allocated += GC.GetTotalAllocatedBytes(precise: true) - bytes;
            collections += GC.CollectionCount(0) - gcs;
        }
        var c = new ComponentTiming(name, detail, ms, allocated / 1024.0 / 1024.0 / repeats, (double)collections / repeats);
        log.WriteLine($"  {name}: {string.Join(", ", ms.Select(x => $"{x:F1}"))} ms; {c.AllocatedMiB:F1} MiB allocated, {c.Collections:F1} GCs per run");
        return c;
    }
}

internal static class Stats
{
    /// <summary>Median (mean of the two middle values for an even count).</summary>
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0)
        {
            return double.NaN;
        }
        var mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    /// <summary>Nearest-rank percentile.</summary>
    public static double Percentile(IEnumerable<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Length), 1, sorted.Length) - 1];
    }
}
