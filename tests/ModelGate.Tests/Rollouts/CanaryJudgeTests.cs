using ModelGate.Rollouts.Judge;
using ModelGate.Tests.Monitoring;

namespace ModelGate.Tests.Rollouts;

/// <summary>
/// The canary judge against Kayenta's own tests — kayenta-judge ClassifierSuite.scala (every Mann-Whitney case, run
/// with that suite's tolerance 0.10, 95 % interval and, where the suite leaves them at Kayenta's defaults, effect-size
/// thresholds of 1.0) and ScorerSuite.scala (the single-group cases) — and the rules of issue 6.
/// </summary>
public sealed class CanaryJudgeTests
{
    private static CanaryMetricConfig KayentaMetric(
        MetricDirection direction = MetricDirection.Either,
        bool critical = false,
        (double Decrease, double Increase)? effect = null,
        (double Decrease, double Increase)? criticalEffect = null) => new()
    {
        Name = "metric",
        Direction = direction,
        Critical = critical,
        AllowedDecrease = effect?.Decrease ?? 1.0,
        AllowedIncrease = effect?.Increase ?? 1.0,
        CriticalDecrease = criticalEffect?.Decrease ?? 1.0,
        CriticalIncrease = criticalEffect?.Increase ?? 1.0,
    };

    private static CanaryMetricResult Kayenta(double[] control, double[] experiment, CanaryMetricConfig metric) =>
        MannWhitneyClassifier.Classify(metric, control, experiment, confidenceLevel: 0.95, tolerance: 0.10);

    public static TheoryData<string, double[], double[], MetricDirection, MetricClassification> KayentaDirectionCases => new()
    {
        { "Pass Metric", KayentaTestData.NearTenControl, KayentaTestData.NearTen, MetricDirection.Either, MetricClassification.Pass },
        { "High Metric", KayentaTestData.NearTenControl, KayentaTestData.NearTwenty, MetricDirection.Either, MetricClassification.High },
        { "Low Metric", KayentaTestData.NearTwentyControl, KayentaTestData.NearTen, MetricDirection.Either, MetricClassification.Low },
        { "Directional Test: Increase", KayentaTestData.NearTwentyControl, KayentaTestData.NearTen, MetricDirection.Increase, MetricClassification.Pass },
        { "Directional Test: Decrease", KayentaTestData.NearTenControl, KayentaTestData.NearTwenty, MetricDirection.Decrease, MetricClassification.Pass },
        { "Directional Test: High Metric", KayentaTestData.NearTenControl, KayentaTestData.NearTwenty, MetricDirection.Increase, MetricClassification.High },
        { "Directional Test: Low Metric", KayentaTestData.NearTwentyControl, KayentaTestData.NearTen, MetricDirection.Decrease, MetricClassification.Low },
        { "High Metric (Large Input)", KayentaTestData.ZeroInflatedControl, KayentaTestData.ZeroInflatedExperiment, MetricDirection.Either, MetricClassification.High },
        { "Tied Observations", [1, 1], [1, 1, 1], MetricDirection.Decrease, MetricClassification.Pass },
        { "Identical Populations", [5, 4, 3, 2, 1], [1, 2, 3, 4, 5], MetricDirection.Decrease, MetricClassification.Pass },
        { "Leading Zero Identical Population", [1, 1, 1, 1, 1], [0, 1, 1, 1, 1], MetricDirection.Decrease, MetricClassification.Pass },
        { "Majority Tied Observations", [1, 1, 1, 1, 1], [1, 1, 1, 1, 10], MetricDirection.Either, MetricClassification.Pass },
        { "Tied Ranks", [1, 1, 1, 1, 1], [10, 10, 10, 10, 10], MetricDirection.Either, MetricClassification.High },
        { "Tied Ranks With Zeros", [0, 0, 0, 0, 0], [10, 10, 10, 10, 10], MetricDirection.Either, MetricClassification.High },
    };

    [Theory]
    [MemberData(nameof(KayentaDirectionCases))]
    public void Classify_KayentaClassifierSuite(string kayentaTest, double[] control, double[] experiment, MetricDirection direction, MetricClassification expected)
    {
        var result = Kayenta(control, experiment, KayentaMetric(direction));
        Assert.True(expected == result.Classification, $"{kayentaTest}: {result.Classification}, interval [{result.Lower}, {result.Upper}], estimate {result.Estimate}");
        Assert.False(result.CriticalFailure);
    }

