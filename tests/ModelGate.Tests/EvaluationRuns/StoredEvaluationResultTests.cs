using System.Text.Json;
using ModelGate.Client;
using ModelGate.Evaluation;

namespace ModelGate.Tests.EvaluationRuns;

/// <summary>The one reader of stored results reads back what the scorer writes: metrics with intervals, thresholds, fairness, baseline deltas.</summary>
public sealed class StoredEvaluationResultTests
{
    private static string Written(BaselineComparison? baseline) => JsonSerializer.Serialize(new EvaluationResult(
        "adult-holdout", new string('a', 64), new string('b', 64), new string('c', 64), 0.5, 100, 100, 0,
        new Dictionary<string, MetricValue> { ["accuracy"] = new(0.84, [0.81, 0.87]), ["f1"] = new(0.62) },
        null,
        new FairnessResult("sex", new Dictionary<string, double> { ["Male"] = 0.3, ["Female"] = 0.1 }, 0.2, 1 / 3.0, 0.15, 0.05),
        new Dictionary<string, IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>>>(),
        new LatencyResult(1, 2, 3, 4),
        [new ThresholdCheck("accuracy", 0.8, null, 0.84, true), new ThresholdCheck("f1", 0.7, null, 0.62, false)],
        false, new BootstrapSpec(), baseline), ModelGateJson.Options);

    [Fact]
    public void Read_GivesBackTheScorersRecord_MetricsIntervalsThresholdsFairnessAndDeltas()
    {
        var stored = StoredEvaluationResult.Read(Written(new BaselineComparison("1.0.0", new string('d', 64), 100,
            new Dictionary<string, double> { ["accuracy"] = 0.80 }, new Dictionary<string, MetricValue> { ["accuracy"] = new(0.04, [0.01, 0.07]) })))!;

        Assert.Equal("adult-holdout", stored.Suite);
        Assert.False(stored.Passed);
        Assert.Equal([("accuracy", true), ("f1", false)], stored.Thresholds);
        Assert.Equal([KeyValuePair.Create("accuracy", new StoredMetric(0.84, 0.81, 0.87)), KeyValuePair.Create("f1", new StoredMetric(0.62))], stored.Metrics);
        Assert.Equal(0.2, stored.Metric("demographic_parity_difference"));
        Assert.Equal(0.84, stored.Metric("accuracy"));
        Assert.Null(stored.Metric("roc_auc"));
        Assert.Equal("1.0.0", stored.BaselineVersion);
        Assert.Equal(new StoredMetric(0.04, 0.01, 0.07), stored.Delta("accuracy"));
        Assert.Null(stored.Delta("f1"));
    }

    [Fact]
    public void Read_GivesBackFairnessByGroupWithIntervals_SlicesThresholdBoundsAndTheBaselinesOwnMetrics()
    {
        var written = JsonSerializer.Serialize(new EvaluationResult(
            "adult-holdout", new string('a', 64), new string('b', 64), new string('c', 64), 0.5, 120, 100, 20,
            new Dictionary<string, MetricValue> { ["accuracy"] = new(0.84, [0.81, 0.87]) },
            null,
            new FairnessResult("sex", new SortedDictionary<string, double>(StringComparer.Ordinal) { ["Female"] = 0.1, ["Male"] = 0.3 }, 0.2, 1 / 3.0, 0.15, 0.05,
                new Dictionary<string, double[]> { ["demographic_parity_difference"] = [0.12, 0.28], ["equalized_odds_difference"] = [0.05, 0.25] }),
            new SortedDictionary<string, IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>>>(StringComparer.Ordinal)
            {
                ["race"] = new SortedDictionary<string, IReadOnlyDictionary<string, double>>(StringComparer.Ordinal)
                {
                    ["Black"] = new SortedDictionary<string, double>(StringComparer.Ordinal) { ["accuracy"] = 0.9, ["rows"] = 40 },
                    ["White"] = new SortedDictionary<string, double>(StringComparer.Ordinal) { ["accuracy"] = 0.8, ["rows"] = 60 },
                },
            },
            new LatencyResult(1, 2, 3, 4),
            [new ThresholdCheck("accuracy", 0.8, null, 0.84, true), new ThresholdCheck("equalized_odds_difference", null, 0.1, 0.15, false)],
            false, new BootstrapSpec(),
            new BaselineComparison("1.0.0", new string('d', 64), 100, new Dictionary<string, double> { ["accuracy"] = 0.80 },
                new Dictionary<string, MetricValue> { ["accuracy"] = new(0.04, [0.01, 0.07]) })), ModelGateJson.Options);

        var stored = StoredEvaluationResult.Read(written)!;

        Assert.Equal("sex", stored.Sensitive);
        Assert.Equal([KeyValuePair.Create("Female", 0.1), KeyValuePair.Create("Male", 0.3)], stored.SelectionRateByGroup);
        Assert.Equal([
            KeyValuePair.Create("demographic_parity_difference", new StoredMetric(0.2, 0.12, 0.28)),
            KeyValuePair.Create("demographic_parity_ratio", new StoredMetric(1 / 3.0)),
            KeyValuePair.Create("equalized_odds_difference", new StoredMetric(0.15, 0.05, 0.25)),
            KeyValuePair.Create("equal_opportunity_difference", new StoredMetric(0.05)),
        ], stored.FairnessMeasures);
        Assert.Equal(2, stored.Slices.Count);
        Assert.Equal(new[] { ("race", "Black"), ("race", "White") }, stored.Slices.Select(s => (s.Column, s.Segment)));
        Assert.Equal([KeyValuePair.Create("accuracy", 0.9), KeyValuePair.Create("rows", 40.0)], stored.Slices[0].Figures);
        Assert.Equal([new StoredThreshold("accuracy", 0.8, null, 0.84, true), new StoredThreshold("equalized_odds_difference", null, 0.1, 0.15, false)],
            stored.ThresholdChecks);
        Assert.Equal(120, stored.Rows);
        Assert.Equal(100, stored.RowsScored);
        Assert.Equal(0.80, stored.BaselineMetrics["accuracy"]);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("not json")]
    [InlineData("[1, 2]")]
    public void Read_OfNoResultOrNotAnObject_IsNull(string? json) => Assert.Null(StoredEvaluationResult.Read(json));

    [Fact]
    public void Read_OfAnExternalRunsPlainNumbers_HasNoIntervalsAndNoBaseline()
    {
        var stored = StoredEvaluationResult.Read("""{"metrics": {"rouge1": 0.5, "judge": {"value": 0.75, "ci": [0.5, "x"]}}}""")!;
        Assert.Equal([KeyValuePair.Create("rouge1", new StoredMetric(0.5)), KeyValuePair.Create("judge", new StoredMetric(0.75))], stored.Metrics);
        Assert.Null(stored.BaselineVersion);
        Assert.Empty(stored.Deltas);
        Assert.Null(stored.Passed);
        Assert.Null(stored.Sensitive);
        Assert.Empty(stored.SelectionRateByGroup);
        Assert.Empty(stored.FairnessMeasures);
        Assert.Empty(stored.Slices);
        Assert.Null(stored.Rows);
    }
}
