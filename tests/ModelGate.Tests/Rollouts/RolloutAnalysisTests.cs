using ModelGate.Client;
using ModelGate.Gateway.Telemetry;
using ModelGate.Rollouts;
using ModelGate.Rollouts.Judge;

namespace ModelGate.Tests.Rollouts;

/// <summary>The canary analysis on synthetic slot aggregates: which metrics it compares, how each catches its failure, and when it has no data.</summary>
public sealed class RolloutAnalysisTests
{
    private static readonly AnalysisSettings Defaults = new();

    /// <summary>Twelve slots of one version; <paramref name="fill"/> sets each slot (its index given).</summary>
    private static List<SlotAggregate> Slots(Action<SlotAggregate, int> fill, int count = 12)
    {
        var slots = new List<SlotAggregate>();
        for (var i = 0; i < count; i++)
        {
            var slot = new SlotAggregate { Slot = i };
            fill(slot, i);
            slots.Add(slot);
        }
        return slots;
    }

    private static void Serve(SlotAggregate s, int requests, double latencyMs, int errors = 0, int fallbacks = 0)
    {
        s.Requests += requests;
        s.Errors[(int)ErrorClass.Server] += errors;
        s.Fallbacks += fallbacks;
        s.Latency[LatencyHistogram.BucketOf(latencyMs)] += requests;
        s.LatencySumMs += latencyMs * requests;
    }

    /// <summary>Rows scored with probabilities spread as <paramref name="probability"/> gives them (row index in).</summary>
    private static void Predict(SlotAggregate s, int rows, Func<int, double> probability)
    {
        for (var r = 0; r < rows; r++)
        {
            var p = probability(r);
            s.Predictions++;
            s.ScoreSum += p;
            s.Scores[Math.Min(SlotAggregate.ScoreBins - 1, (int)(p * SlotAggregate.ScoreBins))]++;
            if (p >= 0.5)
            {
                s.PositivePredictions++;
            }
        }
    }

    private static CanaryMetricResult Metric(AnalysisResult result, string name) => result.Judgement.Metrics.Single(m => m.Name == name);

    [Fact]
    public void Analyze_ErroringCandidate_FailsCritically_NamingErrorAndFallbackRates()
    {
        var stable = Slots((s, i) => Serve(s, 100, 4 + i % 3));
        var candidate = Slots((s, i) => Serve(s, 8, 4 + i % 3, errors: 8, fallbacks: 8));

        var result = RolloutAnalysis.Analyze(stable, candidate, shadow: false, Defaults);

        Assert.Equal(AnalysisOutcomes.Fail, result.Outcome);
        Assert.Equal(0, result.Judgement.Score);
        Assert.True(Metric(result, "error_rate").CriticalFailure);
        Assert.True(Metric(result, "fallback_rate").CriticalFailure);
        Assert.Contains("error_rate High (critical): candidate 1 vs stable 0", result.Reason);
        Assert.Contains("fallback_rate", result.Reason);
        Assert.Equal(["error_rate", "fallback_rate"], result.Failed.Select(m => m.Name));
    }

    [Fact]
    public void Analyze_BrokenClassifier_WithoutLabels_FailsOnThePredictionDistribution()
    {
        // Stable predicts ~19 % positive with probabilities spread over [0, 1); the broken candidate scores every row near 0.
        var stable = Slots((s, i) => { Serve(s, 100, 2); Predict(s, 100, r => (r * 37 + i) % 100 / 100.0 * (r % 5 == 0 ? 1 : 0.5)); });
        var candidate = Slots((s, i) => { Serve(s, 6, 2); Predict(s, 6, r => 0.01 + r * 0.001); });

        var result = RolloutAnalysis.Analyze(stable, candidate, shadow: false, Defaults with { MinimumRequests = 50 });

        Assert.Equal(AnalysisOutcomes.Fail, result.Outcome);
        var positive = Metric(result, "positive_rate");
        Assert.Equal(MetricClassification.Low, positive.Classification);
        Assert.True(positive.CriticalFailure);
        var scores = Metric(result, "score_distribution");
        Assert.Equal(MetricClassification.High, scores.Classification);
        Assert.True(scores.CriticalFailure);
        Assert.True(scores.Estimate > 0.5, $"D {scores.Estimate}");
        Assert.Equal(MetricClassification.Pass, Metric(result, "invalid_output_rate").Classification);
        Assert.DoesNotContain(result.Judgement.Metrics, m => m.Name == "feedback_score"); // no labels at all
    }

