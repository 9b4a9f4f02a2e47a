using System.Globalization;
using System.Runtime;
using System.Runtime.InteropServices;
using System.Text;

namespace ModelGate.Benchmarks;

/// <summary>The gateway suite's figures for one path at one connection count: medians over the rounds.</summary>
internal sealed record PathSummary(int Rounds, double P50Us, double P99Us, double Rps, double RpsMin, double RpsMax, long Requests, long Errors,
    string ErrorDetail, double? CpuUs)
{
    public static PathSummary? Of(IEnumerable<LoadRun> runs)
    {
        var list = runs.ToList();
        if (list.Count == 0)
        {
            return null;
        }
        var cpu = list.Where(r => r.ProxyCpuUs is not null).Select(r => r.ProxyCpuUs!.Value).ToList();
        var errors = list.Sum(r => r.Wrk.Errors);
        return new PathSummary(list.Count, Stats.Median(list.Select(r => r.Wrk.P50Us)), Stats.Median(list.Select(r => r.Wrk.P99Us)),
            Stats.Median(list.Select(r => r.Wrk.RequestsPerSecond)), list.Min(r => r.Wrk.RequestsPerSecond), list.Max(r => r.Wrk.RequestsPerSecond),
            list.Sum(r => r.Wrk.Requests), errors, errors == 0 ? "" : string.Join("; ", list.Where(r => r.Wrk.Errors > 0).Select(r => r.Wrk.ErrorDetail)),
            cpu.Count == 0 ? null : Stats.Median(cpu));
    }
}

