namespace ModelGate.Monitoring.Statistics;

/// <summary>Two-sided two-sample Kolmogorov-Smirnov test: the statistic D and its p-value P(D ≥ d).</summary>
public readonly record struct KolmogorovSmirnovResult(double Statistic, double PValue, bool Exact, int FirstCount, int SecondCount);

/// <summary>
/// The two-sample Kolmogorov-Smirnov test as scipy's <c>ks_2samp(a, b)</c> computes it (method "auto",
/// alternative "two-sided"): the exact p-value when neither sample has more than 10,000 values — the share of the
/// lattice paths from (0, 0) to (n1, n2) that leave the band |i/n1 − j/n2| &lt; d (Hodges 1958), counted with the
/// numerically stable 1 − p recursion of Viehmann (arXiv 2102.08037) — and otherwise the one-sample Kolmogorov
/// distribution at n = round(n1·n2/(n1 + n2)), scipy's <c>kstwo.sf</c>, evaluated with the algorithm of Simard and
/// L'Ecuyer (2011). The statistic is computed in integers, so it is exactly h / lcm(n1, n2).
/// </summary>
public static class KolmogorovSmirnov
{
    /// <summary>scipy's MAX_AUTO_N: above this many values in either sample the asymptotic distribution is used.</summary>
    public const int MaxExactSize = 10_000;

    /// <summary>The test on two samples in any order; NaN is rejected (scipy would return NaN).</summary>
    public static KolmogorovSmirnovResult TwoSample(ReadOnlySpan<double> first, ReadOnlySpan<double> second)
    {
        var a = first.ToArray();
        var b = second.ToArray();
        Array.Sort(a);
        Array.Sort(b);
        return TwoSampleSorted(a, b);
    }

    /// <summary>The test on two ascending samples.</summary>
    public static KolmogorovSmirnovResult TwoSampleSorted(ReadOnlySpan<double> first, ReadOnlySpan<double> second)
    {
        if (first.Length == 0 || second.Length == 0) throw new ArgumentException("both samples need at least one value");
        int n1 = first.Length, n2 = second.Length;
        long c1 = 0, c2 = 0, maxGap = 0;
        int i = 0, j = 0;
        while (i < n1 || j < n2)
        {
            var v = j >= n2 || (i < n1 && first[i] <= second[j]) ? first[i] : second[j];
            if (double.IsNaN(v)) throw new ArgumentException("the samples contain NaN");
            while (i < n1 && first[i] == v) { i++; c1++; }
            while (j < n2 && second[j] == v) { j++; c2++; }
            maxGap = Math.Max(maxGap, Math.Abs(c1 * n2 - c2 * n1));
        }
        return FromGap(n1, n2, maxGap);
    }

    /// <summary>
    /// The test of a first sample given as ascending distinct values with their counts (a stored profile) against
    /// an ascending second sample.
    /// </summary>
    public static KolmogorovSmirnovResult TwoSampleSorted(ReadOnlySpan<double> firstValues, ReadOnlySpan<long> firstCounts, ReadOnlySpan<double> second)
    {
        if (firstValues.Length != firstCounts.Length) throw new ArgumentException("one count per value");
        long total = 0;
        foreach (var c in firstCounts) total += c;
        if (total == 0 || second.Length == 0) throw new ArgumentException("both samples need at least one value");
        if (total > int.MaxValue) throw new ArgumentOutOfRangeException(nameof(firstCounts), "the first sample is too large");
        int n1 = (int)total, n2 = second.Length;
        long c1 = 0, c2 = 0, maxGap = 0;
        int i = 0, j = 0;
        while (i < firstValues.Length || j < n2)
        {
            var v = j >= n2 || (i < firstValues.Length && firstValues[i] <= second[j]) ? firstValues[i] : second[j];
            if (double.IsNaN(v)) throw new ArgumentException("the samples contain NaN");
            while (i < firstValues.Length && firstValues[i] == v) c1 += firstCounts[i++];
            while (j < n2 && second[j] == v) { j++; c2++; }
            maxGap = Math.Max(maxGap, Math.Abs(c1 * n2 - c2 * n1));
        }
        return FromGap(n1, n2, maxGap);
    }