    [Fact]
    public void Analyze_InvalidOutputs_FailCritically()
    {
        var stable = Slots((s, i) => { Serve(s, 100, 2); Predict(s, 100, r => r / 100.0); });
        var candidate = Slots((s, i) => { Serve(s, 10, 2); Predict(s, 5, r => r / 5.0); s.InvalidOutputs += 5; });

        var result = RolloutAnalysis.Analyze(stable, candidate, shadow: false, Defaults);

        Assert.Equal(AnalysisOutcomes.Fail, result.Outcome);
        Assert.True(Metric(result, "invalid_output_rate").CriticalFailure);
    }

    [Fact]
    public void Analyze_SoundCandidate_WithSubMillisecondLatencyNoise_Passes()
    {
        // The candidate is 2-3× slower in relative terms, but by less than the 1 ms floor: noise on a busy machine, not a regression.
        var stable = Slots((s, i) => { Serve(s, 95, 0.2); Serve(s, 5, 0.3); Predict(s, 100, r => r / 100.0); });
        var candidate = Slots((s, i) => { Serve(s, 9, 0.5); Serve(s, 1, 0.9); Predict(s, 10, r => r / 10.0 + 0.005); });

        var result = RolloutAnalysis.Analyze(stable, candidate, shadow: false, Defaults with { MinimumRequests = 100 });

        Assert.True(result.Outcome == AnalysisOutcomes.Pass, result.Reason);
        Assert.Equal(100, result.Judgement.Score);
        Assert.Contains("noise floor", Metric(result, "latency_p50").Reason);
        Assert.Contains("all 7 metrics with data passed", result.Reason);
    }

    [Fact]
    public void Analyze_LatencyBeyondTheFloor_Fails()
    {
        var stable = Slots((s, i) => Serve(s, 100, 10 + i % 2));
        var candidate = Slots((s, i) => Serve(s, 10, 40 + i % 2));

        var result = RolloutAnalysis.Analyze(stable, candidate, shadow: false, Defaults with { MinimumRequests = 100 });

        Assert.Equal(MetricClassification.High, Metric(result, "latency_p50").Classification);
        Assert.Equal(MetricClassification.High, Metric(result, "latency_p99").Classification);
        Assert.NotEqual(AnalysisOutcomes.Pass, result.Outcome);
        Assert.Contains("latency_p50 High", result.Reason);
    }

    [Fact]
    public void Analyze_TenTimesTheCost_FailsCritically()
    {
        static void Chat(SlotAggregate s, int requests, double pricePerToken)
        {
            Serve(s, requests, 50);
            s.PromptTokens += 10 * requests;
            s.CompletionTokens += 20 * requests;
            s.Cost += 30 * requests * pricePerToken;
            s.FirstByte[LatencyHistogram.BucketOf(20)] += requests;
        }
        var stable = Slots((s, i) => Chat(s, 50, 0.001 * (1 + i % 3 * 0.1)));
        var candidate = Slots((s, i) => Chat(s, 50, 0.01 * (1 + i % 3 * 0.1)));

        var result = RolloutAnalysis.Analyze(stable, candidate, shadow: false, Defaults);

        Assert.Equal(AnalysisOutcomes.Fail, result.Outcome);
        Assert.True(Metric(result, "cost_per_token").CriticalFailure);
        Assert.True(Metric(result, "cost_per_request").CriticalFailure);
        Assert.Equal(10, Metric(result, "cost_per_token").EffectSize!.Value, 6);
        Assert.Equal(MetricClassification.Pass, Metric(result, "completion_tokens").Classification);
        Assert.Equal(MetricClassification.Pass, Metric(result, "time_to_first_token").Classification);

        // 1.3× is a failure, not a critical one.
        var dearer = RolloutAnalysis.Analyze(stable, Slots((s, i) => Chat(s, 50, 0.0013 * (1 + i % 3 * 0.1))), shadow: false, Defaults);
        Assert.Equal(MetricClassification.High, Metric(dearer, "cost_per_token").Classification);
        Assert.False(Metric(dearer, "cost_per_token").CriticalFailure);
    }

    [Fact]
    public void Analyze_TooFewCandidateRequests_IsNoData_NeverAPass()
    {
        var stable = Slots((s, i) => Serve(s, 100, 5));
        var candidate = Slots((s, i) => Serve(s, i < 4 ? 3 : 0, 5));

        var result = RolloutAnalysis.Analyze(stable, candidate, shadow: false, Defaults);

        Assert.Equal(AnalysisOutcomes.NoData, result.Outcome);
        Assert.Equal("the candidate served 12 requests, fewer than the 50 required", result.Reason);
        Assert.Equal(12, result.CandidateRequests);
        Assert.Equal(1200, result.StableRequests);
    }

