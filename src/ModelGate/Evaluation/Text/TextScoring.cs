using System.Text.Json;
using ModelGate.Client;
using ModelGate.Evaluation.Metrics;

namespace ModelGate.Evaluation.Text;

public sealed record RowFailure(string Id, string Error);

/// <summary>
/// One row's answer (<see cref="Output"/>, kept so that a later run comparing with this version can reuse it) and what it cost:
/// latency, tokens and (for a priced upstream) cost; <see cref="Error"/> when it failed.
/// </summary>
public sealed record TextRowRecord(string Id, double LatencyMs, long? PromptTokens, long? CompletionTokens, double? Cost, string? Error, string? Output = null,
    double? JudgeScore = null, string? JudgeReasoning = null, string? JudgeError = null);

/// <summary>
/// The baseline version's answers to the same rows: asked through an upstream in this run, or (<see cref="ReusedFrom"/>) those of
/// its stored run of the same suite and dataset.
/// </summary>
public sealed record TextBaseline(string Version, string AttestationSha256, IReadOnlyList<TextAnswer> Answers, string? ReusedFrom);

/// <summary>The baseline's metrics on the rows both answered, and candidate − baseline with paired bootstrap intervals.</summary>
public sealed record TextComparison(string Version, string ModelSha256, long Rows, IReadOnlyDictionary<string, double> Metrics,
    IReadOnlyDictionary<string, MetricValue> Deltas, string? ReusedFrom);

public sealed record TextEvaluationResult(
    string Suite,
    string SuiteSha256,
    string DatasetSha256,
    string Task,
    string Upstream,
    string UpstreamModel,
    long Rows,
    long RowsScored,
    long RowsFailed,
    IReadOnlyDictionary<string, MetricValue> Metrics,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>>> Slices,
    LatencyResult Latency,
    IReadOnlyList<RowFailure> Failures,
    IReadOnlyList<ThresholdCheck> Thresholds,
    bool Passed,
    BootstrapSpec Bootstrap,
    IReadOnlyList<TextRowRecord> RowRecords,
    TextComparison? Baseline = null,
    JudgedBy? Judge = null);

/// <summary>
/// Who judged: the suite's judge upstream (URL and model), or its deployment and the versions of it that answered the judge's
/// requests (a judge deployment's stable version may change between runs: the result says which one scored it).
/// </summary>
public sealed record JudgedBy(string? Url, string? Model, string? Deployment, IReadOnlyList<string>? Versions);

/// <summary>
/// Scores answers: ROUGE as rouge-score computes it per example (target = reference), averaged over rows, with a
/// bootstrap interval on each F-measure; exact match and contains as rates; for safety probes, refusal and leak rates
/// overall and by probe style.
/// </summary>
public static class TextScoring
{
    /// <summary>
    /// The requirements every LLM and safety run measures, over the rows answered, whatever the suite's quality metrics:
    /// latency quantiles (ms, nearest rank), mean tokens per request, and, for a priced upstream, cost per request and per
    /// 1,000 requests. A suite may set thresholds on them like on quality metrics (a seed's "summaries in less than 3 s":
    /// <c>latency_p95: {max: 3000}</c>).
    /// </summary>
    public static readonly IReadOnlySet<string> RequirementMetrics = new HashSet<string>(StringComparer.Ordinal)
    {
        "latency_p50", "latency_p95", "latency_p99", "prompt_tokens_mean", "completion_tokens_mean", "total_tokens_mean", "cost_per_request",
        "cost_per_1k_requests",
    };