    [Fact]
    public void Classify_KayentaEffectSizeCases()
    {
        double[] high = [20, 22, 21, 25, 30];
        double[] low = [1, 2.2, 1.1, 2.5, 3];
        // "Mean Ratio Effect Size: High", (0.8, 1.2).
        Assert.Equal(MetricClassification.High, Kayenta(low, high, KayentaMetric(effect: (0.8, 1.2))).Classification);
        // "Mean Ratio Effect Size: Low", (0.8, 1.2), decrease.
        Assert.Equal(MetricClassification.Low, Kayenta(KayentaTestData.NearTwentyControl, KayentaTestData.NearTen, KayentaMetric(MetricDirection.Decrease, effect: (0.8, 1.2))).Classification);
        // "Mean Ratio Effect Size: Pass", (0.5, 1.0): the ratio 0.575 is not below 0.5.
        Assert.Equal(MetricClassification.Pass, Kayenta(high, [10, 12.2, 10.1, 12.5, 23], KayentaMetric(effect: (0.5, 1.0))).Classification);
        // "Mean Ratio Effect Size: Pass (Large Input)", (1.0, 5.0).
        Assert.Equal(MetricClassification.Pass, Kayenta(KayentaTestData.ZeroInflatedControl, KayentaTestData.ZeroInflatedExperiment, KayentaMetric(effect: (1.0, 5.0))).Classification);
    }

    [Fact]
    public void Classify_KayentaCriticalEffectSizeCases()
    {
        double[] high = [20, 22, 21, 25, 30];
        double[] low = [1, 2.2, 1.1, 2.5, 3];

        var criticalHigh = Kayenta(low, high, KayentaMetric(critical: true, criticalEffect: (1.0, 1.2)));
        Assert.Equal(MetricClassification.High, criticalHigh.Classification);
        Assert.True(criticalHigh.CriticalFailure);

        var criticalLow = Kayenta([10, 20.2, 10.1, 20.5, 30], [2, 2, 2, 2, 3], KayentaMetric(critical: true, criticalEffect: (1.2, 1.0)));
        Assert.Equal(MetricClassification.Low, criticalLow.Classification);
        Assert.True(criticalLow.CriticalFailure);

        // Ratio 23.6 / 1.96 = 12.04: above the allowed 5, below the critical 13.
        var notCritical = Kayenta(low, high, KayentaMetric(critical: true, effect: (1.0, 5.0), criticalEffect: (1.0, 13.0)));
        Assert.Equal(MetricClassification.High, notCritical.Classification);
        Assert.False(notCritical.CriticalFailure);

        var pass = Kayenta(low, high, KayentaMetric(critical: true, effect: (1.0, 13.0), criticalEffect: (1.0, 15.0)));
        Assert.Equal(MetricClassification.Pass, pass.Classification);
        Assert.False(pass.CriticalFailure);

        var defaults = Kayenta(low, high, KayentaMetric(critical: true));
        Assert.Equal(MetricClassification.High, defaults.Classification);
        Assert.True(defaults.CriticalFailure);
    }

    [Fact]
    public void Classify_KayentaMissingData()
    {
        var missing = Kayenta([1, 2, 3, 4, 5], [], KayentaMetric(MetricDirection.Decrease));
        Assert.Equal(MetricClassification.NoData, missing.Classification);
        Assert.False(missing.CriticalFailure);
        Assert.False(string.IsNullOrEmpty(missing.Reason));

        var critical = Kayenta([1, 2, 3, 4, 5], [], KayentaMetric(MetricDirection.Decrease, critical: true));
        Assert.Equal(MetricClassification.NoData, critical.Classification);
        Assert.True(critical.CriticalFailure);

        var allNaN = Kayenta([1, 2, 3], [double.NaN, double.NaN], KayentaMetric());
        Assert.Equal(MetricClassification.NoData, allNaN.Classification);
    }

    [Fact]
    public void Classify_BelowMinimumSamples_IsNoData()
    {
        var metric = new CanaryMetricConfig { Name = "latency_p99", MinimumSamples = 10 };
        var result = MannWhitneyClassifier.Classify(metric, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [1, 2, 3]);
        Assert.Equal(MetricClassification.NoData, result.Classification);
        Assert.Contains("fewer than the 10 required", result.Reason);
    }

