namespace ModelGate.Monitoring.Statistics;

/// <summary>Which null distribution <see cref="MannWhitney.Test"/> uses.</summary>
public enum MannWhitneyMethod
{
    /// <summary>R's default: exact when both samples have fewer than 50 values and there are no ties, else normal.</summary>
    Auto,
    /// <summary>
    /// The exact distribution of U (for m + n ≤ 125); R falls back to the normal approximation when there are ties,
    /// and so does this.
    /// </summary>
    Exact,
    /// <summary>The normal approximation with the tie-corrected variance (and the continuity correction unless switched off).</summary>
    Asymptotic,
}

/// <summary>Settings of a two-sided Wilcoxon rank-sum / Mann-Whitney test with its Hodges-Lehmann interval.</summary>
public sealed record MannWhitneyOptions
{
    /// <summary>R's defaults: <c>wilcox.test(x, y, conf.int = TRUE)</c>.</summary>
    public static MannWhitneyOptions R { get; } = new();

    /// <summary>
    /// What Kayenta's judge runs: always the normal approximation (Kayenta ports only R's asymptotic branch), with
    /// the continuity correction applied also when solving for the estimate (R stopped doing that; Kayenta did not).
    /// </summary>
    public static MannWhitneyOptions Kayenta(double confidenceLevel) => new()
    {
        ConfidenceLevel = confidenceLevel,
        Method = MannWhitneyMethod.Asymptotic,
        ContinuityCorrectionInEstimate = true,
    };

    /// <summary>Confidence level of the interval for the location shift (0 &lt; level &lt; 1).</summary>
    public double ConfidenceLevel { get; init; } = 0.95;

    /// <summary>The location shift under the null hypothesis (R's <c>mu</c>); it affects the statistic and p-value only.</summary>
    public double Mu { get; init; }

    public MannWhitneyMethod Method { get; init; } = MannWhitneyMethod.Auto;

    /// <summary>R's <c>correct</c>: continuity correction in the normal approximation (p-value and interval).</summary>
    public bool ContinuityCorrection { get; init; } = true;

    /// <summary>Also apply the continuity correction when solving for the asymptotic estimate (Kayenta; not R).</summary>
    public bool ContinuityCorrectionInEstimate { get; init; }

    /// <summary>Tolerance of the root finder for the asymptotic interval and estimate (R's <c>tol.root</c>).</summary>
    public double RootTolerance { get; init; } = 1e-4;
}

/// <summary>
/// A two-sided Wilcoxon rank-sum test of x against y. <see cref="W"/> is R's statistic (the rank sum of x minus
/// m(m+1)/2, i.e. the number of pairs with x − μ &gt; y, ties counting one half); <see cref="Estimate"/>,
/// <see cref="Lower"/> and <see cref="Upper"/> describe the shift of x relative to y; <see cref="ConfidenceLevel"/> is
/// R's <c>attr(conf.int, "conf.level")</c> (lowered when the exact distribution cannot achieve the request).
/// </summary>
public readonly record struct MannWhitneyResult(
    double W,
    double PValue,
    double Estimate,
    double Lower,
    double Upper,
    double ConfidenceLevel,
    bool Exact,
    int XCount,
    int YCount);

