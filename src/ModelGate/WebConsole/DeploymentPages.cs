using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Authorization;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Gateway;
using ModelGate.Monitoring;
using ModelGate.Monitoring.Drift;
using ModelGate.Rollouts;
using ModelGate.Security;
using ModelGate.Storage;
using ModelGate.Storage.Gateway;
using ModelGate.Storage.Rollouts;
using static ModelGate.WebConsole.Html;

namespace ModelGate.WebConsole;

/// <summary>
/// Deployments: the list (a scoped key sees its own), and a deployment's pages behind a small tab nav:
/// <list type="bullet">
/// <item><c>/console/deployments/{name}</c>: the routing table with weights, the live traffic per version and route over a window
/// (the live split next to the configured weights, latency percentiles, 5xx rate, cost), the SLO and its error budget, and the
/// rollback (deployers) — the REST API's (<see cref="DeploymentRouting.RollbackAsync"/>), audited alike;</item>
/// <item><c>…/rollouts</c>: the active rollout's progress with each analysis' metrics and verdicts, past rollouts, and for
/// deployers start, pause, resume, abort and promote, through <see cref="RolloutOperations"/> as the REST API does;</item>
/// <item><c>…/drift</c>: the drift report of a routed version with each column's reference and current histograms.</item>
/// </list>
/// </summary>
public static class DeploymentPages
{
    public sealed record Services(ModelGateDbContext Db, ConsoleSessions Sessions, IAuthorizationService Authorization, Monitors Monitors, DriftChecker Drift,
        TimeProvider Time);

    /// <summary>The deployment pages' routes beyond the list, the overview and the rollback (mapped in <see cref="ConsoleApi.MapConsole"/>).</summary>
    internal static RouteGroupBuilder MapDeploymentPages(this RouteGroupBuilder console)
    {
        console.MapGet("/deployments/{name}/rollouts", RolloutsAsync);
        console.MapPost("/deployments/{name}/rollouts", StartRolloutAsync).DisableAntiforgery();
        console.MapPost("/deployments/{name}/rollouts/{id}/{action}", ActAsync).DisableAntiforgery();
        console.MapGet("/deployments/{name}/drift", DriftAsync);
        return console;
    }

    public static async Task<IResult> ListAsync(HttpContext context, [AsParameters] Services services, CancellationToken ct)
    {
        var (session, refusal) = await ConsoleApi.AuthorizeAsync(context, services.Sessions, services.Authorization, Permissions.Read, scopedKeysAllowed: true, ct);
        if (refusal is not null)
        {
            return refusal;
        }
        var deployments = (await services.Db.Deployments.AsNoTracking().OrderBy(d => d.Name).ToListAsync(ct))
            .Where(d => DeploymentScope.Allows(session!.Key, d.Name)).ToList();
        var rows = string.Concat(deployments.Select(d =>
        {
            var table = DeploymentRouting.Read(d);
            var candidates = table.Candidates is { Count: > 0 } c ? string.Join(", ", c.Select(x => $"{E(x.Version)} {x.Weight:0.##} %")) : "–";
            return $"""<tr data-deployment="{E(d.Name)}"><th scope="row"><a href="/console/deployments/{E(d.Name)}">{E(d.Name)}</a></th><td>{E(d.Environment)}</td><td>{E(d.Model)}</td><td>{E(table.Stable)}</td><td>{candidates}</td><td>{E(table.Backend)}</td></tr>""";
        }));
        var main = $"""
            <h1>Deployments</h1>
            <div class="scroll"><table id="deployments"><caption class="skip">Deployments with their routing</caption><thead><tr><th scope="col">Deployment</th><th scope="col">Environment</th><th scope="col">Model</th><th scope="col">Stable</th><th scope="col">Candidates</th><th scope="col">Backend</th></tr></thead>
            <tbody>{rows}</tbody></table></div>
            """;
        return ConsoleApi.HtmlResult(Page("Deployments", main, session, "deployments"), StatusCodes.Status200OK);
    }

    /// <summary>The signed-in session and the deployment, or the page that refuses (sign-in, 403, or 404 — also for a deployment outside a scoped key's).</summary>
    private static async Task<(ConsoleSession? Session, DeploymentEntity? Deployment, IResult? Refusal)> LoadAsync(string name, HttpContext context, Services services,
        CancellationToken ct)
    {
        var (session, refusal) = await ConsoleApi.AuthorizeAsync(context, services.Sessions, services.Authorization, Permissions.Read, scopedKeysAllowed: true, ct);
        if (refusal is not null)
        {
            return (session, null, refusal);
        }
        var entity = DeploymentScope.Allows(session!.Key, name) ? await services.Db.Deployments.AsNoTracking().FirstOrDefaultAsync(d => d.Name == name, ct) : null;
        return entity is null ? (session, null, ConsoleApi.NotFound(session, $"There is no deployment named '{name}'.")) : (session, entity, null);
    }

    private static string Header(DeploymentEntity entity, string current)
    {
        string Tab(string path, string text, string id) =>
            $"""<li><a id="tab-{id}" href="/console/deployments/{E(entity.Name)}{path}"{(current == id ? " aria-current=\"page\"" : "")}>{text}</a></li>""";
        return $"""
            <p><a href="/console/deployments">Deployments</a> › {E(entity.Name)}</p>
            <h1>{E(entity.Name)}</h1>
            <nav class="tabs" aria-label="Deployment pages"><ul>{Tab("", "Overview", "overview")}{Tab("/rollouts", "Rollouts", "rollouts")}{Tab("/drift", "Drift", "drift")}</ul></nav>
            """;
    }

