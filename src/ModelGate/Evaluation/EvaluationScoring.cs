using ModelGate.Client;
using ModelGate.Evaluation.Metrics;

namespace ModelGate.Evaluation;

public sealed record MetricValue(double Value, double[]? Ci = null);

public sealed record ThresholdCheck(string Metric, double? Min, double? Max, double? Actual, bool Passed)
{
    /// <summary>A metric passes when it was measured, is finite, and lies within the suite's bounds.</summary>
    public static ThresholdCheck Judge(string metric, MetricThreshold limit, double? actual) =>
        new(metric, limit.Min, limit.Max, actual,
            actual is { } a && double.IsFinite(a) && (limit.Min is null || a >= limit.Min) && (limit.Max is null || a <= limit.Max));
}

public sealed record FairnessResult(
    string Sensitive,
    IReadOnlyDictionary<string, double> SelectionRateByGroup,
    double DemographicParityDifference,
    double DemographicParityRatio,
    double EqualizedOddsDifference,
    double EqualOpportunityDifference,
    IReadOnlyDictionary<string, double[]>? Ci = null);

public sealed record LatencyResult(double P50MsPerRow, double P95MsPerRow, double P99MsPerRow, int Batches);

public sealed record EvaluationResult(
    string Suite,
    string SuiteSha256,
    string DatasetSha256,
    string ModelSha256,
    double Threshold,
    long Rows,
    long RowsScored,
    long RowsFailed,
    IReadOnlyDictionary<string, MetricValue> Metrics,
    BinaryConfusionMatrix? ConfusionMatrix,
    FairnessResult? Fairness,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>>> Slices,
    LatencyResult Latency,
    IReadOnlyList<ThresholdCheck> Thresholds,
    bool Passed,
    BootstrapSpec Bootstrap,
    BaselineComparison? Baseline = null);

/// <summary>The baseline's metrics on the rows both scored, and candidate − baseline with paired bootstrap intervals.</summary>
public sealed record BaselineComparison(string Version, string ModelSha256, long Rows, IReadOnlyDictionary<string, double> Metrics,
    IReadOnlyDictionary<string, MetricValue> Deltas);

/// <summary>Turns scored rows into the immutable result: headline metrics with bootstrap intervals, fairness, slices, latency and threshold checks.</summary>
public static class EvaluationScoring
{
    /// <param name="epsilon">Machine epsilon of the model output's element type (<see cref="ScoredRows.Epsilon"/>), for log loss.</param>
    private delegate double Metric(ReadOnlySpan<int> truth, ReadOnlySpan<double> probability, double threshold, double epsilon);

    private static readonly IReadOnlyDictionary<string, Metric> Headline = new Dictionary<string, Metric>(StringComparer.Ordinal)
    {
        ["accuracy"] = (t, p, th, _) => ClassificationMetrics.Accuracy(t, p, th),
        ["precision"] = (t, p, th, _) => ClassificationMetrics.Precision(t, p, th),
        ["recall"] = (t, p, th, _) => ClassificationMetrics.Recall(t, p, th),
        ["f1"] = (t, p, th, _) => ClassificationMetrics.F1(t, p, th),
        ["roc_auc"] = (t, p, _, _) => RankingMetrics.RocAuc(t, p),
        ["pr_auc"] = (t, p, _, _) => RankingMetrics.AveragePrecision(t, p),
        ["log_loss"] = (t, p, _, eps) => ProbabilityMetrics.LogLoss(t, p, eps),
        ["brier"] = (t, p, _, _) => ProbabilityMetrics.BrierScore(t, p),
        ["positive_rate"] = (_, p, th, _) => ClassificationMetrics.PositiveRate(p, th),
    };

