using System.Text.Json;
using ModelGate.Client;
using ModelGate.Lifecycle.Cards;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Lifecycle.Cards;

/// <summary>v1-logreg as registered, with a complete card and its evaluation figures from reference-metrics.json.</summary>
public static class CardSamples
{
    public const string EvaluationId = "eval_01adultlogreg";
    public const string TestCsvSha256 = "215c804e56d913c87e462dec36172a041900690eb41cfa78fdb5577ba85de886";

    public static CardSubject Subject(string? license = "CC-BY-4.0", IReadOnlyList<ArtifactRef>? artifacts = null) => new(
        "adult-income", "1.0.0", "risk-team", "classification", "medium", license, Stages.Evaluated,
        artifacts ?? [new ArtifactRef(Fixtures.ReferenceSha256("v1-logreg"), "v1-logreg.onnx", "application/onnx", 5067)],
        Fixtures.Attestation(), "Predicts whether income exceeds 50K from census data");

    public static ModelCard CompleteCard() => new(
        IntendedUse: "Ranking applications for manual review of income eligibility.",
        OutOfScopeUse: "Automated decisions about individuals without human review.",
        Limitations: ["Trained on 1994 US census data; incomes are not inflation-adjusted.", "Categorical values unseen in training encode as zeros."],
        TrainingData: "UCI Adult (32,561 rows), missing values as empty strings.",
        Evaluation: new CardEvaluation("Evaluated on the 16,281-row test split with 1,000 bootstrap resamples.", [EvaluationId]),
        EthicalConsiderations: [new EthicalConsideration("Lower positive rate for women", "Equalized odds difference by sex is gated at 0.1")],
        Markdown: "## Contact\n\nrisk-team@example.com");

    /// <summary>The v1-logreg figures of reference-metrics.json, with made-up but well-formed intervals.</summary>
    public static CardEvaluationSummary Evaluation()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.ModelsDirectory, "reference-metrics.json")));
        var m = doc.RootElement.GetProperty("models").GetProperty("v1-logreg").GetProperty("metrics");
        CardMetricValue With(string name) => new(m.GetProperty(name).GetDouble(), m.GetProperty(name).GetDouble() - 0.005, m.GetProperty(name).GetDouble() + 0.005);
        var bySex = m.GetProperty("positive_rate_by_sex");
        return new CardEvaluationSummary(EvaluationId, "adult-classification",
            new Dictionary<string, CardMetricValue>
            {
                ["accuracy"] = With("accuracy"),
                ["roc_auc"] = With("roc_auc"),
                ["f1"] = With("f1"),
                ["equalized_odds_difference_sex"] = new(m.GetProperty("equalized_odds_difference_sex").GetDouble()),
            },
            new Dictionary<string, IReadOnlyDictionary<string, CardMetricValue>>
            {
                ["sex=Female"] = new Dictionary<string, CardMetricValue> { ["positive_rate"] = new(bySex.GetProperty("Female").GetDouble()) },
                ["sex=Male"] = new Dictionary<string, CardMetricValue> { ["positive_rate"] = new(bySex.GetProperty("Male").GetDouble()) },
            },
            TestCsvSha256, Passed: true);
    }
}
