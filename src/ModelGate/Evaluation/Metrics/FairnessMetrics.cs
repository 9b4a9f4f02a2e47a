using System.Runtime.InteropServices;

namespace ModelGate.Evaluation.Metrics;

/// <summary>
/// Fairlearn's group-fairness metrics for binary predictions (positive class 1), with its default
/// <c>method="between_groups"</c>: a disparity is the largest minus the smallest per-group value, a ratio the
/// smallest over the largest.
/// Rows whose sensitive value is null or empty form one group named "" rather than being dropped: Fairlearn (through
/// pandas' groupby) silently leaves out rows with a missing key, which hides exactly the rows a fairness check should
/// see.
/// </summary>
public static class FairnessMetrics
{
    /// <summary>Per-group counts, ordered by group name (ordinal), one pass over the rows.</summary>
    public static IReadOnlyList<GroupRates> ByGroup(ReadOnlySpan<int> yTrue, ReadOnlySpan<int> yPred, ReadOnlySpan<string?> sensitiveFeature)
    {
        Inputs.SameLength(yTrue.Length, yPred.Length, nameof(yPred));
        Inputs.SameLength(yTrue.Length, sensitiveFeature.Length, nameof(sensitiveFeature));
        Inputs.BinaryLabels(yTrue, nameof(yTrue));
        Inputs.BinaryLabels(yPred, nameof(yPred));
        // Cells as in BinaryConfusionMatrix: [tn, fp, fn, tp] at 2 * truth + prediction.
        var cells = new Dictionary<string, long[]>(StringComparer.Ordinal);
        for (var i = 0; i < yTrue.Length; i++)
        {
            ref var groupCells = ref CollectionsMarshal.GetValueRefOrAddDefault(cells, sensitiveFeature[i] ?? "", out _);
            groupCells ??= new long[4];
            groupCells[2 * yTrue[i] + yPred[i]]++;
        }
        var groups = new GroupRates[cells.Count];
        var g = 0;
        foreach (var (name, c) in cells) groups[g++] = new GroupRates(name, new BinaryConfusionMatrix(c[0], c[1], c[2], c[3]));
        Array.Sort(groups, static (a, b) => string.CompareOrdinal(a.Group, b.Group));
        return groups;
    }

    /// <summary>Fairlearn's <c>MetricFrame(selection_rate, …).by_group</c>; y_true is not needed.</summary>
    public static IReadOnlyDictionary<string, double> SelectionRateByGroup(ReadOnlySpan<int> yPred, ReadOnlySpan<string?> sensitiveFeature)
    {
        // Selection rate ignores the truth (Fairlearn takes y_true only for a uniform signature), so zeros stand in.
        var groups = ByGroup(new int[yPred.Length], yPred, sensitiveFeature);
        return groups.ToDictionary(r => r.Group, r => r.SelectionRate, StringComparer.Ordinal);
    }

    /// <summary>Largest minus smallest group selection rate (<c>demographic_parity_difference</c>).</summary>
    public static double DemographicParityDifference(IReadOnlyList<GroupRates> groups) =>
        Difference(groups, static r => r.SelectionRate);

    public static double DemographicParityDifference(ReadOnlySpan<int> yTrue, ReadOnlySpan<int> yPred, ReadOnlySpan<string?> sensitiveFeature) =>
        DemographicParityDifference(ByGroup(yTrue, yPred, sensitiveFeature));

    /// <summary>
    /// Smallest over largest group selection rate (<c>demographic_parity_ratio</c>); NaN when every group's rate is
    /// 0, where Fairlearn's 0/0 also gives NaN.
    /// </summary>
    public static double DemographicParityRatio(IReadOnlyList<GroupRates> groups) =>
        Ratio(groups, static r => r.SelectionRate);

    public static double DemographicParityRatio(ReadOnlySpan<int> yTrue, ReadOnlySpan<int> yPred, ReadOnlySpan<string?> sensitiveFeature) =>
        DemographicParityRatio(ByGroup(yTrue, yPred, sensitiveFeature));

    /// <summary>
    /// The larger of the true-positive-rate and false-positive-rate disparities
    /// (<c>equalized_odds_difference</c> with <c>agg="worst_case"</c>).
    /// </summary>
    public static double EqualizedOddsDifference(IReadOnlyList<GroupRates> groups) =>
        Math.Max(Difference(groups, static r => r.TruePositiveRate), Difference(groups, static r => r.FalsePositiveRate));

    public static double EqualizedOddsDifference(ReadOnlySpan<int> yTrue, ReadOnlySpan<int> yPred, ReadOnlySpan<string?> sensitiveFeature) =>
        EqualizedOddsDifference(ByGroup(yTrue, yPred, sensitiveFeature));

    /// <summary>Largest minus smallest group true positive rate (<c>equal_opportunity_difference</c>).</summary>
    public static double EqualOpportunityDifference(IReadOnlyList<GroupRates> groups) =>
        Difference(groups, static r => r.TruePositiveRate);

    public static double EqualOpportunityDifference(ReadOnlySpan<int> yTrue, ReadOnlySpan<int> yPred, ReadOnlySpan<string?> sensitiveFeature) =>
        EqualOpportunityDifference(ByGroup(yTrue, yPred, sensitiveFeature));

    private static double Difference(IReadOnlyList<GroupRates> groups, Func<GroupRates, double> rate)
    {
        var (min, max) = Range(groups, rate);
        return max - min;
    }

    private static double Ratio(IReadOnlyList<GroupRates> groups, Func<GroupRates, double> rate)
    {
        var (min, max) = Range(groups, rate);
        return min / max; // 0/0 is NaN, as in Fairlearn
    }

    private static (double Min, double Max) Range(IReadOnlyList<GroupRates> groups, Func<GroupRates, double> rate)
    {
        if (groups.Count == 0) return (double.NaN, double.NaN);
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        foreach (var group in groups)
        {
            var value = rate(group);
            min = Math.Min(min, value);
            max = Math.Max(max, value);
        }
        return (min, max);
    }
}
