using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Authorization;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Audit;
using ModelGate.Evaluation;
using ModelGate.Lifecycle;
using ModelGate.Registry;
using ModelGate.Security;
using ModelGate.Storage;
using static ModelGate.WebConsole.Html;

namespace ModelGate.WebConsole;

/// <summary>
/// The model page (its versions as a timeline of stages, the policy in force) and the version page (attestation and
/// lineage, artifacts with digests, evaluations with their intervals, approvals, the gate's dry run for the next stage, the
/// version's audit trail): what the REST API's reads show, with its read permission.
/// </summary>
public static class VersionPages
{
    public sealed record Services(ModelGateDbContext Db, ConsoleSessions Sessions, IAuthorizationService Authorization, EvidenceVerifier Evidence,
        GateVerifiers Verifiers, Retirement Retirement, TimeProvider Time);

    public static async Task<IResult> ModelAsync(string name, HttpContext context, [AsParameters] Services services, CancellationToken ct)
    {
        var (session, refusal) = await ConsoleApi.AuthorizeAsync(context, services.Sessions, services.Authorization, Permissions.Read, scopedKeysAllowed: true, ct);
        if (refusal is not null)
        {
            return refusal;
        }
        var model = await services.Db.Models.AsNoTracking().Include(m => m.Versions).FirstOrDefaultAsync(m => m.Name == name, ct);
        if (model is null)
        {
            return ConsoleApi.NotFound(session!, $"There is no model named '{name}'.");
        }
        var (policy, source) = await PoliciesApi.EffectiveAsync(services.Db, model.Name, ct);
        var versions = new StringBuilder();
        foreach (var v in model.Versions.OrderByDescending(v => SemVersion.Parse(v.Version)))
        {
            versions.Append($"""
                <li data-version="{E(v.Version)}"><a href="/console/models/{E(model.Name)}/versions/{E(v.Version)}">{E(v.Version)}</a>
                <span class="tag stage-{E(v.Stage)}">{E(v.Stage)}</span> <span class="empty">since {v.StageChangedAt:yyyy-MM-dd HH:mm} UTC, created by {E(v.CreatedBy)}</span></li>
                """);
        }
        var approvals = policy.Production?.Approvals?.GetValueOrDefault(model.RiskTier) ?? [];
        var main = $"""
            <p><a href="/console">Catalog</a> › {E(model.Name)}</p>
            <h1>{E(model.Name)}</h1>
            <dl class="facts">
            <dt>Owner</dt><dd>{E(model.Owner)}</dd><dt>Risk tier</dt><dd class="tier-{E(model.RiskTier)}">{E(model.RiskTier)}</dd>
            <dt>Task</dt><dd>{E(model.Task)}</dd><dt>Licence</dt><dd>{E(model.License ?? "–")}</dd>
            </dl>
            <p>{E(model.Description)}</p>
            <h2>Versions</h2>
            <ol class="timeline" id="versions">{versions}</ol>
            <form id="compare" class="filters" method="get" action="/console/models/{E(model.Name)}/compare">
            <label for="a">Compare<select id="a" name="a">{string.Concat(model.Versions.Select(v => $"<option>{E(v.Version)}</option>"))}</select></label>
            <label for="b">with<select id="b" name="b">{string.Concat(model.Versions.Select(v => $"<option>{E(v.Version)}</option>"))}</select></label>
            <button type="submit">Compare</button></form>
            <h2>Policy in force</h2>
            <p id="policy">{E(source)}: production needs {(approvals.Count == 0 ? "no approval" : string.Join(" and ", approvals.Select(E)))} for a {E(model.RiskTier)}-risk model;
            regression tolerance {E(policy.Evaluated?.RegressionTolerance?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none")}.
            The floor of the {E(model.RiskTier)} tier applies whatever a model's own policy says.</p>
            """;
        return ConsoleApi.HtmlResult(Page(model.Name, main, session, "catalog"), StatusCodes.Status200OK);
    }