/// <summary>
/// The Mann-Whitney U (Wilcoxon rank-sum) test with the Hodges-Lehmann estimate of the location shift and its
/// confidence interval, computed as R's <c>wilcox.test(x, y, conf.int = TRUE)</c> computes them (stats/R/wilcox.test.R):
/// <list type="bullet">
/// <item>exact (samples under 50 and no ties, R's default): the p-value from the exact distribution of U, the interval
/// from order statistics of the m·n pairwise differences (Bauer 1972), the estimate their median;</item>
/// <item>asymptotic: the p-value from the normal approximation with the tie-corrected variance and the continuity
/// correction; the interval and estimate as the roots of the standardized statistic of x − d against y, found with
/// Brent's method at R's tolerance (1e-4) — the same algorithm R's <c>uniroot</c> and Kayenta use, so the roots of
/// this step function land where theirs do.</item>
/// </list>
/// Kayenta's judge (kayenta-mannwhitney, <c>MannWhitney.scala</c>) always uses the asymptotic interval with the
/// continuity correction, also for the estimate: <see cref="MannWhitneyOptions.Kayenta"/>.
/// Non-finite values are dropped, as R's documentation says. When every x equals one value and every y another,
/// R fails (zero variance) and Kayenta adds Gaussian noise; here the shift is that difference, with a zero-width interval.
/// </summary>
public static class MannWhitney
{
    public static MannWhitneyResult Test(ReadOnlySpan<double> x, ReadOnlySpan<double> y, MannWhitneyOptions? options = null)
    {
        options ??= MannWhitneyOptions.R;
        if (!(options.ConfidenceLevel > 0 && options.ConfidenceLevel < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(options), "the confidence level must be between 0 and 1");
        }
        if (!double.IsFinite(options.Mu)) throw new ArgumentOutOfRangeException(nameof(options), "mu must be a finite number");

        var xs = SortedFinite(x);
        var ys = SortedFinite(y);
        if (xs.Length == 0) throw new ArgumentException("not enough (non-missing) x observations", nameof(x));
        if (ys.Length == 0) throw new ArgumentException("not enough (non-missing) y observations", nameof(y));
        int m = xs.Length, n = ys.Length;
        double nx = m, ny = n;

        var atMu = RankCounts.Evaluate(xs, ys, options.Mu);
        var w = atMu.U;
        var ties = atMu.TieSum > 0;
        var exact = options.Method switch
        {
            MannWhitneyMethod.Exact => true,
            MannWhitneyMethod.Asymptotic => false,
            _ => m < 50 && n < 50,
        };
        var alpha = 1 - options.ConfidenceLevel;

        if (exact && !ties)
        {
            var distribution = WilcoxonRankSumDistribution.Create(m, n);
            var tail = w > nx * ny / 2 ? distribution.Probability(w - 1, lowerTail: false) : distribution.Probability(w);
            var pValue = Math.Min(2 * tail, 1);

            var qu = distribution.Quantile(alpha / 2);
            if (qu == 0) qu = 1;
            var ql = m * n - qu;
            var achievedAlpha = 2 * distribution.Probability(qu - 1);
            var lower = KthSmallestDifference(xs, ys, qu);
            var upper = KthSmallestDifference(xs, ys, ql + 1);
            var level = achievedAlpha - alpha > alpha / 2 ? 1 - achievedAlpha : options.ConfidenceLevel;
            return new MannWhitneyResult(w, pValue, MedianDifference(xs, ys), lower, upper, level, Exact: true, m, n);
        }

        var z = w - nx * ny / 2;
        var sigma = Sigma(nx, ny, atMu.TieSum);
        var correction = options.ContinuityCorrection ? Math.Sign(z) * 0.5 : 0;
        z = (z - correction) / sigma;
        var p = 2 * Math.Min(SpecialFunctions.NormalCdf(z), SpecialFunctions.NormalSurvival(z));

        var muMin = xs[0] - ys[n - 1];
        var muMax = xs[m - 1] - ys[0];
        if (muMin == muMax)
        {
            return new MannWhitneyResult(w, p, muMin, muMin, muMin, options.ConfidenceLevel, Exact: false, m, n);
        }

        var statistic = new StandardizedStatistic(xs, ys, options.ContinuityCorrection, 0);
        var atMin = statistic.Evaluate(muMin);
        var atMax = statistic.Evaluate(muMax);
        var zq = SpecialFunctions.NormalQuantile(alpha / 2);
        var ciLower = Root(statistic, -zq, muMin, muMax, atMin, atMax, options.RootTolerance);
        var ciUpper = Root(statistic, zq, muMin, muMax, atMin, atMax, options.RootTolerance);

        var correctEstimate = options.ContinuityCorrection && options.ContinuityCorrectionInEstimate;
        var forEstimate = new StandardizedStatistic(xs, ys, correctEstimate, 0);
        var estimate = BrentZeroin.Solve(forEstimate, muMin, muMax, forEstimate.Evaluate(muMin), forEstimate.Evaluate(muMax), options.RootTolerance);
        return new MannWhitneyResult(w, p, estimate, ciLower, ciUpper, options.ConfidenceLevel, Exact: false, m, n);
    }

    /// <summary>The Hodges-Lehmann estimate of the shift of x relative to y: the median of the m·n differences xᵢ − yⱼ.</summary>
    public static double HodgesLehmann(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        var xs = SortedFinite(x);
        var ys = SortedFinite(y);
        if (xs.Length == 0 || ys.Length == 0) throw new ArgumentException("both samples need at least one finite value");
        return MedianDifference(xs, ys);
    }

    /// <summary>R's W(d): the standardized statistic of x − d against y, for sorted finite samples (exposed for tests).</summary>
    internal static double StandardizedRankSum(double[] sortedX, double[] sortedY, double d, bool correct) =>
        new StandardizedStatistic(sortedX, sortedY, correct, 0).Evaluate(d);

    // R's interval endpoints: at the quantile, or the end of [mumin, mumax] when the statistic does not cross it.
    private static double Root(StandardizedStatistic statistic, double zq, double muMin, double muMax, double atMin, double atMax, double tolerance)
    {
        var fLower = atMin - zq;
        if (fLower <= 0) return muMin;
        var fUpper = atMax - zq;
        if (fUpper >= 0) return muMax;
        return BrentZeroin.Solve(statistic with { Quantile = zq }, muMin, muMax, fLower, fUpper, tolerance);
    }

