using System.Globalization;
using System.Text;
using ModelGate.Client;

namespace ModelGate.Lifecycle.Cards;

/// <summary>
/// Renders a version's model card as markdown: a facts table, the structured sections in the order the registered gate
/// names them (each says so when it is missing), the evaluation results, the artifacts, then the card's own markdown.
/// Values from the registry are escaped; the card's prose is the author's markdown and is kept as written.
/// </summary>
public static class ModelCardMarkdown
{
    public const string NotProvided = "_Not provided._";

    public static string Render(CardSubject subject, ModelCard? card, IReadOnlyList<CardEvaluationSummary> evaluations)
    {
        var a = subject.Attestation;
        var md = new StringBuilder();
        md.Append("# Model card: ").Append(Inline(subject.Model)).Append(' ').Append(Inline(subject.Version)).Append("\n\n");
        if (!string.IsNullOrWhiteSpace(subject.Description))
        {
            md.Append(Paragraph(subject.Description)).Append("\n\n");
        }

        md.Append("| | |\n| --- | --- |\n");
        Row(md, "Model", $"{subject.Model}@{subject.Version}");
        Row(md, "Stage", subject.Stage);
        Row(md, "Owner", subject.Owner);
        Row(md, "Licence", subject.License ?? "(none)");
        Row(md, "Risk tier", subject.RiskTier);
        Row(md, "Task", subject.Task);
        Row(md, "Architecture", a.Architecture ?? "(not stated)");
        if (!string.IsNullOrWhiteSpace(a.BaseModel))
        {
            Row(md, "Base model", a.BaseModel);
        }
        if (a.Derivation is { } d)
        {
            Row(md, "Derived from", $"{subject.Model}@{d.From} by {d.Kind}" + (d.Method is null ? "" : $" ({d.Method})"));
        }
        if (!string.IsNullOrWhiteSpace(a.Trainer))
        {
            Row(md, "Trainer", a.Trainer);
        }
        if (a.Code is { } code)
        {
            Row(md, "Code", $"{code.Repo} @ {code.Commit}");
        }
        md.Append('\n');

        var completeness = ModelCardRules.Check(card, subject.License, subject.Owner);
        if (!completeness.Complete)
        {
            md.Append("> **Incomplete card** — ").Append(Inline(ModelCardRules.Describe(completeness))).Append("\n\n");
        }

        Section(md, "Intended use", card?.IntendedUse);
        Section(md, "Out-of-scope use", card?.OutOfScopeUse);

        md.Append("## Limitations\n\n");
        var limitations = (card?.Limitations ?? []).Where(l => !string.IsNullOrWhiteSpace(l)).ToList();
        md.Append(limitations.Count == 0 ? NotProvided + "\n" : string.Concat(limitations.Select(l => "- " + Bullet(l) + "\n"))).Append('\n');

        md.Append("## Training data\n\n").Append(Text(card?.TrainingData)).Append("\n\n");
        var datasets = (a.Datasets ?? []).Where(x => x is not null).ToList();
        if (datasets.Count > 0)
        {
            md.Append("| Dataset | Location | SHA-256 |\n| --- | --- | --- |\n");
            foreach (var x in datasets)
            {
                md.Append("| ").Append(Cell(x.Name)).Append(" | ").Append(Cell(x.Uri ?? "")).Append(" | ").Append(Code(x.Sha256)).Append(" |\n");
            }
            md.Append('\n');
        }

        md.Append("## Evaluation\n\n").Append(Text(card?.Evaluation?.Text)).Append("\n\n");
        var cited = card?.Evaluation?.EvaluationIds ?? [];
        var uncited = cited.Where(id => evaluations.All(e => e.Id != id)).ToList();
        if (uncited.Count > 0)
        {
            md.Append("Evaluations cited: ").Append(string.Join(", ", uncited.Select(Code))).Append("\n\n");
        }
        foreach (var e in evaluations)
        {
            md.Append("### ").Append(Inline(e.Suite)).Append(" (").Append(Code(e.Id)).Append(')');
            if (e.Passed is { } passed)
            {
                md.Append(passed ? " — passed" : " — **failed**");
            }
            md.Append("\n\n| Metric | Value | Interval |\n| --- | ---: | --- |\n");
            foreach (var (name, value) in e.Metrics.OrderBy(m => m.Key, StringComparer.Ordinal))
            {
                md.Append("| ").Append(Cell(name)).Append(" | ").Append(Number(value.Value)).Append(" | ").Append(Interval(value)).Append(" |\n");
            }
            md.Append('\n');
            if (e.Slices is { Count: > 0 } slices)
            {
                md.Append("| Slice | Metric | Value | Interval |\n| --- | --- | ---: | --- |\n");
                foreach (var (slice, values) in slices.OrderBy(s => s.Key, StringComparer.Ordinal))
                {
                    foreach (var (name, value) in values.OrderBy(m => m.Key, StringComparer.Ordinal))
                    {
                        md.Append("| ").Append(Cell(slice)).Append(" | ").Append(Cell(name)).Append(" | ").Append(Number(value.Value))
                            .Append(" | ").Append(Interval(value)).Append(" |\n");
                    }
                }
                md.Append('\n');
            }
        }

        md.Append("## Ethical considerations\n\n");
        var ethical = (card?.EthicalConsiderations ?? []).Where(e => e is not null && !string.IsNullOrWhiteSpace(e.Name)).ToList();
        md.Append(ethical.Count == 0
            ? NotProvided + "\n"
            : string.Concat(ethical.Select(e => "- **" + Bullet(e.Name) + "**" +
                                                  (string.IsNullOrWhiteSpace(e.MitigationStrategy) ? "" : " — mitigation: " + Bullet(e.MitigationStrategy)) + "\n")));
        md.Append('\n');

        md.Append("## Artifacts\n\n| File | SHA-256 | Size |\n| --- | --- | ---: |\n");
        foreach (var x in subject.Artifacts)
        {
            md.Append("| ").Append(Cell(x.FileName)).Append(" | ").Append(Code(x.Sha256)).Append(" | ")
                .Append(x.Size is { } size ? size.ToString("N0", CultureInfo.InvariantCulture) + " B" : "").Append(" |\n");
        }

        if (!string.IsNullOrWhiteSpace(card?.Markdown))
        {
            md.Append("\n## Notes\n\n").Append(card.Markdown.Trim()).Append('\n');
        }
        return md.ToString();
    }