    [Fact]
    public void Analyze_TooLittleFeedback_IsNoData()
    {
        var stable = Slots((s, i) => { Serve(s, 100, 5); s.FeedbackCount += 50; s.FeedbackSum += 40; });
        var candidate = Slots((s, i) => { Serve(s, 10, 5); s.FeedbackCount += i == 0 ? 5 : 0; s.FeedbackSum += i == 0 ? 5 : 0; });

        var result = RolloutAnalysis.Analyze(stable, candidate, shadow: false, Defaults);

        Assert.Equal(AnalysisOutcomes.NoData, result.Outcome);
        Assert.Contains("feedback_score has 5 feedback answers on one side, fewer than the 20 required", result.Reason);
    }

    [Fact]
    public void Analyze_BusinessMetricLower_FailsWhenCritical_AndHasNoDataWithoutValues()
    {
        var conversion = new RolloutMetricSpec("conversion", MetricDirections.Decrease, Critical: true, MinimumSamples: 30);
        var settings = Defaults with { Business = [conversion] };
        var stable = Slots((s, i) => { Serve(s, 50, 5); for (var r = 0; r < 50; r++) s.AddBusiness("conversion", (r + i) % 10 < 3 ? 1 : 0); });
        var candidate = Slots((s, i) => { Serve(s, 50, 5); for (var r = 0; r < 50; r++) s.AddBusiness("conversion", (r + i) % 10 < 1 ? 1 : 0); });

        var result = RolloutAnalysis.Analyze(stable, candidate, shadow: false, settings);

        Assert.Equal(AnalysisOutcomes.Fail, result.Outcome);
        var metric = Metric(result, "conversion");
        Assert.Equal(MetricClassification.Low, metric.Classification);
        Assert.True(metric.CriticalFailure);
        Assert.Contains("conversion Low (critical): candidate 0.1 vs stable 0.3", result.Reason);

        var same = RolloutAnalysis.Analyze(stable, stable, shadow: false, settings);
        Assert.Equal(AnalysisOutcomes.Pass, same.Outcome);

        var without = RolloutAnalysis.Analyze(stable, Slots((s, i) => Serve(s, 50, 5)), shadow: false, settings);
        Assert.Equal(AnalysisOutcomes.NoData, without.Outcome);
        Assert.Contains("conversion has 0 values", without.Reason);
    }

    [Fact]
    public void Analyze_ShadowOfADisagreeingClassifier_Fails_AndOfAnAgreeingOnePasses()
    {
        var stable = Slots((s, i) => { Serve(s, 100, 2); Predict(s, 100, r => r / 100.0); });
        List<SlotAggregate> Shadow(double agreement, double deltaP) => Slots((s, i) =>
        {
            Serve(s, 100, 2);
            Predict(s, 100, r => r / 100.0);
            s.Compared += 100;
            s.Agreed += (long)(100 * agreement);
            s.AbsDeltaPSum += 100 * deltaP;
        });

        var disagreeing = RolloutAnalysis.Analyze(stable, Shadow(0.6, 0.35), shadow: true, Defaults);
        Assert.Equal(AnalysisOutcomes.Fail, disagreeing.Outcome);
        Assert.Equal(MetricClassification.Low, Metric(disagreeing, "label_agreement").Classification);
        Assert.Equal(0.6, Metric(disagreeing, "label_agreement").ExperimentMean!.Value, 9);
        Assert.Equal(MetricClassification.High, Metric(disagreeing, "mean_abs_delta_p").Classification);

        var agreeing = RolloutAnalysis.Analyze(stable, Shadow(0.97, 0.02), shadow: true, Defaults);
        Assert.True(agreeing.Outcome == AnalysisOutcomes.Pass, agreeing.Reason);

        // Not a shadow: the comparison metrics are not part of a canary's analysis.
        Assert.DoesNotContain(RolloutAnalysis.Analyze(stable, Shadow(0.6, 0.35), shadow: false, Defaults).Judgement.Metrics, m => m.Name == "label_agreement");
    }