    private static string WindowPicker(string formId, string action, string window, string extra = "") => $"""
        <form id="{formId}" class="filters" method="get" action="{action}">
        {extra}
        <label for="{formId}-window">Window<select id="{formId}-window" name="window">{string.Concat(LiveTraffic.Windows.Select(w => $"""<option value="{w}"{(w == window ? " selected" : "")}>last {w}</option>"""))}</select></label>
        <button type="submit">Show</button>
        </form>
        """;

    public static async Task<IResult> ShowAsync(string name, HttpContext context, [AsParameters] Services services, string? done, string? window, CancellationToken ct)
    {
        var (session, entity, refusal) = await LoadAsync(name, context, services, ct);
        if (refusal is not null || session is null || entity is null)
        {
            return refusal!;
        }
        var table = DeploymentRouting.Redact(DeploymentRouting.Read(entity), hideQuerySecrets: !session.User.IsInRole(Roles.Admin));
        var weights = new StringBuilder();
        var candidateTotal = table.Candidates?.Sum(c => c.Weight) ?? 0;
        weights.Append($"""<tr data-route="stable"><td>{E(table.Stable)}</td><td>stable</td><td>{100 - candidateTotal:0.##} %</td><td>{Upstream(table, table.Stable)}</td></tr>""");
        foreach (var c in table.Candidates ?? [])
        {
            weights.Append($"""<tr data-route="canary"><td>{E(c.Version)}</td><td>candidate</td><td>{c.Weight:0.##} %</td><td>{Upstream(table, c.Version)}</td></tr>""");
        }
        if (table.Shadow is { } shadow)
        {
            weights.Append($"""<tr data-route="shadow"><td>{E(shadow.Version)}</td><td>shadow (mirrored, never serves)</td><td>{shadow.Percent:0.##} % copied</td><td>{Upstream(table, shadow.Version)}</td></tr>""");
        }
        var main = new StringBuilder($"""
            {Header(entity, "overview")}
            {(done == "rolled-back" ? """<p role="status" class="done">Rolled back: the routing below is in force.</p>""" : "")}
            <dl class="facts"><dt>Environment</dt><dd>{E(entity.Environment)}</dd><dt>Model</dt><dd><a href="/console/models/{E(entity.Model)}">{E(entity.Model)}</a></dd>
            <dt>Revision</dt><dd id="revision">{entity.Revision}</dd><dt>Last known good</dt><dd>{E(entity.LastKnownGood ?? "–")}</dd><dt>Backend</dt><dd>{E(table.Backend)}</dd></dl>
            <h2>Routing</h2>
            <div class="scroll"><table id="routing"><caption class="skip">Routing table</caption><thead><tr><th scope="col">Version</th><th scope="col">Role</th><th scope="col">Traffic</th><th scope="col">Upstream</th></tr></thead>
            <tbody>{weights}</tbody></table></div>
            """);
        var (windowName, span) = LiveTraffic.Window(window);
        var now = services.Time.GetUtcNow().UtcDateTime;
        var traffic = await LiveTraffic.ReadAsync(services.Db, entity.Name, now - span, now, ct);
        main.Append(TrafficSection(entity, table, traffic, windowName));
        main.Append(await SloSectionAsync(services, entity, ct));
        var mayDeploy = (await services.Authorization.AuthorizeAsync(session.User, Permissions.Deploy)).Succeeded;
        main.Append(done == "slo-set" ? """<p role="status" class="done" id="slo-set">The SLO is set.</p>""" : "").Append(mayDeploy ? SloForm.Render(session, entity) : "");
        if (mayDeploy)
        {
            main.Append($"""
                <h2>Roll back</h2>
                <form id="rollback" class="action" method="post" action="/console/deployments/{E(entity.Name)}/rollback">
                {Csrf(session)}
                <p>All traffic goes to the last-known-good version at once: the stable version when candidates or a shadow are in play, otherwise the stable version before this one.</p>
                <label for="reason">Reason (recorded in the audit log)<textarea id="reason" name="reason" required maxlength="2000" rows="2"></textarea></label>
                <label class="check"><input type="checkbox" name="confirm" value="yes" required> I confirm the rollback of {E(entity.Name)}</label>
                <button type="submit">Roll back</button>
                </form>
                """);
        }
        return ConsoleApi.HtmlResult(Page(entity.Name, main.ToString(), session, "deployments"), StatusCodes.Status200OK);
    }

