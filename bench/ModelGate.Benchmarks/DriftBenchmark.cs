using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Options;
using ModelGate.Evaluation.Datasets;
using ModelGate.Gateway;
using ModelGate.Gateway.Telemetry;
using ModelGate.Monitoring.Drift;

namespace ModelGate.Benchmarks;

/// <summary>
/// The drift computation's throughput, in process: profiling the train.csv baseline, and comparing windows of test.csv
/// rows with it (the monitor's per-window work), against a baseline measured in the same run — one pass that only reads
/// every value of the window once (the least any comparison must do).
/// </summary>
internal sealed class DriftBenchmark(BenchOptions options, TextWriter log)
{
    public sealed record Row(string What, int Rows, int Columns, double MedianMs, double MinMs, double RowsPerSecond);

    public IReadOnlyList<Row> Run()
    {
        var directory = options.FixturesDirectory ?? EvaluationFixtures.DefaultDirectory();
        var train = CsvTable.Parse(File.ReadAllText(Path.Combine(directory, EvaluationFixtures.TrainPath)));
        var test = CsvTable.Parse(File.ReadAllText(Path.Combine(directory, EvaluationFixtures.DatasetPath)));
        var columns = train.ColumnNames.Where(c => c != "income").ToList();
        var repeats = options.Quick ? 3 : 15;
        var results = new List<Row>();

        DatasetProfile? profile = null;
        results.Add(Measure("profile train.csv (baseline build)", train.RowCount, columns.Count, repeats, () =>
            profile = DatasetProfile.FromColumns(columns.Select(c => KeyValuePair.Create(c, (IReadOnlyList<string?>)train.Strings(c))).ToList())));

        foreach (var size in new[] { 500, 2_000, test.RowCount })
        {
            var rows = Enumerable.Range(0, size).Select(i => (IReadOnlyList<string?>)columns.Select(c => (string?)test.Strings(c)[i]).ToArray()).ToList();
            var read = Measure($"read every value once ({size:N0} rows; the floor)", size, columns.Count, repeats * 4, () =>
            {
                long total = 0;
                foreach (var row in rows)
                {
                    foreach (var value in row)
                    {
                        total += value?.Length ?? 0;
                    }
                }
                return total;
            });
            results.Add(read);
            results.Add(Measure($"compare a window of {size:N0} rows (Evidently's default tests)", size, columns.Count, repeats, () =>
                DriftDetector.Compare(profile!, DriftWindow.FromRows(columns, rows))));
            results.Add(Measure($"the same with PSI on every column", size, columns.Count, repeats, () =>
                DriftDetector.Compare(profile!, DriftWindow.FromRows(columns, rows), new DriftOptions { Test = DriftTest.Psi })));
        }

        // What the drift monitor does first on every check: read a version's window out of the gateway's sample ring,
        // which keeps the values as served (here the Adult model's inputs, FP32 and BYTES columns) and formats them as text.
        var samples = new InputSamples(Options.Create(new GatewayOptions()));
        var capacity = new GatewayOptions().InputSampleCapacity;
        var served = columns.ToDictionary(c => c, c => test.Strings(c).All(v => float.TryParse(v, CultureInfo.InvariantCulture, out _))
            ? (Array)test.Strings(c).Select(v => float.Parse(v, CultureInfo.InvariantCulture)).ToArray()
            : test.Strings(c));
        const int batch = 100;
        var at = DateTime.UtcNow;
        for (var first = 0; first + batch <= test.RowCount; first += batch)
        {
            samples.AddTensorRows("bench", "1.0.0", at, served.ToDictionary(kv => kv.Key, kv => Slice(kv.Value, first, batch)), batch);
        }
        var window = samples.Read("bench", "1.0.0", DateTime.MinValue);
        if (window.Rows.Count != capacity)
        {
            throw new InvalidOperationException($"the sample ring kept {window.Rows.Count} rows, not its capacity {capacity}");
        }
        var numeric = served.Count(kv => kv.Value is float[]);
        results.Add(Measure($"read a window from the gateway's sample ring as text ({numeric} FP32 and {columns.Count - numeric} BYTES columns)",
            capacity, columns.Count, repeats * 4, () => samples.Read("bench", "1.0.0", DateTime.MinValue)));
        results.Add(Measure("read that window and compare it with the baseline (Evidently's default tests)", capacity, columns.Count, repeats, () =>
        {
            var (names, rows) = samples.Read("bench", "1.0.0", DateTime.MinValue);
            return DriftDetector.Compare(profile!, DriftWindow.FromRows([.. names], [.. rows.Select(r => (IReadOnlyList<string?>)r.Values)]));
        }));
        return results;
    }

    private static Array Slice(Array source, int first, int count)
    {
        var slice = Array.CreateInstance(source.GetType().GetElementType()!, count);
        Array.Copy(source, first, slice, 0, count);
        return slice;
    }

    private Row Measure<T>(string what, int rows, int columns, int repeats, Func<T> action)
    {
        action(); // warm-up (JIT)
        var times = new double[repeats];
        for (var i = 0; i < repeats; i++)
        {
            var clock = Stopwatch.StartNew();
            GC.KeepAlive(action());
            times[i] = clock.Elapsed.TotalMilliseconds;
        }
        Array.Sort(times);
        var median = times[repeats / 2];
        log.WriteLine($"  {what}: median {median:F2} ms");
        return new Row(what, rows, columns, median, times[0], rows / (median / 1000));
    }

    public static string Markdown(BenchOptions options, DateTimeOffset started, TimeSpan duration, IReadOnlyList<Row> rows)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"# Drift computation — {started:yyyy-MM-dd HH:mm} UTC ({duration.TotalSeconds:F0} s{(options.Quick ? ", --quick" : "")})");
        text.AppendLine();
        text.AppendLine("| What | Rows | Columns | Median (ms) | Min (ms) | Rows/s |");
        text.AppendLine("|---|--:|--:|--:|--:|--:|");
        foreach (var r in rows)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"| {r.What} | {r.Rows:N0} | {r.Columns} | {r.MedianMs:F2} | {r.MinMs:F2} | {r.RowsPerSecond:N0} |");
        }
        return text.ToString();
    }
}
