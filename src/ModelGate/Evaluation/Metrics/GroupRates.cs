namespace ModelGate.Evaluation.Metrics;

/// <summary>
/// One sensitive-feature group's counts and the rates Fairlearn compares across groups. A rate whose denominator is
/// empty (a group with no actual positives has no true positive rate) is 0, because Fairlearn derives TPR and FPR from
/// scikit-learn's <c>confusion_matrix(normalize="true")</c>, which turns 0/0 into 0.
/// </summary>
public sealed record GroupRates(string Group, BinaryConfusionMatrix Counts)
{
    public double SelectionRate => Counts.PositiveRate;

    public double TruePositiveRate => Counts.TruePositiveRate;

    public double FalsePositiveRate => Counts.FalsePositiveRate;
}
