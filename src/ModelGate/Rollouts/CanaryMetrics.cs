using ModelGate.Client;
using ModelGate.Rollouts.Judge;

namespace ModelGate.Rollouts;

/// <summary>
/// The metrics a canary analysis compares by default, with their thresholds: the one place they are set (the README's
/// table is written from here). Ratios are candidate / stable of the means of the per-slot values; a non-critical
/// failure lowers the score, a critical one fails the analysis.
/// </summary>
public static class CanaryMetrics
{
    /// <summary>5xx share; any significant rise over an error-free stable version, or a 5× rise, is critical.</summary>
    public static readonly CanaryMetricConfig ErrorRate = new() { Name = "error_rate", Direction = MetricDirection.Increase, Critical = true };

    /// <summary>Share of the candidate's requests that failed and were answered by the stable version instead.</summary>
    public static readonly CanaryMetricConfig FallbackRate = new() { Name = "fallback_rate", Direction = MetricDirection.Increase, Critical = true };

    /// <summary>Latency fails at +10 % and a difference of more than 1 ms or 5 % of stable's figure (the noise floor).</summary>
    public static readonly CanaryMetricConfig LatencyP50 = Latency("latency_p50");

    public static readonly CanaryMetricConfig LatencyP99 = Latency("latency_p99");

    /// <summary>Mean feedback score (1/0 for a right/wrong label); fails at −10 %.</summary>
    public static readonly CanaryMetricConfig FeedbackScore = new() { Name = "feedback_score", Direction = MetricDirection.Decrease };

    /// <summary>
    /// Share of rows predicted positive: fails at 1.5× or 0.67× (and 0.02 apart), critically at 4× or a quarter. Wide, because
    /// at a 5 % step the candidate's share comes from a few rows per slot: a sound model measured 0.14 against 0.33 there.
    /// </summary>
    public static readonly CanaryMetricConfig PositiveRate = new()
    {
        Name = "positive_rate", Direction = MetricDirection.Either, Critical = true, AllowedIncrease = 1.5, AllowedDecrease = 0.67, CriticalIncrease = 4,
        CriticalDecrease = 0.25, AbsoluteFloor = 0.02,
    };

    /// <summary>The positive-class probability's distribution: fails at Kolmogorov-Smirnov D ≥ 0.1, critically at D ≥ 0.2 (p &lt; 0.001).</summary>
    public static readonly DistributionMetricConfig ScoreDistribution = new() { Name = "score_distribution" };

    /// <summary>Share of rows whose output was NaN, infinite or outside [0, 1]; any significant rise of at least 0.001 is critical.</summary>
    public static readonly CanaryMetricConfig InvalidOutputRate = new()
    {
        Name = "invalid_output_rate", Direction = MetricDirection.Increase, Critical = true, CriticalIncrease = 1.1, AbsoluteFloor = 0.001,
    };

    /// <summary>Cost per answered request and per token: fail at 1.2×, critically at 1.5×.</summary>
    public static readonly CanaryMetricConfig CostPerRequest = Cost("cost_per_request");

    public static readonly CanaryMetricConfig CostPerToken = Cost("cost_per_token");

    /// <summary>Mean completion length per answered request: fails at ±50 %.</summary>
    public static readonly CanaryMetricConfig CompletionTokens = new()
    {
        Name = "completion_tokens", Direction = MetricDirection.Either, AllowedIncrease = 1.5, AllowedDecrease = 0.67, CriticalIncrease = 10,
        CriticalDecrease = 0.1, AbsoluteFloor = 1,
    };

    /// <summary>Median time to the first token (first byte) of LLM answers, with latency's noise floor.</summary>
    public static readonly CanaryMetricConfig TimeToFirstToken = Latency("time_to_first_token");

    /// <summary>Shadow of a classifier: the share of rows whose label matches stable's; critical below 0.9.</summary>
    public static readonly ThresholdMetricConfig LabelAgreement = new() { Name = "label_agreement", Direction = MetricDirection.Decrease, Bound = 0.9 };

    /// <summary>Shadow of a classifier: mean |Δp| of the positive-class probability; critical above 0.1.</summary>
    public static readonly ThresholdMetricConfig MeanAbsDeltaP = new() { Name = "mean_abs_delta_p", Direction = MetricDirection.Increase, Bound = 0.1 };

    /// <summary>Shadow of an LLM: mean completion-length difference relative to stable's mean; fails beyond ±50 %.</summary>
    public static readonly ThresholdMetricConfig CompletionLengthDelta = new()
    {
        Name = "completion_length_delta", Direction = MetricDirection.Either, Critical = false, Bound = 0.5,
    };

    /// <summary>Shadow of an LLM: mean latency difference (ms); fails above <see cref="LatencyDeltaBound"/>.</summary>
    public static readonly ThresholdMetricConfig LatencyDelta = new() { Name = "latency_delta_ms", Direction = MetricDirection.Increase, Critical = false };

    /// <summary>The names of the default metrics (a business metric may not take one).</summary>
    public static readonly IReadOnlySet<string> DefaultNames = new HashSet<string>(StringComparer.Ordinal)
    {
        ErrorRate.Name, FallbackRate.Name, LatencyP50.Name, LatencyP99.Name, FeedbackScore.Name, PositiveRate.Name, ScoreDistribution.Name, InvalidOutputRate.Name,
        CostPerRequest.Name, CostPerToken.Name, CompletionTokens.Name, TimeToFirstToken.Name, LabelAgreement.Name, MeanAbsDeltaP.Name, CompletionLengthDelta.Name,
        LatencyDelta.Name,
    };

    /// <summary>10 % of stable's mean latency, at least 1 ms (latency's floor and allowed increase).</summary>
    public static double LatencyDeltaBound(double stableMeanMs) => Math.Max(1, 0.1 * stableMeanMs);

    /// <summary>A business metric of the rollout: fails at ±10 % in its direction; a critical one fails critically at the same point.</summary>
    public static CanaryMetricConfig Business(RolloutMetricSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var direction = spec.Direction switch
        {
            MetricDirections.Increase => MetricDirection.Increase,
            MetricDirections.Either => MetricDirection.Either,
            _ => MetricDirection.Decrease,
        };
        return new CanaryMetricConfig
        {
            Name = spec.Name, Direction = direction, Critical = spec.Critical, CriticalIncrease = 1.1, CriticalDecrease = 0.9,
        };
    }

    private static CanaryMetricConfig Latency(string name) => new()
    {
        Name = name, Direction = MetricDirection.Increase, AbsoluteFloor = 1, RelativeFloor = 0.05,
    };

    private static CanaryMetricConfig Cost(string name) => new()
    {
        Name = name, Direction = MetricDirection.Increase, Critical = true, AllowedIncrease = 1.2, CriticalIncrease = 1.5,
    };
}