    public static async Task<IResult> VersionAsync(string name, string version, HttpContext context, [AsParameters] Services services, CancellationToken ct)
    {
        var (session, refusal) = await ConsoleApi.AuthorizeAsync(context, services.Sessions, services.Authorization, Permissions.Read, scopedKeysAllowed: true, ct);
        if (refusal is not null)
        {
            return refusal;
        }
        var entity = (await Versions.FindAsync(services.Db, name, version, ct)).Entity;
        if (entity is null)
        {
            return ConsoleApi.NotFound(session!, $"There is no version '{version}' of '{name}'.");
        }
        var db = services.Db;
        var attestation = RegistryMapping.ReadAttestation(entity.Attestation);
        var main = new StringBuilder();
        main.Append($"""
            <p><a href="/console">Catalog</a> › <a href="/console/models/{E(name)}">{E(name)}</a> › {E(entity.Version)}</p>
            <h1>{E(name)}@{E(entity.Version)} <span class="tag stage-{E(entity.Stage)}">{E(entity.Stage)}</span></h1>
            {(context.Request.Query["done"] == "recorded" ? """<p role="status" class="done">Your decision is recorded.</p>""" : "")}
            <h2>Attestation and lineage</h2>
            <dl class="facts" id="attestation">
            <dt>Trainer</dt><dd>{E(attestation.Trainer ?? "–")}</dd>
            <dt>Code</dt><dd>{E(attestation.Code is { } code ? $"{code.Repo}@{code.Commit}" : "–")}</dd>
            <dt>Architecture</dt><dd>{E(attestation.Architecture ?? "–")}</dd>
            <dt>Base model</dt><dd>{E(attestation.BaseModel ?? "–")}</dd>
            <dt>Datasets</dt><dd>{(attestation.Datasets is { Count: > 0 } datasets ? string.Join("<br>", datasets.Select(d => $"{E(d.Name)} <code>{E(d.Sha256)}</code>")) : "–")}</dd>
            {(attestation.PromptTemplate is { } prompt ? $"<dt>Prompt</dt><dd><pre>{E(prompt.System)}\n---\n{E(prompt.Template)}</pre></dd>" : "")}
            </dl>
            {VersionEvidence.Lineage(name, entity.Version, await LineageInputsAsync(db, name, attestation, ct), await DeploymentsAsync(db, session!, entity.ModelId, entity.Version, ct))}
            <h2>Artifacts</h2>
            <ul id="artifacts">{string.Concat(entity.Artifacts.Select(a => $"<li>{E(a.FileName)} <code>sha256:{E(a.Sha256)}</code> {a.Size:N0} bytes</li>"))}</ul>
            """);

        var evaluations = await db.Evaluations.AsNoTracking().Where(e => e.VersionId == entity.Id).OldestFirst().ToListAsync(ct);
        main.Append("""<h2>Evaluations</h2><div class="scroll"><table id="evaluations"><thead><tr><th scope="col">Run</th><th scope="col">Status</th><th scope="col">Evaluator</th><th scope="col">Metrics (95 % interval)</th><th scope="col">Compared with</th></tr></thead><tbody>""");
        foreach (var e in evaluations)
        {
            main.Append($"""<tr data-evaluation="{E(e.Id)}"><td><code>{E(e.Id)}</code></td><td>{E(e.Status)}{(e.External ? " (external)" : "")}</td><td>{E(e.Evaluator)}{(e.Independent ? "" : " (not independent)")}</td><td>{Metrics(e.Result)}</td><td>{E(e.BaselineVersion ?? "–")}</td></tr>""");
        }
        main.Append("</tbody></table></div>");
        main.Append(VersionEvidence.Evaluations(evaluations));

        var stored = await db.ModelCards.AsNoTracking().FirstOrDefaultAsync(c => c.VersionId == entity.Id, ct);
        var card = stored is null ? null : JsonSerializer.Deserialize<ModelCard>(stored.Card, ModelGateJson.Options);
        main.Append("<h2>Model card</h2>");
        main.Append(VersionEvidence.Card(card, Lifecycle.Cards.ModelCardRules.Check(card, entity.Model!.License, entity.Model.Owner)));

        var approvals = await db.Approvals.AsNoTracking().Where(a => a.VersionId == entity.Id).OrderBy(a => a.Time).ToListAsync(ct);
        main.Append("<h2>Approvals</h2>");
        main.Append(VersionEvidence.Approvals(approvals, services.Time.GetUtcNow().UtcDateTime));
        if (entity.Stage == Stages.Staging && session!.Key.Deployments is null &&
            (await services.Authorization.AuthorizeAsync(session.User, Permissions.Approve)).Succeeded &&
            ApprovalRoles.All.Where(session.User.IsInRole).ToList() is { Count: > 0 } roles)
        {
            var verifications = await db.StagingVerifications.AsNoTracking().Where(v => v.VersionId == entity.Id).OrderBy(v => v.CreatedAt).ToListAsync(ct);
            var evidence = evaluations.Where(e => e.Status == EvaluationStatuses.Succeeded).Select(e => (e.Id, $"evaluation {e.Id}"))
                .Concat(verifications.Select(v => (v.Id, $"staging verification {v.Id} ({(v.Passed ? "passed" : "failed")})")));
            main.Append($"""
                <h2>Record your decision</h2>
                <form id="approve" method="post" action="/console/models/{E(name)}/versions/{E(entity.Version)}/approve">
                {Csrf(session)}
                <label for="role">Approving role<select id="role" name="role">{string.Concat(roles.Select(r => $"<option>{E(r)}</option>"))}</select></label>
                <fieldset><legend>Decision</legend>
                <label class="check"><input type="radio" name="decision" value="approve" checked> approve</label>
                <label class="check"><input type="radio" name="decision" value="reject"> reject</label></fieldset>
                <fieldset><legend>Evidence reviewed</legend>{string.Concat(evidence.Select(x => $"""<label class="check"><input type="checkbox" name="evidence" value="{E(x.Item1)}"> {E(x.Item2)}</label>"""))}</fieldset>
                <label for="risks">Risks accepted<textarea id="risks" name="risks" required maxlength="4000" rows="2"></textarea></label>
                <label for="monitoring">Monitoring plan<textarea id="monitoring" name="monitoring" required maxlength="4000" rows="2"></textarea></label>
                <label for="rollbackPlan">Rollback plan<textarea id="rollbackPlan" name="rollbackPlan" required maxlength="4000" rows="2"></textarea></label>
                <label for="review">Next review<input id="review" name="review" type="date" required></label>
                <label for="comment">Comment (optional)<textarea id="comment" name="comment" maxlength="4000" rows="2"></textarea></label>
                <button type="submit">Record decision</button>
                </form>
                """);
        }

        // What the REST API lets this key see: the gate's dry run needs the transition permission, the audit log an unscoped key.
        var mayTransition = (await services.Authorization.AuthorizeAsync(session!.User, Permissions.Transition)).Succeeded && session.Key.Deployments is null;
        if (mayTransition && StageMachine.From(entity.Stage).FirstOrDefault(s => s is not (Stages.Rejected or Stages.Retired)) is { } next)
        {
            var (_, report) = await Gates.ReportAsync(db, entity, new TransitionRequest(next, "console dry run"), session.User, services.Verifiers, services.Retirement, ct);
            main.Append($"""<h2>Gate to {E(next)} (dry run)</h2><p id="gate" data-passed="{(report.Passed ? "true" : "false")}">{(report.Passed ? "Every check passes." : "Not yet: the failed checks are marked.")}</p>""");
            main.Append("""<div class="scroll"><table id="gate-checks"><thead><tr><th scope="col">Check</th><th scope="col">Expected</th><th scope="col">Actual</th><th scope="col">Result</th></tr></thead><tbody>""");
            main.Append(string.Concat(report.Checks.Select(c =>
                $"""<tr data-check="{E(c.Check)}"><td>{E(c.Check)}</td><td>{E(c.Expected)}</td><td>{E(c.Actual)}</td><td>{(c.Passed ? "pass" : "<strong class=\"tier-high\">FAIL</strong>")}</td></tr>""")));
            main.Append("</tbody></table></div>");
        }

        if (session.Key.Deployments is not null)
        {
            return ConsoleApi.HtmlResult(Page($"{name}@{entity.Version}", main.ToString(), session, "catalog"), StatusCodes.Status200OK);
        }
        var subject = RegistryMapping.VersionSubject(name, entity.Version);
        var trail = await db.AuditEvents.AsNoTracking().Where(a => a.Subject == subject || a.Subject.StartsWith(subject + "/"))
            .OrderByDescending(a => a.Sequence).Take(200).ToListAsync(ct);
        main.Append("""<h2>Audit trail</h2><ol id="audit" reversed>""");
        main.Append(string.Concat(trail.Select(a => $"""<li><code>#{a.Sequence}</code> {a.Time:yyyy-MM-dd HH:mm:ss} {E(a.Action)} by {E(a.Actor)}{(a.Outcome == "success" ? "" : $" ({E(a.Outcome)})")}</li>""")));
        main.Append("</ol>");
        return ConsoleApi.HtmlResult(Page($"{name}@{entity.Version}", main.ToString(), session, "catalog"), StatusCodes.Status200OK);
    }

