using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;

namespace ModelGate.Benchmarks;

/// <summary>Streamed chat completions through one path, one after another on one connection.</summary>
internal sealed record StreamResult(int Streams, int Errors, string? FirstError, double[] FirstByteMs, double[] LastByteMs, double MeanReadsPerStream)
{
    public double FirstByte(double p) => Stats.Percentile(FirstByteMs, p);
    public double LastByte(double p) => Stats.Percentile(LastByteMs, p);
}

/// <summary>
/// Time to first byte of <c>stream: true</c> chat completions: the clock starts before <c>SendAsync</c> (headers read
/// mode) and stops when the first byte of the body (the first server-sent event) has been read; the rest of the stream
/// is read to its end, which must carry the usage chunk and <c>data: [DONE]</c>.
/// </summary>
internal static class StreamingProbe
{
    public static async Task<StreamResult> RunAsync(Uri url, byte[] body, IReadOnlyList<(string Name, string Value)> headers, int warmup, int count)
    {
        using var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = 1,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            UseProxy = false,
            UseCookies = false,
            AllowAutoRedirect = false,
        };
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
        var buffer = new byte[64 * 1024];
        var firstByte = new List<double>(count);
        var lastByte = new List<double>(count);
        var errors = 0;
        var reads = 0L;
        string? firstError = null;
        for (var i = 0; i < warmup + count; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            foreach (var (name, value) in headers)
            {
                request.Headers.TryAddWithoutValidation(name, value);
            }
            string? error = null;
            double first = 0, last = 0;
            var readsThis = 0;
            var start = Stopwatch.GetTimestamp();
            try
            {
                using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
                await using var stream = await response.Content.ReadAsStreamAsync();
                var text = new StringBuilder();
                int read;
                while ((read = await stream.ReadAsync(buffer)) > 0)
                {
                    if (readsThis++ == 0)
                    {
                        first = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                    }
                    text.Append(Encoding.UTF8.GetString(buffer, 0, read));
                }
                last = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                var all = text.ToString();
                if (!response.IsSuccessStatusCode)
                {
                    error = $"HTTP {(int)response.StatusCode}: {Clip(all)}";
                }
                else if (!all.Contains("data: [DONE]", StringComparison.Ordinal) || !all.Contains("\"usage\"", StringComparison.Ordinal))
                {
                    error = $"the stream lacks the usage chunk or [DONE]: {Clip(all)}";
                }
            }
            catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
            {
                error = e.Message;
            }
            if (i < warmup)
            {
                continue;
            }
            if (error is not null)
            {
                errors++;
                firstError ??= error;
                continue;
            }
            firstByte.Add(first);
            lastByte.Add(last);
            reads += readsThis;
        }
        return new StreamResult(count, errors, firstError, [.. firstByte], [.. lastByte], firstByte.Count == 0 ? 0 : (double)reads / firstByte.Count);
    }

    private static string Clip(string text) => text.Length <= 300 ? text : text[..300] + "…";
}