    private static string TrafficSection(DeploymentEntity entity, RoutingTable table, LiveTrafficReport traffic, string window)
    {
        var configured = new Dictionary<string, string>(StringComparer.Ordinal) { [table.Stable] = $"{100 - (table.Candidates?.Sum(c => c.Weight) ?? 0):0.##} %" };
        foreach (var c in table.Candidates ?? [])
        {
            configured[c.Version] = $"{c.Weight:0.##} %";
        }
        var split = new StringBuilder();
        foreach (var v in traffic.Split)
        {
            split.Append($"""<tr data-version="{E(v.Version)}"><th scope="row">{E(v.Version ?? "–")}</th><td data-field="weight">{(v.Version is not null && configured.TryGetValue(v.Version, out var w) ? w : "not routed")}</td><td data-field="share" data-value="{R(v.Share)}">{Charts.Percent(v.Share)}</td><td data-field="requests" data-value="{v.Requests}">{v.Requests:N0}</td></tr>""");
        }
        var rows = new StringBuilder();
        foreach (var r in traffic.Rows)
        {
            var share = r.Served && traffic.ServedRequests > 0 ? (double)r.Requests / traffic.ServedRequests : (double?)null;
            rows.Append($"""<tr data-version="{E(r.Version)}" data-route="{E(r.Route)}"><th scope="row">{E(r.Version ?? "–")}</th><td>{E(r.Route ?? "–")}</td>""");
            rows.Append($"""<td data-field="requests" data-value="{r.Requests}">{r.Requests:N0}</td>""");
            rows.Append(share is { } s ? $"""<td data-field="share" data-value="{R(s)}">{Charts.Percent(s)}</td>""" : """<td data-field="share">not served</td>""");
            rows.Append($"""<td data-field="p50" data-value="{R(r.P50Ms)}">{Ms(r.P50Ms)}</td><td data-field="p95" data-value="{R(r.P95Ms)}">{Ms(r.P95Ms)}</td>""");
            rows.Append($"""<td data-field="errors" data-value="{R(r.ErrorRate)}">{Charts.Percent(r.ErrorRate)} ({r.ServerErrors:N0})</td>""");
            rows.Append($"""<td data-field="cost" data-value="{R(r.Cost)}">{Money(r.Cost)}</td><td data-field="cost1k" data-value="{R(r.CostPer1000)}">{Money(r.CostPer1000)}</td></tr>""");
        }
        var bars = traffic.Split.Select(v => new ChartBar(v.Version ?? "–", v.Share, Charts.Percent(v.Share))).ToList();
        return $"""
            <h2 id="live">Live traffic</h2>
            {WindowPicker("traffic-window", $"/console/deployments/{E(entity.Name)}", window)}
            <p id="traffic-summary">{traffic.ServedRequests:N0} requests answered clients in the last {E(window)} ({traffic.From:yyyy-MM-dd HH:mm}–{traffic.To:HH:mm} UTC), from the request log.</p>
            {(traffic.Rows.Count == 0 ? """<p class="empty" id="traffic-empty">No requests in this window.</p>""" : $"""
            {Charts.Bars("traffic-split-chart", "Live split: share of the requests that answered clients", bars, "share")}
            <div class="scroll"><table id="live-split"><caption>Live split next to the configured weights</caption><thead><tr><th scope="col">Version</th><th scope="col">Configured</th><th scope="col">Live share</th><th scope="col">Requests</th></tr></thead><tbody>{split}</tbody></table></div>
            <div class="scroll"><table id="traffic"><caption>Per version and route (latency percentiles by nearest rank; errors are 5xx)</caption><thead><tr><th scope="col">Version</th><th scope="col">Route</th><th scope="col">Requests</th><th scope="col">Share</th><th scope="col">p50</th><th scope="col">p95</th><th scope="col">5xx rate</th><th scope="col">Cost</th><th scope="col">Cost / 1k req.</th></tr></thead><tbody>{rows}</tbody></table></div>
            """)}
            """;
    }

    private static async Task<string> SloSectionAsync(Services services, DeploymentEntity entity, CancellationToken ct)
    {
        if (Monitors.Spec(entity) is not { } spec)
        {
            return """<h2>SLO and error budget</h2><p id="slo-none">No SLO is set for this deployment (<code>PUT /api/v1/deployments/{name}/slo</code> or <code>modelgate slo set</code>).</p>""";
        }
        var status = await services.Monitors.StatusAsync(services.Db, entity, spec, ct);
        var windows = Slo.Windows.Select(Slo.WindowName).ToList();
        var rows = new StringBuilder();
        foreach (var o in status.Objectives)
        {
            rows.Append($"""<tr data-objective="{E(o.Objective)}"><th scope="row">{E(o.Objective)}</th><td data-field="target" data-value="{R(o.Target)}">{Pct(o.Target)}</td>""");
            rows.Append($"""<td data-field="attained" data-value="{R(o.Compliance)}">{(o.Compliance is { } c ? Pct(c) : "no requests")}</td>""");
            rows.Append($"""<td data-field="budget" data-value="{R(o.BudgetRemaining)}" class="{(o.BudgetRemaining < 0 ? "bad" : "")}">{Charts.Percent(Math.Max(o.BudgetRemaining, 0))}{(o.BudgetRemaining < 0 ? " (exhausted)" : "")}</td>""");
            foreach (var w in windows)
            {
                var burn = o.BurnRates.GetValueOrDefault(w);
                rows.Append($"""<td data-field="burn-{E(w)}" data-value="{R(burn)}">{(burn is { } b ? b.ToString("0.##", CultureInfo.InvariantCulture) + "×" : "–")}</td>""");
            }
            rows.Append("</tr>");
        }
        var latency = spec.LatencyObjective is null ? "" : $", latency under {spec.LatencyThresholdMs:0.##} ms";
        return $"""
            <h2>SLO and error budget</h2>
            <p id="slo-spec">Over {spec.PeriodDays} days: availability (no 5xx){latency}. Burn rate = the window's bad share ÷ the error budget (1 − target); 1× spends the budget exactly over the period.</p>
            <div class="scroll"><table id="slo"><caption>Objectives, budget left in the period and burn rate per window</caption><thead><tr><th scope="col">Objective</th><th scope="col">Target</th><th scope="col">Attained</th><th scope="col">Budget left</th>{string.Concat(windows.Select(w => $"""<th scope="col">Burn {E(w)}</th>"""))}</tr></thead><tbody>{rows}</tbody></table></div>
            """;
    }

