namespace ModelGate.Evaluation.Metrics;

/// <summary>
/// A metric's value on all rows with a bootstrap interval around it. <see cref="Resamples"/> counts the resamples
/// that produced a number: one whose metric was undefined (NaN, e.g. ROC AUC on a resample holding one class) is
/// left out rather than counted as a value.
/// </summary>
public readonly record struct ConfidenceInterval(double Estimate, double Lower, double Upper, double Confidence, int Resamples)
{
    public double Width => Upper - Lower;

    public bool Contains(double value) => value >= Lower && value <= Upper;
}
