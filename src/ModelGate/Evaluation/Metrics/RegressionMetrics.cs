using System.Buffers;

namespace ModelGate.Evaluation.Metrics;

/// <summary>
/// scikit-learn's single-output regression metrics, with its summation order (<see cref="NumpySum"/>) so results
/// agree to the last bit or so.
/// </summary>
public static class RegressionMetrics
{
    public static double MeanAbsoluteError(ReadOnlySpan<double> yTrue, ReadOnlySpan<double> yPred) =>
        MeanOf(yTrue, yPred, static (t, p) => Math.Abs(p - t));

    /// <summary>√(mean squared error), scikit-learn's <c>root_mean_squared_error</c>.</summary>
    public static double RootMeanSquaredError(ReadOnlySpan<double> yTrue, ReadOnlySpan<double> yPred) =>
        Math.Sqrt(MeanOf(yTrue, yPred, static (t, p) => (t - p) * (t - p)));

    /// <summary>
    /// Coefficient of determination, scikit-learn's <c>r2_score</c> with its default <c>force_finite=True</c>:
    /// 1 − SS_res / SS_tot, except that a constant y_true (SS_tot = 0) scores 1.0 for perfect predictions and 0.0
    /// otherwise, instead of NaN or −∞. Like scikit-learn, "constant" means the sum of squares about the computed
    /// mean is exactly 0, and fewer than two rows give NaN.
    /// </summary>
    public static double R2(ReadOnlySpan<double> yTrue, ReadOnlySpan<double> yPred)
    {
        Inputs.SameLength(yTrue.Length, yPred.Length, nameof(yPred));
        Inputs.FiniteScores(yTrue, nameof(yTrue));
        Inputs.FiniteScores(yPred, nameof(yPred));
        var n = yTrue.Length;
        if (n < 2) return double.NaN;
        var buffer = ArrayPool<double>.Shared.Rent(n);
        try
        {
            var terms = buffer.AsSpan(0, n);
            for (var i = 0; i < n; i++)
            {
                var d = yTrue[i] - yPred[i];
                terms[i] = d * d;
            }
            var residual = NumpySum.Sum(terms);
            var mean = NumpySum.Mean(yTrue);
            for (var i = 0; i < n; i++)
            {
                var d = yTrue[i] - mean;
                terms[i] = d * d;
            }
            var total = NumpySum.Sum(terms);
            if (residual == 0.0) return 1.0;
            if (total == 0.0) return 0.0;
            return 1.0 - residual / total;
        }
        finally
        {
            ArrayPool<double>.Shared.Return(buffer);
        }
    }

    private static double MeanOf(ReadOnlySpan<double> yTrue, ReadOnlySpan<double> yPred, Func<double, double, double> term)
    {
        Inputs.SameLength(yTrue.Length, yPred.Length, nameof(yPred));
        Inputs.FiniteScores(yTrue, nameof(yTrue));
        Inputs.FiniteScores(yPred, nameof(yPred));
        if (yTrue.IsEmpty) return double.NaN;
        var buffer = ArrayPool<double>.Shared.Rent(yTrue.Length);
        try
        {
            for (var i = 0; i < yTrue.Length; i++) buffer[i] = term(yTrue[i], yPred[i]);
            return NumpySum.Mean(buffer.AsSpan(0, yTrue.Length));
        }
        finally
        {
            ArrayPool<double>.Shared.Return(buffer);
        }
    }
}