    // ------------------------------------------------------------------ rollouts

    public static async Task<IResult> RolloutsAsync(string name, HttpContext context, [AsParameters] Services services, string? done, string? rollout,
        CancellationToken ct)
    {
        var (session, entity, refusal) = await LoadAsync(name, context, services, ct);
        if (refusal is not null || session is null || entity is null)
        {
            return refusal!;
        }
        var rollouts = await services.Db.Rollouts.AsNoTracking().Where(r => r.Deployment == entity.Name).OrderByDescending(r => r.StartedAt).ToListAsync(ct);
        var active = rollouts.FirstOrDefault(r => RolloutStatuses.IsActive(r.Status));
        var shown = rollout is not null ? rollouts.FirstOrDefault(r => r.Id == rollout) : active ?? rollouts.FirstOrDefault();
        var mayDeploy = (await services.Authorization.AuthorizeAsync(session.User, Permissions.Deploy)).Succeeded;
        var main = new StringBuilder(Header(entity, "rollouts"));
        if (done is not null && RolloutActions.All.Append("started").Contains(done))
        {
            main.Append($"""<p role="status" class="done" id="done">{E(done switch
            {
                "started" => "Rollout started.",
                RolloutActions.Pause => "Rollout paused.",
                RolloutActions.Resume => "Rollout resumed.",
                RolloutActions.Abort => "Rollout aborted: all traffic is back on the stable version.",
                _ => "Rollout promoted.",
            })}</p>""");
        }
        main.Append("<h2>Active rollout</h2>");
        if (active is null)
        {
            main.Append("""<p id="no-active-rollout">No rollout is in progress.</p>""");
            if (mayDeploy)
            {
                var versions = await services.Db.ModelVersions.AsNoTracking().Where(v => v.ModelId == entity.ModelId).OrderByDescending(v => v.CreatedAt)
                    .Select(v => v.Version).ToListAsync(ct);
                main.Append(StartForm(session, entity, versions.Where(v => v != DeploymentRouting.Read(entity).Stable).ToList()));
            }
        }
        else
        {
            main.Append(Progress(active));
            if (mayDeploy)
            {
                main.Append(ActionForms(session, entity, active));
            }
        }
        if (shown is not null)
        {
            main.Append(AnalysesSection(shown));
        }
        main.Append(PastRollouts(entity, rollouts));
        return ConsoleApi.HtmlResult(Page($"{entity.Name} · rollouts", main.ToString(), session, "deployments"), StatusCodes.Status200OK);
    }

    private static string Progress(RolloutEntity r)
    {
        var spec = RolloutController.Spec(r);
        var steps = RolloutController.Steps(spec);
        var step = r.Strategy == RolloutStrategies.Canary
            ? $"step {Math.Min(r.Step + 1, steps.Count)} of {steps.Count} ({string.Join(" → ", steps.Select(s => s.ToString("0.##", CultureInfo.InvariantCulture) + " %"))}, then promotion)"
            : $"{spec.Intervals} passing analyses needed";
        return $"""
            <dl class="facts" id="rollout-progress" data-rollout="{E(r.Id)}" data-status="{E(r.Status)}">
            <dt>Rollout</dt><dd>{E(r.Id)}</dd>
            <dt>Candidate</dt><dd>{E(r.Candidate)} (stable {E(r.Stable)})</dd>
            <dt>Strategy</dt><dd>{E(r.Strategy)}</dd>
            <dt>Status</dt><dd data-field="status">{E(r.Status)}</dd>
            <dt>Step</dt><dd data-field="step">{E(step)}</dd>
            <dt>Weight</dt><dd data-field="weight">{(r.Strategy == RolloutStrategies.Shadow ? "mirrored copy (never serves)" : r.Weight.ToString("0.##", CultureInfo.InvariantCulture) + " %")}</dd>
            <dt>Checks</dt><dd data-field="checks">{r.Checks}</dd>
            <dt>Failed checks</dt><dd data-field="failed">{r.FailedChecks} (rolls back at {spec.FailedCheckLimit})</dd>
            <dt>Next check</dt><dd data-field="next">{(r.Status == RolloutStatuses.Running ? $"{r.NextCheckAt:yyyy-MM-dd HH:mm:ss} UTC (every {spec.IntervalSeconds} s)" : "none while paused")}</dd>
            <dt>Started</dt><dd>{r.StartedAt:yyyy-MM-dd HH:mm:ss} UTC by {E(r.CreatedBy)}</dd>
            </dl>
            """;
    }

