namespace ModelGate.Evaluation.Metrics;

/// <summary>
/// Argument checks shared by the metrics. Bad input is a caller bug (scikit-learn raises on it too), so it throws
/// rather than yielding a number that would look like a result.
/// </summary>
internal static class Inputs
{
    public static void SameLength(int expected, int actual, string name)
    {
        if (actual != expected)
            throw new ArgumentException($"{name} has {actual} rows but the labels have {expected}.", name);
    }

    public static void BinaryLabels(ReadOnlySpan<int> labels, string name)
    {
        foreach (var y in labels)
            if (y is not (0 or 1))
                throw new ArgumentException($"{name} must hold only 0 and 1 (positive class 1); found {y}.", name);
    }

    public static void FiniteScores(ReadOnlySpan<double> scores, string name)
    {
        foreach (var s in scores)
            if (!double.IsFinite(s))
                throw new ArgumentException($"{name} must be finite; found {s}.", name);
    }

    public static void Probabilities(ReadOnlySpan<double> probabilities, string name)
    {
        foreach (var p in probabilities)
            if (!(p >= 0.0 && p <= 1.0))
                throw new ArgumentException($"{name} must be probabilities in [0, 1]; found {p}.", name);
    }
}
