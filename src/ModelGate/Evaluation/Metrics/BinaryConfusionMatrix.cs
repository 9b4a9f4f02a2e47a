namespace ModelGate.Evaluation.Metrics;

/// <summary>
/// Counts of a binary classification with positive class 1, laid out as scikit-learn's
/// <c>confusion_matrix(y_true, y_pred).ravel()</c> returns them: (tn, fp, fn, tp).
/// The rates follow scikit-learn with <c>zero_division=0</c>: a rate whose denominator is zero is 0, never NaN,
/// so a model that never predicts the positive class scores precision 0 rather than poisoning an aggregate.
/// </summary>
public readonly record struct BinaryConfusionMatrix(long TrueNegatives, long FalsePositives, long FalseNegatives, long TruePositives)
{
    public long Count => TrueNegatives + FalsePositives + FalseNegatives + TruePositives;

    public long ActualPositives => TruePositives + FalseNegatives;

    public long PredictedPositives => TruePositives + FalsePositives;

    /// <summary>(tp + tn) / n; NaN for no rows, where scikit-learn has no answer either.</summary>
    public double Accuracy => Count == 0 ? double.NaN : (double)(TruePositives + TrueNegatives) / Count;

    /// <summary>tp / (tp + fp), 0 when nothing was predicted positive.</summary>
    public double Precision => PredictedPositives == 0 ? 0.0 : (double)TruePositives / PredictedPositives;

    /// <summary>tp / (tp + fn), 0 when there are no actual positives.</summary>
    public double Recall => ActualPositives == 0 ? 0.0 : (double)TruePositives / ActualPositives;

    /// <summary>
    /// 2tp / (2tp + fp + fn), the form scikit-learn ≥1.3 computes (it equals 2PR/(P+R) but stays defined when
    /// precision or recall alone is 0/0); 0 when there are neither actual nor predicted positives.
    /// </summary>
    public double F1
    {
        get
        {
            var denominator = ActualPositives + PredictedPositives;
            return denominator == 0 ? 0.0 : 2.0 * TruePositives / denominator;
        }
    }

    /// <summary>Share of rows predicted positive (Fairlearn's selection rate); NaN for no rows.</summary>
    public double PositiveRate => Count == 0 ? double.NaN : (double)PredictedPositives / Count;

    /// <summary>Recall by another name, kept for the fairness vocabulary.</summary>
    public double TruePositiveRate => Recall;

    /// <summary>fp / (fp + tn), 0 when there are no actual negatives.</summary>
    public double FalsePositiveRate
    {
        get
        {
            var negatives = FalsePositives + TrueNegatives;
            return negatives == 0 ? 0.0 : (double)FalsePositives / negatives;
        }
    }

    public static BinaryConfusionMatrix FromLabels(ReadOnlySpan<int> yTrue, ReadOnlySpan<int> yPred)
    {
        Inputs.SameLength(yTrue.Length, yPred.Length, nameof(yPred));
        Inputs.BinaryLabels(yTrue, nameof(yTrue));
        Inputs.BinaryLabels(yPred, nameof(yPred));
        // cells[2 * truth + prediction] = [tn, fp, fn, tp]: one branch-free pass.
        Span<long> cells = stackalloc long[4];
        for (var i = 0; i < yTrue.Length; i++) cells[2 * yTrue[i] + yPred[i]]++;
        return new BinaryConfusionMatrix(cells[0], cells[1], cells[2], cells[3]);
    }

    /// <summary>Thresholds scores first: a row is predicted positive when <c>score &gt;= threshold</c>.</summary>
    public static BinaryConfusionMatrix FromScores(ReadOnlySpan<int> yTrue, ReadOnlySpan<double> scores, double threshold = ClassificationMetrics.DefaultThreshold)
    {
        Inputs.SameLength(yTrue.Length, scores.Length, nameof(scores));
        Inputs.BinaryLabels(yTrue, nameof(yTrue));
        Inputs.FiniteScores(scores, nameof(scores));
        Span<long> cells = stackalloc long[4];
        for (var i = 0; i < yTrue.Length; i++) cells[2 * yTrue[i] + (scores[i] >= threshold ? 1 : 0)]++;
        return new BinaryConfusionMatrix(cells[0], cells[1], cells[2], cells[3]);
    }
}