    [Fact]
    public void Classify_ReportsEstimateIntervalAndMeans()
    {
        // Issue 6's example at the judge's 98 %: Kayenta's asymptotic interval ends at the extreme differences.
        var result = MannWhitneyClassifier.Classify(new CanaryMetricConfig { Name = "m" }, [1, 2, 3, 4], [10, 20, 30, 40]);
        Assert.Equal(MetricClassification.High, result.Classification);
        Assert.Equal(22.5, result.Estimate!.Value, 6);
        Assert.Equal(6, result.Lower!.Value, 6);
        Assert.Equal(39, result.Upper!.Value, 6);
        Assert.Equal(2.5, result.ControlMean);
        Assert.Equal(25, result.ExperimentMean);
        Assert.Equal(10, result.EffectSize);
    }

    [Fact]
    public void Classify_DefaultEffectSize_SmallSignificantIncreasePasses()
    {
        // A clear but 5 % shift: significant, yet below the allowed increase of 1.1.
        var control = Enumerable.Range(0, 200).Select(i => 100 + i % 20 * 0.5).ToArray();
        var experiment = control.Select(v => v * 1.05).ToArray();
        var result = MannWhitneyClassifier.Classify(new CanaryMetricConfig { Name = "latency" }, control, experiment);
        Assert.True(result.Lower > 0.25 * result.Estimate);
        Assert.Equal(1.05, result.EffectSize!.Value, 1e-12);
        Assert.Equal(MetricClassification.Pass, result.Classification);

        var bigger = MannWhitneyClassifier.Classify(new CanaryMetricConfig { Name = "latency" }, control, control.Select(v => v * 1.2).ToArray());
        Assert.Equal(MetricClassification.High, bigger.Classification);
    }

    [Theory]
    [InlineData(0.3, 0.9, MetricClassification.Pass)]   // 3× slower, but 0.6 ms apart: under the 1 ms floor
    [InlineData(40, 41.8, MetricClassification.Pass)]   // 1.8 ms apart, but under 5 % of 40 ms (2 ms)
    [InlineData(40, 48, MetricClassification.High)]     // 8 ms and 20 %: a regression
    [InlineData(0.3, 1.5, MetricClassification.High)]   // 1.2 ms apart: over the floor, 5×
    public void Classify_LatencyNoiseFloor_OneMillisecondOrFivePercent(double stableMs, double candidateMs, MetricClassification expected)
    {
        var metric = new CanaryMetricConfig { Name = "latency_p99", Direction = MetricDirection.Increase, AbsoluteFloor = 1, RelativeFloor = 0.05 };
        var stable = Enumerable.Range(0, 60).Select(i => stableMs * (1 + i % 5 * 0.001)).ToArray();
        var candidate = Enumerable.Range(0, 60).Select(i => candidateMs * (1 + i % 5 * 0.001)).ToArray();

        var result = MannWhitneyClassifier.Classify(metric, stable, candidate);

        Assert.Equal(expected, result.Classification);
        // Without the floor every one of these significant shifts would fail.
        Assert.Equal(MetricClassification.High, MannWhitneyClassifier.Classify(metric with { AbsoluteFloor = 0, RelativeFloor = 0, AllowedIncrease = 1.01 }, stable,
            candidate).Classification);
    }

    [Fact]
    public void Floor_IsTheLargerOfAbsoluteAndRelative()
    {
        var metric = new CanaryMetricConfig { Name = "latency", AbsoluteFloor = 1, RelativeFloor = 0.05 };
        Assert.Equal(1, metric.Floor(3));
        Assert.Equal(5, metric.Floor(100));
        Assert.Equal(5, metric.Floor(-100));
        Assert.Equal(0, new CanaryMetricConfig { Name = "error_rate" }.Floor(0.5));
    }

    [Fact]
    public void Classify_ErrorRateAgainstErrorFreeStable_IsHighAndCritical()
    {
        // The stable version has no errors, so the mean ratio is undefined and left out; the interval decides.
        var stable = new double[60];
        var candidate = Enumerable.Range(0, 60).Select(i => i % 3 == 0 ? 0 : 0.02 + i * 0.001).ToArray();
        var result = MannWhitneyClassifier.Classify(new CanaryMetricConfig { Name = "error_rate", Direction = MetricDirection.Increase, Critical = true }, stable, candidate);
        Assert.Null(result.EffectSize);
        Assert.Equal(MetricClassification.High, result.Classification);
        Assert.True(result.CriticalFailure);
    }

