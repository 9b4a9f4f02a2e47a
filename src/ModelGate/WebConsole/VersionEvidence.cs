using System.Globalization;
using System.Text;
using System.Text.Json;
using ModelGate.Client;
using ModelGate.Evaluation;
using ModelGate.Storage.Evaluation;
using ModelGate.Storage.Lifecycle;
using static ModelGate.WebConsole.Html;

namespace ModelGate.WebConsole;

/// <summary>
/// The version page's evidence sections, written from what is stored: the lineage graph, each evaluation in full (read
/// through <see cref="StoredEvaluationResult"/>), the model card as HTML sections and the approvals with their plans. Every
/// stored text goes through <see cref="Html.E"/>; nothing stored is rendered as markup.
/// </summary>
public static class VersionEvidence
{
    /// <summary>The lineage graph (inputs → the version → its deployments), with the same facts as a table.</summary>
    public static string Lineage(string name, string version, IReadOnlyList<LineageNode> inputs, IReadOnlyList<LineageNode> deployments) =>
        Charts.Lineage("lineage", $"Lineage of {name}@{version}", inputs, new LineageNode("version", $"{name}@{version}"), deployments);

    /// <summary>
    /// Each succeeded run with a result in full, grouped by suite: the latest run of each suite open, the suite's older
    /// runs folded in a <c>details</c>.
    /// </summary>
    public static string Evaluations(IReadOnlyList<EvaluationEntity> runs)
    {
        var withResults = runs.Where(r => r.Status == EvaluationStatuses.Succeeded)
            .Select(r => (Run: r, Result: StoredEvaluationResult.Read(r.Result)))
            .Where(x => x.Result is not null).ToList();
        if (withResults.Count == 0)
        {
            return """<p class="empty" id="evaluation-details">No succeeded run with a result yet.</p>""";
        }
        var html = new StringBuilder("""<div id="evaluation-details">""");
        foreach (var suite in withResults.GroupBy(x => x.Result!.Suite ?? x.Run.SuiteSha256[..Math.Min(12, x.Run.SuiteSha256.Length)]))
        {
            var ordered = suite.ToList();
            var (latest, latestResult) = ordered[^1];
            html.Append($"""<section class="suite" data-suite="{E(suite.Key)}"><h3>Suite {E(suite.Key)}</h3>""");
            html.Append(Run(latest, latestResult!, "latest run"));
            if (ordered.Count > 1)
            {
                html.Append($"""<details class="older"><summary>{ordered.Count - 1} earlier run{(ordered.Count > 2 ? "s" : "")} of this suite</summary>""");
                foreach (var (run, result) in ordered.Take(ordered.Count - 1).Reverse())
                {
                    html.Append(Run(run, result!, "earlier run"));
                }
                html.Append("</details>");
            }
            html.Append("</section>");
        }
        return html.Append("</div>").ToString();
    }