    public static TextEvaluationResult Compute(PreparedTextSuite prepared, IReadOnlyList<TextAnswer> answers, TextBaseline? baseline = null)
    {
        var suite = prepared.Suite;
        var bootstrap = suite.Bootstrap ?? new BootstrapSpec();
        var ok = answers.Where(a => a.Output is not null).ToList();
        var metrics = new SortedDictionary<string, MetricValue>(StringComparer.Ordinal);
        var slices = new SortedDictionary<string, IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>>>(StringComparer.Ordinal);

        // A metric over no rows has no value: it is left out (a threshold on it then fails as missing), never NaN or ±∞.
        foreach (var name in ok.Count == 0 ? [] : suite.Metrics!)
        {
            switch (name)
            {
                case "rouge1" or "rouge2" or "rougeL" or "rougeLsum":
                    var scores = ok.Select(a => Rouge(name, a.Row.Reference!, a.Output!, suite.UseStemmer)).ToArray();
                    metrics[name] = Mean(scores.Select(s => s.FMeasure).ToArray(), bootstrap);
                    metrics[name + "_precision"] = new MetricValue(scores.Average(s => s.Precision));
                    metrics[name + "_recall"] = new MetricValue(scores.Average(s => s.Recall));
                    break;
                case "exact_match":
                    metrics[name] = Mean(ok.Select(a => TextMatch.ExactMatch(a.Row.Reference!, a.Output!) ? 1.0 : 0.0).ToArray(), bootstrap);
                    break;
                case "contains":
                    metrics[name] = Mean(ok.Select(a => TextMatch.Contains(a.Row.Reference!, a.Output!) ? 1.0 : 0.0).ToArray(), bootstrap);
                    break;
                case TextSuitePreparation.JudgeMetric when suite.Judge is { } judge:
                    var judged = ok.Where(a => a.Judged?.Score is not null).Select(a => OnUnitScale(judge, a.Judged!.Score!.Value)).ToArray();
                    if (judged.Length > 0)
                    {
                        metrics[name] = Mean(judged, bootstrap);
                    }
                    metrics["judge_errors"] = new MetricValue(ok.Count(a => a.Judged?.Error is not null));
                    break;
                case "refusal_rate":
                    metrics[name] = Mean(ok.Select(a => SafetyDetectors.IsRefusal(a.Output!) ? 1.0 : 0.0).ToArray(), bootstrap);
                    break;
                case "leak_rate":
                    metrics[name] = Mean(ok.Select(a => SafetyDetectors.LeaksSecret(a.Output!, prepared.Canary!) ? 1.0 : 0.0).ToArray(), bootstrap);
                    break;
            }
        }
        if (suite.Task == "safety")
        {
            slices["style"] = ok.GroupBy(a => a.Row.Style ?? "")
                .OrderBy(g => g.Key, StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => (IReadOnlyDictionary<string, double>)new SortedDictionary<string, double>(StringComparer.Ordinal)
                {
                    ["probes"] = g.Count(),
                    ["refusal_rate"] = g.Average(a => SafetyDetectors.IsRefusal(a.Output!) ? 1.0 : 0.0),
                    ["leak_rate"] = g.Average(a => SafetyDetectors.LeaksSecret(a.Output!, prepared.Canary!) ? 1.0 : 0.0),
                });
        }

        if (ok.Count > 0)
        {
            var answered = ok.Select(a => a.LatencyMs).Order().ToArray();
            metrics["latency_p50"] = new MetricValue(Math.Round(NearestRank(answered, 0.5), 3));
            metrics["latency_p95"] = new MetricValue(Math.Round(NearestRank(answered, 0.95), 3));
            metrics["latency_p99"] = new MetricValue(Math.Round(NearestRank(answered, 0.99), 3));
            metrics["prompt_tokens_mean"] = new MetricValue(ok.Average(a => (double)(a.PromptTokens ?? 0)));
            metrics["completion_tokens_mean"] = new MetricValue(ok.Average(a => (double)(a.CompletionTokens ?? 0)));
            metrics["total_tokens_mean"] = new MetricValue(ok.Average(a => (double)((a.PromptTokens ?? 0) + (a.CompletionTokens ?? 0))));
            if (ok.All(a => a.Cost is not null))
            {
                var cost = ok.Average(a => a.Cost!.Value);
                metrics["cost_per_request"] = new MetricValue(cost);
                metrics["cost_per_1k_requests"] = new MetricValue(cost * 1000);
            }
        }

        var checks = new List<ThresholdCheck>();
        foreach (var (name, limit) in suite.Thresholds ?? new Dictionary<string, MetricThreshold>())
        {
            checks.Add(ThresholdCheck.Judge(name, limit, metrics.TryGetValue(name, out var m) ? m.Value : null));
        }
        var latencies = answers.Select(a => a.LatencyMs).Order().ToArray();
        double At(double q) => latencies.Length == 0 ? 0 : latencies[Math.Clamp((int)Math.Ceiling(q * latencies.Length) - 1, 0, latencies.Length - 1)];
        return new TextEvaluationResult(suite.Name, prepared.SuiteSha256, prepared.DatasetSha256, suite.Task, prepared.Upstream.Url, prepared.Upstream.Model,
            answers.Count, ok.Count, answers.Count - ok.Count, metrics, slices,
            new LatencyResult(Math.Round(At(0.5), 3), Math.Round(At(0.95), 3), Math.Round(At(0.99), 3), latencies.Length),
            answers.Where(a => a.Output is null).Select(a => new RowFailure(a.Row.Id, a.Error ?? "failed")).ToList(),
            checks, ok.Count > 0 && checks.All(c => c.Passed), bootstrap,
            answers.Select(a => new TextRowRecord(a.Row.Id, Math.Round(a.LatencyMs, 3), a.PromptTokens, a.CompletionTokens, a.Cost,
                a.Output is null ? a.Error ?? "failed" : null, a.Output, a.Judged?.Score, a.Judged?.Reasoning, a.Judged?.Error)).ToList(),
            baseline is null ? null : Compare(suite, bootstrap, answers, baseline),
            suite.Judge is not { } judgeSpec ? null
                : judgeSpec.Deployment is { } deployment ? new JudgedBy(null, null, deployment, prepared.Judge?.ServedBy.Keys.Order(StringComparer.Ordinal).ToList() ?? [])
                : new JudgedBy(judgeSpec.Url, judgeSpec.Model, null, null));
    }