    // maxGap = max |c1·n2 − c2·n1|, a multiple of gcd(n1, n2); D = maxGap / (n1·n2) = h / lcm.
    private static KolmogorovSmirnovResult FromGap(int n1, int n2, long maxGap)
    {
        var g = Gcd(n1, n2);
        var h = maxGap / g;
        var lcm = (double)n1 / g * n2;
        var d = h / lcm;
        if (Math.Max(n1, n2) <= MaxExactSize)
        {
            return new KolmogorovSmirnovResult(d, ExactTwoSampleSurvival(n1, n2, h), Exact: true, n1, n2);
        }
        double m = Math.Max(n1, n2), n = Math.Min(n1, n2);
        var en = m * n / (m + n);
        var p = KolmogorovSurvival((int)Math.Round(en, MidpointRounding.ToEven), d);
        return new KolmogorovSmirnovResult(d, Math.Clamp(p, 0, 1), Exact: false, n1, n2);
    }

    /// <summary>
    /// P(D ≥ h / lcm(n1, n2)) for two samples of sizes n1 and n2 under the null hypothesis: the share of monotone
    /// lattice paths that touch or cross the lines |i·n2 − j·n1| = h·gcd. Only the band of cells inside the lines
    /// is visited, so the cost is O(n1 · band) with memory O(min(n1, n2)).
    /// </summary>
    public static double ExactTwoSampleSurvival(int n1, int n2, long h)
    {
        if (n1 < 1 || n2 < 1) throw new ArgumentOutOfRangeException(nameof(n1), "both samples need at least one value");
        if (h <= 0) return 1;
        int m = Math.Max(n1, n2), n = Math.Min(n1, n2);
        long g = Gcd(m, n), mg = m / g, ng = n / g;
        // q[j] is the probability that a random path to (i, j) has left the band; cells outside it count as 1.
        var q = new double[n + 1];
        for (var j = 0; j <= n; j++) q[j] = j * mg < h ? 0 : 1;
        for (long i = 1; i <= m; i++)
        {
            var low = Math.Max(FloorDiv(i * ng - h, mg) + 1, 0);
            var high = Math.Min(CeilDiv(i * ng + h, mg) - 1, n);
            if (low > high) return 1;
            var left = 1.0;
            for (var j = low; j <= high; j++)
            {
                left = (q[j] * i + left * j) / (i + j);
                q[j] = left;
            }
        }
        return Math.Clamp(q[n], 0, 1);
    }

    /// <summary>
    /// P(D_n ≥ x) for the two-sided one-sample statistic D_n (scipy's <c>kstwo.sf</c>), following Simard and
    /// L'Ecuyer (2011) as scipy does: Ruben-Gambino's exact formulas near the ends, twice the one-sided Smirnov
    /// probability (Birnbaum-Tingey) in the upper tail, Durbin's matrix (Marsaglia-Tsang-Wang 2003) for small n·x,
    /// and the Pelz-Good expansion for large n. Where scipy uses Pomeranz's recursion (n ≤ 140, n·x² ≤ 4) this uses
    /// Durbin's matrix, which computes the same exact distribution.
    /// </summary>
    public static double KolmogorovSurvival(int n, double x)
    {
        if (n <= 0 || double.IsNaN(x)) return double.NaN;
        if (x >= 1) return 0;
        if (x <= 0) return 1;
        var t = n * x;
        if (t <= 1)
        {
            if (t <= 0.5) return 1;
            double cdf;
            if (n <= 140)
            {
                cdf = 1;
                for (var i = 1; i <= n; i++) cdf *= i * (1.0 / n) * (2 * t - 1);
            }
            else
            {
                cdf = Math.Exp(LogFactorialOverPower(n) + n * Math.Log(2 * t - 1));
            }
            return Math.Clamp(1 - cdf, 0, 1);
        }
        if (t >= n - 1) return Math.Clamp(2 * Math.Pow(1 - x, n), 0, 1);
        if (x >= 0.5) return Math.Clamp(2 * SmirnovSurvival(n, x), 0, 1);

        var nxSquared = t * x;
        if (n <= 140)
        {
            if (nxSquared <= 4) return Math.Clamp(1 - DurbinMatrixCdf(n, x), 0, 1);
            return Math.Clamp(2 * SmirnovSurvival(n, x), 0, 1);
        }
        if (nxSquared >= 370) return 0;
        if (nxSquared >= 2.2) return Math.Clamp(2 * SmirnovSurvival(n, x), 0, 1);
        double cdfLarge;
        if (nxSquared >= 18) cdfLarge = 1;
        else if (n <= 100_000 && n * Math.Pow(x, 1.5) <= 1.4) cdfLarge = DurbinMatrixCdf(n, x);
        else cdfLarge = PelzGoodCdf(n, x);
        return Math.Clamp(1 - cdfLarge, 0, 1);
    }