    private static string Run(EvaluationEntity run, StoredEvaluationResult result, string which)
    {
        var id = run.Id;
        var html = new StringBuilder($"""<article class="run" id="run-{E(id)}" data-run="{E(id)}"><h4>{E(which)} <code>{E(id)}</code></h4>""");
        var verdict = result.Passed switch { true => "passed its thresholds", false => "failed a threshold", null => "no thresholds judged" };
        html.Append($"""<p data-verdict="{(result.Passed is { } p ? p ? "passed" : "failed" : "none")}">{E(verdict)}; evaluator {E(run.Evaluator)}{(run.External ? " (external)" : "")}; finished {run.FinishedAt:yyyy-MM-dd HH:mm} UTC{(result.Rows is { } rows ? $"; {result.RowsScored ?? rows:N0} of {rows:N0} rows scored" : "")}.</p>""");

        var bounds = result.ThresholdChecks.ToDictionary(t => t.Metric, StringComparer.Ordinal);
        html.Append($"""<div class="scroll"><table class="run-metrics" id="metrics-{E(id)}"><caption>Metrics of {E(id)} (95 % bootstrap interval)</caption><thead><tr><th scope="col">Metric</th><th scope="col">Value</th><th scope="col">95 % interval</th><th scope="col">Threshold</th></tr></thead><tbody>""");
        foreach (var (metric, value) in result.Metrics)
        {
            html.Append($"""<tr data-metric="{E(metric)}"><th scope="row">{E(metric)}</th><td data-value>{Figure(value.Value)}</td><td data-interval>{Interval(value)}</td><td>{Threshold(bounds.GetValueOrDefault(metric))}</td></tr>""");
        }
        html.Append("</tbody></table></div>");

        if (result.ThresholdChecks.Count > 0)
        {
            html.Append($"""<div class="scroll"><table class="run-thresholds" id="thresholds-{E(id)}"><caption>Thresholds of {E(id)}</caption><thead><tr><th scope="col">Metric</th><th scope="col">Bound</th><th scope="col">Measured</th><th scope="col">Result</th></tr></thead><tbody>""");
            foreach (var t in result.ThresholdChecks)
            {
                html.Append($"""<tr data-threshold="{E(t.Metric)}" data-passed="{(t.Passed ? "true" : "false")}"><th scope="row">{E(t.Metric)}</th><td>{Bound(t)}</td><td>{(t.Actual is { } a ? Figure(a) : "–")}</td><td>{(t.Passed ? "pass" : "<strong class=\"tier-high\">FAIL</strong>")}</td></tr>""");
            }
            html.Append("</tbody></table></div>");
        }

        if (result.SelectionRateByGroup.Count > 0 || result.FairnessMeasures.Count > 0)
        {
            html.Append($"""<h5>Fairness by {E(result.Sensitive ?? "group")}</h5>""");
            html.Append(Charts.Bars($"selection-{id}", $"Selection rate by {result.Sensitive ?? "group"} ({id})",
                result.SelectionRateByGroup.Select(g => new ChartBar(g.Key, g.Value, Figure(g.Value))).ToList(), "selection rate"));
            html.Append($"""<div class="scroll"><table class="run-fairness" id="fairness-{E(id)}"><caption>Fairness measures of {E(id)} over {E(result.Sensitive ?? "group")}</caption><thead><tr><th scope="col">Measure</th><th scope="col">Value</th><th scope="col">95 % interval</th><th scope="col">Threshold</th></tr></thead><tbody>""");
            foreach (var (measure, value) in result.FairnessMeasures)
            {
                html.Append($"""<tr data-measure="{E(measure)}"><th scope="row">{E(measure)}</th><td data-value>{Figure(value.Value)}</td><td data-interval>{Interval(value)}</td><td>{Threshold(bounds.GetValueOrDefault(measure))}</td></tr>""");
            }
            html.Append("</tbody></table></div>");
        }

        if (result.Slices.Count > 0)
        {
            var figures = result.Slices.SelectMany(s => s.Figures.Select(f => f.Key)).Where(f => f != "rows").Distinct(StringComparer.Ordinal).ToList();
            html.Append($"""<div class="scroll"><table class="run-slices" id="slices-{E(id)}"><caption>Slices of {E(id)}</caption><thead><tr><th scope="col">Column</th><th scope="col">Segment</th><th scope="col">Rows</th>{string.Concat(figures.Select(f => $"<th scope=\"col\">{E(f)}</th>"))}</tr></thead><tbody>""");
            foreach (var slice in result.Slices)
            {
                var values = slice.Figures.ToDictionary(f => f.Key, f => f.Value, StringComparer.Ordinal);
                html.Append($"""<tr data-slice="{E(slice.Column)}={E(slice.Segment)}"><td>{E(slice.Column)}</td><th scope="row">{E(slice.Segment)}</th><td>{(values.TryGetValue("rows", out var n) ? n.ToString("N0", CultureInfo.InvariantCulture) : "–")}</td>{string.Concat(figures.Select(f => $"<td data-figure=\"{E(f)}\">{(values.TryGetValue(f, out var v) ? Figure(v) : "–")}</td>"))}</tr>""");
            }
            html.Append("</tbody></table></div>");
        }

        if (result.BaselineVersion is { } baseline)
        {
            html.Append($"""<div class="scroll"><table class="run-deltas" id="deltas-{E(id)}"><caption>Against the baseline {E(baseline)} on the same rows (candidate − baseline, paired 95 % interval)</caption><thead><tr><th scope="col">Metric</th><th scope="col">Baseline</th><th scope="col">This version</th><th scope="col">Delta</th><th scope="col">Paired interval</th></tr></thead><tbody>""");
            foreach (var (metric, delta) in result.Deltas)
            {
                var mine = result.Metrics.FirstOrDefault(m => m.Key == metric);
                html.Append($"""<tr data-metric="{E(metric)}"><th scope="row">{E(metric)}</th><td>{(result.BaselineMetrics.TryGetValue(metric, out var b) ? Figure(b) : "–")}</td><td>{(mine.Key is null ? "–" : Figure(mine.Value.Value))}</td><td data-delta>{Signed(delta.Value)}</td><td data-interval>{(delta.HasInterval ? $"[{Signed(delta.Lower!.Value)}, {Signed(delta.Upper!.Value)}]" : "–")}</td></tr>""");
            }
            html.Append("</tbody></table></div>");
        }
        return html.Append("</article>").ToString();
    }

