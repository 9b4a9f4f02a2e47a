using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Runtime;
using System.Runtime.InteropServices;
using System.Text;
using ModelGate.Hosting;

namespace ModelGate.Benchmarks;

internal static class Report
{
    /// <summary>Release or Debug, as the JIT sees the server assembly (a Debug build is reported, not refused).</summary>
    public static string ServerBuild =>
        typeof(ModelGateHost).Assembly.GetCustomAttribute<DebuggableAttribute>()?.IsJITOptimizerDisabled == true ? "Debug" : "Release";

    public static string Markdown(BenchOptions options, DateTimeOffset started, TimeSpan duration, IReadOnlyList<ScenarioResult> results,
        IReadOnlyList<string> notes)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine(inv, $"# ModelGate registry load benchmark — {started:yyyy-MM-dd HH:mm:ss} UTC");
        sb.AppendLine();
        sb.AppendLine(inv, $"- Machine: {Environment.ProcessorCount} logical CPUs, {RuntimeInformation.OSDescription} ({RuntimeInformation.OSArchitecture})");
        sb.AppendLine(inv, $"- Runtime: {RuntimeInformation.FrameworkDescription}; server build: {ServerBuild}; " +
                           $"GC: {(GCSettings.IsServerGC ? "server" : "workstation")}");
        sb.AppendLine("- Server: `ModelGateHost.Build` on Kestrel at 127.0.0.1 (random port), in the benchmark's process; clients are " +
                      "`HttpClient`s over loopback, one connection each, HTTP/1.1 keep-alive");
        sb.AppendLine(inv, $"- Run: {(options.Quick ? "--quick" : "full")}, {duration.TotalSeconds:F0} s; warm-up (not recorded): each sequential scenario at least {options.ReadWarmup} reads, " +
                           $"{options.CreateWarmup} creates (on a separate model) or {options.ListWarmup} lists and {options.WarmupSeconds:0.##} s, then until " +
                           $"its median latency stops improving (at most {options.MaxWarmupSeconds:0.##} s); each concurrent client at least " +
                           $"{options.ConcurrentWarmupPerClient} requests and {options.WarmupSeconds:0.##} s");
        sb.AppendLine("- Latency: per request, send → full response body read (`Stopwatch`); percentiles by nearest rank. " +
                      "Throughput: measured requests / wall-clock time of the measured phase. SQL/op: SQL commands the server sent, per request.");
        sb.AppendLine();
        sb.Append(results.Count == 0 ? "No scenario ran.\n" : Table(results));
        if (notes.Count > 0)
        {
            sb.AppendLine();
            foreach (var note in notes)
            {
                sb.AppendLine(inv, $"- {note}");
            }
        }
        var failed = results.Where(r => r.Errors > 0).ToList();
        if (failed.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine("Errors (non-2xx answers, included in the timings):");
            foreach (var r in failed)
            {
                sb.AppendLine(inv, $"- {r.Provider} / {r.Scenario}: {r.Errors} × e.g. {r.FirstError}");
            }
        }
        return sb.ToString();
    }

    public static string Table(IReadOnlyList<ScenarioResult> results)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine("| Provider | Scenario | Clients | Ops | Errors | Throughput (ops/s) | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) | SQL/op | Warm-up |");
        sb.AppendLine("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
        foreach (var r in results)
        {
            sb.AppendLine(inv, $"| {r.Provider} | {r.Scenario} | {r.Clients} | {r.Ops:N0} | {r.Errors} | {r.Throughput:N0} | " +
                               $"{Ms(r.Percentile(50))} | {Ms(r.Percentile(95))} | {Ms(r.Percentile(99))} | {Ms(r.Max)} | {r.SqlPerOp:0.##} | " +
                               $"{r.WarmupRequests:N0} in {r.WarmupSeconds:F1} s |");
        }
        return sb.ToString();
    }

    private static string Ms(double value) => value.ToString(value < 10 ? "0.000" : value < 100 ? "0.00" : "0.0", CultureInfo.InvariantCulture);
}