    /// <summary>Kolmogorov's limiting distribution: P(√n·D_n ≥ x) as n → ∞, 2 Σ (−1)^(k−1) e^(−2k²x²) (scipy's kstwobign.sf).</summary>
    public static double KolmogorovLimitSurvival(double x)
    {
        if (double.IsNaN(x)) return double.NaN;
        if (x <= 0) return 1;
        if (x < 0.2)
        {
            // Jacobi's transformation converges where the alternating series does not: K(x) = √(2π)/x Σ e^(−(2k−1)²π²/(8x²)).
            var sum = 0.0;
            for (var k = 1; k < 20; k++)
            {
                var term = Math.Exp(-(2 * k - 1) * (2 * k - 1) * Math.PI * Math.PI / (8 * x * x));
                sum += term;
                if (term < 1e-300) break;
            }
            return 1 - Math.Sqrt(2 * Math.PI) / x * sum;
        }
        var total = 0.0;
        for (var k = 1; k < 200; k++)
        {
            var term = Math.Exp(-2.0 * k * k * x * x);
            total += (k % 2 == 1 ? 2 : -2) * term;
            if (term < 1e-20) break;
        }
        return Math.Clamp(total, 0, 1);
    }

    /// <summary>The one-sided Smirnov survival function P(D_n⁺ ≥ x), Birnbaum and Tingey's exact sum (scipy.special.smirnov).</summary>
    public static double SmirnovSurvival(int n, double x)
    {
        if (n <= 0 || double.IsNaN(x)) return double.NaN;
        if (x >= 1) return 0;
        if (x <= 0) return 1;
        var last = (int)Math.Floor(n * (1 - x));
        // x Σ_j C(n, j) (1 − x − j/n)^(n−j) (x + j/n)^(j−1), summed in logs around the largest term.
        var logs = new double[last + 1];
        var max = double.NegativeInfinity;
        var logFactorialN = SpecialFunctions.LogGamma(n + 1.0);
        for (var j = 0; j <= last; j++)
        {
            var below = 1 - x - (double)j / n;
            double log;
            if (below <= 0) log = n - j == 0 ? 0 : double.NegativeInfinity;
            else log = (n - j) * Math.Log(below);
            log += logFactorialN - SpecialFunctions.LogGamma(j + 1.0) - SpecialFunctions.LogGamma(n - j + 1.0)
                + (j - 1) * Math.Log(x + (double)j / n);
            logs[j] = log;
            max = Math.Max(max, log);
        }
        if (double.IsNegativeInfinity(max)) return 0;
        var sum = 0.0;
        foreach (var log in logs) sum += Math.Exp(log - max);
        return Math.Clamp(x * sum * Math.Exp(max), 0, 1);
    }

