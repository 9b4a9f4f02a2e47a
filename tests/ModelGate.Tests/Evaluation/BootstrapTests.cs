using ModelGate.Evaluation.Metrics;

namespace ModelGate.Tests.Evaluation;

public sealed class BootstrapTests
{
    private static double[] Bernoulli(int n, double p, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => random.NextDouble() < p ? 1.0 : 0.0).ToArray();
    }

    private static Func<int[], double> MeanOf(double[] values) => indices =>
    {
        var sum = 0.0;
        foreach (var i in indices) sum += values[i];
        return sum / indices.Length;
    };

    [Fact]
    public void Percentile_SameSeed_GivesSameInterval()
    {
        var values = Bernoulli(500, 0.3, 1);
        var first = Bootstrap.Percentile(values.Length, MeanOf(values), seed: 42);
        var second = Bootstrap.Percentile(values.Length, MeanOf(values), seed: 42);
        Assert.Equal(first, second);
        Assert.NotEqual(first, Bootstrap.Percentile(values.Length, MeanOf(values), seed: 43));
    }

    [Fact]
    public void Percentile_MeanOfBernoulli_ContainsPointEstimate()
    {
        var values = Bernoulli(1000, 0.3, 2);
        var interval = Bootstrap.Percentile(values.Length, MeanOf(values));
        Assert.Equal(values.Average(), interval.Estimate, 1e-15);
        Assert.True(interval.Contains(interval.Estimate), $"{interval} should contain its estimate");
        Assert.Equal(1000, interval.Resamples);
        Assert.Equal(0.95, interval.Confidence);
    }

    [Fact]
    public void Percentile_MoreRows_GivesNarrowerInterval()
    {
        var small = Bernoulli(200, 0.3, 3);
        var large = Bernoulli(20_000, 0.3, 4);
        var narrowFromLarge = Bootstrap.Percentile(large.Length, MeanOf(large), resamples: 500).Width;
        var wideFromSmall = Bootstrap.Percentile(small.Length, MeanOf(small), resamples: 500).Width;
        // Width scales as 1/sqrt(n): 100x the rows should give about a tenth of the width.
        Assert.InRange(narrowFromLarge / wideFromSmall, 0.05, 0.2);
    }

    [Fact]
    public void Percentile_MeanOfLargeSample_AgreesWithNormalApproximation()
    {
        // Independent reference: for a proportion p over n rows the 95% interval half-width is about
        // 1.96 * sqrt(p (1 - p) / n) (central limit theorem).
        var values = Bernoulli(10_000, 0.3, 5);
        var p = values.Average();
        var interval = Bootstrap.Percentile(values.Length, MeanOf(values), resamples: 2000, seed: 9);
        var expectedHalfWidth = 1.96 * Math.Sqrt(p * (1 - p) / values.Length);
        Assert.Equal(expectedHalfWidth, interval.Width / 2, expectedHalfWidth * 0.1);
        Assert.Equal(p, (interval.Lower + interval.Upper) / 2, expectedHalfWidth * 0.1);
    }

    [Fact]
    public void Percentile_NinetyPercentConfidence_IsNarrowerThanNinetyNine()
    {
        var values = Bernoulli(1000, 0.5, 6);
        var ninety = Bootstrap.Percentile(values.Length, MeanOf(values), confidence: 0.90, seed: 1);
        var ninetyNine = Bootstrap.Percentile(values.Length, MeanOf(values), confidence: 0.99, seed: 1);
        Assert.True(ninety.Width < ninetyNine.Width);
        // Normal ratio of widths: 1.645 / 2.576 ~ 0.64.
        Assert.InRange(ninety.Width / ninetyNine.Width, 0.5, 0.8);
    }

    [Fact]
    public void Percentile_UndefinedResamples_AreLeftOut()
    {
        // ROC AUC of 10 rows with a single positive: resamples that miss that row have one class and give NaN.
        int[] truth = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        double[] scores = [0.9, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.05];
        var t = new int[truth.Length];
        var s = new double[scores.Length];
        var interval = Bootstrap.Percentile(truth.Length, indices =>
        {
            Bootstrap.Gather<int>(truth, indices, t);
            Bootstrap.Gather<double>(scores, indices, s);
            return RankingMetrics.RocAuc(t, s);
        }, resamples: 200);
        Assert.Equal(1.0, interval.Estimate);
        Assert.InRange(interval.Resamples, 1, 199); // P(miss the positive) = 0.9^10 ~ 35%
        Assert.Equal((1.0, 1.0), (interval.Lower, interval.Upper));
    }

    [Fact]
    public void Percentile_ConfidenceOutsideZeroOne_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Bootstrap.Percentile(10, _ => 0, confidence: 1.0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Bootstrap.Percentile(0, _ => 0));
    }
}