    /// <summary>
    /// Two versions side by side: each metric of their latest succeeded runs of a suite both ran (B − A), the prompt's line
    /// diff, the attestation's changes and the bump they need (<see cref="VersionDiff"/>, as <c>version diff</c> shows them).
    /// </summary>
    public static async Task<IResult> CompareAsync(string name, HttpContext context, [AsParameters] Services services, string? a, string? b, CancellationToken ct)
    {
        var (session, refusal) = await ConsoleApi.AuthorizeAsync(context, services.Sessions, services.Authorization, Permissions.Read, scopedKeysAllowed: true, ct);
        if (refusal is not null)
        {
            return refusal;
        }
        var from = a is null ? null : (await Versions.FindAsync(services.Db, name, a, ct)).Entity;
        var to = b is null ? null : (await Versions.FindAsync(services.Db, name, b, ct)).Entity;
        if (from is null || to is null)
        {
            return ConsoleApi.NotFound(session!, $"Compare needs two versions of '{name}' (?a=…&b=…).");
        }
        var diff = VersionDiff.Compare(name, from, to);
        var runs = await services.Db.Evaluations.AsNoTracking()
            .Where(e => (e.VersionId == from.Id || e.VersionId == to.Id) && e.Status == EvaluationStatuses.Succeeded && e.Result != null)
            .OldestFirst().ToListAsync(ct);
        var suites = runs.GroupBy(e => e.SuiteSha256)
            .Select(g => (Suite: g.Key, A: g.LastOrDefault(e => e.VersionId == from.Id), B: g.LastOrDefault(e => e.VersionId == to.Id)))
            .Where(x => x.A is not null && x.B is not null).ToList();
        var metrics = new StringBuilder();
        foreach (var (suite, runA, runB) in suites)
        {
            var resultA = StoredEvaluationResult.Read(runA!.Result)!;
            var resultB = StoredEvaluationResult.Read(runB!.Result)!;
            // The paired interval of B − A exists when one run was compared with the other version on the same rows.
            var paired = resultB.BaselineVersion == from.Version ? (Result: resultB, Sign: 1) : resultA.BaselineVersion == to.Version ? (Result: resultA, Sign: -1) : default;
            foreach (var (metric, valueA) in resultA.Metrics)
            {
                if (resultB.Metrics.FirstOrDefault(m => m.Key == metric) is not { Key: not null } other)
                {
                    continue;
                }
                var valueB = other.Value;
                var delta = valueB.Value - valueA.Value;
                var interval = paired.Result?.Delta(metric) is { HasInterval: true } d
                    ? paired.Sign > 0 ? $" [{Signed(d.Lower!.Value)}, {Signed(d.Upper!.Value)}] paired" : $" [{Signed(-d.Upper!.Value)}, {Signed(-d.Lower!.Value)}] paired"
                    : valueA.HasInterval && valueB.HasInterval ? (valueB.Lower > valueA.Upper || valueB.Upper < valueA.Lower ? " intervals apart" : " intervals overlap") : "";
                metrics.Append($"""<tr data-metric="{E(metric)}"><td>{E(metric)}</td><td>{Figure(valueA)}</td><td>{Figure(valueB)}</td><td data-delta>{Signed(delta)}{interval}</td><td><code>{E(suite[..12])}</code></td></tr>""");
            }
        }
        string Lines(IReadOnlyList<string>? lines) => lines is null ? """<span class="empty">unchanged</span>""" : $"<pre>{string.Join('\n', lines.Select(E))}</pre>";
        var main = $"""
            <p><a href="/console">Catalog</a> › <a href="/console/models/{E(name)}">{E(name)}</a> › compare</p>
            <h1>{E(name)}: {E(from.Version)} → {E(to.Version)}</h1>
            <h2>Metrics (latest runs of the suites both ran)</h2>
            {(metrics.Length == 0 ? """<p class="empty">No suite was run on both versions.</p>""" : $"""<div class="scroll"><table id="compare-metrics"><thead><tr><th scope="col">Metric</th><th scope="col">{E(from.Version)}</th><th scope="col">{E(to.Version)}</th><th scope="col">B − A (95 % interval)</th><th scope="col">Suite</th></tr></thead><tbody>{metrics}</tbody></table></div>""")}
            <h2>Prompt</h2>
            <div id="prompt-diff">{(diff.Prompt.Changed ? $"<h3>System prompt</h3>{Lines(diff.Prompt.System)}<h3>Template</h3>{Lines(diff.Prompt.Template)}" : """<p class="empty">unchanged</p>""")}</div>
            <h2>Attestation</h2>
            <ul id="attestation-diff">{(diff.Attestation.Count == 0 ? """<li class="empty">unchanged</li>""" : string.Concat(diff.Attestation.Select(c => $"<li><code>{E(c.Path)}</code>: {E(c.From?.ToString() ?? "–")} → {E(c.To?.ToString() ?? "–")}</li>")))}</ul>
            <p id="bump">The changes need a {E(diff.Versioning.Required)} bump; {E(from.Version)} → {E(to.Version)} is a {E(diff.Versioning.Actual)} bump{(diff.Versioning.Enough ? "" : " — not enough")}.</p>
            """;
        return ConsoleApi.HtmlResult(Page($"{name} compare", main, session, "catalog"), StatusCodes.Status200OK);
    }