    /// <summary>The stored model card as sections; its free text is shown as text (line breaks kept), never as markup.</summary>
    public static string Card(ModelCard? card, CardCompletenessDto completeness)
    {
        if (card is null)
        {
            return """<section id="card"><p class="empty">This version has no model card.</p></section>""";
        }
        var html = new StringBuilder("""<section id="card">""");
        html.Append($"""<p id="card-completeness" data-complete="{(completeness.Complete ? "true" : "false")}">{E(Lifecycle.Cards.ModelCardRules.Describe(completeness))}.</p>""");
        void Text(string id, string heading, string? text)
        {
            if (!string.IsNullOrWhiteSpace(text))
            {
                html.Append($"""<h3>{E(heading)}</h3><p class="text" id="{id}">{E(text)}</p>""");
            }
        }
        Text("card-intended-use", "Intended use", card.IntendedUse);
        Text("card-out-of-scope", "Out-of-scope use", card.OutOfScopeUse);
        if (card.Limitations is { Count: > 0 } limitations)
        {
            html.Append($"""<h3>Limitations</h3><ul id="card-limitations">{string.Concat(limitations.Select(l => $"<li class=\"text\">{E(l)}</li>"))}</ul>""");
        }
        Text("card-training-data", "Training data", card.TrainingData);
        if (card.Evaluation is { } evaluation)
        {
            Text("card-evaluation", "Evaluation", evaluation.Text);
            if (evaluation.EvaluationIds is { Count: > 0 } ids)
            {
                html.Append($"""<p>Evaluations referred to: {string.Join(", ", ids.Select(i => $"""<a href="#run-{E(i)}"><code>{E(i)}</code></a>"""))}</p>""");
            }
        }
        if (card.EthicalConsiderations is { Count: > 0 } ethical)
        {
            html.Append($"""<h3>Ethical considerations</h3><ul id="card-ethical">{string.Concat(ethical.Select(e => $"<li class=\"text\"><strong>{E(e.Name)}</strong>{(e.MitigationStrategy is { } m ? $" — mitigation: {E(m)}" : "")}</li>"))}</ul>""");
        }
        if (!string.IsNullOrWhiteSpace(card.Markdown))
        {
            html.Append($"""<h3>Further notes (as written, not rendered)</h3><pre class="text" id="card-notes">{E(card.Markdown)}</pre>""");
        }
        return html.Append("</section>").ToString();
    }

