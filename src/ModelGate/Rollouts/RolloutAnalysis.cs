using ModelGate.Client;
using ModelGate.Gateway.Telemetry;
using ModelGate.Rollouts.Judge;

namespace ModelGate.Rollouts;

/// <summary>What an analysis needs besides the evidence: the rollout's evidence minimums and its business metrics.</summary>
public sealed record AnalysisSettings
{
    /// <summary>Slots with data each side needs for a per-slot metric.</summary>
    public int MinimumSamples { get; init; } = 3;

    /// <summary>Requests the candidate must have served (or, as a shadow, answered) in the interval.</summary>
    public int MinimumRequests { get; init; } = 50;

    /// <summary>Feedback answers each side needs in the interval for the feedback score.</summary>
    public int MinimumFeedback { get; init; } = 20;

    public IReadOnlyList<RolloutMetricSpec> Business { get; init; } = [];

    public static AnalysisSettings From(StartRolloutRequest spec) => new()
    {
        MinimumSamples = spec.MinimumSamples, MinimumRequests = spec.MinimumRequests, MinimumFeedback = spec.MinimumFeedback, Business = spec.Metrics ?? [],
    };
}

/// <summary>The outcome of one analysis: what the controller acts on.</summary>
public static class AnalysisOutcomes
{
    public const string Pass = "pass";
    public const string Marginal = "marginal";
    public const string Fail = "fail";

    /// <summary>Too little evidence to judge: the step holds; it is never a pass.</summary>
    public const string NoData = "no_data";
}

/// <summary>One interval's analysis: the judgement of every metric, the outcome and why, and the requests each side served.</summary>
public sealed record AnalysisResult(CanaryJudgement Judgement, string Outcome, string Reason, long StableRequests, long CandidateRequests)
{
    /// <summary>The metrics that failed (High or Low), critical ones first.</summary>
    public IReadOnlyList<CanaryMetricResult> Failed => Judgement.Metrics
        .Where(m => m.Classification is MetricClassification.High or MetricClassification.Low)
        .OrderByDescending(m => m.CriticalFailure).ToList();

    public RolloutAnalysisDto ToDto(DateTime at, double weight) => new(at, weight, Outcome, Judgement.Score, Reason, StableRequests, CandidateRequests,
        Judgement.Metrics.Select(m => new MetricAnalysisDto(m.Name, m.ControlMean, m.ExperimentMean, m.ControlCount, m.ExperimentCount, m.Lower, m.Upper,
            m.Classification.ToString(), m.Critical, m.CriticalFailure && m.Classification is MetricClassification.High or MetricClassification.Low, m.Reason,
            m.Estimate)).ToList());
}

/// <summary>
/// The canary analysis of one interval: the candidate against the stable version over the same window, read only through
/// <see cref="IRolloutEvidence"/>. Per-slot metrics (a value per 10-second slot) are judged by Kayenta's Mann-Whitney
/// classifier; the ONNX score distribution by a two-sample Kolmogorov-Smirnov test of the pooled histograms; a shadow's
/// agreement with stable against fixed bounds. Which metrics and thresholds apply is <see cref="CanaryMetrics"/>.
/// </summary>
public static class RolloutAnalysis
{
    public static async Task<AnalysisResult> AnalyzeAsync(IRolloutEvidence evidence, string deployment, string stable, string candidate, DateTime from, bool shadow,
        AnalysisSettings settings, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(evidence);
        ArgumentNullException.ThrowIfNull(settings);
        var control = await evidence.SlotsAsync(deployment, stable, from, shadow: false, cancellationToken);
        var experiment = await evidence.SlotsAsync(deployment, candidate, from, shadow, cancellationToken);
        return Analyze(control, experiment, shadow, settings);
    }