    public sealed record ApproveServices(ConsoleSessions Sessions, IAuthorizationService Authorization, AuditedWrite Write);

    /// <summary>Records the decision posted from the version page through the REST API's rules (<see cref="Approvals.RecordAsync"/>).</summary>
    public static async Task<IResult> ApproveAsync(string name, string version, HttpContext context, [AsParameters] ApproveServices services, CancellationToken ct)
    {
        var (session, form, refusal) = await ConsoleApi.PostedAsync(context, services.Sessions, services.Authorization, Permissions.Approve,
            s => s.Key.Deployments is null, "Your key's roles do not allow approving releases.", ct);
        if (refusal is not null || session is null || form is null)
        {
            return refusal!;
        }
        var review = DateTime.TryParseExact(form["review"].ToString(), "yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture,
            System.Globalization.DateTimeStyles.AdjustToUniversal | System.Globalization.DateTimeStyles.AssumeUniversal, out var date) ? date : default;
        var request = new ApprovalRequest(form["decision"].ToString(), form["role"].ToString(), form["evidence"].Where(e => !string.IsNullOrEmpty(e)).Select(e => e!).ToList(),
            form["risks"].ToString(), form["monitoring"].ToString(), form["rollbackPlan"].ToString(), review,
            form["comment"].ToString() is { Length: > 0 } comment ? comment : null);
        var outcome = await Approvals.RecordAsync(services.Write, name, version, request, session.User, ct);
        if (outcome.Recorded is not null)
        {
            return Results.Redirect($"/console/models/{Uri.EscapeDataString(name)}/versions/{Uri.EscapeDataString(outcome.Version!)}?done=recorded");
        }
        var why = outcome.Invalid is { } invalid
            ? string.Join("; ", invalid.ToDictionary().Select(e => $"{e.Key}: {string.Join(" ", e.Value)}"))
            : outcome.Detail ?? "refused";
        return ConsoleApi.Refused(session, $"Not recorded: {why}", outcome.Invalid is not null ? StatusCodes.Status400BadRequest : outcome.Status);
    }