    public static EvaluationResult Compute(PreparedSuite prepared, ScoredRows rows, BaselineModel? baselineModel = null, ScoredRows? baselineRows = null)
    {
        if (prepared.Suite.Task == "regression")
        {
            return ComputeRegression(prepared, rows);
        }
        var suite = prepared.Suite;
        var bootstrap = suite.Bootstrap ?? new BootstrapSpec();
        var kept = Enumerable.Range(0, rows.Scored.Length).Where(i => rows.Scored[i]).ToArray();
        var truth = kept.Select(i => rows.Truth[i]).ToArray();
        var probability = kept.Select(i => rows.Probability[i]).ToArray();

        BinaryConfusionMatrix? confusion = suite.Metrics!.Contains("confusion_matrix")
            ? ClassificationMetrics.ConfusionMatrix(truth, probability, suite.Threshold)
            : null;
        var names = suite.Metrics!.Where(Headline.ContainsKey).ToArray();
        var sensitiveColumn = suite.Sensitive is { } sensitive ? prepared.Table.Strings(sensitive) : null;
        var groups = sensitiveColumn is null ? null : kept.Select(i => sensitiveColumn[i]).ToArray();
        var (metrics, fairness) = HeadlineWithIntervals(names, truth, probability, rows.Epsilon, groups, suite, bootstrap);

        var slices = new SortedDictionary<string, IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>>>(StringComparer.Ordinal);
        foreach (var column in suite.Slices ?? [])
        {
            var values = prepared.Table.Strings(column);
            var bySegment = new SortedDictionary<string, IReadOnlyDictionary<string, double>>(StringComparer.Ordinal);
            foreach (var segment in kept.Select((row, k) => (Segment: values[row], k)).GroupBy(x => x.Segment))
            {
                var idx = segment.Select(x => x.k).ToArray();
                var t = idx.Select(k => truth[k]).ToArray();
                var p = idx.Select(k => probability[k]).ToArray();
                var figures = new SortedDictionary<string, double>(StringComparer.Ordinal) { ["rows"] = idx.Length };
                foreach (var name in suite.Metrics!.Where(Headline.ContainsKey))
                {
                    figures[name] = Defined(t, p, suite.Threshold, rows.Epsilon, Headline[name]);
                }
                bySegment[segment.Key] = figures;
            }
            slices[column] = bySegment;
        }

        var checks = new List<ThresholdCheck>();
        foreach (var (name, limit) in suite.Thresholds ?? new Dictionary<string, MetricThreshold>())
        {
            checks.Add(ThresholdCheck.Judge(name, limit, metrics.TryGetValue(name, out var m) ? m.Value : FairnessValue(fairness, name)));
        }

        BaselineComparison? comparison = baselineModel is null || baselineRows is null
            ? null
            : Compare(suite, bootstrap, rows, baselineModel, baselineRows);

        return new EvaluationResult(suite.Name, prepared.SuiteSha256, prepared.DatasetSha256, prepared.Model.Sha256, suite.Threshold,
            rows.Scored.Length, kept.Length, rows.Scored.Length - kept.Length, metrics, confusion, fairness, slices,
            Latency(rows.BatchMsPerRow), checks, checks.All(c => c.Passed), bootstrap, comparison);
    }

    /// <summary>Both versions on exactly the rows both scored; each delta's interval resamples the same rows for both (paired).</summary>
    private static BaselineComparison Compare(EvaluationSuite suite, BootstrapSpec bootstrap, ScoredRows candidate, BaselineModel baselineModel, ScoredRows baseline)
    {
        var both = Enumerable.Range(0, candidate.Scored.Length).Where(i => candidate.Scored[i] && baseline.Scored[i]).ToArray();
        var truth = both.Select(i => candidate.Truth[i]).ToArray();
        var pc = both.Select(i => candidate.Probability[i]).ToArray();
        var pb = both.Select(i => baseline.Probability[i]).ToArray();
        var baselineMetrics = new SortedDictionary<string, double>(StringComparer.Ordinal);
        var deltas = new SortedDictionary<string, MetricValue>(StringComparer.Ordinal);
        foreach (var name in suite.Metrics!.Where(Headline.ContainsKey))
        {
            var metric = Headline[name];
            var b = Defined(truth, pb, suite.Threshold, baseline.Epsilon, metric);
            baselineMetrics[name] = b;
            var delta = Defined(truth, pc, suite.Threshold, candidate.Epsilon, metric) - b;
            double[]? ci = null;
            if (bootstrap.Resamples > 0 && double.IsFinite(delta))
            {
                var t = new int[truth.Length];
                var c = new double[truth.Length];
                var p = new double[truth.Length];
                var interval = Bootstrap.Percentile(truth.Length, indices =>
                {
                    Bootstrap.Gather<int>(truth, indices, t);
                    Bootstrap.Gather<double>(pc, indices, c);
                    Bootstrap.Gather<double>(pb, indices, p);
                    return Defined(t, c, suite.Threshold, candidate.Epsilon, metric) - Defined(t, p, suite.Threshold, baseline.Epsilon, metric);
                }, bootstrap.Resamples, bootstrap.Confidence, bootstrap.Seed);
                ci = [interval.Lower, interval.Upper];
            }
            deltas[name] = new MetricValue(delta, ci);
        }
        return new BaselineComparison(baselineModel.Version, baselineModel.Model.Sha256, both.Length, baselineMetrics, deltas);
    }