    /// <summary>The analysis of two slot series (stable, then the candidate's served or mirrored traffic).</summary>
    public static AnalysisResult Analyze(IReadOnlyList<SlotAggregate> control, IReadOnlyList<SlotAggregate> experiment, bool shadow, AnalysisSettings settings)
    {
        var c = Totals(control);
        var e = Totals(experiment);
        var minimumSamples = Math.Max(1, settings.MinimumSamples);
        var results = new List<CanaryMetricResult>();
        var required = new HashSet<string>(StringComparer.Ordinal);

        void PerSlot(CanaryMetricConfig metric, Func<SlotAggregate, double?> value)
        {
            var config = metric with { MinimumSamples = minimumSamples };
            results.Add(MannWhitneyClassifier.Classify(config, Values(control, value), Values(experiment, value)));
        }

        // Every backend.
        PerSlot(CanaryMetrics.ErrorRate, s => s.Requests > 0 ? (double)s.ServerErrors / s.Requests : null);
        PerSlot(CanaryMetrics.FallbackRate, s => s.Requests > 0 ? (double)s.Fallbacks / s.Requests : null);
        PerSlot(CanaryMetrics.LatencyP50, s => LatencyHistogram.Quantile(s.Latency, 0.5));
        PerSlot(CanaryMetrics.LatencyP99, s => LatencyHistogram.Quantile(s.Latency, 0.99));
        // A shadow never serves: no feedback, no business outcome and no cost can reach it, so those are not compared.
        if (!shadow && c.FeedbackCount + e.FeedbackCount > 0)
        {
            required.Add(CanaryMetrics.FeedbackScore.Name);
            var minimum = Math.Min(c.FeedbackCount, e.FeedbackCount);
            results.Add(minimum < settings.MinimumFeedback
                ? NoData(CanaryMetrics.FeedbackScore.Name, CanaryMetrics.FeedbackScore.Direction, false, c.FeedbackCount, e.FeedbackCount,
                    $"feedback_score has {minimum} feedback answers on one side, fewer than the {settings.MinimumFeedback} required")
                : MannWhitneyClassifier.Classify(CanaryMetrics.FeedbackScore with { MinimumSamples = minimumSamples },
                    Values(control, Feedback), Values(experiment, Feedback)));
        }

        // ONNX classifiers: the prediction distribution, which needs no labels.
        if (c.Predictions + c.InvalidOutputs + e.Predictions + e.InvalidOutputs > 0)
        {
            PerSlot(CanaryMetrics.PositiveRate, s => s.Predictions > 0 ? (double)s.PositivePredictions / s.Predictions : null);
            results.Add(DistributionClassifier.Histograms(CanaryMetrics.ScoreDistribution, c.Scores, e.Scores,
                c.Predictions > 0 ? c.ScoreSum / c.Predictions : null, e.Predictions > 0 ? e.ScoreSum / e.Predictions : null));
            PerSlot(CanaryMetrics.InvalidOutputRate, s => s.Predictions + s.InvalidOutputs > 0 ? (double)s.InvalidOutputs / (s.Predictions + s.InvalidOutputs) : null);
        }

        // LLM upstreams: cost, completion length, time to first token.
        if (c.PromptTokens + c.CompletionTokens + e.PromptTokens + e.CompletionTokens > 0 || c.Cost + e.Cost > 0)
        {
            if (!shadow && c.Cost + e.Cost > 0)
            {
                PerSlot(CanaryMetrics.CostPerRequest, s => s.Requests > s.ServerErrors ? s.Cost / (s.Requests - s.ServerErrors) : null);
                PerSlot(CanaryMetrics.CostPerToken, s => s.PromptTokens + s.CompletionTokens > 0 ? s.Cost / (s.PromptTokens + s.CompletionTokens) : null);
            }
            PerSlot(CanaryMetrics.CompletionTokens, s => s.Requests > s.ServerErrors ? (double)s.CompletionTokens / (s.Requests - s.ServerErrors) : null);
        }
        if (Sum(c.FirstByte) + Sum(e.FirstByte) > 0)
        {
            PerSlot(CanaryMetrics.TimeToFirstToken, s => LatencyHistogram.Quantile(s.FirstByte, 0.5));
        }

        // A shadow: its agreement with stable on the same requests.
        if (shadow && e.Compared > 0)
        {
            if (c.Predictions + e.Predictions > 0)
            {
                results.Add(DistributionClassifier.Threshold(CanaryMetrics.LabelAgreement, (double)e.Agreed / e.Compared, e.Compared));
                results.Add(DistributionClassifier.Threshold(CanaryMetrics.MeanAbsDeltaP, e.AbsDeltaPSum / e.Compared, e.Compared));
            }
            else
            {
                var stableCompletion = c.Requests > c.ServerErrors ? (double)c.CompletionTokens / (c.Requests - c.ServerErrors) : 0;
                results.Add(DistributionClassifier.Threshold(CanaryMetrics.CompletionLengthDelta,
                    stableCompletion > 0 ? e.CompletionTokensDeltaSum / e.Compared / stableCompletion : 0, e.Compared, stableCompletion));
                var stableLatency = c.Requests > 0 ? c.LatencySumMs / c.Requests : 0;
                var delta = e.LatencyDeltaSumMs / e.Compared;
                results.Add(DistributionClassifier.Threshold(CanaryMetrics.LatencyDelta with { Bound = CanaryMetrics.LatencyDeltaBound(stableLatency) }, delta,
                    e.Compared, stableLatency));
            }
        }

        // The rollout's business metrics.
        foreach (var spec in shadow ? [] : settings.Business)
        {
            required.Add(spec.Name);
            var metric = CanaryMetrics.Business(spec);
            var stableCount = c.Business?.GetValueOrDefault(spec.Name).Count ?? 0;
            var candidateCount = e.Business?.GetValueOrDefault(spec.Name).Count ?? 0;
            var minimum = Math.Min(stableCount, candidateCount);
            results.Add(minimum < Math.Max(1, spec.MinimumSamples)
                ? NoData(spec.Name, metric.Direction, spec.Critical, stableCount, candidateCount,
                    $"{spec.Name} has {minimum} values on one side, fewer than the {spec.MinimumSamples} required")
                : MannWhitneyClassifier.Classify(metric with { MinimumSamples = minimumSamples },
                    Values(control, s => Business(s, spec.Name)), Values(experiment, s => Business(s, spec.Name))));
        }

        var judgement = CanaryJudge.Score(results);
        var (outcome, reason) = Outcome(judgement, c.Requests, e.Requests, settings, required);
        return new AnalysisResult(judgement, outcome, reason, c.Requests, e.Requests);
    }