    /// <summary>
    /// What the version was made from, as <c>/api/v1/…/lineage</c> tells it: its datasets, code, base model (linked when it
    /// names a model, or a model's version as <c>name@version</c>, in the registry), the version it was derived from, its prompt.
    /// </summary>
    private static async Task<List<LineageNode>> LineageInputsAsync(ModelGateDbContext db, string name, Attestation attestation, CancellationToken ct)
    {
        var inputs = new List<LineageNode>();
        foreach (var d in attestation.Datasets ?? [])
        {
            inputs.Add(new LineageNode("dataset", $"{d.Name} sha256:{d.Sha256[..Math.Min(12, d.Sha256.Length)]}"));
        }
        if (attestation.Code is { } code)
        {
            inputs.Add(new LineageNode("code", $"{code.Repo}@{code.Commit[..Math.Min(12, code.Commit.Length)]}"));
        }
        if (attestation.BaseModel is { } baseModel)
        {
            inputs.Add(new LineageNode("base model", baseModel, await RegistryLinkAsync(db, baseModel, ct)));
        }
        if (attestation.Derivation is { } derivation)
        {
            inputs.Add(new LineageNode($"{derivation.Kind} from", $"{name}@{derivation.From}", $"/console/models/{Uri.EscapeDataString(name)}/versions/{Uri.EscapeDataString(derivation.From)}"));
        }
        if (attestation.PromptTemplate is { } prompt)
        {
            inputs.Add(new LineageNode("prompt", (prompt.Template ?? prompt.System ?? "").ReplaceLineEndings(" ")));
        }
        return inputs;
    }

