using ModelGate.Monitoring.Statistics;

namespace ModelGate.Tests.Monitoring;

/// <summary>
/// The Mann-Whitney / Hodges-Lehmann implementation against published values: the issue's and Kayenta's example,
/// the R tie-outs recorded in Kayenta's MannWhitneySuite.scala, SAS's output for the Hollander and Wolfe example of R's
/// own help page, R outputs published on endmemo.com, the published table of Mann-Whitney critical values, and
/// definitions applied by hand (brute-force enumeration, sorted differences).
/// </summary>
public sealed class MannWhitneyTests
{
    // Hollander & Wolfe (1973), p. 69: permeability constants at term (x) and at 12-26 weeks (y) — the example of R's ?wilcox.test.
    private static readonly double[] TermPermeability = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46];
    private static readonly double[] EarlyPermeability = [1.15, 0.88, 0.90, 0.74, 1.21];

    [Fact]
    public void Test_IssueExample_ReproducesRExactInterval()
    {
        // Issue 6 and Kayenta's MannWhitneySuite "returns expected values": R wilcox.test(x, y, conf.int = TRUE)
        // gives [6, 39] and 22.5. The p-value is 2/70 by hand: U = 16 is the single most extreme of C(8,4) = 70 arrangements.
        var result = MannWhitney.Test([10, 20, 30, 40], [1, 2, 3, 4]);

        Assert.True(result.Exact);
        Assert.Equal(16, result.W);
        Assert.Equal(6, result.Lower, 12);
        Assert.Equal(39, result.Upper, 12);
        Assert.Equal(22.5, result.Estimate, 12);
        Assert.Equal(2.0 / 70, result.PValue, 15);
        Assert.Equal(0.95, result.ConfidenceLevel);
    }

    [Fact]
    public void Test_IssueExampleKayentaOptions_ReproducesKayentaAsymptoticInterval()
    {
        // Kayenta computes only the asymptotic interval; its test asserts the same [6, 39] and 22.5 to 1e-6.
        var result = MannWhitney.Test([10, 20, 30, 40], [1, 2, 3, 4], MannWhitneyOptions.Kayenta(0.95));

        Assert.False(result.Exact);
        Assert.Equal(6, result.Lower, 6);
        Assert.Equal(39, result.Upper, 6);
        Assert.Equal(22.5, result.Estimate, 6);
    }

    [Fact]
    public void Test_KayentaRTieOut_MatchesRecordedRInterval()
    {
        // MannWhitneySuite "Tie out with R Version": R's values, asserted there to 1e-6 (estimate 1e-4).
        foreach (var options in new[] { MannWhitneyOptions.R, MannWhitneyOptions.Kayenta(0.95) })
        {
            var result = MannWhitney.Test(KayentaTestData.TieOutExperiment, KayentaTestData.TieOutControl, options);
            Assert.False(result.Exact);
            Assert.Equal(-0.500002521696696, result.Lower, 1e-6);
            Assert.Equal(-3.486287505871302E-5, result.Upper, 1e-6);
            Assert.Equal(-0.4999393907180323, result.Estimate, 1e-4);
        }
    }

    [Fact]
    public void Test_KayentaLargeRTieOut_MatchesRecordedRInterval()
    {
        // MannWhitneySuite "Tie out with R Version (Large)", 98 %.
        var result = MannWhitney.Test(KayentaTestData.LargeTieOutExperiment, KayentaTestData.LargeTieOutControl, MannWhitneyOptions.Kayenta(0.98));
        Assert.Equal(-0.4999173250549087, result.Lower, 1e-6);
        Assert.Equal(-6.912685789769486E-6, result.Upper, 1e-6);
        Assert.Equal(-3.45044082729315E-5, result.Estimate, 1e-4);
    }

    [Fact]
    public void StandardizedRankSum_KayentaIntermediateValues_MatchR()
    {
        // MannWhitneySuite "Mann-Whitney Intermediate Values / Variables": R's mumin, mumax and W(d) − zq at both ends.
        var x = KayentaTestData.ZeroInflatedExperiment.Order().ToArray();
        var y = KayentaTestData.ZeroInflatedControl.Order().ToArray();
        var muMin = x[0] - y[^1];
        var muMax = x[^1] - y[0];
        Assert.Equal(-3.124999999999986, muMin, 1e-12);
        Assert.Equal(5.555555555555557, muMax, 1e-12);

        // R's qnorm(0.025) is −1.9599639845400536; the exact value is −1.95996398454005423552…; both are a few ulps off.
        var zq = SpecialFunctions.NormalQuantile(0.025);
        Assert.Equal(-1.9599639845400536, zq, 2e-15);
        Assert.Equal(17.090968923762254, MannWhitney.StandardizedRankSum(x, y, muMin, correct: true) + zq, 1e-9);
        Assert.Equal(-20.997687930433106, MannWhitney.StandardizedRankSum(x, y, muMax, correct: true) + zq, 1e-9);
        Assert.Equal(21.01089689284236, MannWhitney.StandardizedRankSum(x, y, muMin, correct: true) - zq, 1e-9);
        Assert.Equal(-17.077759961353, MannWhitney.StandardizedRankSum(x, y, muMax, correct: true) - zq, 1e-9);
    }

    [Fact]
    public void Test_KayentaIntermediateValues_RootsLandWhereRsDo()
    {
        // Same test: the roots of this zero-inflated step function (both at the jump at 0) as R's uniroot leaves them,
        // and Kayenta's estimate, which keeps the continuity correction.
        var result = MannWhitney.Test(KayentaTestData.ZeroInflatedExperiment, KayentaTestData.ZeroInflatedControl, MannWhitneyOptions.Kayenta(0.95));
        Assert.Equal(3.521755377702165E-5, result.Lower, 1e-6);
        Assert.Equal(2.02456461662334E-5, result.Upper, 1e-6);
        Assert.Equal(2.6279243045155653E-5, result.Estimate, 1e-6);
    }

    [Fact]
    public void Test_HollanderWolfe_MatchesSasExactAndNormalPValues()
    {
        // SAS PROC NPAR1WAY on these data (output in the DescrTab2 package sources, CRAN): Trt rank sum 90, so
        // W = 90 − 55 = 35; exact two-sided Pr >= |S − Mean| = 0.2544; normal with continuity correction Pr > |Z| = 0.2446;
        // Hodges-Lehmann shift (Ctrl − Trt) = −0.3050.
        var exact = MannWhitney.Test(TermPermeability, EarlyPermeability);
        Assert.True(exact.Exact);
        Assert.Equal(35, exact.W);
        Assert.Equal(0.2544, exact.PValue, 4e-5);
        Assert.Equal(0.305, exact.Estimate, 1e-12);

        var normal = MannWhitney.Test(TermPermeability, EarlyPermeability, new MannWhitneyOptions { Method = MannWhitneyMethod.Asymptotic });
        Assert.False(normal.Exact);
        Assert.Equal(0.2446, normal.PValue, 4e-5);
    }

    [Fact]
    public void Test_HollanderWolfe_IntervalIsOrderStatisticsAtTabulatedCriticalValue()
    {
        // Published two-tailed 0.05 critical value of U for sample sizes 5 and 10 is 8, so the exact 95 % interval runs
        // from the 9th to the 42nd (= 50 − 9 + 1) smallest of the 50 differences (Bauer 1972; R prints [-0.15, 0.76]).
        var differences = TermPermeability.SelectMany(a => EarlyPermeability.Select(b => a - b)).Order().ToArray();
        var result = MannWhitney.Test(TermPermeability, EarlyPermeability);

        Assert.Equal(differences[8], result.Lower);
        Assert.Equal(differences[41], result.Upper);
        Assert.Equal(-0.15, result.Lower, 1e-12);
        Assert.Equal(0.76, result.Upper, 1e-12);
        Assert.Equal(0.95, result.ConfidenceLevel);
    }

    [Theory]
    // endmemo.com/r/wilcoxon.php, R output: "W = 51.5, p-value = 0.5966" and "W = 0, p-value = 0.001364"
    // (Wilcoxon rank sum test with continuity correction; ties, so R uses the normal approximation).
    [InlineData(new double[] { 12, 15, 5, 9, 9, 14, 56, 22, 3, 7, 32, 5 }, 51.5, 0.5966)]
    [InlineData(new double[] { 1233, 4356, 987, 39999, 1111, 200000 }, 0, 0.001364)]
    public void Test_TiedSamples_MatchPublishedRNormalApproximation(double[] y, double w, double p)
    {
        double[] x = [1, 5, 9, 24, 56, 21, 3, 7, 21, 4];
        var result = MannWhitney.Test(x, y);

        Assert.False(result.Exact);
        Assert.Equal(w, result.W);
        Assert.Equal(p, result.PValue, p * 1e-3);
    }

    [Fact]
    public void Test_ExactPValue_EqualsBruteForceEnumeration()
    {
        // Definition: the two-sided exact p-value is twice the share of all C(m+n, m) label assignments whose U is at
        // least as extreme, enumerated here directly.
        double[] x = [1.1, 2.7, 3.4, 8.8, 9.0, 12.5];
        double[] y = [0.3, 2.2, 4.1, 5.6, 6.6];
        var pooled = x.Concat(y).ToArray();
        var uObserved = x.Sum(a => y.Count(b => a > b));
        int atMost = 0, atLeast = 0, total = 0;
        foreach (var subset in Subsets(pooled.Length, x.Length))
        {
            var inX = subset.Select(i => pooled[i]).ToArray();
            var inY = Enumerable.Range(0, pooled.Length).Except(subset).Select(i => pooled[i]).ToArray();
            var u = inX.Sum(a => inY.Count(b => a > b));
            total++;
            if (u <= uObserved) atMost++;
            if (u >= uObserved) atLeast++;
        }
        var expected = Math.Min(1, 2.0 * Math.Min(atMost, atLeast) / total);

        var result = MannWhitney.Test(x, y);
        Assert.Equal(uObserved, result.W);
        Assert.Equal(expected, result.PValue, 1e-14);
    }

    [Fact]
    public void HodgesLehmann_IsMedianOfPairwiseDifferences()
    {
        var random = new Random(7);
        var x = Enumerable.Range(0, 37).Select(_ => Math.Round(random.NextDouble() * 10, 1)).ToArray();
        var y = Enumerable.Range(0, 24).Select(_ => Math.Round(random.NextDouble() * 10, 1)).ToArray();
        var differences = x.SelectMany(a => y.Select(b => a - b)).Order().ToArray();
        var median = (differences[differences.Length / 2 - 1] + differences[differences.Length / 2]) / 2;

        Assert.Equal(median, MannWhitney.HodgesLehmann(x, y));
    }

    [Fact]
    public void Test_ConstantSamples_GiveTheDifferenceWithZeroWidthInterval()
    {
        // R stops here (zero variance at the only candidate shift) and Kayenta adds noise; the shift is 9 either way.
        var result = MannWhitney.Test([10, 10, 10, 10, 10], [1, 1, 1, 1, 1], MannWhitneyOptions.Kayenta(0.95));
        Assert.Equal(9, result.Estimate);
        Assert.Equal(9, result.Lower);
        Assert.Equal(9, result.Upper);
    }

    [Fact]
    public void Test_NonFiniteValues_AreDropped()
    {
        var clean = MannWhitney.Test([10, 20, 30, 40], [1, 2, 3, 4]);
        var dirty = MannWhitney.Test([10, double.NaN, 20, 30, double.PositiveInfinity, 40], [1, 2, double.NaN, 3, 4]);
        Assert.Equal(clean, dirty);
    }

    [Fact]
    public void Test_EmptySample_Throws()
    {
        Assert.Throws<ArgumentException>(() => MannWhitney.Test([], [1.0]));
        Assert.Throws<ArgumentException>(() => MannWhitney.Test([1.0], [double.NaN]));
    }

    private static IEnumerable<int[]> Subsets(int n, int k)
    {
        var indices = Enumerable.Range(0, k).ToArray();
        while (true)
        {
            yield return (int[])indices.Clone();
            var i = k - 1;
            while (i >= 0 && indices[i] == n - k + i) i--;
            if (i < 0) yield break;
            indices[i]++;
            for (var j = i + 1; j < k; j++) indices[j] = indices[j - 1] + 1;
        }
    }
}
