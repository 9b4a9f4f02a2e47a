using System.Buffers;

namespace ModelGate.Evaluation.Metrics;

/// <summary>Scores of predicted probabilities of the positive class 1 against binary labels.</summary>
public static class ProbabilityMetrics
{
    /// <summary>
    /// Machine epsilon of float64, 2^-52 (numpy's <c>np.finfo(np.float64).eps</c>). Not <see cref="double.Epsilon"/>,
    /// which is the smallest subnormal and would clip nothing.
    /// </summary>
    public const double Float64Epsilon = 2.220446049250313e-16;

    /// <summary>
    /// Machine epsilon of float32, 2^-23: what scikit-learn clips with when it is handed float32 probabilities
    /// (an ONNX model's output, say) rather than float64 ones.
    /// </summary>
    public const double Float32Epsilon = 1.1920928955078125e-07;

    /// <summary>
    /// Mean negative log-likelihood, as scikit-learn ≥1.5's <c>log_loss(y_true, p)</c> for a 1-D <c>p</c>: each row's
    /// probability of its true class (p, or 1 − p) is clipped to [eps, 1 − eps] and there is no renormalisation
    /// (1.5 removed both the <c>eps</c> argument and the rescaling after clipping). <paramref name="epsilon"/> is the
    /// machine epsilon of the dtype the probabilities came in, as scikit-learn takes it from the array it is handed:
    /// <see cref="Float32Epsilon"/> for a model's float32 outputs, <see cref="Float64Epsilon"/> for float64 ones. Widening
    /// float32 outputs to double does not change their dtype's precision: a float32 output of exactly 0 costs
    /// −log(2^-23) ≈ 15.9, not −log(2^-52) ≈ 36.0.
    /// Unlike scikit-learn, a y_true holding one class only is scored (as scikit-learn does given
    /// <c>labels=[0, 1]</c>) instead of refused.
    /// </summary>
    public static double LogLoss(ReadOnlySpan<int> yTrue, ReadOnlySpan<double> probabilities, double epsilon)
    {
        if (epsilon is not (> 0 and < 0.5))
        {
            throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "epsilon must be a machine epsilon in (0, 0.5)");
        }
        Inputs.SameLength(yTrue.Length, probabilities.Length, nameof(probabilities));
        Inputs.BinaryLabels(yTrue, nameof(yTrue));
        Inputs.Probabilities(probabilities, nameof(probabilities));
        if (yTrue.IsEmpty) return double.NaN;
        var losses = ArrayPool<double>.Shared.Rent(yTrue.Length);
        try
        {
            for (var i = 0; i < yTrue.Length; i++)
            {
                // 1 − p is formed before clipping, as scikit-learn stacks [1 − p, p] and then clips both columns.
                var pTrue = yTrue[i] == 1 ? probabilities[i] : 1.0 - probabilities[i];
                losses[i] = -Math.Log(Math.Clamp(pTrue, epsilon, 1.0 - epsilon));
            }
            return NumpySum.Mean(losses.AsSpan(0, yTrue.Length));
        }
        finally
        {
            ArrayPool<double>.Shared.Return(losses);
        }
    }

    /// <summary>
    /// Mean squared difference between probability and outcome, scikit-learn's binary <c>brier_score_loss</c>
    /// (which scikit-learn ≥1.7 computes as half the two-column sum: equal up to the last bit or so).
    /// </summary>
    public static double BrierScore(ReadOnlySpan<int> yTrue, ReadOnlySpan<double> probabilities)
    {
        Inputs.SameLength(yTrue.Length, probabilities.Length, nameof(probabilities));
        Inputs.BinaryLabels(yTrue, nameof(yTrue));
        Inputs.Probabilities(probabilities, nameof(probabilities));
        if (yTrue.IsEmpty) return double.NaN;
        var squares = ArrayPool<double>.Shared.Rent(yTrue.Length);
        try
        {
            for (var i = 0; i < yTrue.Length; i++)
            {
                var d = yTrue[i] - probabilities[i];
                squares[i] = d * d;
            }
            return NumpySum.Mean(squares.AsSpan(0, yTrue.Length));
        }
        finally
        {
            ArrayPool<double>.Shared.Return(squares);
        }
    }
}