    // Stirling's series for ln(n!/n^n) = ln(n)/2 − n + ln(2π)/2 + Σ B2k / (2k(2k−1) n^(2k−1)), free of the n·ln(n) cancellation.
    private static double LogFactorialOverPower(int n)
    {
        var r = 1.0 / n;
        var r2 = r * r;
        var series = r * (1.0 / 12 + r2 * (-1.0 / 360 + r2 * (1.0 / 1260 + r2 * (-1.0 / 1680 + r2 * (1.0 / 1188 + r2 * (-691.0 / 360360 + r2 * (1.0 / 156 + r2 * (-3617.0 / 122400))))))));
        return 0.5 * Math.Log(n) - n + 0.5 * Math.Log(2 * Math.PI) + series;
    }

    private const int ScaleExponent = 128;
    private static readonly double ScaleUp = Math.ScaleB(1, ScaleExponent);
    private static readonly double ScaleDown = Math.ScaleB(1, -ScaleExponent);

    /// <summary>
    /// P(D_n &lt; d) as the (k, k) element of (n!/n^n)·Hⁿ for Durbin's (2k−1)×(2k−1) matrix H, d = (k − h)/n,
    /// with the power scaled by 2^128 steps to stay in range (Marsaglia, Tsang and Wang 2003).
    /// </summary>
    internal static double DurbinMatrixCdf(int n, double d)
    {
        if (d >= 1) return 1;
        var nd = n * d;
        if (nd <= 0.5) return 0;
        var k = (int)Math.Ceiling(nd);
        var h = k - nd;
        var m = 2 * k - 1;

        var v = new double[m];
        var w = new double[m];
        var factorial = 1.0;
        for (var j = 1; j <= m; j++)
        {
            w[j - 1] = factorial;
            factorial /= j;
            v[j - 1] = (1 - Math.Pow(h, j)) * factorial;
        }
        v[m - 1] = (1 + Math.Pow(Math.Max(2 * h - 1, 0), m) - 2 * Math.Pow(h, m)) * factorial;

        var matrix = new double[m * m];
        for (var column = 1; column < m; column++)
        {
            for (var row = column - 1; row < m; row++) matrix[row * m + column] = w[row - column + 1];
        }
        for (var row = 0; row < m; row++) matrix[row * m] = v[row];
        for (var column = 0; column < m; column++) matrix[(m - 1) * m + column] = v[m - 1 - column];

        var power = new double[m * m];
        for (var i = 0; i < m; i++) power[i * m + i] = 1;
        var scratch = new double[m * m];
        int exponent = 0, matrixExponent = 0;
        for (var remaining = n; remaining > 0; remaining /= 2)
        {
            if ((remaining & 1) == 1)
            {
                Multiply(power, matrix, scratch, m);
                (power, scratch) = (scratch, power);
                exponent += matrixExponent;
            }
            Multiply(matrix, matrix, scratch, m);
            (matrix, scratch) = (scratch, matrix);
            matrixExponent *= 2;
            if (Math.Abs(matrix[(k - 1) * m + (k - 1)]) > ScaleUp)
            {
                for (var i = 0; i < matrix.Length; i++) matrix[i] *= ScaleDown;
                matrixExponent += ScaleExponent;
            }
        }

        var p = power[(k - 1) * m + (k - 1)];
        for (var i = 1; i <= n; i++)
        {
            p = i * p / n;
            if (Math.Abs(p) < ScaleDown)
            {
                p *= ScaleUp;
                exponent -= ScaleExponent;
            }
        }
        return Math.Clamp(Math.ScaleB(p, exponent), 0, 1);
    }

    private static void Multiply(double[] a, double[] b, double[] result, int m)
    {
        Array.Clear(result);
        for (var i = 0; i < m; i++)
        {
            for (var l = 0; l < m; l++)
            {
                var ail = a[i * m + l];
                if (ail == 0) continue;
                for (var j = 0; j < m; j++) result[i * m + j] += ail * b[l * m + j];
            }
        }
    }

