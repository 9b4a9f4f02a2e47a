namespace ModelGate.Evaluation.Metrics;

/// <summary>
/// Sums the way numpy's <c>np.sum</c>/<c>np.mean</c> do for a contiguous float64 array (pairwise summation:
/// eight running accumulators over leaves of at most 128 values, halving above that on multiples of eight), so
/// means over thousands of rows round as scikit-learn's do instead of drifting by a few ulps from a naive loop.
/// </summary>
internal static class NumpySum
{
    private const int LeafSize = 128;

    public static double Sum(ReadOnlySpan<double> values) => 0.0 + Pairwise(values);

    public static double Mean(ReadOnlySpan<double> values) =>
        values.IsEmpty ? double.NaN : Sum(values) / values.Length;

    private static double Pairwise(ReadOnlySpan<double> a)
    {
        var n = a.Length;
        if (n < 8)
        {
            var res = 0.0;
            for (var i = 0; i < n; i++) res += a[i];
            return res;
        }
        if (n <= LeafSize)
        {
            double r0 = a[0], r1 = a[1], r2 = a[2], r3 = a[3], r4 = a[4], r5 = a[5], r6 = a[6], r7 = a[7];
            var i = 8;
            for (; i < n - n % 8; i += 8)
            {
                r0 += a[i];
                r1 += a[i + 1];
                r2 += a[i + 2];
                r3 += a[i + 3];
                r4 += a[i + 4];
                r5 += a[i + 5];
                r6 += a[i + 6];
                r7 += a[i + 7];
            }
            var res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7));
            for (; i < n; i++) res += a[i];
            return res;
        }
        var half = n / 2;
        half -= half % 8;
        return Pairwise(a[..half]) + Pairwise(a[half..]);
    }
}