    private static double Sigma(double nx, double ny, double tieSum) =>
        Math.Sqrt(nx * ny / 12 * (nx + ny + 1 - tieSum / ((nx + ny) * (nx + ny - 1))));

    private static double[] SortedFinite(ReadOnlySpan<double> values)
    {
        var count = 0;
        foreach (var v in values)
        {
            if (double.IsFinite(v)) count++;
        }
        var result = new double[count];
        var i = 0;
        foreach (var v in values)
        {
            if (double.IsFinite(v)) result[i++] = v;
        }
        Array.Sort(result);
        return result;
    }

    private static double MedianDifference(double[] xs, double[] ys)
    {
        var total = (long)xs.Length * ys.Length;
        if (total % 2 == 1) return KthSmallestDifference(xs, ys, (total + 1) / 2);
        return (KthSmallestDifference(xs, ys, total / 2) + KthSmallestDifference(xs, ys, total / 2 + 1)) / 2;
    }

    /// <summary>
    /// The k-th smallest (1-based) of the differences xs[i] − ys[j] without forming them: a bisection over the
    /// doubles in their total order (at most 64 steps), each counting the differences ≤ t with two pointers in
    /// O(m + n). The smallest t whose count reaches k is itself one of the computed differences.
    /// </summary>
    internal static double KthSmallestDifference(double[] xs, double[] ys, long k)
    {
        var lo = OrderedKey(xs[0] - ys[^1]) - 1;
        var hi = OrderedKey(xs[^1] - ys[0]);
        while (hi - lo > 1)
        {
            var mid = lo + (hi - lo) / 2;
            if (CountAtMost(xs, ys, FromOrderedKey(mid)) >= k) hi = mid;
            else lo = mid;
        }
        return FromOrderedKey(hi);
    }

    private static long CountAtMost(double[] xs, double[] ys, double t)
    {
        long count = 0;
        var p = 0;
        foreach (var x in xs)
        {
            while (p < ys.Length && x - ys[p] > t) p++;
            count += ys.Length - p;
        }
        return count;
    }

    // Maps doubles to unsigned integers in the same order (negative values reversed below the positive ones).
    private static ulong OrderedKey(double value)
    {
        var bits = (ulong)BitConverter.DoubleToInt64Bits(value);
        return (bits & SignBit) == 0 ? bits | SignBit : ~bits;
    }

    private static double FromOrderedKey(ulong key) =>
        BitConverter.Int64BitsToDouble((long)((key & SignBit) != 0 ? key & ~SignBit : ~key));

    private const ulong SignBit = 0x8000_0000_0000_0000;

    /// <summary>
    /// R's <c>W(d)</c> inside wilcox.test: the standardized rank-sum statistic of x − d against y (tie-corrected
    /// variance, optional continuity correction) minus the quantile sought. Evaluated by merging the sorted samples.
    /// </summary>
    private readonly record struct StandardizedStatistic(double[] Xs, double[] Ys, bool Correct, double Quantile) : IRootFunction
    {
        public double Evaluate(double d)
        {
            double nx = Xs.Length, ny = Ys.Length;
            var counts = RankCounts.Evaluate(Xs, Ys, d);
            var dz = counts.U - nx * ny / 2;
            var correction = Correct ? Math.Sign(dz) * 0.5 : 0;
            return (dz - correction) / Sigma(nx, ny, counts.TieSum) - Quantile;
        }
    }

    /// <summary>
    /// U = #(x − d &gt; y) + ½ #(x − d = y), equal to the rank sum of x − d minus m(m+1)/2 with average ranks, and
    /// Σ(t³ − t) over the groups of tied values in the combined sample.
    /// </summary>
    internal readonly record struct RankCounts(double U, double TieSum)
    {
        public static RankCounts Evaluate(double[] xs, double[] ys, double d)
        {
            int i = 0, j = 0, m = xs.Length, n = ys.Length;
            long twiceU = 0, yPassed = 0;
            var tieSum = 0.0;
            while (i < m || j < n)
            {
                double v;
                if (j >= n) v = xs[i] - d;
                else if (i >= m) v = ys[j];
                else v = Math.Min(xs[i] - d, ys[j]);
                long cx = 0, cy = 0;
                while (i < m && xs[i] - d == v) { cx++; i++; }
                while (j < n && ys[j] == v) { cy++; j++; }
                twiceU += cx * (2 * yPassed + cy);
                var t = (double)(cx + cy);
                if (t > 1) tieSum += t * t * t - t;
                yPassed += cy;
            }
            return new RankCounts(twiceU / 2.0, tieSum);
        }
    }
}
