using System.Globalization;

namespace ModelGate.Evaluation;

/// <summary>
/// The values a metric can take, for results reported from elsewhere (external evaluations): probabilities, rates, areas
/// and scores in [0, 1]; losses and errors ≥ 0; R² at most 1; every value finite. A metric ModelGate does not know only
/// needs to be finite.
/// </summary>
public static class MetricRanges
{
    private static readonly Dictionary<string, (double Min, double Max)> Known = new(StringComparer.Ordinal)
    {
        ["accuracy"] = (0, 1), ["precision"] = (0, 1), ["recall"] = (0, 1), ["f1"] = (0, 1), ["roc_auc"] = (0, 1), ["pr_auc"] = (0, 1),
        ["brier"] = (0, 1), ["positive_rate"] = (0, 1), ["refusal_rate"] = (0, 1), ["leak_rate"] = (0, 1), ["exact_match"] = (0, 1),
        ["contains"] = (0, 1), ["rouge1"] = (0, 1), ["rouge2"] = (0, 1), ["rougeL"] = (0, 1), ["rougeLsum"] = (0, 1),
        ["demographic_parity_difference"] = (0, 1), ["demographic_parity_ratio"] = (0, 1), ["equalized_odds_difference"] = (0, 1),
        ["equal_opportunity_difference"] = (0, 1),
        ["log_loss"] = (0, double.MaxValue), ["mae"] = (0, double.MaxValue), ["mse"] = (0, double.MaxValue), ["rmse"] = (0, double.MaxValue),
        ["r2"] = (double.MinValue, 1),
    };

    /// <summary>Null when <paramref name="value"/> is a value <paramref name="metric"/> can take; otherwise why not.</summary>
    public static string? Check(string metric, double value)
    {
        if (!double.IsFinite(value))
        {
            return "must be a finite number";
        }
        if (Known.TryGetValue(metric, out var range) && (value < range.Min || value > range.Max))
        {
            return range switch
            {
                (0, 1) => $"{metric} is in [0, 1], not {value.ToString(CultureInfo.InvariantCulture)}",
                (0, _) => $"{metric} is at least 0, not {value.ToString(CultureInfo.InvariantCulture)}",
                _ => $"{metric} is at most {range.Max.ToString(CultureInfo.InvariantCulture)}, not {value.ToString(CultureInfo.InvariantCulture)}",
            };
        }
        return null;
    }
}
