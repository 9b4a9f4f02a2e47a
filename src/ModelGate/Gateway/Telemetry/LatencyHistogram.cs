namespace ModelGate.Gateway.Telemetry;

/// <summary>
/// The latency buckets every series shares: ten per decade (1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k) from 0.01 ms to
/// 100 s, so a percentile read from the counts is off by at most a third of its value and usually far less, and the
/// Prometheus buckets (1, 2.5, 5 × 10^k) are a subset of them.
/// </summary>
public static class LatencyHistogram
{
    private static readonly double[] Steps = [1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8];

    /// <summary>Upper bounds in milliseconds; one more bucket (the last count) holds everything above the last bound.</summary>
    public static readonly double[] UpperBoundsMs = BuildBounds();

    public static int BucketCount => UpperBoundsMs.Length + 1;

    /// <summary>The Prometheus subset of <see cref="UpperBoundsMs"/>, as indices.</summary>
    public static readonly int[] PrometheusBuckets = UpperBoundsMs
        .Select((b, i) => (b, i))
        .Where(x => IsOneTwoFive(x.b) && x.b >= 0.1)
        .Select(x => x.i)
        .ToArray();

    public static int BucketOf(double ms)
    {
        var index = Array.BinarySearch(UpperBoundsMs, ms);
        return index >= 0 ? index : ~index;
    }

    /// <summary>
    /// The <paramref name="quantile"/> of the latencies counted in <paramref name="counts"/>, interpolated linearly inside
    /// the bucket where it falls (as Prometheus' <c>histogram_quantile</c>); null when nothing was counted.
    /// </summary>
    public static double? Quantile(ReadOnlySpan<long> counts, double quantile)
    {
        long total = 0;
        foreach (var c in counts)
        {
            total += c;
        }
        if (total == 0)
        {
            return null;
        }
        var rank = quantile * total;
        long seen = 0;
        for (var i = 0; i < counts.Length; i++)
        {
            if (counts[i] == 0 || seen + counts[i] < rank)
            {
                seen += counts[i];
                continue;
            }
            var lower = i == 0 ? 0 : UpperBoundsMs[i - 1];
            if (i >= UpperBoundsMs.Length)
            {
                return lower; // above the last bound: the bound is the best that can be said
            }
            var upper = UpperBoundsMs[i];
            return lower + (upper - lower) * Math.Clamp((rank - seen) / counts[i], 0, 1);
        }
        return UpperBoundsMs[^1];
    }

    private static double[] BuildBounds()
    {
        var bounds = new List<double>();
        for (var exponent = -2; exponent <= 4; exponent++)
        {
            foreach (var step in Steps)
            {
                bounds.Add(Math.Round(step * Math.Pow(10, exponent), 6));
            }
        }
        bounds.Add(100_000);
        return [.. bounds];
    }

    private static bool IsOneTwoFive(double bound)
    {
        var mantissa = bound / Math.Pow(10, Math.Floor(Math.Log10(bound) + 1e-9));
        return Math.Abs(mantissa - 1) < 1e-9 || Math.Abs(mantissa - 2.5) < 1e-9 || Math.Abs(mantissa - 5) < 1e-9;
    }
}
