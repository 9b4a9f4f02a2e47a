using System.Text.Json.Serialization;

namespace ModelGate.Rollouts.Judge;

/// <summary>Which change of a metric counts against the candidate (Kayenta's <c>direction</c>).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<MetricDirection>))]
public enum MetricDirection
{
    /// <summary>Only an increase fails (latency, error rate).</summary>
    Increase,
    /// <summary>Only a decrease fails (accuracy, feedback score).</summary>
    Decrease,
    /// <summary>Both fail (Kayenta's default).</summary>
    Either,
}

/// <summary>The outcome for one metric (Kayenta's Pass, High, Low, Nodata).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<MetricClassification>))]
public enum MetricClassification
{
    Pass,
    High,
    Low,
    NoData,
}

[JsonConverter(typeof(JsonStringEnumConverter<CanaryVerdict>))]
public enum CanaryVerdict
{
    Pass,
    Marginal,
    Fail,
}

/// <summary>
/// One metric of a canary analysis. The effect-size thresholds bound the ratio of the means (candidate / stable):
/// a significant change only fails when the ratio is at least <see cref="AllowedIncrease"/> (at most
/// <see cref="AllowedDecrease"/>); a failing critical metric fails the whole analysis when the ratio is at least
/// <see cref="CriticalIncrease"/> (at most <see cref="CriticalDecrease"/>).
/// </summary>
public sealed record CanaryMetricConfig
{
    public required string Name { get; init; }
    public MetricDirection Direction { get; init; } = MetricDirection.Either;
    public bool Critical { get; init; }
    public double AllowedIncrease { get; init; } = 1.1;
    public double AllowedDecrease { get; init; } = 0.9;
    public double CriticalIncrease { get; init; } = 5.0;
    public double CriticalDecrease { get; init; } = 0.5;

    /// <summary>Fewer values than this on either side classify the metric NoData (1: only an empty sample does).</summary>
    public int MinimumSamples { get; init; } = 1;

    /// <summary>
    /// The noise floor: a difference of the means (candidate − stable) smaller than the larger of <see cref="AbsoluteFloor"/>
    /// and <see cref="RelativeFloor"/> × |stable mean| is never a failure, however significant (latency: 1 ms or 5 %).
    /// </summary>
    public double AbsoluteFloor { get; init; }
    public double RelativeFloor { get; init; }

    /// <summary>The floor for a stable mean of <paramref name="controlMean"/>.</summary>
    public double Floor(double controlMean) => Math.Max(AbsoluteFloor, RelativeFloor * Math.Abs(controlMean));
}

/// <summary>The judge's settings: Kayenta NetflixACAJudge's interval (98 %) and tolerance (0.25); pass 95 and marginal 75 as the design sets them (Kayenta takes them per request).</summary>
public sealed record CanaryJudgeOptions
{
    /// <summary>Confidence level of the Hodges-Lehmann interval.</summary>
    public double ConfidenceLevel { get; init; } = 0.98;

    /// <summary>The interval must clear this fraction of |estimate| on the failing side.</summary>
    public double Tolerance { get; init; } = 0.25;

    public double PassScore { get; init; } = 95;
    public double MarginalScore { get; init; } = 75;

    /// <summary>At least this share (0..1) of NoData metrics scores the analysis 0 (Kayenta's NODATA_THRESHOLD, 50 %).</summary>
    public double NoDataShare { get; init; } = 0.5;
}

/// <summary>A metric's configuration with its stable (control) and candidate (experiment) samples over the same window.</summary>
public sealed record CanaryMetricInput(CanaryMetricConfig Metric, double[] Control, double[] Experiment);

/// <summary>The classification of one metric.</summary>
public sealed record CanaryMetricResult
{
    public required string Name { get; init; }
    public MetricClassification Classification { get; init; }
    public string? Reason { get; init; }
    public MetricDirection Direction { get; init; }

    /// <summary>The metric is configured critical.</summary>
    public bool Critical { get; init; }

    /// <summary>A critical metric that failed beyond its critical effect size, or had no data: the analysis scores 0.</summary>
    public bool CriticalFailure { get; init; }

    /// <summary>
    /// Hodges-Lehmann estimate of the shift candidate − stable, and its interval; null when not tested. For a distribution
    /// test the estimate is its statistic (Kolmogorov-Smirnov's D).
    /// </summary>
    public double? Estimate { get; init; }
    public double? Lower { get; init; }
    public double? Upper { get; init; }

    /// <summary>Mean(candidate) / mean(stable); null when a mean is zero (the ratio is then left out of the decision).</summary>
    public double? EffectSize { get; init; }

    public double? ControlMean { get; init; }
    public double? ExperimentMean { get; init; }
    public int ControlCount { get; init; }
    public int ExperimentCount { get; init; }
}

/// <summary>The judgement of one canary interval.</summary>
public sealed record CanaryJudgement
{
    public required IReadOnlyList<CanaryMetricResult> Metrics { get; init; }

    /// <summary>0..100, two decimals.</summary>
    public double Score { get; init; }

    public CanaryVerdict Verdict { get; init; }

    /// <summary>Why the score is 0 when a rule rather than the metrics set it.</summary>
    public string? Reason { get; init; }

    public int PassCount { get; init; }
    public int HighCount { get; init; }
    public int LowCount { get; init; }
    public int NoDataCount { get; init; }
}
