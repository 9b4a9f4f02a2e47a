namespace ModelGate.Rollouts.Judge;

/// <summary>
/// Kayenta's judgement of a canary interval: each metric classified by <see cref="MannWhitneyClassifier"/>, then
/// scored as its <c>WeightedSumScorer</c> scores a single group — the share of passing metrics among those with
/// data (NoData metrics are left out of the share), times 100, rounded half up to two decimals — except that a
/// critical failure, or NoData for at least half of the metrics, scores 0. The score is Pass at or above
/// <see cref="CanaryJudgeOptions.PassScore"/>, Marginal at or above <see cref="CanaryJudgeOptions.MarginalScore"/>,
/// else Fail (Kayenta's ThresholdScoreClassifier). Metric groups and their weights are not modelled.
/// </summary>
public static class CanaryJudge
{
    public static CanaryJudgement Judge(IEnumerable<CanaryMetricInput> inputs, CanaryJudgeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        options ??= new CanaryJudgeOptions();
        var results = inputs
            .Select(input => MannWhitneyClassifier.Classify(input.Metric, input.Control, input.Experiment, options.ConfidenceLevel, options.Tolerance))
            .ToList();
        return Score(results, options);
    }

    /// <summary>Scores classified metrics.</summary>
    public static CanaryJudgement Score(IReadOnlyList<CanaryMetricResult> results, CanaryJudgeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(results);
        options ??= new CanaryJudgeOptions();
        int pass = 0, high = 0, low = 0, noData = 0;
        foreach (var r in results)
        {
            switch (r.Classification)
            {
                case MetricClassification.Pass: pass++; break;
                case MetricClassification.High: high++; break;
                case MetricClassification.Low: low++; break;
                default: noData++; break;
            }
        }

        string? reason = null;
        double score;
        var failure = results.FirstOrDefault(r => r.CriticalFailure && r.Classification != MetricClassification.Pass);
        if (results.Count == 0)
        {
            score = 0;
            reason = "Canary Failed: no metrics";
        }
        else if (failure is not null)
        {
            score = 0;
            reason = $"Canary Failed: {failure.Reason}";
        }
        else if ((double)noData / results.Count >= options.NoDataShare)
        {
            score = 0;
            reason = $"Canary Failed: {options.NoDataShare * 100:0.##}% or more metrics returned NODATA";
        }
        else
        {
            // Kayenta scores a group whose metrics all lack data as 100 (only reachable with NoDataShare above 1).
            var scored = pass + high + low;
            score = scored == 0 ? 100 : Math.Round(100.0 * pass / scored, 2, MidpointRounding.AwayFromZero);
        }

        var verdict = score >= options.PassScore ? CanaryVerdict.Pass
            : score >= options.MarginalScore ? CanaryVerdict.Marginal
            : CanaryVerdict.Fail;
        return new CanaryJudgement
        {
            Metrics = results,
            Score = score,
            Verdict = verdict,
            Reason = reason,
            PassCount = pass,
            HighCount = high,
            LowCount = low,
            NoDataCount = noData,
        };
    }
}
