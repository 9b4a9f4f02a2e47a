using ModelGate.Evaluation.Metrics;

namespace ModelGate.Tests.Evaluation;

public sealed class BootstrapManyTests
{
    [Fact]
    public void ResampleSeed_IsSplitMix64_SoIntervalsSurviveARestart()
    {
        // SplitMix64 (Steele, Lea, Flood 2014) written out here independently; HashCode would differ per process.
        static int Reference(int seed, int r)
        {
            var x = unchecked(((ulong)(uint)seed << 32) + (uint)r + 0x9E3779B97F4A7C15UL);
            x = unchecked((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL);
            x = unchecked((x ^ (x >> 27)) * 0x94D049BB133111EBUL);
            return (int)((x ^ (x >> 31)) & 0x7FFFFFFF);
        }
        foreach (var (seed, r) in new[] { (42, 0), (42, 1), (0, 0), (-7, 999), (int.MaxValue, int.MaxValue) })
        {
            Assert.Equal(Reference(seed, r), Bootstrap.ResampleSeed(seed, r));
        }
        Assert.NotEqual(Bootstrap.ResampleSeed(42, 0), Bootstrap.ResampleSeed(42, 1));
    }

    [Fact]
    public void PercentileMany_IsDeterministic_AndAgreesWithTheNormalApproximation()
    {
        // 10,000 Bernoulli rows with p = 0.3 and their complement: the 95 % half-width of a proportion is 1.96·√(p(1−p)/n).
        const int n = 10_000;
        var random = new Random(11);
        var x = Enumerable.Range(0, n).Select(_ => random.NextDouble() < 0.3 ? 1.0 : 0.0).ToArray();
        double[] Stats(int[] idx) => [idx.Average(i => x[i]), idx.Average(i => 1 - x[i])];

        var first = Bootstrap.PercentileMany(n, 2, Stats, resamples: 400, seed: 5);
        var second = Bootstrap.PercentileMany(n, 2, Stats, resamples: 400, seed: 5);
        Assert.Equal(first, second);

        var p = x.Average();
        var expectedHalfWidth = 1.96 * Math.Sqrt(p * (1 - p) / n);
        foreach (var ci in first)
        {
            Assert.True(ci.Contains(ci.Estimate));
            Assert.InRange(ci.Width / 2, expectedHalfWidth * 0.85, expectedHalfWidth * 1.15);
        }
        // The two statistics come from the same resamples, so their intervals mirror each other exactly.
        Assert.Equal(1 - first[0].Upper, first[1].Lower, 12);
        Assert.Equal(1 - first[0].Lower, first[1].Upper, 12);
    }
}