internal static class GatewayReport
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static string Markdown(BenchOptions options, DateTimeOffset started, GatewayResults r, string? activity)
    {
        var sb = new StringBuilder();
        sb.AppendLine(Inv, $"# ModelGate gateway overhead benchmark — {started:yyyy-MM-dd HH:mm:ss} UTC");
        sb.AppendLine();
        sb.AppendLine(Inv, $"- Machine: {Environment.ProcessorCount} logical CPUs, {RuntimeInformation.OSDescription} ({RuntimeInformation.OSArchitecture}); " +
                           $"{RuntimeInformation.FrameworkDescription}; benchmark build: {Report.ServerBuild}; GC: {(GCSettings.IsServerGC ? "server" : "workstation")}");
        sb.AppendLine(Inv, $"- Load: at 1 connection a closed-loop `HttpMessageInvoker` client in the benchmark's own process (one request at a time, " +
                           $"raw per-request timings); at {options.Connections} connections {r.WrkVersion}, its own process, 2 threads, keep-alive. " +
                           $"Each measured run {options.LoadSeconds} s; {options.Rounds} round(s), every path measured once per round at each connection count, " +
                           $"paths interleaved; figures are medians over the rounds");
        sb.AppendLine(Inv, $"- Warm-up per path (not recorded): {options.GatewayWarmupSeconds} s at {options.Connections} connections, then " +
                           $"{Math.Max(1, options.GatewayWarmupSeconds / 4)} s at 1; run: {(options.Quick ? "--quick" : "full")}, {r.Duration.TotalSeconds:F0} s");
        sb.AppendLine(Inv, $"- ModelGate: `{r.ModelGateBinary}` (`modelgate serve`, SQLite on a fresh temp data directory, each configuration its own process)");
        if (activity is not null)
        {
            sb.AppendLine(Inv, $"- Machine activity: {activity}");
        }
        if (r.NotRun is not null)
        {
            sb.AppendLine();
            sb.AppendLine(Inv, $"**Not run:** {r.NotRun}");
            return sb.ToString();
        }

        var paths = r.Paths;
        var direct = paths.First(p => p.Key == "direct");
        var d1 = PathSummary.Of(direct.At(1));
        var dn = PathSummary.Of(direct.At(options.Connections));
        var yarpN = PathSummary.Of(paths.FirstOrDefault(p => p.Key == "yarp")?.At(options.Connections) ?? []);
        var portkeyN = PathSummary.Of(paths.FirstOrDefault(p => p.Key == "portkey")?.At(options.Connections) ?? []);

        sb.AppendLine();
        sb.AppendLine("## Paths");
        sb.AppendLine();
        sb.AppendLine("| Path | What runs |");
        sb.AppendLine("|---|---|");
        foreach (var p in paths)
        {
            sb.AppendLine(Inv, $"| {p.Label} | {(p.NotRun is null ? p.Detail : "**not run**: " + p.NotRun)} |");
        }

        sb.AppendLine();
        sb.AppendLine("## `POST /v1/chat/completions`, 1 connection");
        sb.AppendLine();
        sb.AppendLine("Latency: per request, `SendAsync` → last byte of the body read, µs, nearest-rank percentiles of the raw timings (the " +
                      "client's own HTTP stack is in every path's figure alike). *Added* = the path's figure minus the direct path's in the same " +
                      "run. CPU/req: CPU time of the path's process (the proxy; for direct, the upstream) per request.");
        sb.AppendLine();
        sb.AppendLine("| Path | p50 (µs) | p99 (µs) | added p50 (µs) | added p99 (µs) | req/s | errors | CPU/req (µs) | peak RSS (MB) |");
        sb.AppendLine("|---|--:|--:|--:|--:|--:|--:|--:|--:|");
        foreach (var p in paths.Where(p => p.Ran))
        {
            var s = PathSummary.Of(p.At(1));
            if (s is null || d1 is null)
            {
                continue;
            }
            var added = p.Key == "direct" ? ("—", "—") : (Us(s.P50Us - d1.P50Us), Us(s.P99Us - d1.P99Us));
            sb.AppendLine(Inv, $"| {p.Label} | {Us(s.P50Us)} | {Us(s.P99Us)} | {added.Item1} | {added.Item2} | {s.Rps:N0} | {s.Errors} | {Cpu(s.CpuUs)} | {Mb(p.PeakRssKiB)} |");
        }

        sb.AppendLine();
        sb.AppendLine(Inv, $"## `POST /v1/chat/completions`, {options.Connections} connections");
        sb.AppendLine();
        sb.AppendLine("Throughput is requests ÷ wrk's run time; the range is min–max over the rounds. Every process shares the same two cores " +
                      "with wrk and the upstream, so this is the throughput of the whole loopback set-up with that proxy in it. wrk's latency " +
                      "percentiles are corrected for coordinated omission (wrk's `stats_correct`), so its p99 reflects stalls more than a raw p99 would.");
        sb.AppendLine();
        sb.AppendLine("| Path | req/s | range | vs YARP | vs Portkey | p50 (ms) | p99 (ms) | errors | CPU/req (µs) |");
        sb.AppendLine("|---|--:|--:|--:|--:|--:|--:|--:|--:|");
        foreach (var p in paths.Where(p => p.Ran))
        {
            var s = PathSummary.Of(p.At(options.Connections));
            if (s is null)
            {
                continue;
            }
            var vsYarp = yarpN is null ? "—" : $"{s.Rps / yarpN.Rps * 100:F0} %";
            var vsPortkey = portkeyN is null ? "—" : $"{s.Rps / portkeyN.Rps:F1}×";
            sb.AppendLine(Inv, $"| {p.Label} | {s.Rps:N0} | {s.RpsMin:N0}–{s.RpsMax:N0} | {vsYarp} | {vsPortkey} | {Ms(s.P50Us / 1000)} | {Ms(s.P99Us / 1000)} | " +
                               $"{s.Errors} | {Cpu(s.CpuUs)} |");
        }

        var streamed = paths.Where(p => p.Ran && (p.Stream is not null || p.StreamNotRun is not null)).ToList();
        if (streamed.Count > 0)
        {
            var ds = direct.Stream;
            sb.AppendLine();
            sb.AppendLine("## Streaming: time to first byte");
            sb.AppendLine();
            sb.AppendLine(Inv, $"`stream: true`, one connection, {options.Streams} streams per path after {Math.Max(5, options.Streams / 10)} unrecorded; the upstream " +
                               $"sends {options.StreamTokens} content chunks {options.TokenDelayMs} ms apart (the first at once), then the usage chunk and `[DONE]`. " +
                               $"First byte: `SendAsync` (headers read mode) → first body byte read (`HttpClient`, `SocketsHttpHandler`, in the benchmark's " +
                               $"process). Last byte: → end of stream. *Reads/stream*: how many reads the body took; a proxy that passes chunks on as they come " +
                               $"gives about as many as the direct path, one that buffers gives ~1.");
            sb.AppendLine();
            sb.AppendLine("| Path | first byte p50 (ms) | first byte p99 (ms) | added p50 (ms) | last byte p50 (ms) | reads/stream | errors |");
            sb.AppendLine("|---|--:|--:|--:|--:|--:|--:|");
            foreach (var p in streamed)
            {
                if (p.Stream is not { } s)
                {
                    sb.AppendLine(Inv, $"| {p.Label} | **not run** | | | | | {p.StreamNotRun} |");
                    continue;
                }
                var added = p.Key == "direct" || ds is null ? "—" : Ms(s.FirstByte(50) - ds.FirstByte(50));
                sb.AppendLine(Inv, $"| {p.Label} | {Ms(s.FirstByte(50))} | {Ms(s.FirstByte(99))} | {added} | {Ms(s.LastByte(50))} | {s.MeanReadsPerStream:F1} | " +
                                   $"{s.Errors}{Detail(s.FirstError)} |");
            }
        }

        foreach (var full in paths.Where(p => p.Key is "full" or "replica" && p.Ran))
        {
            if (d1 is null)
            {
                break;
            }
            sb.AppendLine();
            sb.AppendLine(full.Key == "full"
                ? "## Targets (issue 3), ModelGate full path (all-in-one `serve`)"
                : "## Targets (issue 3), ModelGate full path on a gateway replica (`serve --role gateway`)");
            sb.AppendLine();
            sb.AppendLine("Reported, never enforced.");
            sb.AppendLine();
            sb.AppendLine("| Target | Measured | |");
            sb.AppendLine("|---|--:|---|");
            var f1 = PathSummary.Of(full.At(1))!;
            var fn = PathSummary.Of(full.At(options.Connections));
            Target(sb, "added latency at 1 connection, p50 ≤ 100 µs", $"{Us(f1.P50Us - d1.P50Us)} µs", f1.P50Us - d1.P50Us <= 100);
            Target(sb, "added latency at 1 connection, p99 ≤ 1 ms", $"{Us(f1.P99Us - d1.P99Us)} µs", f1.P99Us - d1.P99Us <= 1000);
            if (fn is not null)
            {
                if (yarpN is not null)
                {
                    Target(sb, $"throughput at {options.Connections} connections ≥ 70 % of YARP's", $"{fn.Rps / yarpN.Rps * 100:F0} % ({fn.Rps:N0} vs {yarpN.Rps:N0} req/s)",
                        fn.Rps >= 0.7 * yarpN.Rps);
                }
                else
                {
                    sb.AppendLine("| throughput ≥ 70 % of YARP's | YARP not run | not assessed |");
                }
                if (portkeyN is not null)
                {
                    Target(sb, $"throughput at {options.Connections} connections ≥ 10× Portkey's", $"{fn.Rps / portkeyN.Rps:F1}× ({fn.Rps:N0} vs {portkeyN.Rps:N0} req/s)",
                        fn.Rps >= 10 * portkeyN.Rps);
                }
                else
                {
                    sb.AppendLine("| throughput ≥ 10× Portkey's | Portkey not run | not assessed |");
                }
            }
            Target(sb, "peak RSS < 200 MB", $"{Mb(full.PeakRssKiB)} MB", full.PeakRssKiB is { } kib && kib * 1024 < 200_000_000);
            var errors = full.Runs.Sum(x => x.Wrk.Errors) + (full.Stream?.Errors ?? 0);
            var requests = full.Runs.Sum(x => x.Wrk.Requests) + (full.Stream?.Streams ?? 0);
            Target(sb, "no errors", $"{errors} in {requests:N0} measured requests", errors == 0);
        }

        if (r.Infer.Count > 0 || r.InferNotRun is not null)
        {
            sb.AppendLine();
            sb.AppendLine("## OIP v2 `infer`: ModelGate against ONNX Runtime in-process");
            sb.AppendLine();
            if (r.InferNotRun is not null)
            {
                sb.AppendLine(Inv, $"**Not run:** {r.InferNotRun}");
            }
            else
            {
                sb.AppendLine(Inv, $"One row (the first of `test.csv`, {r.Infer[0].InputCount} inputs, FP32 and BYTES) per request. Through ModelGate: " +
                                   $"`POST /v2/models/{{deployment}}/infer` with a data-plane key scoped to the deployments (high RPM/TPM limits), " +
                                   $"`Gateway:Monitoring=true`, one `onnx` deployment per model, measured as above ({options.InferRounds} round(s)); peak RSS of that " +
                                   $"process {Mb(r.InferRssKiB)} MB. In-process: `InferenceSession.Run` on `OrtValue` inputs made once, with the server's session " +
                                   $"options (`ORT_ENABLE_ALL`, 1 inter-op thread, intra-op threads left at ONNX Runtime's default), {options.OrtCalls:N0} timed " +
                                   $"calls after a tenth as many unrecorded; the same with `IntraOpNumThreads = 1`; and ModelGate's own `OnnxModel.Run` (the " +
                                   $"wrapper the server calls: tensors from arrays, outputs copied), the same way. *CPU/req* in-process: CPU time of the whole " +
                                   $"benchmark process per call over another {options.OrtCalls:N0} calls (ONNX Runtime's pool threads included).");
                sb.AppendLine();
                sb.AppendLine(Inv, $"| Model | Path | p50 (µs) | p99 (µs) | req/s at 1 | req/s at {options.Connections} | p99 at {options.Connections} (ms) | CPU/req (µs) | errors |");
                sb.AppendLine("|---|---|--:|--:|--:|--:|--:|--:|--:|");
                foreach (var p in r.Infer)
                {
                    var s1 = PathSummary.Of(p.Runs.Where(x => x.Connections == 1));
                    var sn = PathSummary.Of(p.Runs.Where(x => x.Connections == options.Connections));
                    if (s1 is not null && sn is not null)
                    {
                        sb.AppendLine(Inv, $"| {p.Model} | ModelGate `/v2/models/{p.Deployment}/infer` | {Us(s1.P50Us)} | {Us(s1.P99Us)} | {s1.Rps:N0} | {sn.Rps:N0} | " +
                                           $"{Ms(sn.P99Us / 1000)} | {Cpu(s1.CpuUs)} at 1, {Cpu(sn.CpuUs)} at {options.Connections} | {s1.Errors + sn.Errors} |");
                    }
                    var raw50 = Stats.Percentile(p.OrtRawUs, 50);
                    sb.AppendLine(Inv, $"| {p.Model} | `InferenceSession.Run`, in-process | {Us(raw50)} | {Us(Stats.Percentile(p.OrtRawUs, 99))} | " +
                                       $"{1e6 / Stats.Median(p.OrtRawUs):N0} | {p.OrtTwoThreadsPerSecond:N0} (2 threads) | — | {p.OrtRawCpuUs:F1} | — |");
                    sb.AppendLine(Inv, $"| {p.Model} | `InferenceSession.Run`, 1 intra-op thread | {Us(Stats.Percentile(p.OrtOneThreadUs, 50))} | " +
                                       $"{Us(Stats.Percentile(p.OrtOneThreadUs, 99))} | {1e6 / Stats.Median(p.OrtOneThreadUs):N0} | — | — | {p.OrtOneThreadCpuUs:F1} | — |");
                    sb.AppendLine(Inv, $"| {p.Model} | `OnnxModel.Run`, in-process | {Us(Stats.Percentile(p.OrtModelUs, 50))} | {Us(Stats.Percentile(p.OrtModelUs, 99))} | " +
                                       $"{1e6 / Stats.Median(p.OrtModelUs):N0} | — | — | — | — |");
                }
                sb.AppendLine();
                foreach (var p in r.Infer)
                {
                    var s1 = PathSummary.Of(p.Runs.Where(x => x.Connections == 1));
                    var sn = PathSummary.Of(p.Runs.Where(x => x.Connections == options.Connections));
                    var loadedCpu = Cpu(sn?.CpuUs);
                    if (s1 is not null)
                    {
                        sb.AppendLine(Inv, $"- {p.Model}: ModelGate adds {Us(s1.P50Us - Stats.Percentile(p.OrtRawUs, 50))} µs at p50 over `InferenceSession.Run` " +
                                           $"(HTTP over loopback, JSON in and out, key, routing, request log); server CPU {Cpu(s1.CpuUs)} µs per request at 1 connection, " +
                                           $"{loadedCpu} at {options.Connections}; the served probabilities equal ONNX Runtime's (max difference {p.MaxDifference:G2}).");
                    }
                }
            }
        }

        sb.AppendLine();
        sb.AppendLine("## Every run");
        sb.AppendLine();
        sb.AppendLine("| Round | Connections | Path | measured by | p50 (µs) | p90 (µs) | p99 (µs) | p99.9 (µs) | max (µs) | req/s | errors | CPU/req (µs) | other processes (cores) |");
        sb.AppendLine("|--:|--:|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
        foreach (var run in paths.SelectMany(p => p.Runs).Concat(r.Infer.SelectMany(p => p.Runs)).OrderBy(x => x.Round).ThenBy(x => x.Connections))
        {
            var w = run.Wrk;
            sb.AppendLine(Inv, $"| {run.Round} | {run.Connections} | {run.Path} | {w.Tool} | {Us(w.P50Us)} | {Us(w.P90Us)} | {Us(w.P99Us)} | {Us(w.P999Us)} | {Us(w.MaxUs)} | " +
                               $"{w.RequestsPerSecond:N0} | {(w.Errors == 0 ? "0" : w.ErrorDetail)} | {Cpu(run.ProxyCpuUs)} | {Cores(run.OtherCores)} |");
        }

        var notes = paths.SelectMany(p => p.Notes.Select(n => $"{p.Label}: {n}")).Concat(r.Notes).ToList();
        foreach (var p in paths.Where(p => p.Ran))
        {
            notes.Add($"{p.Label}: peak RSS (VmHWM) of {p.ProcessName} {Mb(p.PeakRssKiB)} MB");
        }
        var busiest = paths.SelectMany(p => p.Runs).Concat(r.Infer.SelectMany(p => p.Runs)).Where(x => x.OtherCores is not null).ToList();
        if (busiest.Count > 0)
        {
            notes.Add(string.Create(Inv, $"other processes kept {busiest.Average(x => x.OtherCores!.Value):F2} cores busy on average during the measured runs " +
                                         $"(at most {busiest.Max(x => x.OtherCores!.Value):F2}); figures from runs with more than ~0.2 deserve a second look"));
        }
        if (notes.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine("## Notes");
            sb.AppendLine();
            foreach (var n in notes)
            {
                sb.AppendLine(Inv, $"- {n}");
            }
        }
        return sb.ToString();
    }

    private static void Target(StringBuilder sb, string target, string measured, bool met) =>
        sb.AppendLine(Inv, $"| {target} | {measured} | {(met ? "met" : "**missed**")} |");

    private static string Us(double us) => us.ToString(Math.Abs(us) < 100 ? "0.0" : "N0", Inv);

    private static string Ms(double ms) => ms.ToString(Math.Abs(ms) < 10 ? "0.000" : Math.Abs(ms) < 100 ? "0.00" : "0.0", Inv);

    private static string Detail(string? error) => error is null ? "" : " (" + error + ")";

    private static string Cores(double? cores) => cores is { } c ? c.ToString("F2", Inv) : "—";

    private static string Cpu(double? us) => us is { } v ? v.ToString(v < 100 ? "0.0" : "N0", Inv) : "—";

    private static string Mb(long? kib) => kib is { } k ? (k * 1024 / 1e6).ToString("F0", Inv) : "—";
}
