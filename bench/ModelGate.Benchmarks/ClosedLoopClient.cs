using System.Diagnostics;
using System.Net.Http.Headers;
using System.Runtime;

namespace ModelGate.Benchmarks;

/// <summary>
/// The one-connection latency measurement: one request at a time on one kept-alive connection, each timed with a
/// <see cref="Stopwatch"/> from <c>SendAsync</c> to the last byte of the body read, percentiles by nearest rank over the
/// raw timings. wrk is not used for this: it "corrects" its percentiles for coordinated omission (wrk.c calls
/// <c>stats_correct</c> before printing and before the Lua <c>done</c> hook), so one 80 ms stall at one connection adds
/// hundreds of synthetic samples and moves p99 to ~80 ms; a closed-loop client's p99 is what the requests really took.
/// </summary>
internal static class ClosedLoopClient
{
    public static async Task<WrkResult> RunAsync(Uri url, byte[] body, IReadOnlyList<(string Name, string Value)> headers, double seconds)
    {
        using var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = 1,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            UseProxy = false,
            UseCookies = false,
            AllowAutoRedirect = false,
            ActivityHeadersPropagator = null,
        };
        using var invoker = new HttpMessageInvoker(handler);
        var buffer = new byte[64 * 1024];
        var contentType = new MediaTypeHeaderValue("application/json");

        async Task<(bool Ok, string? Error)> OnceAsync()
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = contentType;
            foreach (var (name, value) in headers)
            {
                request.Headers.TryAddWithoutValidation(name, value);
            }
            try
            {
                using var response = await invoker.SendAsync(request, CancellationToken.None);
                await using var stream = await response.Content.ReadAsStreamAsync();
                while (await stream.ReadAsync(buffer) > 0)
                {
                }
                return ((int)response.StatusCode < 400, (int)response.StatusCode < 400 ? null : $"HTTP {(int)response.StatusCode}");
            }
            catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
            {
                return (false, e.Message);
            }
        }

        // Connection set-up and the first request are not measured.
        await OnceAsync();
        var timings = new List<double>(1 << 16);
        long statusErrors = 0, otherErrors = 0;
        // The client's own garbage collections are kept out of the timings where the runtime allows it.
        var noGc = false;
        try
        {
            noGc = GC.TryStartNoGCRegion(200L * 1024 * 1024);
        }
        catch (ArgumentOutOfRangeException)
        {
        }
        catch (InvalidOperationException)
        {
        }
        var start = Stopwatch.GetTimestamp();
        var end = start + (long)(seconds * Stopwatch.Frequency);
        long now;
        do
        {
            var t0 = Stopwatch.GetTimestamp();
            var (ok, error) = await OnceAsync();
            now = Stopwatch.GetTimestamp();
            timings.Add((now - t0) * 1e6 / Stopwatch.Frequency);
            if (!ok)
            {
                if (error?.StartsWith("HTTP", StringComparison.Ordinal) == true)
                {
                    statusErrors++;
                }
                else
                {
                    otherErrors++;
                }
            }
        }
        while (now < end);
        var elapsed = (now - start) / (double)Stopwatch.Frequency;
        if (noGc && GCSettings.LatencyMode == GCLatencyMode.NoGCRegion)
        {
            try
            {
                GC.EndNoGCRegion();
            }
            catch (InvalidOperationException)
            {
            }
        }
        var sorted = timings.ToArray();
        Array.Sort(sorted);
        double P(double p) => sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Length), 1, sorted.Length) - 1];
        return new WrkResult(sorted.Length, elapsed, 0, otherErrors, 0, statusErrors, 0, P(50), P(90), P(99), P(99.9), sorted[^1], sorted.Average())
        {
            Tool = "client",
        };
    }
}