    [Fact]
    public void Score_KayentaScorerSuite()
    {
        static CanaryMetricResult R(MetricClassification c, bool critical = false) =>
            new() { Name = c.ToString(), Classification = c, Critical = critical, CriticalFailure = critical && c != MetricClassification.Pass, Reason = $"{c}" };

        Assert.Equal(100, CanaryJudge.Score([R(MetricClassification.Pass)]).Score);
        Assert.Equal(0, CanaryJudge.Score([R(MetricClassification.High)]).Score);
        Assert.Equal(50, CanaryJudge.Score([R(MetricClassification.Pass), R(MetricClassification.High)]).Score);
        Assert.Equal(33.33, CanaryJudge.Score([R(MetricClassification.Pass), R(MetricClassification.High), R(MetricClassification.Low)]).Score);
        Assert.Equal(0, CanaryJudge.Score([R(MetricClassification.NoData)]).Score);
        Assert.Equal(0, CanaryJudge.Score([R(MetricClassification.Pass), R(MetricClassification.High, critical: true)]).Score);
        Assert.Equal(50, CanaryJudge.Score([R(MetricClassification.Low), R(MetricClassification.Pass, critical: true)]).Score);
    }

    [Theory]
    [InlineData(19, 1, 95.0, CanaryVerdict.Pass)]
    [InlineData(18, 2, 90.0, CanaryVerdict.Marginal)]
    [InlineData(15, 5, 75.0, CanaryVerdict.Marginal)]
    [InlineData(14, 6, 70.0, CanaryVerdict.Fail)]
    public void Score_VerdictThresholds(int passing, int failing, double score, CanaryVerdict verdict)
    {
        var results = Enumerable.Range(0, passing).Select(i => new CanaryMetricResult { Name = $"p{i}", Classification = MetricClassification.Pass })
            .Concat(Enumerable.Range(0, failing).Select(i => new CanaryMetricResult { Name = $"f{i}", Classification = MetricClassification.High }))
            .ToList();
        var judgement = CanaryJudge.Score(results);
        Assert.Equal(score, judgement.Score);
        Assert.Equal(verdict, judgement.Verdict);
    }

    [Fact]
    public void Score_NoDataLeftOutOfShareUntilHalf()
    {
        static CanaryMetricResult R(MetricClassification c) => new() { Name = c.ToString(), Classification = c };
        // One NoData of three: the share is over the two with data.
        var judgement = CanaryJudge.Score([R(MetricClassification.Pass), R(MetricClassification.High), R(MetricClassification.NoData)]);
        Assert.Equal(50, judgement.Score);
        Assert.Null(judgement.Reason);
        // Half without data scores 0.
        var half = CanaryJudge.Score([R(MetricClassification.Pass), R(MetricClassification.NoData)]);
        Assert.Equal(0, half.Score);
        Assert.Equal(CanaryVerdict.Fail, half.Verdict);
        Assert.Contains("NODATA", half.Reason);
    }

    [Fact]
    public void Judge_HealthyAndBrokenCandidates()
    {
        var random = new Random(5);
        double[] Latency(double scale) => Enumerable.Range(0, 120).Select(_ => scale * (80 + 40 * random.NextDouble())).ToArray();
        double[] Accuracy(double level) => Enumerable.Range(0, 120).Select(_ => level + 0.04 * (random.NextDouble() - 0.5)).ToArray();
        CanaryMetricConfig[] metrics =
        [
            new() { Name = "error_rate", Direction = MetricDirection.Increase, Critical = true },
            new() { Name = "latency_p99", Direction = MetricDirection.Increase },
            new() { Name = "feedback_accuracy", Direction = MetricDirection.Decrease, Critical = true },
        ];

        var healthy = CanaryJudge.Judge(
        [
            new(metrics[0], new double[120], new double[120]),
            new(metrics[1], Latency(1), Latency(1)),
            new(metrics[2], Accuracy(0.85), Accuracy(0.85)),
        ]);
        Assert.Equal(100, healthy.Score);
        Assert.Equal(CanaryVerdict.Pass, healthy.Verdict);

        var broken = CanaryJudge.Judge(
        [
            new(metrics[0], new double[120], new double[120]),
            new(metrics[1], Latency(1), Latency(1)),
            new(metrics[2], Accuracy(0.85), Accuracy(0.40)),
        ]);
        Assert.Equal(0, broken.Score);
        Assert.Equal(CanaryVerdict.Fail, broken.Verdict);
        Assert.Equal(MetricClassification.Low, broken.Metrics[2].Classification);
        Assert.True(broken.Metrics[2].CriticalFailure);
        Assert.StartsWith("Canary Failed: The metric feedback_accuracy was classified as Low (Critical)", broken.Reason);
    }
}
