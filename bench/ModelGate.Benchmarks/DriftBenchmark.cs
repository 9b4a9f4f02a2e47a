using System.Diagnostics;
using System.Globalization;
using System.Text;
using ModelGate.Evaluation.Datasets;
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
        return results;
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
