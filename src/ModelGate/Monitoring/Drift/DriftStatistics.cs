using ModelGate.Monitoring.Statistics;

namespace ModelGate.Monitoring.Drift;

/// <summary>
/// The distribution comparisons Evidently's default drift tests use, defined as Evidently
/// (src/evidently/calculations/stattests/*.py) and the scipy and numpy functions it calls define them. Inputs are
/// ascending samples (optionally as distinct values with counts) or per-bucket shares; nothing allocates per value.
/// </summary>
public static class DriftStatistics
{
    /// <summary>
    /// scipy.stats.wasserstein_distance: ∫ |F(x) − G(x)| dx between the empirical distributions of two ascending
    /// samples, the first given as distinct values with counts (an empty <paramref name="firstCounts"/> means one each).
    /// </summary>
    public static double Wasserstein(ReadOnlySpan<double> firstValues, ReadOnlySpan<long> firstCounts, ReadOnlySpan<double> second)
    {
        var weighted = firstCounts.Length > 0;
        if (weighted && firstCounts.Length != firstValues.Length) throw new ArgumentException("one count per value");
        double firstTotal = 0;
        if (weighted) foreach (var c in firstCounts) firstTotal += c;
        else firstTotal = firstValues.Length;
        double secondTotal = second.Length;
        if (firstTotal == 0 || secondTotal == 0) throw new ArgumentException("both samples need at least one value");

        double firstCumulative = 0, secondCumulative = 0, distance = 0;
        int i = 0, j = 0;
        var previous = double.NaN;
        while (i < firstValues.Length || j < second.Length)
        {
            var v = j >= second.Length || (i < firstValues.Length && firstValues[i] <= second[j]) ? firstValues[i] : second[j];
            if (!double.IsNaN(previous))
            {
                distance += Math.Abs(firstCumulative / firstTotal - secondCumulative / secondTotal) * (v - previous);
            }
            while (i < firstValues.Length && firstValues[i] == v)
            {
                firstCumulative += weighted ? firstCounts[i] : 1;
                i++;
            }
            while (j < second.Length && second[j] == v) { secondCumulative++; j++; }
            previous = v;
        }
        return distance;
    }

    /// <summary>
    /// scipy.spatial.distance.jensenshannon(p, q) with the natural logarithm: √((KL(p‖m) + KL(q‖m)) / 2), m = (p + q)/2,
    /// after normalizing p and q to sum to one. Zero shares contribute nothing.
    /// </summary>
    public static double JensenShannonDistance(ReadOnlySpan<double> p, ReadOnlySpan<double> q)
    {
        if (p.Length != q.Length) throw new ArgumentException("p and q need the same buckets");
        double pSum = 0, qSum = 0;
        for (var i = 0; i < p.Length; i++) { pSum += p[i]; qSum += q[i]; }
        var divergence = 0.0;
        for (var i = 0; i < p.Length; i++)
        {
            double pi = p[i] / pSum, qi = q[i] / qSum, mi = (pi + qi) / 2;
            if (pi > 0) divergence += pi * Math.Log(pi / mi);
            if (qi > 0) divergence += qi * Math.Log(qi / mi);
        }
        return Math.Sqrt(Math.Max(divergence, 0) / 2);
    }

    /// <summary>
    /// Evidently's population stability index: Σ (r − c) ln(r / c) over buckets, on shares whose zeros were replaced
    /// by <see cref="FillZeroShares"/>.
    /// </summary>
    public static double PopulationStabilityIndex(ReadOnlySpan<double> reference, ReadOnlySpan<double> current)
    {
        if (reference.Length != current.Length) throw new ArgumentException("reference and current need the same buckets");
        var psi = 0.0;
        for (var i = 0; i < reference.Length; i++)
        {
            psi += (reference[i] - current[i]) * Math.Log(reference[i] / current[i]);
        }
        return psi;
    }

