namespace ModelGate.Evaluation.Metrics;

/// <summary>
/// Percentile bootstrap over rows: draw the rows n times with replacement, evaluate the metric on the draw, repeat,
/// and take the (1 − confidence)/2 and (1 + confidence)/2 quantiles of the values (numpy's default "linear"
/// interpolation). The metric sees row indices, so any metric, including ones over several aligned columns, can be
/// resampled without copying the data up front.
/// </summary>
public static class Bootstrap
{
    public const int DefaultResamples = 1000;
    public const double DefaultConfidence = 0.95;

    /// <summary>
    /// The metric receives the indices of the rows in the resample (length <paramref name="rowCount"/>). The same
    /// array is refilled for every resample, so the metric must not keep it. The seed makes the interval
    /// reproducible: <see cref="Random(int)"/> with a seed is specified to give the same sequence on every run.
    /// </summary>
    public static ConfidenceInterval Percentile(
        int rowCount,
        Func<int[], double> metric,
        int resamples = DefaultResamples,
        double confidence = DefaultConfidence,
        int seed = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rowCount, 1);
        ArgumentNullException.ThrowIfNull(metric);
        ArgumentOutOfRangeException.ThrowIfLessThan(resamples, 1);
        if (!(confidence > 0.0 && confidence < 1.0))
            throw new ArgumentOutOfRangeException(nameof(confidence), confidence, "confidence must lie strictly between 0 and 1");

        var indices = new int[rowCount];
        for (var i = 0; i < rowCount; i++) indices[i] = i;
        var estimate = metric(indices);

        var random = new Random(seed);
        var values = new double[resamples];
        var valid = 0;
        for (var r = 0; r < resamples; r++)
        {
            for (var i = 0; i < rowCount; i++) indices[i] = random.Next(rowCount);
            var value = metric(indices);
            if (!double.IsNaN(value)) values[valid++] = value;
        }
        if (valid == 0) return new ConfidenceInterval(estimate, double.NaN, double.NaN, confidence, 0);

        var sorted = values.AsSpan(0, valid);
        sorted.Sort();
        var alpha = 1.0 - confidence;
        return new ConfidenceInterval(estimate, Quantile(sorted, alpha / 2), Quantile(sorted, 1.0 - alpha / 2), confidence, valid);
    }

    /// <summary>Copies the rows at <paramref name="indices"/> into <paramref name="destination"/>, for metrics over spans.</summary>
    /// <summary>
    /// Percentile intervals for several statistics over the same resamples: <paramref name="metrics"/> turns one resample's
    /// row indices into one value per statistic, so shared work (gathering rows, grouping) happens once per resample.
    /// Resample <c>r</c> draws from its own generator seeded by (<paramref name="seed"/>, r), so the result is the same
    /// however many cores run it; <paramref name="metrics"/> is called concurrently and gets a fresh index array each time.
    /// </summary>
    public static ConfidenceInterval[] PercentileMany(int rowCount, int statistics, Func<int[], double[]> metrics,
        int resamples = DefaultResamples, double confidence = DefaultConfidence, int seed = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rowCount, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(resamples, 1);
        if (!(confidence > 0.0 && confidence < 1.0))
            throw new ArgumentOutOfRangeException(nameof(confidence), confidence, "confidence must lie strictly between 0 and 1");

        var all = new int[rowCount];
        for (var i = 0; i < rowCount; i++) all[i] = i;
        var estimates = metrics(all);
        var values = new double[resamples][];
        Parallel.For(0, resamples, () => new int[rowCount], (r, _, indices) =>
        {
            var random = new Random(ResampleSeed(seed, r));
            for (var i = 0; i < rowCount; i++) indices[i] = random.Next(rowCount);
            values[r] = metrics(indices);
            return indices;
        }, _ => { });

        var alpha = 1.0 - confidence;
        var result = new ConfidenceInterval[statistics];
        for (var m = 0; m < statistics; m++)
        {
            var column = values.Select(v => v[m]).Where(v => !double.IsNaN(v)).ToArray();
            if (column.Length == 0)
            {
                result[m] = new ConfidenceInterval(estimates[m], double.NaN, double.NaN, confidence, 0);
                continue;
            }
            Array.Sort(column);
            result[m] = new ConfidenceInterval(estimates[m], Quantile(column, alpha / 2), Quantile(column, 1.0 - alpha / 2), confidence, column.Length);
        }
        return result;
    }

    /// <summary>
    /// The seed of resample <paramref name="resample"/>: SplitMix64's finaliser over (seed, resample). Not HashCode,
    /// which .NET randomises per process: intervals must be the same after a restart.
    /// </summary>
    public static int ResampleSeed(int seed, int resample)
    {
        var z = ((ulong)(uint)seed << 32 | (uint)resample) + 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (int)(z & 0x7FFFFFFF);
    }

    public static void Gather<T>(ReadOnlySpan<T> source, ReadOnlySpan<int> indices, Span<T> destination)
    {
        if (destination.Length < indices.Length)
            throw new ArgumentException("destination is shorter than indices", nameof(destination));
        for (var i = 0; i < indices.Length; i++) destination[i] = source[indices[i]];
    }

    /// <summary>numpy's <c>quantile(method="linear")</c>, including its lerp that is exact at both ends.</summary>
    private static double Quantile(ReadOnlySpan<double> sorted, double q)
    {
        var position = q * (sorted.Length - 1);
        var below = (int)Math.Floor(position);
        var above = Math.Min(below + 1, sorted.Length - 1);
        var t = position - below;
        double a = sorted[below], b = sorted[above];
        return t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t;
    }
}