    private static string ActionForms(ConsoleSession session, DeploymentEntity entity, RolloutEntity r)
    {
        var forms = new StringBuilder("""<h3>Actions</h3><div class="actions">""");
        var actions = new List<(string Action, string Button, string Says)>();
        if (r.Status == RolloutStatuses.Running)
        {
            actions.Add((RolloutActions.Pause, "Pause", "Holds the rollout at its weight: no analysis runs until it is resumed."));
        }
        else
        {
            actions.Add((RolloutActions.Resume, "Resume", "Runs the rollout again; its step starts over, the next analysis one interval from now."));
        }
        actions.Add((RolloutActions.Promote, "Promote", r.Strategy == RolloutStrategies.Shadow
            ? "Completes the shadow: the copy stops, stable keeps serving."
            : $"Makes {r.Candidate} the stable version with all traffic now (after the confirm-promotion hook, if any, agrees)."));
        actions.Add((RolloutActions.Abort, "Abort", "Ends the rollout with all traffic back on the stable version; the rollback hook is told."));
        foreach (var (action, button, says) in actions)
        {
            forms.Append($"""
                <form id="rollout-{action}" class="action" method="post" action="/console/deployments/{E(entity.Name)}/rollouts/{E(r.Id)}/{action}">
                {Csrf(session)}
                <h4>{button}</h4>
                <p>{E(says)}</p>
                <label for="reason-{action}">Reason (recorded in the audit log)<textarea id="reason-{action}" name="reason" required maxlength="2000" rows="2"></textarea></label>
                <label class="check"><input type="checkbox" name="confirm" value="yes" required> I confirm: {button.ToLowerInvariant()} {E(r.Id)}</label>
                <button type="submit"{(action == RolloutActions.Abort ? " class=\"danger\"" : "")}>{button}</button>
                </form>
                """);
        }
        return forms.Append("</div>").ToString();
    }

    private static string StartForm(ConsoleSession session, DeploymentEntity entity, IReadOnlyList<string> versions)
    {
        var options = string.Concat(versions.Select(v => $"""<option value="{E(v)}">{E(v)}</option>"""));
        var strategies = string.Concat(RolloutStrategies.All.Select(s => $"""<option value="{s}"{(s == RolloutStrategies.Canary ? " selected" : "")}>{s}</option>"""));
        return $"""
            <h3>Start a rollout</h3>
            <form id="rollout-start" class="action" method="post" action="/console/deployments/{E(entity.Name)}/rollouts">
            {Csrf(session)}
            <p>Canary: the candidate's weight goes through the steps, one analysis per interval, then promotion. Shadow: a mirrored copy, never served. A/B: a sticky 50/50 split.</p>
            <label for="candidate">Candidate version<select id="candidate" name="candidate" required>{options}</select></label>
            <label for="strategy">Strategy<select id="strategy" name="strategy">{strategies}</select></label>
            <label for="steps">Steps (canary weights in %, rising)<input id="steps" name="steps" value="5, 10, 25, 50" maxlength="200"></label>
            <label for="intervalSeconds">Interval between analyses (seconds)<input id="intervalSeconds" name="intervalSeconds" type="number" min="30" max="86400" value="60" required></label>
            <label class="check"><input type="checkbox" name="confirm" value="yes" required> I confirm the start of this rollout on {E(entity.Name)}</label>
            <button type="submit">Start rollout</button>
            </form>
            """;
    }

    private static string AnalysesSection(RolloutEntity r)
    {
        var analyses = RolloutsApi.ToDto(r).Analyses ?? [];
        var html = new StringBuilder($"""<h2 id="analyses">Analyses of {E(r.Id)} ({E(r.Candidate)} against {E(r.Stable)})</h2>""");
        if (analyses.Count == 0)
        {
            return html.Append("""<p class="empty" id="no-analyses">No analysis has run yet.</p>""").ToString();
        }
        // Newest first: the one a person acts on.
        for (var i = analyses.Count - 1; i >= 0; i--)
        {
            var a = analyses[i];
            var rows = string.Concat(a.Metrics.Select(m => $"""
                <tr data-metric="{E(m.Name)}" data-classification="{E(m.Classification)}"><th scope="row">{E(m.Name)}</th><td>{Num(m.Stable)}</td><td>{Num(m.Candidate)}</td><td>{m.StableSamples}/{m.CandidateSamples}</td><td>{E(Interval(m))}</td><td class="{(m.Classification is "High" or "Low" ? "bad" : "")}">{E(m.Classification)}</td><td>{(m.CriticalFailure ? "<strong class=\"bad\">FAILED</strong>" : m.Critical ? "yes" : "no")}</td><td>{E(m.Reason ?? "")}</td></tr>
                """));
            html.Append($"""
                <section class="analysis" data-analysis="{i}" data-outcome="{E(a.Outcome)}">
                <h3>#{i + 1} at {a.At:yyyy-MM-dd HH:mm:ss} UTC, weight {a.Weight:0.##} %: <span class="outcome-{E(a.Outcome)}">{E(a.Outcome)}</span>, score {a.Score:0.#}</h3>
                <p>Requests: stable {a.StableRequests:N0}, candidate {a.CandidateRequests:N0}.</p>{(a.Reason is { Length: > 0 } reason ? $"<p class=\"reason\">{E(reason)}</p>" : "")}
                <div class="scroll"><table class="verdicts"><caption class="skip">Metrics of analysis {i + 1}</caption><thead><tr><th scope="col">Metric</th><th scope="col">Stable</th><th scope="col">Candidate</th><th scope="col">Samples</th><th scope="col">Interval</th><th scope="col">Result</th><th scope="col">Critical</th><th scope="col">Why</th></tr></thead><tbody>{rows}</tbody></table></div>
                </section>
                """);
        }
        return html.ToString();
    }