    /// <summary>
    /// No data when the candidate served too few requests, when a metric the rollout relies on (a critical one, feedback, a
    /// business metric) lacks data, or when Kayenta's rule scores the analysis 0 for half the metrics without data; otherwise
    /// the judge's verdict. A failing verdict names every failed metric.
    /// </summary>
    private static (string Outcome, string Reason) Outcome(CanaryJudgement judgement, long stableRequests, long candidateRequests, AnalysisSettings settings,
        HashSet<string> required)
    {
        if (candidateRequests < settings.MinimumRequests)
        {
            return (AnalysisOutcomes.NoData, $"the candidate served {candidateRequests} requests, fewer than the {settings.MinimumRequests} required");
        }
        var critical = judgement.Metrics.Where(m => m.CriticalFailure && m.Classification is MetricClassification.High or MetricClassification.Low).ToList();
        if (critical.Count > 0)
        {
            return (AnalysisOutcomes.Fail, $"score 0: {string.Join("; ", critical.Select(Describe))}" +
                (judgement.Metrics.Any(m => !m.CriticalFailure && m.Classification is MetricClassification.High or MetricClassification.Low)
                    ? "; " + string.Join("; ", judgement.Metrics.Where(m => !m.CriticalFailure && m.Classification is MetricClassification.High or MetricClassification.Low).Select(Describe))
                    : ""));
        }
        var missing = judgement.Metrics.Where(m => m.Classification == MetricClassification.NoData && (m.Critical || required.Contains(m.Name))).ToList();
        if (missing.Count > 0)
        {
            return (AnalysisOutcomes.NoData, "no data for " + string.Join("; ", missing.Select(m => m.Reason ?? m.Name)));
        }
        if (judgement.NoDataCount * 2 >= judgement.Metrics.Count)
        {
            return (AnalysisOutcomes.NoData, $"{judgement.NoDataCount} of {judgement.Metrics.Count} metrics have no data ({string.Join(", ",
                judgement.Metrics.Where(m => m.Classification == MetricClassification.NoData).Select(m => m.Name))}); stable served {stableRequests} requests");
        }
        var failed = judgement.Metrics.Where(m => m.Classification is MetricClassification.High or MetricClassification.Low).OrderByDescending(m => m.CriticalFailure)
            .ToList();
        var outcome = judgement.Verdict switch
        {
            CanaryVerdict.Pass => AnalysisOutcomes.Pass,
            CanaryVerdict.Marginal => AnalysisOutcomes.Marginal,
            _ => AnalysisOutcomes.Fail,
        };
        var score = $"score {judgement.Score:0.##}";
        return failed.Count == 0
            ? (outcome, $"{score}: all {judgement.Metrics.Count - judgement.NoDataCount} metrics with data passed")
            : (outcome, $"{score}: {string.Join("; ", failed.Select(Describe))}");
    }

    /// <summary>"error_rate High (critical): candidate 0.5 vs stable 0".</summary>
    public static string Describe(CanaryMetricResult m) =>
        $"{m.Name} {m.Classification}{(m.CriticalFailure ? " (critical)" : "")}: candidate {Figure(m.ExperimentMean)} vs stable {Figure(m.ControlMean)}" +
        (m.Name == CanaryMetrics.ScoreDistribution.Name && m.Estimate is { } d ? $", D {d:0.###}" : "");

    private static string Figure(double? value) => value is { } v ? v.ToString("0.####", System.Globalization.CultureInfo.InvariantCulture) : "-";

    private static CanaryMetricResult NoData(string name, MetricDirection direction, bool critical, long control, long experiment, string reason) => new()
    {
        Name = name, Direction = direction, Critical = critical, Classification = MetricClassification.NoData, CriticalFailure = critical, Reason = reason,
        ControlCount = (int)Math.Min(control, int.MaxValue), ExperimentCount = (int)Math.Min(experiment, int.MaxValue),
    };

    private static double? Feedback(SlotAggregate s) => s.FeedbackCount > 0 ? s.FeedbackSum / s.FeedbackCount : null;

    private static double? Business(SlotAggregate s, string name) =>
        s.Business is { } business && business.TryGetValue(name, out var sum) && sum.Count > 0 ? sum.Sum / sum.Count : null;

    private static double[] Values(IReadOnlyList<SlotAggregate> slots, Func<SlotAggregate, double?> value)
    {
        var values = new List<double>(slots.Count);
        foreach (var slot in slots)
        {
            if (value(slot) is { } v)
            {
                values.Add(v);
            }
        }
        return [.. values];
    }

    private static SlotAggregate Totals(IReadOnlyList<SlotAggregate> slots) => SlotAggregate.Merge(0, slots);

    private static long Sum(long[] counts)
    {
        long total = 0;
        foreach (var c in counts)
        {
            total += c;
        }
        return total;
    }
}
