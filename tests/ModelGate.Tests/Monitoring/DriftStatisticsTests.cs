using ModelGate.Monitoring.Drift;

namespace ModelGate.Tests.Monitoring;

/// <summary>
/// The building blocks of the drift tests against the examples printed in the scipy and numpy documentation, the
/// expectations of Evidently's own test suite (tests/stattests/test_stattests.py) and hand computations.
/// </summary>
public sealed class DriftStatisticsTests
{
    [Fact]
    public void Wasserstein_ScipyDocumentationExamples()
    {
        // scipy.stats.wasserstein_distance docs: ([0, 1, 3], [5, 6, 8]) → 5.0;
        // ([0, 1], [0, 1], u_weights [3, 1], v_weights [2, 2]) → 0.25 (the second sample expanded by its integer weights).
        Assert.Equal(5.0, DriftStatistics.Wasserstein([0, 1, 3], [], [5, 6, 8]), 1e-15);
        Assert.Equal(0.25, DriftStatistics.Wasserstein([0, 1], [3, 1], [0, 0, 1, 1]), 1e-15);
    }

    [Fact]
    public void JensenShannon_ScipyDocumentationExamples()
    {
        // scipy.spatial.distance.jensenshannon docs: ([1, 0, 0], [0, 1, 0], base 2) → 1.0, i.e. √ln 2 in natural units;
        // ([1, 0], [0.5, 0.5]) → 0.46450140402245893; identical → 0.
        Assert.Equal(Math.Sqrt(Math.Log(2)), DriftStatistics.JensenShannonDistance([1, 0, 0], [0, 1, 0]), 1e-15);
        Assert.Equal(0.46450140402245893, DriftStatistics.JensenShannonDistance([1, 0], [0.5, 0.5]), 1e-15);
        Assert.Equal(0, DriftStatistics.JensenShannonDistance([1, 0, 0], [1, 0, 0]));
        // Unnormalized counts are normalized first.
        Assert.Equal(0.46450140402245893, DriftStatistics.JensenShannonDistance([10, 0], [3, 3]), 1e-15);
    }

    [Fact]
    public void ChiSquare_ScipyDocumentationExamples()
    {
        // scipy.stats.chisquare docs: [16, 18, 16, 14, 12, 12] against uniform → (2.0, 0.84914503608460956);
        // against f_exp [16, 16, 16, 16, 16, 8] → (3.5, 0.62338762774958223).
        double[] observed = [16, 18, 16, 14, 12, 12];
        var uniform = DriftStatistics.ChiSquare(observed, [14.666666666666666, 14.666666666666666, 14.666666666666666, 14.666666666666666, 14.666666666666666, 14.666666666666666]);
        Assert.Equal(2.0, uniform.Statistic, 1e-12);
        Assert.Equal(0.84914503608460956, uniform.PValue, 1e-12);
        var given = DriftStatistics.ChiSquare(observed, [16, 16, 16, 16, 16, 8]);
        Assert.Equal(3.5, given.Statistic, 1e-12);
        Assert.Equal(0.62338762774958223, given.PValue, 1e-12);
    }

    [Fact]
    public void ChiSquare_ValueWithoutExpectation_IsInfiniteWithZeroPValue()
    {
        var result = DriftStatistics.ChiSquare([5, 5, 1], [5.5, 5.5, 0]);
        Assert.Equal(double.PositiveInfinity, result.Statistic);
        Assert.Equal(0, result.PValue);
    }

    [Fact]
    public void PopulationStabilityIndex_ByHand()
    {
        // (0.25 − 0.5) ln(0.25/0.5) + 0 + (0.5 − 0.25) ln(0.5/0.25) = 0.5 ln 2.
        Assert.Equal(0.5 * Math.Log(2), DriftStatistics.PopulationStabilityIndex([0.25, 0.25, 0.5], [0.5, 0.25, 0.25]), 1e-15);
    }

    [Fact]
    public void FillZeroShares_FollowsEvidentlyFeelZeroes()
    {
        // Smallest non-zero share above 0.0001: zeros become 0.0001; at or below: that share / 10⁶.
        double[] coarse = [0.5, 0, 0.5];
        DriftStatistics.FillZeroShares(coarse);
        Assert.Equal([0.5, 0.0001, 0.5], coarse);
        double[] fine = [0.99995, 0.00005, 0];
        DriftStatistics.FillZeroShares(fine);
        Assert.Equal(0.00005 / 1e6, fine[2], 1e-25);
    }

    [Fact]
    public void ProportionsZTest_ByHand()
    {
        // p1 = 0.5, p2 = 0.6 of 100 each: pooled 0.55, z = −0.1 / √(0.55·0.45·0.02) = −1.4213381090374029, p = 2Φ(−|z|),
        // the same as Pearson's chi-square on the 2×2 table (X² = z² = 2.0202, p-value = 0.1552 in R's
        // prop.test(c(50, 60), c(100, 100), correct = FALSE)).
        var (z, p) = DriftStatistics.ProportionsZTest(50, 100, 60, 100);
        Assert.Equal(-0.1 / Math.Sqrt(0.55 * 0.45 * 0.02), z, 1e-14);
        Assert.Equal(2.0202, z * z, 1e-4);
        Assert.Equal(0.1552, p, 5e-5);
    }

    [Fact]
    public void SturgesEdges_MatchNumpyRule()
    {
        // 9 values from 0 to 5: ⌈log₂ 9 + 1⌉ = 5 bins of width 1.
        Assert.Equal([0.0, 1, 2, 3, 4, 5], DriftStatistics.SturgesEdges(0, 5, 9));
        // 34,561 values: ⌈log₂ 34561 + 1⌉ = 17 bins, the last edge exactly the maximum.
        var edges = DriftStatistics.SturgesEdges(17, 90, 34_561);
        Assert.Equal(18, edges.Length);
        Assert.Equal(17, edges[0]);
        Assert.Equal(90, edges[^1]);
    }

    [Fact]
    public void Histogram_NumpyDocumentationExample()
    {
        // numpy.histogram docs: np.histogram([1, 2, 1], bins=[0, 1, 2, 3]) → [0, 2, 1]; the last bin holds its right edge.
        var counts = new long[3];
        DriftStatistics.Histogram([1, 1, 2], [], [0, 1, 2, 3], counts);
        Assert.Equal([0L, 2, 1], counts);
        DriftStatistics.Histogram([1, 2, 3], [4, 1, 2], [0, 1, 2, 3], counts);
        Assert.Equal([0L, 4, 3], counts);
    }
}