    private static string Interval(MetricAnalysisDto m) =>
        m.Name == "score_distribution" && m.Estimate is { } d ? $"D {d.ToString("0.####", CultureInfo.InvariantCulture)}"
        : m.Lower is { } lo && m.Upper is { } hi ? $"[{lo.ToString("0.####", CultureInfo.InvariantCulture)}, {hi.ToString("0.####", CultureInfo.InvariantCulture)}]"
        : "–";

    private static string PastRollouts(DeploymentEntity entity, IReadOnlyList<RolloutEntity> rollouts)
    {
        if (rollouts.Count == 0)
        {
            return """<h2>All rollouts</h2><p class="empty">This deployment has had no rollout.</p>""";
        }
        var rows = string.Concat(rollouts.Select(r => $"""
            <tr data-rollout="{E(r.Id)}" data-status="{E(r.Status)}"><th scope="row"><a href="/console/deployments/{E(entity.Name)}/rollouts?rollout={E(r.Id)}#analyses">{E(r.Id)}</a></th><td>{E(r.Candidate)}</td><td>{E(r.Strategy)}</td><td>{E(r.Status)}</td><td>{r.Checks} ({r.FailedChecks} failed)</td><td>{r.StartedAt:yyyy-MM-dd HH:mm}</td><td>{(r.EndedAt is { } ended ? ended.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) : "–")}</td><td>{E(r.Reason ?? "")}</td></tr>
            """));
        return $"""
            <h2>All rollouts</h2>
            <div class="scroll"><table id="rollouts"><caption class="skip">Rollouts of this deployment, newest first</caption><thead><tr><th scope="col">Rollout</th><th scope="col">Candidate</th><th scope="col">Strategy</th><th scope="col">Status</th><th scope="col">Checks</th><th scope="col">Started (UTC)</th><th scope="col">Ended</th><th scope="col">Reason</th></tr></thead><tbody>{rows}</tbody></table></div>
            """;
    }

    public sealed record OperationServices(ModelGateDbContext Db, ConsoleSessions Sessions, IAuthorizationService Authorization, RolloutOperations Operations);