    /// <summary>Each approval with the evidence reviewed, its plans and its next review (marked when overdue at <paramref name="now"/>).</summary>
    public static string Approvals(IReadOnlyList<ApprovalEntity> approvals, DateTime now)
    {
        if (approvals.Count == 0)
        {
            return """<div id="approvals"><p class="empty">none</p></div>""";
        }
        var html = new StringBuilder("""<div id="approvals" class="scroll"><table><caption class="skip">Approvals with their evidence and plans</caption><thead><tr><th scope="col">Role</th><th scope="col">Principal</th><th scope="col">Decision</th><th scope="col">Evidence reviewed</th><th scope="col">Risks accepted</th><th scope="col">Monitoring plan</th><th scope="col">Rollback plan</th><th scope="col">Next review</th></tr></thead><tbody>""");
        foreach (var a in approvals)
        {
            var evidence = Evidence(a.Evidence);
            var overdue = a.NextReviewAt < now;
            html.Append($"""<tr data-approval="{E(a.Id)}"><th scope="row">{E(a.Role)}</th><td>{E(a.Approver)}</td><td>{E(a.Decision)} on {a.Time:yyyy-MM-dd}{(a.Comment is { Length: > 0 } c ? $"<br><span class=\"text\">{E(c)}</span>" : "")}</td>"""
                        + $"""<td>{(evidence.Count == 0 ? "–" : string.Join("<br>", evidence.Select(e => e.StartsWith("eval_", StringComparison.Ordinal) ? $"""<a href="#run-{E(e)}"><code>{E(e)}</code></a>""" : $"<code>{E(e)}</code>")))}</td>"""
                        + $"""<td class="text">{E(a.RisksAccepted)}</td><td class="text">{E(a.MonitoringPlan)}</td><td class="text">{E(a.RollbackPlan)}</td>"""
                        + $"""<td data-next-review="{a.NextReviewAt:yyyy-MM-dd}" data-overdue="{(overdue ? "true" : "false")}">{a.NextReviewAt:yyyy-MM-dd}{(overdue ? " <strong class=\"tier-high\">overdue</strong>" : "")}</td></tr>""");
        }
        return html.Append("</tbody></table></div>").ToString();
    }

    /// <summary>The ids an approval lists as reviewed (a JSON array of strings; anything else reads as none).</summary>
    private static List<string> Evidence(string json)
    {
        try
        {
            return JsonSerializer.Deserialize<List<string>>(json) ?? [];
        }
        catch (JsonException)
        {
            return [];
        }
    }

    /// <summary>The version page's own styles.</summary>
    public const string Stylesheet = """
        #evaluation-details .run { border-left: 3px solid var(--line); padding-left: 10px; margin: 8px 0 16px; }
        #evaluation-details details.older > summary { cursor: pointer; margin: 6px 0; }
        .text { white-space: pre-wrap; overflow-wrap: anywhere; }
        figure#lineage { overflow-x: auto; } figure#lineage svg { min-width: 560px; }
        """;

    private static string Figure(double value) => Cli.CliApp.Figure(value);

    private static string Signed(double value) => (value >= 0 ? "+" : "") + Cli.CliApp.Figure(value);

    private static string Interval(StoredMetric metric) => metric.HasInterval ? $"[{Figure(metric.Lower!.Value)}, {Figure(metric.Upper!.Value)}]" : "–";

    private static string Bound(StoredThreshold t) => (t.Min, t.Max) switch
    {
        ({ } min, { } max) => $"{Figure(min)} – {Figure(max)}",
        ({ } min, null) => $"≥ {Figure(min)}",
        (null, { } max) => $"≤ {Figure(max)}",
        _ => "–",
    };

    private static string Threshold(StoredThreshold? t) => t is null ? "–" : $"{Bound(t)} {(t.Passed ? "pass" : "<strong class=\"tier-high\">FAIL</strong>")}";
}
