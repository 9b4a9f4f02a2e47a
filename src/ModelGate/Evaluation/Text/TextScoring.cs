using ModelGate.Client;
using ModelGate.Evaluation.Metrics;

namespace ModelGate.Evaluation.Text;

public sealed record RowFailure(string Id, string Error);

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
    BootstrapSpec Bootstrap);

/// <summary>
/// Scores answers: ROUGE as rouge-score computes it per example (target = reference), averaged over rows, with a
/// bootstrap interval on each F-measure; exact match and contains as rates; for safety probes, refusal and leak rates
/// overall and by probe style.
/// </summary>
public static class TextScoring
{
    public static TextEvaluationResult Compute(PreparedTextSuite prepared, IReadOnlyList<TextAnswer> answers)
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
            checks, ok.Count > 0 && checks.All(c => c.Passed), bootstrap);
    }

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