    /// <summary>The console page of a base model named as <c>model@version</c> or <c>model</c>, when the registry holds it.</summary>
    private static async Task<string?> RegistryLinkAsync(ModelGateDbContext db, string baseModel, CancellationToken ct)
    {
        var at = baseModel.LastIndexOf('@');
        if (at > 0 && SemVersion.TryParse(baseModel[(at + 1)..], out var semver, out _))
        {
            var (model, version) = (baseModel[..at], semver!.ToString());
            return await db.ModelVersions.AnyAsync(v => v.Model!.Name == model && v.Version == version, ct)
                ? $"/console/models/{Uri.EscapeDataString(model)}/versions/{Uri.EscapeDataString(version)}"
                : null;
        }
        return await db.Models.AnyAsync(m => m.Name == baseModel, ct) ? $"/console/models/{Uri.EscapeDataString(baseModel)}" : null;
    }

    /// <summary>The deployments (this key may see) that route traffic to the version, stable or as a candidate or shadow.</summary>
    private static async Task<List<LineageNode>> DeploymentsAsync(ModelGateDbContext db, ConsoleSession session, long modelId, string version, CancellationToken ct)
    {
        var deployments = await db.Deployments.AsNoTracking().Where(d => d.ModelId == modelId).OrderBy(d => d.Name).ToListAsync(ct);
        var nodes = new List<LineageNode>();
        foreach (var d in deployments.Where(d => DeploymentScope.Allows(session.Key, d.Name)))
        {
            var routing = ModelGate.Gateway.DeploymentRouting.Read(d);
            var role = routing.Stable == version ? "stable"
                : routing.Candidates?.FirstOrDefault(c => c.Version == version) is { } c ? $"candidate {c.Weight:0.##} %"
                : routing.Shadow?.Version == version ? "shadow" : null;
            if (role is not null)
            {
                nodes.Add(new LineageNode($"deployment ({role})", $"{d.Name} ({d.Environment})", $"/console/deployments/{Uri.EscapeDataString(d.Name)}"));
            }
        }
        return nodes;
    }

    /// <summary>A result's headline metrics with their intervals, as a list (nothing for a run without a result).</summary>
    private static string Metrics(string? result)
    {
        if (StoredEvaluationResult.Read(result) is not { Metrics.Count: > 0 } stored)
        {
            return """<span class="empty">–</span>""";
        }
        return "<ul class=\"metrics\">" + string.Concat(stored.Metrics.Select(m => $"""<li data-metric="{E(m.Key)}">{E(m.Key)} {Figure(m.Value)}</li>""")) + "</ul>";
    }

    /// <summary>A metric as the console shows it: the value and its 95 % interval in brackets, when there is one.</summary>
    private static string Figure(StoredMetric metric) =>
        Cli.CliApp.Figure(metric.Value) + (metric.HasInterval ? $" [{Cli.CliApp.Figure(metric.Lower!.Value)}, {Cli.CliApp.Figure(metric.Upper!.Value)}]" : "");

    private static string Signed(double value) => (value >= 0 ? "+" : "") + Cli.CliApp.Figure(value);
}
