using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Lifecycle.Cards;

namespace ModelGate.Tests.Lifecycle.Cards;

public sealed class ModelCardRulesTests
{
    [Fact]
    public void Check_CompleteCardWithLicenceAndOwner_IsComplete()
    {
        var result = ModelCardRules.Check(CardSamples.CompleteCard(), "CC-BY-4.0", "risk-team");
        Assert.True(result.Complete);
        Assert.Empty(result.Missing);
        Assert.Equal("model card complete", ModelCardRules.Describe(result));
    }

    [Fact]
    public void Check_NoCard_NamesEveryRequiredFieldInGateOrder()
    {
        var result = ModelCardRules.Check(null, null, " ");
        Assert.False(result.Complete);
        Assert.Equal(["intendedUse", "outOfScopeUse", "limitations", "trainingData", "evaluation", "ethicalConsiderations", "license", "owner"], result.Missing);
        Assert.Equal("missing: intended use, out-of-scope use, limitations, training data, evaluation, ethical considerations, licence, owner",
            ModelCardRules.Describe(result));
    }

    public static TheoryData<string, Func<ModelCard, ModelCard>> Blanked => new()
    {
        { "intendedUse", c => c with { IntendedUse = "  " } },
        { "outOfScopeUse", c => c with { OutOfScopeUse = null } },
        { "limitations", c => c with { Limitations = ["", " "] } },
        { "trainingData", c => c with { TrainingData = "\n" } },
        { "evaluation", c => c with { Evaluation = new CardEvaluation(null, ["eval_1"]) } },   // ids alone do not explain the evaluation
        { "ethicalConsiderations", c => c with { EthicalConsiderations = [] } },
    };

    [Theory]
    [MemberData(nameof(Blanked))]
    public void Check_BlankSection_IsMissing(string field, Func<ModelCard, ModelCard> blank)
    {
        var result = ModelCardRules.Check(blank(CardSamples.CompleteCard()), "MIT", "team");
        Assert.Equal([field], result.Missing);
    }

    [Fact]
    public void Check_MarkdownIsOptional()
    {
        Assert.True(ModelCardRules.Check(CardSamples.CompleteCard() with { Markdown = null }, "MIT", "team").Complete);
    }

    [Fact]
    public void Validate_Limits_NameTheField()
    {
        var errors = new ValidationErrors();
        ModelCardRules.Validate(new ModelCard(
            IntendedUse: new string('x', ModelCardRules.MaxTextLength + 1),
            Limitations: ["ok", ""],
            Evaluation: new CardEvaluation("fine", ["eval_1", "../etc", "eval_1"]),
            EthicalConsiderations: [new EthicalConsideration(" ")]), errors);
        var problem = errors.ToProblem().ProblemDetails;
        var fields = ((IDictionary<string, string[]>)problem.Extensions["errors"]!).Keys.ToHashSet();
        Assert.Equal(new HashSet<string>
        {
            "card.intendedUse", "card.limitations[1]", "card.evaluation.evaluationIds[1]", "card.evaluation.evaluationIds", "card.ethicalConsiderations[0].name",
        }, fields);

        var fine = new ValidationErrors();
        ModelCardRules.Validate(CardSamples.CompleteCard(), fine);
        ModelCardRules.Validate(new ModelCard(), fine);
        Assert.False(fine.Any);
    }
}
