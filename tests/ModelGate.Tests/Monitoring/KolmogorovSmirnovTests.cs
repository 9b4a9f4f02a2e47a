using ModelGate.Monitoring.Statistics;

namespace ModelGate.Tests.Monitoring;

/// <summary>
/// The Kolmogorov-Smirnov distributions against the definition (brute-force enumeration of every assignment of the
/// pooled values to the two samples), the Gnedenko-Korolyuk closed form for equal sample sizes, Ruben and Gambino's
/// exact formulas, and the published critical values of Kolmogorov's limiting distribution.
/// </summary>
public sealed class KolmogorovSmirnovTests
{
    [Fact]
    public void TwoSample_Separated_StatisticOneAndPValueTwoOverBinomial()
    {
        // D = 1 only when one sample lies entirely below the other: 2 of the C(6, 3) = 20 orderings.
        var result = KolmogorovSmirnov.TwoSample([1, 2, 3], [4, 5, 6]);
        Assert.Equal(1, result.Statistic);
        Assert.Equal(0.1, result.PValue, 1e-15);
        Assert.True(result.Exact);
    }

    [Theory]
    [InlineData(10, 6, 2.0 * 4845 / 184756)]  // n = 10: 2·C(20, 4)/C(20, 10), the size of the two-sided 5 % test D ≥ 6/10
    [InlineData(10, 7, 2.0 * 1140 / 184756)]  // 2·C(20, 3)/C(20, 10)
    [InlineData(25, 9, 0.0)]
    [InlineData(50, 14, 0.0)]
    public void ExactTwoSampleSurvival_EqualSizes_MatchesGnedenkoKorolyuk(int n, int h, double tabulated)
    {
        // P(D ≥ h/n) = 2 Σ_{k≥1} (−1)^(k+1) C(2n, n − kh) / C(2n, n).
        var expected = 0.0;
        for (var k = 1; n - k * h >= 0; k++)
        {
            expected += (k % 2 == 1 ? 2 : -2) * Math.Exp(LogChoose(2 * n, n - k * h) - LogChoose(2 * n, n));
        }
        if (tabulated > 0) Assert.Equal(tabulated, expected, 1e-12);
        Assert.Equal(expected, KolmogorovSmirnov.ExactTwoSampleSurvival(n, n, h), expected * 1e-12);
    }

    [Theory]
    [InlineData(5, 7)]
    [InlineData(4, 10)]
    [InlineData(6, 9)]
    [InlineData(3, 12)]
    public void ExactTwoSampleSurvival_UnequalSizes_MatchesEnumeration(int n1, int n2)
    {
        // Every assignment of ranks 1..n1+n2 to the first sample is equally likely under the null hypothesis.
        var total = 0;
        var counts = new Dictionary<long, int>();
        foreach (var subset in Subsets(n1 + n2, n1))
        {
            var inFirst = new bool[n1 + n2];
            foreach (var i in subset) inFirst[i] = true;
            long c1 = 0, c2 = 0, gap = 0;
            for (var i = 0; i < n1 + n2; i++)
            {
                if (inFirst[i]) c1++; else c2++;
                gap = Math.Max(gap, Math.Abs(c1 * n2 - c2 * n1));
            }
            counts[gap] = counts.GetValueOrDefault(gap) + 1;
            total++;
        }
        var g = Gcd(n1, n2);
        foreach (var gap in counts.Keys)
        {
            var atLeast = counts.Where(kv => kv.Key >= gap).Sum(kv => kv.Value);
            Assert.Equal((double)atLeast / total, KolmogorovSmirnov.ExactTwoSampleSurvival(n1, n2, gap / g), 1e-13);
        }
    }

    [Fact]
    public void TwoSample_WithTies_StatisticFromRightContinuousEcdfs()
    {
        // ECDFs after 1: 2/4 vs 1/3; after 2: 3/4 vs 1/3 (gap 5/12); after 3: 1 vs 2/3; after 4: 1 vs 1.
        var result = KolmogorovSmirnov.TwoSample([1, 1, 2, 3], [1, 3, 4]);
        Assert.Equal(5.0 / 12, result.Statistic, 1e-15);
    }

    [Fact]
    public void TwoSampleSorted_WeightedFirstSample_EqualsExpandedSample()
    {
        var random = new Random(3);
        var expanded = Enumerable.Range(0, 400).Select(_ => (double)random.Next(0, 30)).Order().ToArray();
        var second = Enumerable.Range(0, 250).Select(_ => random.Next(0, 32) + 0.5 * random.Next(0, 2)).Order().ToArray();
        var values = expanded.Distinct().ToArray();
        var weights = values.Select(v => (long)expanded.Count(e => e == v)).ToArray();

        Assert.Equal(KolmogorovSmirnov.TwoSampleSorted(expanded, second), KolmogorovSmirnov.TwoSampleSorted(values, weights, second));
    }

