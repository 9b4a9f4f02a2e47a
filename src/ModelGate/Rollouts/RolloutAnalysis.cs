using ModelGate.Gateway.Telemetry;
using ModelGate.Rollouts.Judge;

namespace ModelGate.Rollouts;

/// <summary>
/// The canary analysis of one interval: the candidate against the stable version over the same window, each metric a
/// series of 10-second samples from the gateway's telemetry — error rate (5xx share, critical), latency p99, and where
/// feedback arrives the feedback score (accuracy for labels) — judged by Kayenta's Mann-Whitney classifier.
/// </summary>
public static class RolloutAnalysis
{
    public static CanaryJudgement Analyze(IRolloutEvidence evidence, string deployment, string stable, string candidate, DateTime from, bool shadow,
        int minimumSamples)
    {
        var control = evidence.Slots(deployment, stable, from, shadow: false);
        var experiment = evidence.Slots(deployment, candidate, from, shadow);
        static double[] Served(IEnumerable<SlotAggregate> slots, Func<SlotAggregate, double> value) => slots.Where(s => s.Requests > 0).Select(value).ToArray();
        static double[] Feedback(IEnumerable<SlotAggregate> slots) => slots.Where(s => s.FeedbackCount > 0).Select(s => s.FeedbackSum / s.FeedbackCount).ToArray();
        static double P99(SlotAggregate s) => LatencyHistogram.Quantile(s.Latency, 0.99) ?? 0;

        var inputs = new List<CanaryMetricInput>
        {
            new(new CanaryMetricConfig { Name = "error_rate", Direction = MetricDirection.Increase, Critical = true, MinimumSamples = minimumSamples },
                Served(control, s => (double)s.ServerErrors / s.Requests), Served(experiment, s => (double)s.ServerErrors / s.Requests)),
            new(new CanaryMetricConfig { Name = "latency_p99", Direction = MetricDirection.Increase, MinimumSamples = minimumSamples },
                Served(control, P99), Served(experiment, P99)),
        };
        var controlFeedback = Feedback(control);
        var experimentFeedback = Feedback(experiment);
        if (controlFeedback.Length + experimentFeedback.Length > 0)
        {
            inputs.Add(new(new CanaryMetricConfig { Name = "feedback_score", Direction = MetricDirection.Decrease, MinimumSamples = minimumSamples },
                controlFeedback, experimentFeedback));
        }
        return CanaryJudge.Judge(inputs);
    }

    /// <summary>Whether the analysis could say anything: at least half the metrics had data on both sides.</summary>
    public static bool HasData(CanaryJudgement judgement) => judgement.NoDataCount * 2 < judgement.Metrics.Count;
}