    private static void Section(StringBuilder md, string title, string? text) =>
        md.Append("## ").Append(title).Append("\n\n").Append(Text(text)).Append("\n\n");

    private static string Text(string? text) => string.IsNullOrWhiteSpace(text) ? NotProvided : text.Trim();

    private static void Row(StringBuilder md, string name, string value) =>
        md.Append("| ").Append(name).Append(" | ").Append(Cell(value)).Append(" |\n");

    private static string Number(double value) =>
        double.IsFinite(value) ? value.ToString("0.####", CultureInfo.InvariantCulture) : value.ToString(CultureInfo.InvariantCulture);

    private static string Interval(CardMetricValue value) =>
        value is { Lower: { } lower, Upper: { } upper } ? $"{Number(lower)} – {Number(upper)}" : "";

    /// <summary>A registry value inside a table cell: escaped like running text, whose escapes include the pipe.</summary>
    private static string Cell(string value) => Inline(value);

    /// <summary>A value shown as code (digests, ids): backslash escapes do not apply there, so backticks and breaks go, and a pipe is escaped for the table.</summary>
    private static string Code(string value) =>
        "`" + new string(value.Where(ch => ch != '`' && !char.IsControl(ch)).ToArray()).Replace("|", "\\|", StringComparison.Ordinal) + "`";

    /// <summary>A registry value in running text (one line; markdown and HTML characters escaped).</summary>
    private static string Inline(string value)
    {
        var sb = new StringBuilder(value.Length);
        foreach (var ch in value)
        {
            if (ch is '\r' or '\n' or '\t')
            {
                sb.Append(' ');
            }
            else if (ch is '\\' or '`' or '*' or '_' or '[' or ']' or '<' or '>' or '#' or '|')
            {
                sb.Append('\\').Append(ch);
            }
            else if (!char.IsControl(ch))
            {
                sb.Append(ch);
            }
        }
        return sb.ToString();
    }

    /// <summary>Author prose inside a list item: kept as markdown, folded onto one line so that the list holds.</summary>
    private static string Bullet(string text) => string.Join(' ', text.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    private static string Paragraph(string text) => text.Trim();
}
