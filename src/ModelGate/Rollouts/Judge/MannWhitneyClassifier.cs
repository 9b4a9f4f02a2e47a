using ModelGate.Monitoring.Statistics;

namespace ModelGate.Rollouts.Judge;

/// <summary>
/// Kayenta's <c>MannWhitneyClassifier</c> (kayenta-judge, classifiers/metric/MannWhitneyClassifier.scala): a metric is
/// High when the lower end of the Hodges-Lehmann interval for the shift (candidate − stable) lies above
/// tolerance·|estimate| and the mean ratio reaches the allowed increase, Low when the upper end lies below
/// −tolerance·|estimate| and the ratio is at most the allowed decrease, each only in the configured direction;
/// otherwise Pass. Empty samples (after dropping NaN, Kayenta's default "remove") are NoData; identical samples, or
/// samples holding one single value between them, Pass without a test. The interval is Kayenta's: the normal
/// approximation of <see cref="MannWhitney"/> with <see cref="MannWhitneyOptions.Kayenta"/>.
/// <para>
/// Two departures, both where Kayenta cannot judge: a mean ratio with a zero mean on either side (a stable version
/// without errors, say) is undefined and left out of the decision — Kayenta's current code sets it to 1, which
/// under the allowed increase of 1.1 would pass any error rate against an error-free stable version — and samples
/// that are each constant are compared as the exact difference of the two values instead of with Kayenta's random
/// noise.
/// </para>
/// </summary>
public static class MannWhitneyClassifier
{
    public static CanaryMetricResult Classify(
        CanaryMetricConfig metric,
        ReadOnlySpan<double> control,
        ReadOnlySpan<double> experiment,
        double confidenceLevel = 0.98,
        double tolerance = 0.25)
    {
        ArgumentNullException.ThrowIfNull(metric);
        var controlValues = Finite(control);
        var experimentValues = Finite(experiment);
        var result = new CanaryMetricResult
        {
            Name = metric.Name,
            Direction = metric.Direction,
            Critical = metric.Critical,
            ControlCount = controlValues.Length,
            ExperimentCount = experimentValues.Length,
            ControlMean = controlValues.Length > 0 ? controlValues.Average() : null,
            ExperimentMean = experimentValues.Length > 0 ? experimentValues.Average() : null,
        };

        var minimum = Math.Max(1, metric.MinimumSamples);
        if (controlValues.Length < minimum || experimentValues.Length < minimum)
        {
            var reason = controlValues.Length == 0 || experimentValues.Length == 0
                ? $"Missing data for {metric.Name}"
                : $"{metric.Name} has {Math.Min(controlValues.Length, experimentValues.Length)} samples, fewer than the {minimum} required";
            // Kayenta marks a critical metric without data critical, which fails the analysis.
            return result with { Classification = MetricClassification.NoData, Reason = reason, CriticalFailure = metric.Critical };
        }

        Array.Sort(controlValues);
        Array.Sort(experimentValues);
        if (controlValues.AsSpan().SequenceEqual(experimentValues))
        {
            return result with { Classification = MetricClassification.Pass, Reason = "The Canary and Baseline data are identical", EffectSize = 1 };
        }
        if (controlValues[0] == controlValues[^1] && experimentValues[0] == experimentValues[^1] && controlValues[0] == experimentValues[0])
        {
            return result with { Classification = MetricClassification.Pass, EffectSize = 1 };
        }

        var test = MannWhitney.Test(experimentValues, controlValues, MannWhitneyOptions.Kayenta(confidenceLevel));
        var bound = tolerance * Math.Abs(test.Estimate);
        var effectSize = result.ControlMean == 0 || result.ExperimentMean == 0 ? (double?)null : result.ExperimentMean / result.ControlMean;
        result = result with { Estimate = test.Estimate, Lower = test.Lower, Upper = test.Upper, EffectSize = effectSize };

        // Below the noise floor a change is never a failure, however significant (a busy machine's microseconds of latency).
        var difference = result.ExperimentMean!.Value - result.ControlMean!.Value;
        var floor = metric.Floor(result.ControlMean.Value);
        if (Math.Abs(difference) < floor)
        {
            return result with
            {
                Classification = MetricClassification.Pass,
                Reason = $"the difference {difference:0.####} is within the noise floor of {floor:0.####}",
            };
        }

        var high = metric.Direction is MetricDirection.Increase or MetricDirection.Either
            && test.Lower > bound
            && (effectSize is null || effectSize >= metric.AllowedIncrease);
        if (high)
        {
            var critical = metric.Critical && (effectSize is null || effectSize >= metric.CriticalIncrease);
            return result with
            {
                Classification = MetricClassification.High,
                CriticalFailure = critical,
                Reason = critical ? $"The metric {metric.Name} was classified as High (Critical)" : $"{metric.Name} was classified as High",
            };
        }

        var low = metric.Direction is MetricDirection.Decrease or MetricDirection.Either
            && test.Upper < -bound
            && (effectSize is null || effectSize <= metric.AllowedDecrease);
        if (low)
        {
            var critical = metric.Critical && (effectSize is null || effectSize <= metric.CriticalDecrease);
            return result with
            {
                Classification = MetricClassification.Low,
                CriticalFailure = critical,
                Reason = critical ? $"The metric {metric.Name} was classified as Low (Critical)" : $"{metric.Name} was classified as Low",
            };
        }

        return result with { Classification = MetricClassification.Pass };
    }

    private static double[] Finite(ReadOnlySpan<double> values)
    {
        var result = new List<double>(values.Length);
        foreach (var v in values)
        {
            if (double.IsFinite(v)) result.Add(v);
        }
        return [.. result];
    }
}