    /// <summary>Starts a rollout as <c>POST /api/v1/deployments/{name}/rollouts</c> does (candidate, strategy, steps, interval; the rest by default).</summary>
    public static async Task<IResult> StartRolloutAsync(string name, HttpContext context, [AsParameters] OperationServices services, CancellationToken ct)
    {
        var (session, form, refusal) = await ConsoleApi.PostedAsync(context, services.Sessions, services.Authorization, Permissions.Deploy,
            s => DeploymentScope.Allows(s.Key, name), "Your key's roles do not allow starting a rollout of this deployment.", ct);
        if (refusal is not null || session is null || form is null)
        {
            return refusal!;
        }
        if (form["confirm"] != "yes")
        {
            return Failed(session, name, "Starting a rollout needs its confirmation: tick the box.", StatusCodes.Status400BadRequest);
        }
        var errors = new List<string>();
        IReadOnlyList<double>? steps = null;
        var stepsText = form["steps"].ToString().Trim();
        if (stepsText.Length > 0)
        {
            var parsed = stepsText.Split([',', ' ', ';'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(s => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var w) && double.IsFinite(w) ? w : (double?)null).ToList();
            if (parsed.Any(p => p is null) || parsed.Count > 20)
            {
                errors.Add("steps: weights in % separated by commas, e.g. 5, 10, 25, 50 (at most 20)");
            }
            else
            {
                steps = parsed.Select(p => p!.Value).ToList();
            }
        }
        var interval = 60;
        if (form["intervalSeconds"].ToString().Trim() is { Length: > 0 } intervalText && !int.TryParse(intervalText, NumberStyles.Integer, CultureInfo.InvariantCulture, out interval))
        {
            errors.Add("intervalSeconds: a whole number of seconds");
        }
        var candidate = form["candidate"].ToString().Trim();
        if (candidate.Length is 0 or > RequestLogEntity.VersionLength)
        {
            errors.Add("candidate: a version of the deployment's model");
        }
        if (errors.Count > 0)
        {
            return Failed(session, name, "The rollout was not started: " + string.Join("; ", errors), StatusCodes.Status400BadRequest);
        }
        var request = new StartRolloutRequest(candidate, form["strategy"].ToString(), steps, interval);
        var result = await services.Operations.StartAsync(services.Db, name, request, session.User, ct);
        return result.IsDone
            ? Results.Redirect($"/console/deployments/{Uri.EscapeDataString(name)}/rollouts?done=started")
            : Failed(session, name, "The rollout was not started: " + result.Detail, Status(result.Outcome));
    }

    /// <summary>Pauses, resumes, aborts or promotes a rollout as <c>POST …/rollouts/{id}/{action}</c> does, with the person's reason.</summary>
    public static async Task<IResult> ActAsync(string name, string id, string action, HttpContext context, [AsParameters] OperationServices services,
        CancellationToken ct)
    {
        var (session, form, refusal) = await ConsoleApi.PostedAsync(context, services.Sessions, services.Authorization, Permissions.Deploy,
            s => DeploymentScope.Allows(s.Key, name), "Your key's roles do not allow steering this deployment's rollouts.", ct);
        if (refusal is not null || session is null || form is null)
        {
            return refusal!;
        }
        if (!RolloutActions.All.Contains(action))
        {
            return ConsoleApi.NotFound(session, $"'{action}' is not an action on a rollout.");
        }
        var reason = form["reason"].ToString().Trim();
        if (form["confirm"] != "yes" || reason.Length is 0 or > 2000)
        {
            return Failed(session, name, $"To {action} a rollout, give a reason (at most 2,000 characters) and tick the confirmation.", StatusCodes.Status400BadRequest);
        }
        var result = await services.Operations.ActAsync(services.Db, action, name, id, reason, session.User, ct);
        return result.IsDone
            ? Results.Redirect($"/console/deployments/{Uri.EscapeDataString(name)}/rollouts?done={action}")
            : Failed(session, name, $"Nothing was changed: {result.Detail}", Status(result.Outcome));
    }

    private static int Status(RolloutOperationOutcome outcome) => outcome switch
    {
        RolloutOperationOutcome.Invalid => StatusCodes.Status400BadRequest,
        RolloutOperationOutcome.DeploymentNotFound or RolloutOperationOutcome.RolloutNotFound => StatusCodes.Status404NotFound,
        RolloutOperationOutcome.EgressDenied or RolloutOperationOutcome.NotRoutable or RolloutOperationOutcome.RoutingRefused => StatusCodes.Status422UnprocessableEntity,
        _ => StatusCodes.Status409Conflict,
    };

    private static IResult Failed(ConsoleSession session, string name, string message, int status) =>
        ConsoleApi.HtmlResult(Page("Nothing was changed", $"""
            <h1>Nothing was changed</h1>
            <p role="alert">{E(message)}</p>
            <p><a href="/console/deployments/{E(name)}/rollouts">Back to the rollouts of {E(name)}</a></p>
            """, session, "deployments"), status);

    // ------------------------------------------------------------------ drift

    public static async Task<IResult> DriftAsync(string name, HttpContext context, [AsParameters] Services services, string? version, string? window, CancellationToken ct)
    {
        var (session, entity, refusal) = await LoadAsync(name, context, services, ct);
        if (refusal is not null || session is null || entity is null)
        {
            return refusal!;
        }
        var table = DeploymentRouting.Read(entity);
        var routed = new List<string> { table.Stable };
        routed.AddRange((table.Candidates ?? []).Select(c => c.Version));
        if (table.Shadow is { } shadow)
        {
            routed.Add(shadow.Version);
        }
        routed = routed.Distinct().ToList();
        var target = version is not null && routed.Contains(version) ? version : table.Stable;
        var (windowName, span) = LiveTraffic.Window(window);
        var result = await services.Drift.CheckAsync(services.Db, entity, target, span, ct, histograms: true);
        var versionSelect = $"""<label for="drift-version">Version<select id="drift-version" name="version">{string.Concat(routed.Select(v => $"""<option value="{E(v)}"{(v == target ? " selected" : "")}>{E(v)}{(v == table.Stable ? " (stable)" : "")}</option>"""))}</select></label>""";
        var main = new StringBuilder(Header(entity, "drift"));
        main.Append($"""<h2>Drift of {E(target)}</h2>""");
        main.Append(WindowPicker("drift-window", $"/console/deployments/{E(entity.Name)}/drift", windowName, versionSelect));
        if (result.Check is not { } check)
        {
            main.Append($"""<p role="status" id="drift-refused" data-code="{E(result.Code)}">{E(result.Detail)}</p>""");
        }
        else
        {
            var report = check.Report;
            main.Append($"""
                <p id="drift-summary" data-drifted="{report.DriftedColumns}" data-tested="{report.TestedColumns}" data-dataset-drift="{(report.DatasetDrift ? "true" : "false")}">{report.DriftedColumns} of {report.TestedColumns} columns drifted ({Charts.Percent(report.DriftShare)}; the dataset drifts at {Charts.Percent(report.DatasetDriftShare)}): {(report.DatasetDrift ? "<strong class=\"bad\">dataset drift</strong>" : "no dataset drift")}. {report.WindowRows:N0} sampled rows from {check.From:yyyy-MM-dd HH:mm} to {check.To:HH:mm} UTC against {report.ReferenceRows:N0} reference rows.</p>
                {(report.MissingColumns.Count > 0 ? $"""<p>Not in the sampled inputs: {E(string.Join(", ", report.MissingColumns))}.</p>""" : "")}
                """);
            var rows = string.Concat(report.Columns.Select(c => $"""
                <tr data-column="{E(c.Column)}" data-drifted="{(c.Drifted ? "true" : "false")}"><th scope="row">{E(c.Column)}</th><td>{E(c.Kind.ToString())}</td><td>{E(c.Test?.ToString() ?? "–")}</td><td>{Num(c.Statistic)}</td><td>{Num(c.PValue)}</td><td>{Num(c.Threshold)}</td><td class="{(c.Drifted ? "bad" : "")}">{(c.Drifted ? "drift" : "no")}</td><td>{Charts.Percent(c.ReferenceMissingRate)} → {Charts.Percent(c.WindowMissingRate)}{(c.MissingRateJump ? " <strong class=\"bad\">jump</strong>" : "")}</td><td>{c.UnseenCount:N0}</td><td>{E(c.Note ?? "")}</td></tr>
                """));
            main.Append($"""
                <div class="scroll"><table id="drift-columns"><caption>Per column: the test Evidently would choose, its statistic and verdict</caption><thead><tr><th scope="col">Column</th><th scope="col">Kind</th><th scope="col">Test</th><th scope="col">Statistic</th><th scope="col">p-value</th><th scope="col">Threshold</th><th scope="col">Drift</th><th scope="col">Missing</th><th scope="col">Unseen</th><th scope="col">Note</th></tr></thead><tbody>{rows}</tbody></table></div>
                <h2>Reference against current, per column</h2>
                """);
            var index = 0;
            foreach (var h in result.Histograms ?? [])
            {
                var (rt, ct2) = (Math.Max(h.ReferenceTotal, 1), Math.Max(h.CurrentTotal, 1));
                var bins = h.Bins.Select(b => new HistogramBin(b.Label, (double)b.Reference / rt, (double)b.Current / ct2)).ToList();
                main.Append($"""<div class="histogram" data-column="{E(h.Column)}">""");
                main.Append(Charts.Histogram($"drift-histogram-{index++}", $"{h.Column}: reference ({h.ReferenceTotal:N0} values) against current ({h.CurrentTotal:N0})", bins));
                main.Append("</div>");
            }
        }
        return ConsoleApi.HtmlResult(Page($"{entity.Name} · drift", main.ToString(), session, "deployments"), StatusCodes.Status200OK);
    }

    // ------------------------------------------------------------------ rollback

    public sealed record RollbackServices(ConsoleSessions Sessions, IAuthorizationService Authorization, AuditedWrite Write, DeploymentRouting Routing);

    public static async Task<IResult> RollbackAsync(string name, HttpContext context, [AsParameters] RollbackServices services, CancellationToken ct)
    {
        var (session, form, refusal) = await ConsoleApi.PostedAsync(context, services.Sessions, services.Authorization, Permissions.Deploy,
            s => DeploymentScope.Allows(s.Key, name), "Your key's roles do not allow rolling this deployment back.", ct);
        if (refusal is not null || session is null || form is null)
        {
            return refusal!;
        }
        var reason = form["reason"].ToString().Trim();
        if (form["confirm"] != "yes" || reason.Length is 0 or > 2000)
        {
            return ConsoleApi.Refused(session, "A rollback needs a reason (at most 2,000 characters) and its confirmation.", StatusCodes.Status400BadRequest);
        }
        await using var tx = await services.Write.BeginAsync(ct);
        var result = await services.Routing.RollbackAsync(tx, name, session.User.ActorId(), reason, ct);
        if (!result.IsChanged)
        {
            return result.Outcome == RoutingOutcome.NotFound
                ? ConsoleApi.NotFound(session, $"There is no deployment named '{name}'.")
                : ConsoleApi.Refused(session, result.Detail ?? result.Explain(), StatusCodes.Status409Conflict);
        }
        await tx.CommitAsync(ct);
        return Results.Redirect($"/console/deployments/{Uri.EscapeDataString(name)}?done=rolled-back");
    }

    /// <summary>The deployment pages' styles (joined into the console's stylesheet).</summary>
    public const string Stylesheet = """
        nav.tabs ul { display: flex; flex-wrap: wrap; gap: 4px; list-style: none; margin: 0 0 16px; padding: 0; border-bottom: 1px solid var(--line); }
        nav.tabs a { display: inline-block; padding: 6px 14px; text-decoration: none; border: 1px solid transparent; border-bottom: none; border-radius: 6px 6px 0 0; }
        nav.tabs a[aria-current] { border-color: var(--line); background: var(--bg); color: var(--fg); font-weight: 600; margin-bottom: -1px; }
        .actions { display: flex; flex-wrap: wrap; gap: 12px; }
        form.action { display: flex; flex-direction: column; gap: 10px; align-items: flex-start; border: 1px solid var(--line); border-radius: 8px; padding: 12px; max-width: 560px; flex: 1 1 260px; }
        form.action h4 { margin: 0; } form.action p { margin: 0; color: var(--muted); } form.action label:not(.check) { align-self: stretch; } form.action textarea { max-width: none; }
        #traffic td, #live-split td, #slo td { white-space: nowrap; }
        button.danger { background: var(--bad); border-color: var(--bad); }
        .bad { color: var(--bad); }
        .outcome-pass { color: #1a7f37; font-weight: 600; } .outcome-fail { color: var(--bad); font-weight: 600; } .outcome-marginal, .outcome-no_data { color: #9a6700; font-weight: 600; }
        section.analysis { border-top: 1px solid var(--line); margin-top: 12px; } section.analysis h3 { font-size: 1rem; margin: 12px 0 4px; }
        """;

    private static string Upstream(RoutingTable table, string version) =>
        table.Upstreams?.GetValueOrDefault(version) is { } u ? $"{E(u.Url ?? string.Join(", ", u.Endpoints?.Select(e => e.Url) ?? []))} ({E(u.Model)})" : "–";

    private static string R(double? value) => value is { } v ? v.ToString("R", CultureInfo.InvariantCulture) : "";

    private static string Num(double? value) => value is { } v ? (double.IsFinite(v) ? v.ToString("0.####", CultureInfo.InvariantCulture) : v.ToString(CultureInfo.InvariantCulture)) : "–";

    private static string Ms(double? value) => value is { } v ? v.ToString("0.#", CultureInfo.InvariantCulture) + " ms" : "–";

    private static string Money(double value) => value.ToString("0.######", CultureInfo.InvariantCulture);

    private static string Pct(double share) => (share * 100).ToString("0.###", CultureInfo.InvariantCulture) + " %";
}
