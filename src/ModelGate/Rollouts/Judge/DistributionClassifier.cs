using ModelGate.Monitoring.Statistics;

namespace ModelGate.Rollouts.Judge;

/// <summary>How far two distributions may be apart: Kolmogorov-Smirnov's D at which a significant difference fails, and at which it fails critically.</summary>
public sealed record DistributionMetricConfig
{
    public required string Name { get; init; }
    public bool Critical { get; init; } = true;

    /// <summary>
    /// The p-value below which the distributions differ at all. 0.001: a rollout runs several analyses, each a test, and a small
    /// candidate sample (≈ 60 rows at 5 %) crossed D 0.2 at p &lt; 0.01 by chance in about one run in twenty of the v2-mlp control
    /// scenario (seen in CI); a broken candidate's distribution is far beyond either bound.
    /// </summary>
    public double Significance { get; init; } = 0.001;

    /// <summary>A significant D of at least this fails (High).</summary>
    public double AllowedDistance { get; init; } = 0.1;

    /// <summary>A significant D of at least this fails critically.</summary>
    public double CriticalDistance { get; init; } = 0.2;

    /// <summary>Fewer values than this on either side classify the metric NoData.</summary>
    public int MinimumCount { get; init; } = 20;
}

/// <summary>A figure that must stay on one side of a bound (a shadow's agreement with stable): no stable sample, no test.</summary>
public sealed record ThresholdMetricConfig
{
    public required string Name { get; init; }
    public MetricDirection Direction { get; init; } = MetricDirection.Decrease;
    public bool Critical { get; init; } = true;

    /// <summary>An increase-failing figure fails above this, a decrease-failing one below it, an either-way one when its magnitude exceeds it.</summary>
    public double Bound { get; init; }

    /// <summary>Fewer observations than this classify the metric NoData.</summary>
    public int MinimumCount { get; init; } = 20;
}

/// <summary>
/// Classifiers for what a per-slot Mann-Whitney test cannot judge: two pooled histograms (the scores an ONNX classifier
/// gave, by the two-sample Kolmogorov-Smirnov test) and one-sided figures without a stable sample (a shadow's agreement).
/// </summary>
public static class DistributionClassifier
{
    /// <summary>
    /// The two-sample Kolmogorov-Smirnov test of two histograms over the same bins: D is the largest gap between the
    /// cumulative shares, its p-value Kolmogorov's limiting distribution at √(n·m/(n+m))·D (binning only lowers D, so the
    /// test errs towards passing). High when p is below the significance and D reaches the allowed distance; critical
    /// when D also reaches the critical distance.
    /// </summary>
    public static CanaryMetricResult Histograms(DistributionMetricConfig metric, ReadOnlySpan<long> control, ReadOnlySpan<long> experiment,
        double? controlMean = null, double? experimentMean = null)
    {
        ArgumentNullException.ThrowIfNull(metric);
        if (control.Length != experiment.Length) throw new ArgumentException("both histograms need the same bins");
        long n = 0, m = 0;
        foreach (var c in control) n += c;
        foreach (var c in experiment) m += c;
        var result = new CanaryMetricResult
        {
            Name = metric.Name, Direction = MetricDirection.Either, Critical = metric.Critical, ControlCount = (int)Math.Min(n, int.MaxValue),
            ExperimentCount = (int)Math.Min(m, int.MaxValue), ControlMean = controlMean, ExperimentMean = experimentMean,
        };
        if (n < Math.Max(1, metric.MinimumCount) || m < Math.Max(1, metric.MinimumCount))
        {
            return result with
            {
                Classification = MetricClassification.NoData, CriticalFailure = metric.Critical,
                Reason = $"{metric.Name} has {Math.Min(n, m)} values, fewer than the {metric.MinimumCount} required",
            };
        }
        double distance = 0, first = 0, second = 0;
        for (var i = 0; i < control.Length; i++)
        {
            first += control[i];
            second += experiment[i];
            distance = Math.Max(distance, Math.Abs(first / n - second / m));
        }
        var p = KolmogorovSmirnov.KolmogorovLimitSurvival(Math.Sqrt((double)n * m / (n + m)) * distance);
        result = result with { Estimate = distance };
        if (p >= metric.Significance || distance < metric.AllowedDistance)
        {
            return result with { Classification = MetricClassification.Pass, Reason = $"Kolmogorov-Smirnov D {distance:0.###} (p {p:0.###})" };
        }
        var critical = metric.Critical && distance >= metric.CriticalDistance;
        return result with
        {
            Classification = MetricClassification.High, CriticalFailure = critical,
            Reason = $"{metric.Name} differs from stable: Kolmogorov-Smirnov D {distance:0.###} (p {p:0.###e0}){(critical ? " (Critical)" : "")}",
        };
    }

    /// <summary>A figure (<paramref name="value"/> over <paramref name="count"/> observations) against its bound.</summary>
    public static CanaryMetricResult Threshold(ThresholdMetricConfig metric, double value, long count, double? controlMean = null)
    {
        ArgumentNullException.ThrowIfNull(metric);
        var result = new CanaryMetricResult
        {
            Name = metric.Name, Direction = metric.Direction, Critical = metric.Critical, ExperimentCount = (int)Math.Min(count, int.MaxValue),
            ExperimentMean = count > 0 ? value : null, ControlMean = controlMean,
        };
        if (count < Math.Max(1, metric.MinimumCount) || !double.IsFinite(value))
        {
            return result with
            {
                Classification = MetricClassification.NoData, CriticalFailure = metric.Critical,
                Reason = $"{metric.Name} has {count} observations, fewer than the {metric.MinimumCount} required",
            };
        }
        var high = metric.Direction switch
        {
            MetricDirection.Increase => value > metric.Bound,
            MetricDirection.Either => Math.Abs(value) > metric.Bound,
            _ => false,
        };
        var low = metric.Direction == MetricDirection.Decrease && value < metric.Bound;
        if (!high && !low)
        {
            return result with { Classification = MetricClassification.Pass };
        }
        return result with
        {
            Classification = high ? MetricClassification.High : MetricClassification.Low, CriticalFailure = metric.Critical,
            Reason = $"{metric.Name} {value:0.####} is {(low ? "below " : metric.Direction == MetricDirection.Either ? "beyond ±" : "above ")}{metric.Bound:0.####}{(metric.Critical ? " (Critical)" : "")}",
        };
    }
}