    /// <summary>A metric that is undefined on this data (e.g. ROC AUC with one class) is NaN rather than a failed run.</summary>
    private static double Defined(int[] truth, double[] probability, double threshold, double epsilon, Metric metric)
    {
        try
        {
            return metric(truth, probability, threshold, epsilon);
        }
        catch (ArgumentException)
        {
            return double.NaN;
        }
    }

    private static double? FairnessValue(FairnessResult? f, string name) => (f, name) switch
    {
        (null, _) => null,
        (_, "demographic_parity_difference") => f.DemographicParityDifference,
        (_, "demographic_parity_ratio") => f.DemographicParityRatio,
        (_, "equalized_odds_difference") => f.EqualizedOddsDifference,
        (_, "equal_opportunity_difference") => f.EqualOpportunityDifference,
        _ => null,
    };

    private static readonly (string Name, Func<IReadOnlyList<GroupRates>, double> Measure)[] FairnessMeasures =
    [
        ("demographic_parity_difference", FairnessMetrics.DemographicParityDifference),
        ("demographic_parity_ratio", FairnessMetrics.DemographicParityRatio),
        ("equalized_odds_difference", FairnessMetrics.EqualizedOddsDifference),
        ("equal_opportunity_difference", FairnessMetrics.EqualOpportunityDifference),
    ];

    /// <summary>
    /// The headline metrics and fairness figures with their bootstrap intervals, all from one set of resamples: each
    /// resample gathers its rows once and groups them by the sensitive column once.
    /// </summary>
    private static (SortedDictionary<string, MetricValue> Metrics, FairnessResult? Fairness) HeadlineWithIntervals(string[] names, int[] truth,
        double[] probability, double epsilon, string[]? groups, EvaluationSuite suite, BootstrapSpec bootstrap)
    {
        var statistics = names.Length + (groups is null ? 0 : FairnessMeasures.Length);
        double[] Evaluate(int[] truthRows, double[] probabilityRows, string[]? groupRows)
        {
            var values = new double[statistics];
            for (var m = 0; m < names.Length; m++)
            {
                values[m] = Defined(truthRows, probabilityRows, suite.Threshold, epsilon, Headline[names[m]]);
            }
            if (groupRows is not null)
            {
                var rates = FairnessMetrics.ByGroup(truthRows, ClassificationMetrics.Predict(probabilityRows, suite.Threshold), groupRows);
                for (var f = 0; f < FairnessMeasures.Length; f++)
                {
                    values[names.Length + f] = FairnessMeasures[f].Measure(rates);
                }
            }
            return values;
        }

        var point = Evaluate(truth, probability, groups);
        ConfidenceInterval[]? intervals = null;
        if (bootstrap.Resamples > 0 && truth.Length > 0)
        {
            intervals = Bootstrap.PercentileMany(truth.Length, statistics, indices =>
            {
                var t = new int[indices.Length];
                var p = new double[indices.Length];
                Bootstrap.Gather<int>(truth, indices, t);
                Bootstrap.Gather<double>(probability, indices, p);
                string[]? g = null;
                if (groups is not null)
                {
                    g = new string[indices.Length];
                    Bootstrap.Gather<string>(groups, indices, g);
                }
                return Evaluate(t, p, g);
            }, bootstrap.Resamples, bootstrap.Confidence, bootstrap.Seed);
        }
        double[]? Ci(int m) => intervals is null || !double.IsFinite(point[m]) ? null : [intervals[m].Lower, intervals[m].Upper];

        var metrics = new SortedDictionary<string, MetricValue>(StringComparer.Ordinal);
        for (var m = 0; m < names.Length; m++)
        {
            metrics[names[m]] = new MetricValue(point[m], Ci(m));
        }
        FairnessResult? fairness = null;
        if (groups is not null)
        {
            var rates = FairnessMetrics.ByGroup(truth, ClassificationMetrics.Predict(probability, suite.Threshold), groups);
            var cis = new SortedDictionary<string, double[]>(StringComparer.Ordinal);
            for (var f = 0; f < FairnessMeasures.Length; f++)
            {
                if (Ci(names.Length + f) is { } ci)
                {
                    cis[FairnessMeasures[f].Name] = ci;
                }
            }
            fairness = new FairnessResult(suite.Sensitive!,
                new SortedDictionary<string, double>(rates.ToDictionary(r => r.Group, r => r.SelectionRate), StringComparer.Ordinal),
                point[names.Length], point[names.Length + 1], point[names.Length + 2], point[names.Length + 3], cis);
        }
        return (metrics, fairness);
    }

