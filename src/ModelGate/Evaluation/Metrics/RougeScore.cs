namespace ModelGate.Evaluation.Metrics;

/// <summary>Precision, recall and F-measure of a prediction against a target, as rouge-score's <c>Score</c> tuple.</summary>
public readonly record struct RougeScore(double Precision, double Recall, double FMeasure)
{
    public static readonly RougeScore Zero = new(0.0, 0.0, 0.0);

    /// <summary>F = 2PR / (P + R), 0 when P + R = 0, evaluated in rouge-score's order of operations.</summary>
    public static RougeScore FromPrecisionRecall(double precision, double recall) =>
        new(precision, recall, precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0);
}
