namespace ModelGate.Evaluation.Metrics;

/// <summary>
/// Threshold metrics of a binary classifier (positive class 1) from its scores, as scikit-learn's
/// <c>accuracy_score</c>, <c>precision_score</c>, <c>recall_score</c>, <c>f1_score</c> (all with
/// <c>zero_division=0</c>) and Fairlearn's <c>selection_rate</c> compute them on <c>score &gt;= threshold</c>.
/// Each call makes one pass; when several are needed, build one <see cref="BinaryConfusionMatrix"/> and read its rates.
/// </summary>
public static class ClassificationMetrics
{
    public const double DefaultThreshold = 0.5;

    /// <summary>Writes 1 where <c>score &gt;= threshold</c>, else 0.</summary>
    public static void Predict(ReadOnlySpan<double> scores, Span<int> destination, double threshold = DefaultThreshold)
    {
        Inputs.SameLength(scores.Length, destination.Length, nameof(destination));
        Inputs.FiniteScores(scores, nameof(scores));
        for (var i = 0; i < scores.Length; i++) destination[i] = scores[i] >= threshold ? 1 : 0;
    }

    public static int[] Predict(ReadOnlySpan<double> scores, double threshold = DefaultThreshold)
    {
        var labels = new int[scores.Length];
        Predict(scores, labels, threshold);
        return labels;
    }

    public static BinaryConfusionMatrix ConfusionMatrix(ReadOnlySpan<int> yTrue, ReadOnlySpan<double> scores, double threshold = DefaultThreshold) =>
        BinaryConfusionMatrix.FromScores(yTrue, scores, threshold);

    public static double Accuracy(ReadOnlySpan<int> yTrue, ReadOnlySpan<double> scores, double threshold = DefaultThreshold) =>
        ConfusionMatrix(yTrue, scores, threshold).Accuracy;

    public static double Precision(ReadOnlySpan<int> yTrue, ReadOnlySpan<double> scores, double threshold = DefaultThreshold) =>
        ConfusionMatrix(yTrue, scores, threshold).Precision;

    public static double Recall(ReadOnlySpan<int> yTrue, ReadOnlySpan<double> scores, double threshold = DefaultThreshold) =>
        ConfusionMatrix(yTrue, scores, threshold).Recall;

    public static double F1(ReadOnlySpan<int> yTrue, ReadOnlySpan<double> scores, double threshold = DefaultThreshold) =>
        ConfusionMatrix(yTrue, scores, threshold).F1;

    /// <summary>Share of rows with <c>score &gt;= threshold</c>; needs no labels.</summary>
    public static double PositiveRate(ReadOnlySpan<double> scores, double threshold = DefaultThreshold)
    {
        Inputs.FiniteScores(scores, nameof(scores));
        if (scores.IsEmpty) return double.NaN;
        var selected = 0;
        foreach (var s in scores) if (s >= threshold) selected++;
        return (double)selected / scores.Length;
    }
}