    /// <summary>
    /// Pelz and Good's (1976) expansion P(D_n ≤ x) ≈ K0(z) + K1(z)/√n + K2(z)/n + K3(z)/n^(3/2), z = x√n, in the
    /// small-z form obtained with Jacobi's theta transformation (the formulas of Simard and L'Ecuyer 2011, §2).
    /// </summary>
    internal static double PelzGoodCdf(int n, double x)
    {
        if (x <= 0) return 0;
        if (x >= 1) return 1;
        var z = Math.Sqrt(n) * x;
        double z2 = z * z, z3 = z2 * z, z4 = z2 * z2, z6 = z4 * z2;
        const double pi2 = Math.PI * Math.PI;
        const double pi4 = pi2 * pi2;
        const double pi6 = pi4 * pi2;

        var logQ = -pi2 / 8 / z2;
        if (logQ < -708) return 0;
        var q = Math.Exp(logQ);

        var k1a = -z2;
        var k1b = pi2 / 4;
        var k2a = 6 * z6 + 2 * z4;
        var k2b = (2 * z4 - 5 * z2) * pi2 / 4;
        var k2c = pi4 * (1 - 2 * z2) / 16;
        var k3d = pi6 * (5 - 30 * z2) / 64;
        var k3c = pi4 * (-60 * z2 + 212 * z4) / 16;
        var k3b = pi2 * (135 * z4 - 96 * z6) / 4;
        var k3a = -30 * z6 - 90 * z6 * z2;

        // Σ_k c_k q^((2k−1)²) by Horner's rule: (2k−1)² = 1 + 8(1 + 2 + … + (k−1)), so consecutive terms differ by q^(8k).
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        var maxK = (int)Math.Ceiling(16 * z / Math.PI);
        for (var k = maxK; k >= 1; k--)
        {
            double odd = 2 * k - 1, odd2 = odd * odd, odd4 = odd2 * odd2, odd6 = odd4 * odd2;
            var qPower = Math.Pow(q, 8 * k);
            s0 = s0 * qPower + 1;
            s1 = s1 * qPower + k1a + k1b * odd2;
            s2 = s2 * qPower + k2a + k2b * odd2 + k2c * odd4;
            s3 = s3 * qPower + k3a + k3b * odd2 + k3c * odd4 + k3d * odd6;
        }
        var sqrtTwoPi = Math.Sqrt(2 * Math.PI);
        s0 *= q * sqrtTwoPi / z;
        s1 *= q * sqrtTwoPi / (6 * z4);
        s2 *= q * sqrtTwoPi / (72 * z6 * z);
        s3 *= q * sqrtTwoPi / (6480 * z6 * z4);

        // The remaining sums over all integers k for K2 and K3.
        var qAll = Math.Exp(-pi2 / 2 / z2);
        double extra2 = 0, extra3 = 0;
        var sqrt3z = Math.Sqrt(3) * z;
        for (var k = maxK; k >= 1; k--)
        {
            double k2 = (double)k * k, kPi = Math.PI * k;
            var qk = Math.Pow(qAll, k2);
            extra2 += k2 * qk;
            extra3 += (sqrt3z + kPi) * (sqrt3z - kPi) * k2 * qk;
        }
        s2 += extra2 * pi2 * sqrtTwoPi / (-36 * z3);
        s3 += extra3 * pi2 * sqrtTwoPi / (216 * z6);

        var sqrtN = Math.Sqrt(n);
        return s0 + s1 / sqrtN + s2 / n + s3 / (n * sqrtN);
    }

    private static long Gcd(long a, long b)
    {
        while (b != 0) (a, b) = (b, a % b);
        return a;
    }

    private static long FloorDiv(long a, long b) => a >= 0 ? a / b : -((-a + b - 1) / b);

    private static long CeilDiv(long a, long b) => a >= 0 ? (a + b - 1) / b : -(-a / b);
}