    [Theory]
    [InlineData(5)]
    [InlineData(10)]
    [InlineData(60)]
    public void KolmogorovSurvival_RubenGambinoRegions_MatchClosedForms(int n)
    {
        // Ruben and Gambino (1982): P(D_n ≤ x) = n! (2x − 1/n)^n for 1/(2n) ≤ x ≤ 1/n, and 1 − 2(1 − x)^n for x ≥ 1 − 1/n.
        foreach (var x in new[] { 0.6 / n, 0.8 / n, 1.0 / n })
        {
            var cdf = Math.Exp(SpecialFunctions.LogGamma(n + 1) + n * Math.Log(2 * x - 1.0 / n));
            Assert.Equal(1 - cdf, KolmogorovSmirnov.KolmogorovSurvival(n, x), 1e-13);
            Assert.Equal(cdf, KolmogorovSmirnov.DurbinMatrixCdf(n, x), Math.Max(cdf * 1e-11, 1e-300));
        }
        foreach (var x in new[] { 1 - 1.0 / n, 1 - 0.5 / n })
        {
            Assert.Equal(2 * Math.Pow(1 - x, n), KolmogorovSmirnov.KolmogorovSurvival(n, x), 1e-15);
        }
        // Durbin's matrix is exact everywhere, so it reproduces the upper formula too.
        var high = 1 - 1.0 / n;
        Assert.Equal(1 - 2 * Math.Pow(1 - high, n), KolmogorovSmirnov.DurbinMatrixCdf(n, high), 1e-12);
    }

    [Theory]
    [InlineData(1.2238478702170823, 0.10)] // published critical values of Kolmogorov's distribution
    [InlineData(1.3580986393225505, 0.05)]
    [InlineData(1.6276236115189252, 0.01)]
    public void KolmogorovLimitSurvival_AtCriticalValues(double x, double alpha)
    {
        Assert.Equal(alpha, KolmogorovSmirnov.KolmogorovLimitSurvival(x), 1e-12);
    }

    [Theory]
    [InlineData(1.3580986393225505, 0.05)]
    [InlineData(1.6276236115189252, 0.01)]
    [InlineData(0.8, 0.54386)]
    public void KolmogorovSurvival_LargeN_ApproachesLimit(double z, double limit)
    {
        // The finite-n distribution converges to the limit with an error of order 1/√n (Kolmogorov 1933; Pelz-Good).
        foreach (var n in new[] { 10_000, 1_000_000 })
        {
            var p = KolmogorovSmirnov.KolmogorovSurvival(n, z / Math.Sqrt(n));
            Assert.InRange(p - KolmogorovSmirnov.KolmogorovLimitSurvival(z), -2.0 / Math.Sqrt(n), 0);
            Assert.Equal(limit, p, 0.02);
        }
    }

    [Fact]
    public void DurbinMatrixAndPelzGood_AgreeWhereBothApply()
    {
        // Two independent evaluations of the same distribution for n = 1000: Durbin's matrix is exact, Pelz-Good's
        // expansion has an error of order n^−2.
        foreach (var x in new[] { 0.015, 0.02, 0.03, 0.04 })
        {
            Assert.Equal(KolmogorovSmirnov.DurbinMatrixCdf(1000, x), KolmogorovSmirnov.PelzGoodCdf(1000, x), 1e-6);
        }
    }

    [Fact]
    public void SmirnovSurvival_MatchesKnownValues()
    {
        // P(D_n⁺ ≥ x) for n = 1 is 1 − x; for n = 2 and x ≥ 1/2 it is (1 − x)² (both by direct integration).
        Assert.Equal(0.7, KolmogorovSmirnov.SmirnovSurvival(1, 0.3), 1e-15);
        Assert.Equal(0.04, KolmogorovSmirnov.SmirnovSurvival(2, 0.8), 1e-15);
    }

    [Fact]
    public void TwoSample_LargeSamples_UseAsymptoticDistribution()
    {
        var a = Enumerable.Range(0, 12_000).Select(i => i / 12_000.0).ToArray();
        var b = Enumerable.Range(0, 900).Select(i => i / 900.0 + 0.02).ToArray();
        var result = KolmogorovSmirnov.TwoSampleSorted(a, b);
        Assert.False(result.Exact);
        var en = 12_000.0 * 900 / 12_900;
        Assert.Equal(KolmogorovSmirnov.KolmogorovSurvival((int)Math.Round(en), result.Statistic), result.PValue);
        Assert.InRange(result.PValue, 0.5, 1);
    }

    private static double LogChoose(int n, int k) =>
        SpecialFunctions.LogGamma(n + 1.0) - SpecialFunctions.LogGamma(k + 1.0) - SpecialFunctions.LogGamma(n - k + 1.0);

    private static int Gcd(int a, int b) => b == 0 ? a : Gcd(b, a % b);

    private static IEnumerable<int[]> Subsets(int n, int k)
    {
        var indices = Enumerable.Range(0, k).ToArray();
        while (true)
        {
            yield return indices;
            var i = k - 1;
            while (i >= 0 && indices[i] == n - k + i) i--;
            if (i < 0) yield break;
            indices[i]++;
            for (var j = i + 1; j < k; j++) indices[j] = indices[j - 1] + 1;
        }
    }
}
