using System.Globalization;
using System.Runtime;
using System.Runtime.InteropServices;
using System.Text;

namespace ModelGate.Benchmarks;

internal static class EvaluationReport
{
    /// <summary>The issue's aim: the whole test set evaluated in under 2 s.</summary>
    public const double AimSeconds = 2.0;

    public static string Markdown(BenchOptions options, DateTimeOffset started, TimeSpan duration, EvaluationResults r, string loadAtStart, string loadAtEnd,
        string? activity)
    {
        var inv = CultureInfo.InvariantCulture;
        var f = r.Fixtures;
        var sb = new StringBuilder();
        sb.AppendLine(inv, $"# ModelGate evaluation throughput — {started:yyyy-MM-dd HH:mm:ss} UTC");
        sb.AppendLine();
        var during = activity is null ? "" : $"; during the run {activity}";
        sb.AppendLine(inv, $"- Machine: {Environment.ProcessorCount} logical CPUs, {RuntimeInformation.OSDescription} ({RuntimeInformation.OSArchitecture}); " +
                           $"load average (1/5/15 min) {loadAtStart} at the start, {loadAtEnd} at the end{during}");
        sb.AppendLine(inv, $"- Runtime: {RuntimeInformation.FrameworkDescription}; server build: {Report.ServerBuild}; " +
                           $"GC: {(GCSettings.IsServerGC ? "server" : "workstation")}; run: {duration.TotalSeconds:F0} s");
        sb.AppendLine(inv, $"- Data: `fixtures/{EvaluationFixtures.DatasetPath}`, {r.DatasetRows:N0} rows ({f.Dataset.Length:N0} bytes); suite " +
                           $"`fixtures/{EvaluationFixtures.SuitePath}` ({f.Suite.Resamples} bootstrap resamples), the same suite with 0 resamples, and (first model " +
                           $"only) without its `bootstrap` section, where the server's default of {f.ServerDefault.Resamples} applies; " +
                           $"models `fixtures/{EvaluationFixtures.ModelsPath}/{{{string.Join(",", f.Models.Select(m => m.Name))}}}.onnx`");
        sb.AppendLine(inv, $"- A (server): the real host on SQLite, in this process; `POST …/versions/1.0.0/evaluations` then `GET …/evaluations/{{id}}` every " +
                           $"{options.PollMs} ms until `succeeded`. Wall = POST sent → `succeeded` seen. {options.EvalWarmupRuns} warm-up run(s) of each model first " +
                           $"(the first also loads the model's session; *first run* below), then per model {options.EvalRuns} measured run(s) per suite, the first two " +
                           $"suites alternating. " +
                           $"POST = its answer time (reads the suite and parses the CSV, checks the model); server run = `startedAt` → `finishedAt` " +
                           $"(scoring, metrics, result write); scoring ms/row = the result's `latency` (per-batch time / rows), median over the runs.");
        sb.AppendLine(inv, $"- B (baseline): ONNX Runtime alone through `OnnxModel.FromBytes` + `OnnxModel.Run`, no server; input columns built once from " +
                           $"`CsvTable` and cut into batches of {options.OrtBatch:N0} up front; {options.OrtWarmupPasses} warm-up pass(es), then " +
                           $"{options.OrtPasses} measured passes over the whole test set.");
        sb.AppendLine("- A full GC runs before every measured run or pass.");
        sb.AppendLine();

        var measured = r.Runs.Where(x => !x.Warmup).ToList();
        var ortByModel = r.Ort.ToDictionary(o => o.Model, StringComparer.Ordinal);

        sb.AppendLine("## A. Through the server: POST → succeeded");
        sb.AppendLine();
        sb.AppendLine("| Model | Suite | Runs | Wall median (s) | Wall max (s) | Rows/s (median) | 2 s aim | POST (ms) | Server run (ms) | Scoring ms/row p50 / p95 / p99 | First run (s) |");
        sb.AppendLine("|---|---|--:|--:|--:|--:|---|--:|--:|--:|--:|");
        foreach (var group in measured.GroupBy(x => (x.Model, x.Suite.Label)))
        {
            var runs = group.ToList();
            var wall = Stats.Median(runs.Select(x => x.WallSeconds));
            var cold = r.Runs.FirstOrDefault(x => x.Warmup && x.Model == group.Key.Model && x.Suite.Label == group.Key.Label);
            sb.AppendLine(inv, $"| {group.Key.Model} | {group.Key.Label} | {runs.Count} | {wall:F3} | {runs.Max(x => x.WallSeconds):F3} | " +
                               $"{runs[0].Rows / wall:N0} | {Aim(wall)} | {Stats.Median(runs.Select(x => x.PostMs)):F0} | " +
                               $"{Stats.Median(runs.Select(x => x.ServerRunMs ?? double.NaN)):F0} | " +
                               $"{Stats.Median(runs.Select(x => x.P50MsPerRow)):F4} / {Stats.Median(runs.Select(x => x.P95MsPerRow)):F4} / " +
                               $"{Stats.Median(runs.Select(x => x.P99MsPerRow)):F4} | {(cold is null ? "–" : cold.WallSeconds.ToString("F3", inv))} |");
        }
        sb.AppendLine();

        sb.AppendLine(inv, $"## B. ONNX Runtime alone, batches of {options.OrtBatch:N0}");
        sb.AppendLine();
        sb.AppendLine("| Model | Passes | Median (s) | Max (s) | Rows/s (median) | ms/row per batch p50 / p95 / p99 | Session load (ms) |");
        sb.AppendLine("|---|--:|--:|--:|--:|--:|--:|");
        foreach (var o in r.Ort)
        {
            sb.AppendLine(inv, $"| {o.Model} | {o.PassSeconds.Length} | {o.MedianSeconds:F4} | {o.PassSeconds.Max():F4} | {o.RowsPerSecond:N0} | " +
                               $"{Stats.Percentile(o.BatchMsPerRow, 50):F4} / {Stats.Percentile(o.BatchMsPerRow, 95):F4} / {Stats.Percentile(o.BatchMsPerRow, 99):F4} | " +
                               $"{o.SessionMs:F0} |");
        }
        sb.AppendLine();

        sb.AppendLine("## A against B (medians)");
        sb.AppendLine();
        sb.AppendLine(inv, $"| Model | ORT alone (rows/s) | Server, {f.Suite.Resamples} resamples (rows/s) | ORT ÷ server | Server, 0 resamples (rows/s) | ORT ÷ server | " +
                           $"Bootstrap share of the wall time |");
        sb.AppendLine("|---|--:|--:|--:|--:|--:|--:|");
        foreach (var m in f.Models)
        {
            if (!ortByModel.TryGetValue(m.Name, out var o))
            {
                continue;
            }
            var withCi = Stats.Median(measured.Where(x => x.Model == m.Name && x.Suite == f.Suite).Select(x => x.WallSeconds));
            var without = Stats.Median(measured.Where(x => x.Model == m.Name && x.Suite == f.NoBootstrap).Select(x => x.WallSeconds));
            sb.AppendLine(inv, $"| {m.Name} | {o.RowsPerSecond:N0} | {r.DatasetRows / withCi:N0} | {o.RowsPerSecond / (r.DatasetRows / withCi):N0}× | " +
                               $"{r.DatasetRows / without:N0} | {o.RowsPerSecond / (r.DatasetRows / without):N0}× | {(withCi - without) / withCi:P0} |");
        }
        sb.AppendLine();

        sb.AppendLine("## In-process steps of a run (no server)");
        sb.AppendLine();
        sb.AppendLine("| Step | What | Runs | Median (ms) | Max (ms) | Allocated per run (MiB) | GCs per run |");
        sb.AppendLine("|---|---|--:|--:|--:|--:|--:|");
        foreach (var c in r.Components)
        {
            sb.AppendLine(inv, $"| {c.Name} | {c.Detail} | {c.Ms.Length} | {Stats.Median(c.Ms):F1} | {c.Ms.Max():F1} | {c.AllocatedMiB:F1} | {c.Collections:0.#} |");
        }
        sb.AppendLine();

        sb.AppendLine("Results of the measured runs with the suite as stored (the same in every run of a model within this process):");
        sb.AppendLine();
        foreach (var group in measured.GroupBy(x => x.Model))
        {
            var x = group.First(y => y.Suite == f.Suite);
            var distinct = group.Where(y => y.Suite == f.Suite).Select(y => (y.RowsScored, y.RowsFailed, y.Passed, y.RocAuc, y.RocAucCi)).Distinct().Count();
            var varies = distinct == 1 ? "" : $" (**{distinct} different outcomes across runs**)";
            sb.AppendLine(inv, $"- {x.Model}: {x.Rows:N0} rows, {x.RowsScored:N0} scored, {x.RowsFailed:N0} failed, roc_auc {x.RocAuc:F4} (interval with " +
                               $"{f.Suite.Resamples} resamples {x.RocAucCi}), " +
                               $"thresholds passed: {x.Passed.ToString().ToLowerInvariant()}, {x.Batches} batches{varies}");
        }
        return sb.ToString();
    }

    private static string Aim(double seconds) => seconds < AimSeconds
        ? string.Create(CultureInfo.InvariantCulture, $"met ({seconds / AimSeconds:P0} of it)")
        : string.Create(CultureInfo.InvariantCulture, $"**not met** ({seconds / AimSeconds:F1}×)");
}