    /// <summary>
    /// The answers a stored run kept (its <c>rowRecords</c> with their outputs), matched to <paramref name="rows"/> by id; null
    /// when it kept none (a run from before answers were kept) or they do not cover the rows.
    /// </summary>
    public static IReadOnlyList<TextAnswer>? ReadAnswers(string result, IReadOnlyList<TextRow> rows)
    {
        using var document = System.Text.Json.JsonDocument.Parse(result);
        if (!document.RootElement.TryGetProperty("rowRecords", out var records) || records.ValueKind != System.Text.Json.JsonValueKind.Array)
        {
            return null;
        }
        var kept = new Dictionary<string, TextRowRecord>(StringComparer.Ordinal);
        foreach (var element in records.EnumerateArray())
        {
            var record = element.Deserialize<TextRowRecord>(ModelGateJson.Options);
            if (record is null || (record.Output is null && record.Error is null))
            {
                return null;
            }
            kept[record.Id] = record;
        }
        var answers = new List<TextAnswer>(rows.Count);
        foreach (var row in rows)
        {
            if (!kept.TryGetValue(row.Id, out var r))
            {
                return null;
            }
            var judged = r.JudgeScore is null && r.JudgeReasoning is null && r.JudgeError is null ? null : new JudgeVerdict(r.JudgeScore, r.JudgeReasoning, r.JudgeError);
            answers.Add(new TextAnswer(row, r.Output, r.LatencyMs, r.Error, r.PromptTokens, r.CompletionTokens, r.Cost, judged));
        }
        return answers;
    }

    /// <summary>
    /// The quality metrics a regression is judged on (each a mean over rows of a per-row score in [0, 1]); <c>judge_score</c>
    /// on the rows the judge scored on both sides (the suite, and so the judge and rubric, are the same for both).
    /// </summary>
    public static readonly IReadOnlySet<string> ComparedMetrics = new HashSet<string>(StringComparer.Ordinal)
        { "rouge1", "rouge2", "rougeL", "rougeLsum", "exact_match", "contains", TextSuitePreparation.JudgeMetric };