    private static EvaluationResult ComputeRegression(PreparedSuite prepared, ScoredRows rows)
    {
        var suite = prepared.Suite;
        var bootstrap = suite.Bootstrap ?? new BootstrapSpec();
        var kept = Enumerable.Range(0, rows.Scored.Length).Where(i => rows.Scored[i]).ToArray();
        var truth = kept.Select(i => rows.Numeric![i]).ToArray();
        var prediction = kept.Select(i => rows.Probability[i]).ToArray();
        var measures = new Dictionary<string, Func<double[], double[], double>>(StringComparer.Ordinal)
        {
            ["mae"] = (t, p) => RegressionMetrics.MeanAbsoluteError(t, p),
            ["rmse"] = (t, p) => RegressionMetrics.RootMeanSquaredError(t, p),
            ["r2"] = (t, p) => RegressionMetrics.R2(t, p),
        };
        var metrics = new SortedDictionary<string, MetricValue>(StringComparer.Ordinal);
        foreach (var name in suite.Metrics!.Where(measures.ContainsKey))
        {
            var measure = measures[name];
            var value = measure(truth, prediction);
            double[]? ci = null;
            if (bootstrap.Resamples > 0 && double.IsFinite(value))
            {
                var t = new double[truth.Length];
                var p = new double[truth.Length];
                var interval = Bootstrap.Percentile(truth.Length, indices =>
                {
                    Bootstrap.Gather<double>(truth, indices, t);
                    Bootstrap.Gather<double>(prediction, indices, p);
                    return measure(t, p);
                }, bootstrap.Resamples, bootstrap.Confidence, bootstrap.Seed);
                ci = [interval.Lower, interval.Upper];
            }
            metrics[name] = new MetricValue(value, ci);
        }
        var slices = new SortedDictionary<string, IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>>>(StringComparer.Ordinal);
        foreach (var column in suite.Slices ?? [])
        {
            var values = prepared.Table.Strings(column);
            slices[column] = new SortedDictionary<string, IReadOnlyDictionary<string, double>>(
                kept.Select((row, k) => (Segment: values[row], k)).GroupBy(x => x.Segment).ToDictionary(g => g.Key, g =>
                {
                    var t = g.Select(x => truth[x.k]).ToArray();
                    var p = g.Select(x => prediction[x.k]).ToArray();
                    var figures = new SortedDictionary<string, double>(StringComparer.Ordinal) { ["rows"] = t.Length };
                    foreach (var name in suite.Metrics!.Where(measures.ContainsKey))
                    {
                        figures[name] = measures[name](t, p);
                    }
                    return (IReadOnlyDictionary<string, double>)figures;
                }), StringComparer.Ordinal);
        }
        var checks = (suite.Thresholds ?? new Dictionary<string, MetricThreshold>())
            .Select(kv => ThresholdCheck.Judge(kv.Key, kv.Value, metrics.TryGetValue(kv.Key, out var m) ? m.Value : null)).ToList();
        return new EvaluationResult(suite.Name, prepared.SuiteSha256, prepared.DatasetSha256, prepared.Model.Sha256, suite.Threshold,
            rows.Scored.Length, kept.Length, rows.Scored.Length - kept.Length, metrics, null, null, slices,
            Latency(rows.BatchMsPerRow), checks, checks.All(c => c.Passed), bootstrap);
    }

    private static LatencyResult Latency(IReadOnlyList<double> msPerRow)
    {
        if (msPerRow.Count == 0)
        {
            return new LatencyResult(0, 0, 0, 0);
        }
        var sorted = msPerRow.Order().ToArray();
        double At(double q) => sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];
        return new LatencyResult(Math.Round(At(0.50), 6), Math.Round(At(0.95), 6), Math.Round(At(0.99), 6), sorted.Length);
    }
}