    /// <summary>
    /// Evidently's <c>feel_zeroes</c> in get_binned_data: zero shares become the smallest non-zero share divided by
    /// 10⁶ when that share is at most 0.0001, else 0.0001.
    /// </summary>
    public static void FillZeroShares(Span<double> shares)
    {
        var smallest = double.PositiveInfinity;
        foreach (var s in shares)
        {
            if (s != 0 && s < smallest) smallest = s;
        }
        if (double.IsPositiveInfinity(smallest)) return;
        var fill = smallest <= 0.0001 ? smallest / 1e6 : 0.0001;
        for (var i = 0; i < shares.Length; i++)
        {
            if (shares[i] == 0) shares[i] = fill;
        }
    }

    /// <summary>
    /// scipy.stats.chisquare(observed, expected): Pearson's Σ (o − e)²/e and its p-value with k − 1 degrees of freedom.
    /// A bucket with e = 0 and o &gt; 0 makes the statistic infinite and the p-value 0 (as numpy's division does).
    /// </summary>
    public static (double Statistic, double PValue) ChiSquare(ReadOnlySpan<double> observed, ReadOnlySpan<double> expected)
    {
        if (observed.Length != expected.Length) throw new ArgumentException("observed and expected need the same buckets");
        var statistic = 0.0;
        for (var i = 0; i < observed.Length; i++)
        {
            var difference = observed[i] - expected[i];
            if (expected[i] == 0)
            {
                if (difference != 0) statistic = double.PositiveInfinity;
                continue;
            }
            statistic += difference * difference / expected[i];
        }
        var degrees = observed.Length - 1;
        var p = degrees < 1 ? double.NaN : SpecialFunctions.ChiSquareSurvival(statistic, degrees);
        return (statistic, p);
    }

    /// <summary>
    /// Evidently's two-proportion Z-test (z_stattest.py): z = (p₁ − p₂) / √(P(1 − P)(1/n₁ + 1/n₂)) with the pooled P,
    /// two-sided p-value 2(1 − Φ(|z|)) (computed as 2Φ(−|z|)).
    /// </summary>
    public static (double Z, double PValue) ProportionsZTest(long referenceOnes, long referenceTotal, long currentOnes, long currentTotal)
    {
        double n1 = referenceTotal, n2 = currentTotal;
        var p1 = referenceOnes / n1;
        var p2 = currentOnes / n2;
        var pooled = (p1 * n1 + p2 * n2) / (n1 + n2);
        var z = (p1 - p2) / Math.Sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
        return (z, 2 * SpecialFunctions.NormalCdf(-Math.Abs(z)));
    }

    /// <summary>
    /// numpy.histogram_bin_edges(data, bins="sturges") for data of <paramref name="count"/> values between
    /// <paramref name="min"/> and <paramref name="max"/>: ⌈ptp / (ptp / (log₂ n + 1))⌉ equal bins, edges from
    /// numpy.linspace (the last edge exactly the maximum).
    /// </summary>
    public static double[] SturgesEdges(double min, double max, long count)
    {
        double first = min, last = max;
        if (first == last)
        {
            first -= 0.5;
            last += 0.5;
        }
        var width = (max - min) / (Math.Log2(count) + 1.0);
        var bins = width > 0 ? (int)Math.Ceiling((last - first) / width) : 1;
        var edges = new double[bins + 1];
        var step = (last - first) / bins;
        for (var i = 0; i < bins; i++) edges[i] = i * step + first;
        edges[bins] = last;
        return edges;
    }

    /// <summary>
    /// numpy.histogram(data, edges) counts for ascending data (distinct values with counts, or one each when
    /// <paramref name="counts"/> is empty): [eᵢ, eᵢ₊₁) for every bin but the last, which also holds its right edge.
    /// </summary>
    public static void Histogram(ReadOnlySpan<double> sortedValues, ReadOnlySpan<long> counts, ReadOnlySpan<double> edges, Span<long> result)
    {
        if (result.Length != edges.Length - 1) throw new ArgumentException("one result per bin");
        if (counts.Length > 0 && counts.Length != sortedValues.Length) throw new ArgumentException("one count per value");
        result.Clear();
        var last = result.Length - 1;
        var bin = 0;
        for (var i = 0; i < sortedValues.Length; i++)
        {
            var v = sortedValues[i];
            if (v < edges[0]) continue;
            if (v > edges[^1]) break;
            while (bin < last && v >= edges[bin + 1]) bin++;
            result[bin] += counts.Length > 0 ? counts[i] : 1;
        }
    }
}