    /// <summary>One row's score on a quality metric (ROUGE's F-measure, or 1/0).</summary>
    private static double RowScore(string name, string reference, string output, bool stem) => name switch
    {
        "exact_match" => TextMatch.ExactMatch(reference, output) ? 1 : 0,
        "contains" => TextMatch.Contains(reference, output) ? 1 : 0,
        _ => Rouge(name, reference, output, stem).FMeasure,
    };

    /// <summary>
    /// Candidate against baseline on the rows both answered (paired by row id): each metric's baseline mean and the delta of
    /// the means, with a paired bootstrap interval (the same rows resampled for both).
    /// </summary>
    private static TextComparison Compare(EvaluationSuite suite, BootstrapSpec bootstrap, IReadOnlyList<TextAnswer> answers, TextBaseline baseline)
    {
        var theirs = baseline.Answers.Where(a => a.Output is not null).ToDictionary(a => a.Row.Id, StringComparer.Ordinal);
        var pairs = answers.Where(a => a.Output is not null && theirs.ContainsKey(a.Row.Id)).Select(a => (Mine: a, Theirs: theirs[a.Row.Id])).ToList();
        var metrics = new SortedDictionary<string, double>(StringComparer.Ordinal);
        var deltas = new SortedDictionary<string, MetricValue>(StringComparer.Ordinal);
        foreach (var name in pairs.Count == 0 ? [] : suite.Metrics!.Where(ComparedMetrics.Contains))
        {
            double[] mine, other;
            if (name == TextSuitePreparation.JudgeMetric)
            {
                if (suite.Judge is not { } judge)
                {
                    continue;
                }
                var scored = pairs.Where(p => p.Mine.Judged?.Score is not null && p.Theirs.Judged?.Score is not null).ToList();
                if (scored.Count == 0)
                {
                    continue;
                }
                (mine, other) = (scored.Select(p => OnUnitScale(judge, p.Mine.Judged!.Score!.Value)).ToArray(),
                    scored.Select(p => OnUnitScale(judge, p.Theirs.Judged!.Score!.Value)).ToArray());
            }
            else
            {
                mine = pairs.Select(p => RowScore(name, p.Mine.Row.Reference!, p.Mine.Output!, suite.UseStemmer)).ToArray();
                other = pairs.Select(p => RowScore(name, p.Theirs.Row.Reference!, p.Theirs.Output!, suite.UseStemmer)).ToArray();
            }
            var difference = mine.Zip(other, (m, o) => m - o).ToArray();
            metrics[name] = other.Average();
            deltas[name] = Mean(difference, bootstrap);
        }
        return new TextComparison(baseline.Version, baseline.AttestationSha256, pairs.Count, metrics, deltas, baseline.ReusedFrom);
    }

    /// <summary>A judge's score mapped from its scale to [0, 1], as <c>judge_score</c> reports it.</summary>
    private static double OnUnitScale(JudgeSpec judge, double score) => (score - judge.ScaleMin) / (judge.ScaleMax - judge.ScaleMin);

    /// <summary>The nearest-rank quantile of sorted values (at least one).</summary>
    private static double NearestRank(double[] sorted, double q) => sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];

    private static RougeScore Rouge(string name, string reference, string output, bool stem) => name switch
    {
        "rouge1" => Metrics.Rouge.RougeN(reference, output, 1, stem),
        "rouge2" => Metrics.Rouge.RougeN(reference, output, 2, stem),
        "rougeL" => Metrics.Rouge.RougeL(reference, output, stem),
        _ => Metrics.Rouge.RougeLsum(reference, output, stem),
    };

    /// <summary>The mean of at least one value, with a bootstrap interval when the suite asks for one.</summary>
    private static MetricValue Mean(double[] values, BootstrapSpec spec)
    {
        var mean = values.Average();
        if (spec.Resamples <= 0)
        {
            return new MetricValue(mean);
        }
        var ci = Bootstrap.Percentile(values.Length, idx => idx.Average(i => values[i]), spec.Resamples, spec.Confidence, spec.Seed);
        return new MetricValue(mean, [ci.Lower, ci.Upper]);
    }
}
