using System.Diagnostics;
using System.Globalization;

namespace ModelGate.Benchmarks;

/// <summary>One wrk run: closed loop, every connection sends its next request when the previous answer is complete.</summary>
internal sealed record WrkResult(
    long Requests,
    double Seconds,
    long ConnectErrors,
    long ReadErrors,
    long WriteErrors,
    long StatusErrors,
    long Timeouts,
    double P50Us,
    double P90Us,
    double P99Us,
    double P999Us,
    double MaxUs,
    double MeanUs)
{
    /// <summary>Who measured: wrk (latency percentiles corrected for coordinated omission) or the closed-loop client (raw).</summary>
    public string Tool { get; init; } = "wrk";

    public double RequestsPerSecond => Seconds > 0 ? Requests / Seconds : 0;

    /// <summary>Answers with status ≥ 400 and socket errors (connect, read, write, timeout).</summary>
    public long Errors => ConnectErrors + ReadErrors + WriteErrors + StatusErrors + Timeouts;

    public string ErrorDetail => Errors == 0
        ? "none"
        : string.Join(", ", new[] { ("status ≥ 400", StatusErrors), ("connect", ConnectErrors), ("read", ReadErrors), ("write", WriteErrors), ("timeout", Timeouts) }
            .Where(e => e.Item2 > 0).Select(e => $"{e.Item2} {e.Item1}"));
}

/// <summary>
/// Runs wrk (Debian's wrk 4.1) as its own process with a Lua script that POSTs a fixed body with fixed headers and prints
/// the summary and the latency percentiles (wrk records them in microseconds) as one line.
/// </summary>
internal sealed class Wrk
{
    private const string Script = """
        -- ModelGate gateway benchmark: POST a fixed body with fixed headers; print one machine-readable summary line.
        local function slurp(path)
          local f = assert(io.open(path, "rb"))
          local s = f:read("*a")
          f:close()
          return s
        end
        wrk.method = "POST"
        wrk.body = slurp(os.getenv("WRK_BODY_FILE"))
        wrk.headers["Content-Type"] = "application/json"
        local headers = os.getenv("WRK_HEADERS_FILE")
        if headers and headers ~= "" then
          for line in io.lines(headers) do
            local name, value = line:match("^([^:]+):%s*(.-)%s*$")
            if name then wrk.headers[name] = value end
          end
        end
        function done(summary, latency, requests)
          local e = summary.errors
          io.write(string.format("WRK_RESULT %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.3f\n",
            summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
            latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
            latency.max, latency.mean))
        end
        """;

    private readonly string _scriptPath;

    private Wrk(string path, string version, string scriptPath)
    {
        Path = path;
        Version = version;
        _scriptPath = scriptPath;
    }

    public string Path { get; }
    public string Version { get; }

    /// <summary>wrk from PATH, its Lua script written to <paramref name="workDirectory"/>; null (with the reason) when there is no wrk.</summary>
    public static async Task<(Wrk? Wrk, string? Problem)> FindAsync(string workDirectory)
    {
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin").Split(':')
            .Select(d => System.IO.Path.Combine(d, "wrk")).FirstOrDefault(File.Exists);
        if (path is null)
        {
            return (null, "wrk is not installed (Debian: apt-get install -y wrk)");
        }
        var version = "wrk";
        try
        {
            using var p = Process.Start(new ProcessStartInfo(path, "--version") { RedirectStandardOutput = true, RedirectStandardError = true })!;
            var text = await p.StandardOutput.ReadToEndAsync() + await p.StandardError.ReadToEndAsync();
            await p.WaitForExitAsync();
            version = text.Split('\n')[0].Split(" Copyright")[0].Trim();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (null, $"wrk at {path} does not run: {e.Message}");
        }
        var script = System.IO.Path.Combine(workDirectory, "post.lua");
        await File.WriteAllTextAsync(script, Script);
        return (new Wrk(path, version, script), null);
    }

    public async Task<WrkResult> RunAsync(Uri url, int connections, int seconds, string bodyFile, string? headersFile)
    {
        var threads = Math.Min(connections, 2);
        var start = new ProcessStartInfo(Path)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { $"-t{threads}", $"-c{connections}", $"-d{seconds}s", "--timeout", "10s", "-s", _scriptPath, url.ToString() })
        {
            start.ArgumentList.Add(a);
        }
        start.Environment["WRK_BODY_FILE"] = bodyFile;
        start.Environment["WRK_HEADERS_FILE"] = headersFile ?? "";
        using var process = Process.Start(start) ?? throw new InvalidOperationException("wrk did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        var output = await stdout;
        var line = output.Split('\n').FirstOrDefault(l => l.StartsWith("WRK_RESULT ", StringComparison.Ordinal))
                   ?? throw new InvalidOperationException($"wrk printed no result (exit {process.ExitCode}):\n{output}\n{await stderr}");
        var v = line["WRK_RESULT ".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(x => double.Parse(x, CultureInfo.InvariantCulture)).ToArray();
        return new WrkResult((long)v[0], v[1] / 1e6, (long)v[2], (long)v[3], (long)v[4], (long)v[5], (long)v[6], v[7], v[8], v[9], v[10], v[11], v[12]);
    }
}
