using ModelGate.Gateway.Telemetry;

namespace ModelGate.Tests.Gateway;

public sealed class LatencyHistogramTests
{
    [Fact]
    public void Buckets_AreTenPerDecade_AndIncludeThePrometheusOneTwoFiveBounds()
    {
        var bounds = LatencyHistogram.UpperBoundsMs;
        Assert.Equal(0.01, bounds[0]);
        Assert.Equal(100_000, bounds[^1]);
        Assert.True(bounds.Zip(bounds.Skip(1)).All(p => p.Second > p.First && p.Second / p.First <= 4.0 / 3 + 1e-9));
        var prometheus = LatencyHistogram.PrometheusBuckets.Select(i => bounds[i]).ToArray();
        Assert.Equal([0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000], prometheus);
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.95)]
    [InlineData(0.99)]
    public void Quantile_IsWithinItsBucketOfTheExactSampleQuantile(double q)
    {
        // A skewed latency distribution (log-normal around 2 ms), 20,000 draws from a fixed seed.
        var random = new Random(7);
        var values = Enumerable.Range(0, 20_000).Select(_ => Math.Exp(Math.Log(2) + 0.6 * Normal(random))).ToArray();
        var counts = new long[LatencyHistogram.BucketCount];
        foreach (var v in values)
        {
            counts[LatencyHistogram.BucketOf(v)]++;
        }
        Array.Sort(values);
        var exact = values[(int)Math.Ceiling(q * values.Length) - 1];
        var estimate = LatencyHistogram.Quantile(counts, q)!.Value;
        var bucket = LatencyHistogram.BucketOf(exact);
        var lower = bucket == 0 ? 0 : LatencyHistogram.UpperBoundsMs[bucket - 1];
        Assert.InRange(estimate, lower, LatencyHistogram.UpperBoundsMs[bucket]);
        Assert.InRange(estimate / exact, 0.9, 1.1);
    }

    [Fact]
    public void Quantile_OfNothing_IsNull_AndOfOneValue_IsInItsBucket()
    {
        var counts = new long[LatencyHistogram.BucketCount];
        Assert.Null(LatencyHistogram.Quantile(counts, 0.99));
        counts[LatencyHistogram.BucketOf(3.3)]++;
        Assert.InRange(LatencyHistogram.Quantile(counts, 0.5)!.Value, 3, 4);
        Assert.Equal(LatencyHistogram.BucketOf(3.0), LatencyHistogram.BucketOf(2.5001));
        Assert.Equal(LatencyHistogram.UpperBoundsMs.Length, LatencyHistogram.BucketOf(1e9));
    }

    private static double Normal(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
