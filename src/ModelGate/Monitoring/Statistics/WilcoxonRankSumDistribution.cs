namespace ModelGate.Monitoring.Statistics;

/// <summary>
/// The exact null distribution of the Mann-Whitney statistic U (R's <c>dwilcox</c>/<c>pwilcox</c>/<c>qwilcox</c>)
/// for samples of sizes m and n without ties. The counts of U = 0..mn are the coefficients of the Gaussian
/// binomial [m+n choose m]_q = ∏ᵢ (1 − q^(n+i)) / (1 − q^i), built exactly in 128-bit integers, which is why
/// m + n is limited to 125 (C(125, 62) &lt; 2^127).
/// </summary>
internal sealed class WilcoxonRankSumDistribution
{
    public const int MaxTotalSize = 125;

    private readonly double[] _counts;
    private readonly double _total;
    private readonly int _mn;

    private WilcoxonRankSumDistribution(double[] counts, double total, int mn)
    {
        _counts = counts;
        _total = total;
        _mn = mn;
    }

    public static WilcoxonRankSumDistribution Create(int m, int n)
    {
        if (m < 1 || n < 1) throw new ArgumentOutOfRangeException(nameof(m), "both samples need at least one value");
        if (m + n > MaxTotalSize)
        {
            throw new ArgumentOutOfRangeException(nameof(m), $"the exact distribution is computed for m + n ≤ {MaxTotalSize}; use the normal approximation for {m} + {n}");
        }
        var mn = m * n;
        // Multiplying by (1 − q^(n+i)) raises the degree by n + i before the division by (1 − q^i) lowers it by i.
        var poly = new Int128[mn + m + 1];
        poly[0] = 1;
        for (var i = 1; i <= m; i++)
        {
            var k = n + i;
            for (var u = poly.Length - 1; u >= k; u--) poly[u] -= poly[u - k];
            for (var u = i; u < poly.Length; u++) poly[u] += poly[u - i];
        }
        var counts = new double[mn + 1];
        Int128 total = 0;
        for (var u = 0; u <= mn; u++)
        {
            counts[u] = (double)poly[u];
            total += poly[u];
        }
        return new WilcoxonRankSumDistribution(counts, (double)total, mn);
    }

    /// <summary>The number of arrangements with U = u.</summary>
    public double Count(int u) => u < 0 || u > _mn ? 0 : _counts[u];

    /// <summary>P(U ≤ q) (or P(U &gt; q) when <paramref name="lowerTail"/> is false), summed over the shorter tail as R's pwilcox does.</summary>
    public double Probability(double q, bool lowerTail = true)
    {
        q = Math.Floor(q + 1e-7);
        if (q < 0) return lowerTail ? 0 : 1;
        if (q >= _mn) return lowerTail ? 1 : 0;
        var p = 0.0;
        if (q <= _mn / 2.0)
        {
            for (var i = 0; i <= q; i++) p += _counts[i] / _total;
        }
        else
        {
            // By symmetry P(U > q) = P(U < mn − q).
            var upper = _mn - (int)q;
            for (var i = 0; i < upper; i++) p += _counts[i] / _total;
            lowerTail = !lowerTail;
        }
        return lowerTail ? p : 1 - p;
    }

    /// <summary>The smallest q with P(U ≤ q) ≥ p, with R's qwilcox allowance of 10 ε for rounding in the running sum.</summary>
    public int Quantile(double p)
    {
        if (p <= 0) return 0;
        if (p >= 1) return _mn;
        var sum = 0.0;
        var q = 0;
        if (p <= 0.5)
        {
            p -= 10 * BrentZeroin.MachineEpsilon;
            while (true)
            {
                sum += _counts[q] / _total;
                if (sum >= p) return q;
                q++;
            }
        }
        p = 1 - p + 10 * BrentZeroin.MachineEpsilon;
        while (true)
        {
            sum += _counts[q] / _total;
            if (sum > p) return _mn - q;
            q++;
        }
    }
}