    [Fact]
    public void Analyze_Shadow_LeavesOutWhatOnlyServedTrafficGets()
    {
        // Stable gets feedback, conversions and cost; the shadow cannot: that is no reason to hold it.
        var stable = Slots((s, i) =>
        {
            Serve(s, 100, 5);
            s.FeedbackCount += 50;
            s.FeedbackSum += 40;
            s.Cost += 1;
            s.PromptTokens += 1000;
            s.CompletionTokens += 1000;
            for (var r = 0; r < 50; r++) s.AddBusiness("conversion", r % 3 == 0 ? 1 : 0);
        });
        var shadow = Slots((s, i) => { Serve(s, 100, 5); s.PromptTokens += 1000; s.CompletionTokens += 1000; });
        var settings = Defaults with { Business = [new RolloutMetricSpec("conversion", Critical: true)] };

        var result = RolloutAnalysis.Analyze(stable, shadow, shadow: true, settings);

        Assert.True(result.Outcome == AnalysisOutcomes.Pass, result.Reason);
        Assert.DoesNotContain(result.Judgement.Metrics, m => m.Name is "feedback_score" or "conversion" or "cost_per_token" or "cost_per_request");
        Assert.Equal(AnalysisOutcomes.NoData, RolloutAnalysis.Analyze(stable, shadow, shadow: false, settings).Outcome); // as a canary it would need them
    }

    [Fact]
    public void Analyze_ShadowOfAnLlm_ComparesLengthAndLatency()
    {
        var stable = Slots((s, i) => { Serve(s, 100, 100); s.PromptTokens += 1000; s.CompletionTokens += 2000; });
        var shadow = Slots((s, i) =>
        {
            Serve(s, 100, 300);
            s.PromptTokens += 1000;
            s.CompletionTokens += 6000;
            s.Compared += 100;
            s.CompletionTokensDeltaSum += 4000;
            s.LatencyDeltaSumMs += 20_000;
        });

        var result = RolloutAnalysis.Analyze(stable, shadow, shadow: true, Defaults);

        var length = Metric(result, "completion_length_delta");
        Assert.Equal(2, length.ExperimentMean!.Value, 9); // 40 more tokens on a mean of 20
        Assert.Equal(MetricClassification.High, length.Classification);
        var latency = Metric(result, "latency_delta_ms");
        Assert.Equal(200, latency.ExperimentMean!.Value, 9);
        Assert.Equal(MetricClassification.High, latency.Classification);
        Assert.NotEqual(AnalysisOutcomes.Pass, result.Outcome);
    }

    [Fact]
    public void Analyze_StoresEveryMetricWithFiguresCountsAndInterval()
    {
        var stable = Slots((s, i) => Serve(s, 100, 10 + i % 3));
        var candidate = Slots((s, i) => Serve(s, 10, 30 + i % 3));

        var dto = RolloutAnalysis.Analyze(stable, candidate, shadow: false, Defaults with { MinimumRequests = 100 }).ToDto(new DateTime(2026, 11, 1), 5);

        Assert.Equal(["error_rate", "fallback_rate", "latency_p50", "latency_p99"], dto.Metrics.Select(m => m.Name));
        var p50 = dto.Metrics.Single(m => m.Name == "latency_p50");
        Assert.Equal(12, p50.StableSamples);
        Assert.Equal(12, p50.CandidateSamples);
        Assert.NotNull(p50.Lower);
        Assert.NotNull(p50.Upper);
        Assert.True(p50.Candidate > p50.Stable);
        Assert.Equal("High", p50.Classification);
        Assert.False(p50.Critical);
        Assert.True(dto.Metrics.Single(m => m.Name == "error_rate").Critical);
        Assert.Equal(120, dto.CandidateRequests);
    }

    [Fact]
    public void Histograms_KolmogorovSmirnov_PassesTheSameShape_FailsAShift()
    {
        var stable = new long[SlotAggregate.ScoreBins];
        var same = new long[SlotAggregate.ScoreBins];
        var shifted = new long[SlotAggregate.ScoreBins];
        for (var b = 0; b < stable.Length; b++)
        {
            stable[b] = 100 + b;
            same[b] = 10 + b / 10;
            shifted[Math.Min(stable.Length - 1, b + 6)] += 10;
        }
        var config = CanaryMetrics.ScoreDistribution;
        Assert.Equal(MetricClassification.Pass, DistributionClassifier.Histograms(config, stable, same).Classification);
        var result = DistributionClassifier.Histograms(config, stable, shifted);
        Assert.Equal(MetricClassification.High, result.Classification);
        Assert.True(result.CriticalFailure);
        Assert.Equal(MetricClassification.NoData, DistributionClassifier.Histograms(config, stable, new long[SlotAggregate.ScoreBins]).Classification);
    }
}
