using ModelGate.Client;
using ModelGate.Lifecycle.Cards;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Lifecycle.Cards;

public sealed class ModelCardMarkdownTests
{
    [Fact]
    public void Render_CompleteCard_HasEverySectionAndTheResults()
    {
        var md = ModelCardMarkdown.Render(CardSamples.Subject(), CardSamples.CompleteCard(), [CardSamples.Evaluation()]);
        var headings = md.Split('\n').Where(l => l.StartsWith('#')).ToList();
        Assert.Equal(["# Model card: adult-income 1.0.0", "## Intended use", "## Out-of-scope use", "## Limitations", "## Training data", "## Evaluation",
            "### adult-classification (`eval_01adultlogreg`) — passed", "## Ethical considerations", "## Artifacts", "## Notes", "## Contact"], headings);
        Assert.DoesNotContain("Incomplete card", md);
        Assert.DoesNotContain(ModelCardMarkdown.NotProvided, md);

        Assert.Contains("| Licence | CC-BY-4.0 |", md);
        Assert.Contains("| Owner | risk-team |", md);
        Assert.Contains("| Architecture | logistic-regression |", md);
        Assert.Contains("| roc\\_auc | 0.9054 | 0.9004 – 0.9104 |", md);
        Assert.Contains("| equalized\\_odds\\_difference\\_sex | 0.0876 |  |", md);
        Assert.Contains("| sex=Female | positive\\_rate | 0.0764 |  |", md);
        Assert.Contains("- Trained on 1994 US census data; incomes are not inflation-adjusted.\n", md);
        Assert.Contains("- **Lower positive rate for women** — mitigation: Equalized odds difference by sex is gated at 0.1\n", md);
        Assert.Contains($"| adult-train | file:fixtures/datasets/adult/train.csv | `{Fixtures.TrainCsvSha256}` |", md);
        Assert.Contains($"| v1-logreg.onnx | `{Fixtures.ReferenceSha256("v1-logreg")}` | 5,067 B |", md);
        Assert.EndsWith("## Contact\n\nrisk-team@example.com\n", md);
    }

    [Fact]
    public void Render_IncompleteCard_SaysWhatIsMissing()
    {
        var md = ModelCardMarkdown.Render(CardSamples.Subject(license: null), new ModelCard(IntendedUse: "Review queue ranking."), []);
        Assert.Contains("> **Incomplete card** — missing: out-of-scope use, limitations, training data, evaluation, ethical considerations, licence", md);
        Assert.Contains("## Intended use\n\nReview queue ranking.\n", md);
        Assert.Contains("## Out-of-scope use\n\n_Not provided._\n", md);
        Assert.Contains("## Ethical considerations\n\n_Not provided._\n", md);
        Assert.Contains("| Licence | (none) |", md);
    }

    [Fact]
    public void Render_RegistryValuesCannotBreakTheTableOrInjectMarkup()
    {
        var subject = CardSamples.Subject() with
        {
            Owner = "team | <script>alert(1)</script>\n# not a heading",
            Artifacts = [new ArtifactRef(new string('a', 64), "weights|v1.bin", "application/octet-stream", 1)],
        };
        var md = ModelCardMarkdown.Render(subject, null, [CardSamples.Evaluation() with { Id = "eval`x|y" }]);
        Assert.Contains("| Owner | team \\| \\<script\\>alert(1)\\</script\\> \\# not a heading |", md);
        Assert.Contains("| weights\\|v1.bin |", md);
        Assert.Contains("(`evalx\\|y`)", md);
        Assert.DoesNotContain("\n# not a heading", md);
    }

    [Fact]
    public void Render_CitedEvaluationsWithoutResults_AreListed()
    {
        var card = CardSamples.CompleteCard() with { Evaluation = new CardEvaluation("See the runs.", ["eval_a", "eval_b"]) };
        var md = ModelCardMarkdown.Render(CardSamples.Subject(), card, []);
        Assert.Contains("Evaluations cited: `eval_a`, `eval_b`", md);
    }
}
