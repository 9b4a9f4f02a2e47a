using ModelGate.Client;
using ModelGate.Errors;

namespace ModelGate.Lifecycle.Cards;

/// <summary>Checks a model card: its size limits, and whether it is complete enough for the <c>registered</c> gate.</summary>
public static class ModelCardRules
{
    public const int MaxTextLength = 20_000;
    public const int MaxMarkdownLength = 200_000;
    public const int MaxItems = 200;
    public const int MaxItemLength = 4_000;

    /// <summary>What the <c>registered</c> gate requires, in the order it is reported: JSON field name and the words for it.</summary>
    public static readonly IReadOnlyList<(string Field, string Label)> RequiredFields =
    [
        ("intendedUse", "intended use"),
        ("outOfScopeUse", "out-of-scope use"),
        ("limitations", "limitations"),
        ("trainingData", "training data"),
        ("evaluation", "evaluation"),
        ("ethicalConsiderations", "ethical considerations"),
        ("license", "licence"),
        ("owner", "owner"),
    ];

    /// <summary>
    /// Whether the card is complete: every structured section present and not blank (the evaluation needs its text; the
    /// evaluation ids are optional), and the model has a licence and an owner. Missing fields are named by JSON field.
    /// </summary>
    public static CardCompletenessDto Check(ModelCard? card, string? license, string? owner)
    {
        var present = new Dictionary<string, bool>
        {
            ["intendedUse"] = HasText(card?.IntendedUse),
            ["outOfScopeUse"] = HasText(card?.OutOfScopeUse),
            ["limitations"] = card?.Limitations?.Any(HasText) == true,
            ["trainingData"] = HasText(card?.TrainingData),
            ["evaluation"] = HasText(card?.Evaluation?.Text),
            ["ethicalConsiderations"] = card?.EthicalConsiderations?.Any(e => e is not null && HasText(e.Name)) == true,
            ["license"] = HasText(license),
            ["owner"] = HasText(owner),
        };
        var missing = RequiredFields.Where(f => !present[f.Field]).Select(f => f.Field).ToList();
        return new CardCompletenessDto(missing.Count == 0, missing);
    }

    /// <summary>The words for a field (<c>outOfScopeUse</c> → "out-of-scope use").</summary>
    public static string Label(string field) => RequiredFields.FirstOrDefault(f => f.Field == field).Label ?? field;

    /// <summary>"model card complete" or "missing: out-of-scope use, licence", for gate reports.</summary>
    public static string Describe(CardCompletenessDto completeness) =>
        completeness.Complete ? "model card complete" : "missing: " + string.Join(", ", completeness.Missing.Select(Label));

    /// <summary>Size limits and well-formed items; an incomplete card is valid (completeness is the gate's business).</summary>
    public static void Validate(ModelCard? card, ValidationErrors errors, string prefix = "card")
    {
        if (card is null)
        {
            errors.Add(prefix, "the model card is required (an object; every field is optional until the registered gate)");
            return;
        }
        Text(card.IntendedUse, $"{prefix}.intendedUse", MaxTextLength, errors);
        Text(card.OutOfScopeUse, $"{prefix}.outOfScopeUse", MaxTextLength, errors);
        Text(card.TrainingData, $"{prefix}.trainingData", MaxTextLength, errors);
        Text(card.Markdown, $"{prefix}.markdown", MaxMarkdownLength, errors);
        Items(card.Limitations, $"{prefix}.limitations", errors);
        if (card.Evaluation is { } evaluation)
        {
            Text(evaluation.Text, $"{prefix}.evaluation.text", MaxTextLength, errors);
            var ids = evaluation.EvaluationIds ?? [];
            if (ids.Count > MaxItems)
            {
                errors.Add($"{prefix}.evaluation.evaluationIds", $"at most {MaxItems} evaluations");
            }
            for (var i = 0; i < Math.Min(ids.Count, MaxItems); i++)
            {
                if (ids[i] is not { Length: > 0 and <= 100 } id || !id.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
                {
                    errors.Add($"{prefix}.evaluation.evaluationIds[{i}]", "an evaluation id (letters, digits, '_' and '-', at most 100)");
                }
            }
            if (ids.Distinct(StringComparer.Ordinal).Count() != ids.Count)
            {
                errors.Add($"{prefix}.evaluation.evaluationIds", "an evaluation is named twice");
            }
        }
        var ethical = card.EthicalConsiderations ?? [];
        if (ethical.Count > MaxItems)
        {
            errors.Add($"{prefix}.ethicalConsiderations", $"at most {MaxItems} items");
        }
        for (var i = 0; i < Math.Min(ethical.Count, MaxItems); i++)
        {
            var e = ethical[i];
            if (e is null || !HasText(e.Name) || e.Name.Length > MaxItemLength)
            {
                errors.Add($"{prefix}.ethicalConsiderations[{i}].name", $"each consideration needs a name of 1–{MaxItemLength} characters");
                continue;
            }
            Text(e.MitigationStrategy, $"{prefix}.ethicalConsiderations[{i}].mitigationStrategy", MaxItemLength, errors);
        }
    }

    private static bool HasText(string? s) => !string.IsNullOrWhiteSpace(s);

    private static void Text(string? value, string field, int max, ValidationErrors errors)
    {
        if (value is { Length: var n } && n > max)
        {
            errors.Add(field, $"at most {max} characters");
        }
    }

    private static void Items(IReadOnlyList<string>? items, string field, ValidationErrors errors)
    {
        if (items is null)
        {
            return;
        }
        if (items.Count > MaxItems)
        {
            errors.Add(field, $"at most {MaxItems} items");
            return;
        }
        for (var i = 0; i < items.Count; i++)
        {
            if (!HasText(items[i]) || items[i].Length > MaxItemLength)
            {
                errors.Add($"{field}[{i}]", $"each item is 1–{MaxItemLength} characters");
            }
        }
    }
}
