using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Authorization;
using ModelGate.Client;
using ModelGate.Monitoring.Drift;
using ModelGate.Security;
using static ModelGate.WebConsole.Html;

namespace ModelGate.WebConsole;

/// <summary>
/// The three dashboards seed 002 describes: <b>executive</b> (availability, cost by model, top degraded models by quality,
/// models by stage, business metrics), <b>on-call</b> (SLO burn rates, active alerts, failing endpoints, canaries in flight,
/// the error-rate trend) and <b>debug</b> (request search by id, sampled inputs with the prediction and feature snapshot,
/// the drift detector's output, per-version latency histograms). Each over a window chosen with a GET form (1h, 24h, 7d,
/// 30d). They span every deployment, so, as the alerts and audit pages, they are for unscoped keys with the read
/// permission; the figures come from <see cref="DashboardQueries"/>.
/// </summary>
public static class Dashboards
{
    public sealed record Services(DashboardQueries Queries, ConsoleSessions Sessions, IAuthorizationService Authorization);

    public static RouteGroupBuilder Map(RouteGroupBuilder console)
    {
        console.MapGet("/dashboards", IndexAsync);
        console.MapGet("/dashboards/executive", ExecutiveAsync);
        console.MapGet("/dashboards/on-call", OnCallAsync);
        console.MapGet("/dashboards/debug", DebugAsync);
        return console;
    }

    private static readonly (string Slug, string Title, string About)[] Boards =
    [
        ("executive", "Executive", "Availability, cost by model, models whose live quality fell below their evaluation, models by stage, business metrics."),
        ("on-call", "On-call", "SLO burn rates, active alerts, the most failing endpoints, canaries in flight, the error-rate trend."),
        ("debug", "Debug", "A request by its id, sampled inputs with their prediction, drift of a deployment's inputs, latency per version."),
    ];

    public static async Task<IResult> IndexAsync(HttpContext context, [AsParameters] Services services, CancellationToken ct)
    {
        var (session, refusal) = await AuthorizeAsync(context, services, ct);
        if (refusal is not null)
        {
            return refusal;
        }
        var items = string.Concat(Boards.Select(b =>
            $"""<li data-dashboard="{b.Slug}"><a href="/console/dashboards/{b.Slug}">{E(b.Title)}</a> — {E(b.About)}</li>"""));
        var main = $"""
            <h1>Dashboards</h1>
            <ul id="dashboards" class="boards">{items}</ul>
            """;
        return ConsoleApi.HtmlResult(Page("Dashboards", Wrap(main), session, "dashboards"), StatusCodes.Status200OK);
    }

    public static async Task<IResult> ExecutiveAsync(HttpContext context, [AsParameters] Services services, string? window, CancellationToken ct)
    {
        var (session, refusal) = await AuthorizeAsync(context, services, ct);
        if (refusal is not null)
        {
            return refusal;
        }
        if (DashboardWindow.Parse(window) is not { } span)
        {
            return BadWindow(session!, window);
        }
        var view = await services.Queries.ExecutiveAsync(span, ct);
        var main = new StringBuilder(Header("executive", "Executive dashboard", span, view.From, view.To));

        main.Append($"""
            <section aria-labelledby="availability-title" id="availability">
            <h2 id="availability-title">Availability</h2>
            <p class="kpi"><span id="availability-overall" data-requests="{view.Requests}" data-errors="{view.Errors}">{Pct(view.Availability)}</span>
            <span class="muted">of {view.Requests.ToString("N0", Inv)} requests answered without a server error (5xx), every deployment but staging</span></p>
            <div class="scroll"><table id="availability-by-deployment"><caption>Availability per deployment, the worst first</caption>
            <thead><tr><th scope="col">Deployment</th><th scope="col">Environment</th><th scope="col">Model</th><th scope="col">Requests</th><th scope="col">5xx</th><th scope="col">Availability</th></tr></thead><tbody>
            """);
        foreach (var a in view.Deployments)
        {
            main.Append($"""<tr data-deployment="{E(a.Deployment)}" data-requests="{a.Requests}" data-errors="{a.Errors}"><th scope="row">{DeploymentLink(a.Deployment, a.Environment is not null)}</th><td>{E(a.Environment ?? "–")}</td><td>{E(a.Model ?? "–")}</td><td>{a.Requests}</td><td>{a.Errors}</td><td data-availability>{Pct(a.Availability)}</td></tr>""");
        }
        main.Append("</tbody></table></div></section>");

        main.Append($"""
            <section aria-labelledby="cost-title" id="cost">
            <h2 id="cost-title">Cost by model</h2>
            {Charts.Bars("cost-by-model", "Cost by model", view.Costs.Select(c => new ChartBar(c.Model, c.Cost, Money(c.Cost))).ToList(), "cost")}
            <p class="muted">The sum of the cost recorded for the requests of each model's deployments (shadow copies and failed attempts included: they were paid for).</p>
            </section>
            """);

        main.Append($"""
            <section aria-labelledby="quality-title" id="quality">
            <h2 id="quality-title">Top degraded models by quality</h2>
            <p class="muted">For each production version with at least {DashboardQueries.MinimumScoredFeedback} scored feedbacks on the requests it served in the window:
            the live score is the mean of those scores (a label judged against the prediction counts 1 if right, 0 if wrong; a score counts as given), compared with the
            <code>accuracy</code> of the version's latest succeeded evaluation. The drop is evaluated − live; the largest first.</p>
            """);
        if (view.Quality.Count == 0)
        {
            main.Append("""<p class="empty" id="quality-table">No production version has enough scored feedback in this window.</p>""");
        }
        else
        {
            main.Append("""<div class="scroll"><table id="quality-table"><caption>Production versions, live score against evaluated accuracy</caption><thead><tr><th scope="col">Model</th><th scope="col">Version</th><th scope="col">Scored</th><th scope="col">Live score</th><th scope="col">Evaluated accuracy</th><th scope="col">Drop</th></tr></thead><tbody>""");
            foreach (var q in view.Quality)
            {
                main.Append($"""<tr data-model="{E(q.Model)}" data-version="{E(q.Version)}"><th scope="row"><a href="/console/models/{E(q.Model)}/versions/{E(q.Version)}">{E(q.Model)}</a></th><td>{E(q.Version)}</td><td>{q.Scored}</td><td data-live>{Pct(q.Live)}</td><td data-evaluated>{Pct(q.Evaluated)}</td><td data-drop class="{(q.Drop > 0 ? "bad" : "")}">{Points(q.Drop)}</td></tr>""");
            }
            main.Append("</tbody></table></div>");
        }
        main.Append("</section>");

        main.Append($"""
            <section aria-labelledby="stages-title" id="stages">
            <h2 id="stages-title">Models by stage</h2>
            {Charts.Bars("models-by-stage", "Models with a version in each stage", view.Stages.Select(s => new ChartBar(s.Stage, s.Models,
                $"{s.Models} ({s.Versions} version{(s.Versions == 1 ? "" : "s")})")).ToList(), "models (versions)")}
            </section>
            <section aria-labelledby="business-title" id="business">
            <h2 id="business-title">Business metrics</h2>
            """);
        if (view.Business.Count == 0)
        {
            main.Append("""<p class="empty" id="business-table">No business metric was reported with feedback in this window (<code>POST /api/v1/feedback {"metric": "revenue_eur", "value": …}</code>).</p>""");
        }
        else
        {
            main.Append("""<div class="scroll"><table id="business-table"><caption>Business metrics reported with feedback on the window's requests</caption><thead><tr><th scope="col">Metric</th><th scope="col">Reports</th><th scope="col">Total</th></tr></thead><tbody>""");
            foreach (var b in view.Business)
            {
                main.Append($"""<tr data-metric="{E(b.Metric)}"><th scope="row">{E(b.Metric)}</th><td>{b.Reports}</td><td>{Number(b.Total)}</td></tr>""");
            }
            main.Append("</tbody></table></div>");
        }
        main.Append("</section>");
        return ConsoleApi.HtmlResult(Page("Executive dashboard", Wrap(main.ToString()), session, "dashboards"), StatusCodes.Status200OK);
    }

    public static async Task<IResult> OnCallAsync(HttpContext context, [AsParameters] Services services, string? window, CancellationToken ct)
    {
        var (session, refusal) = await AuthorizeAsync(context, services, ct);
        if (refusal is not null)
        {
            return refusal;
        }
        if (DashboardWindow.Parse(window) is not { } span)
        {
            return BadWindow(session!, window);
        }
        var view = await services.Queries.OnCallAsync(span, ct);
        var main = new StringBuilder(Header("on-call", "On-call dashboard", span, view.From, view.To));

        main.Append("""<section aria-labelledby="slo-title" id="slo"><h2 id="slo-title">SLO burn rates</h2>""");
        if (view.Slos.Count == 0)
        {
            main.Append("""<p class="empty" id="slo-table">No deployment has an SLO (<code>PUT /api/v1/deployments/{name}/slo</code>).</p>""");
        }
        else
        {
            main.Append($"""<p class="muted">The share of bad requests over each window divided by the error budget (1 − target): 1× spends the budget exactly over the period. Pages fire when both 1h and 5m burn above 14.4×, or 6h and 30m above 6×.</p><div class="scroll"><table id="slo-table"><caption>Burn rate per window and the budget left in the SLO's period</caption><thead><tr><th scope="col">Deployment</th><th scope="col">Objective</th><th scope="col">Target</th><th scope="col">Compliance</th><th scope="col">Budget left</th>{string.Concat(Monitoring.Slo.Windows.Select(w => $"<th scope=\"col\">{Monitoring.Slo.WindowName(w)}</th>"))}</tr></thead><tbody>""");
            foreach (var slo in view.Slos)
            {
                foreach (var o in slo.Status.Objectives)
                {
                    main.Append($"""<tr data-deployment="{E(slo.Deployment)}" data-objective="{E(o.Objective)}"><th scope="row">{DeploymentLink(slo.Deployment, true)}</th><td>{E(o.Objective)}</td><td>{Pct(o.Target, "0.###")}</td><td>{Pct(o.Compliance, "0.###")}</td><td data-budget class="{(o.BudgetRemaining < 0 ? "bad" : "")}">{Pct(o.BudgetRemaining, "0.#")}</td>""");
                    foreach (var w in Monitoring.Slo.Windows)
                    {
                        var burn = o.BurnRates.GetValueOrDefault(Monitoring.Slo.WindowName(w));
                        main.Append($"""<td data-window="{Monitoring.Slo.WindowName(w)}" class="{(burn > 1 ? "bad" : "")}">{(burn is { } b ? b.ToString("0.##", Inv) + "×" : "–")}</td>""");
                    }
                    main.Append("</tr>");
                }
            }
            main.Append("</tbody></table></div>");
        }
        main.Append("</section>");

        main.Append($"""<section aria-labelledby="alerts-title" id="alerts"><h2 id="alerts-title">Active alerts ({view.Alerts.Count})</h2><p><a href="/console/alerts">All alerts and silences</a></p>""");
        if (view.Alerts.Count == 0)
        {
            main.Append("""<p class="empty" id="active-alerts">Nothing is firing.</p>""");
        }
        else
        {
            main.Append("""<div class="scroll"><table id="active-alerts"><caption>Alerts firing, the newest first</caption><thead><tr><th scope="col">Severity</th><th scope="col">Kind</th><th scope="col">Summary</th><th scope="col">Fired (UTC)</th><th scope="col">Times</th><th scope="col">Silenced</th></tr></thead><tbody>""");
            foreach (var a in view.Alerts)
            {
                main.Append($"""<tr data-alert="{E(a.Key)}"{(a.Silenced ? " data-silenced" : "")}><td class="{(a.Severity == AlertSeverities.Page && !a.Silenced ? "bad" : "")}">{E(a.Severity)}</td><td>{E(a.Kind)}</td><td>{E(a.Summary)}</td><td>{When(a.FiredAt)}</td><td>{a.Occurrences}</td><td>{(a.Silenced ? "silenced" : "")}</td></tr>""");
            }
            main.Append("</tbody></table></div>");
        }
        main.Append("</section>");

        main.Append($"""<section aria-labelledby="failing-title" id="failing"><h2 id="failing-title">Top {DashboardQueries.FailingEndpointsShown} failing endpoints (last hour)</h2>""");
        if (view.Failing.Count == 0)
        {
            main.Append($"""<p class="empty" id="failing-endpoints">No version answered a server error (5xx) in the last hour among those with at least {DashboardQueries.MinimumRequestsToRank} requests.</p>""");
        }
        else
        {
            main.Append($"""<div class="scroll"><table id="failing-endpoints"><caption>Deployment and version by their share of 5xx answers over the last hour (at least {DashboardQueries.MinimumRequestsToRank} requests)</caption><thead><tr><th scope="col">Deployment</th><th scope="col">Version</th><th scope="col">Requests</th><th scope="col">5xx</th><th scope="col">5xx rate</th></tr></thead><tbody>""");
            foreach (var f in view.Failing)
            {
                main.Append($"""<tr data-deployment="{E(f.Deployment)}" data-version="{E(f.Version)}" data-requests="{f.Requests}" data-errors="{f.Errors}"><th scope="row">{DeploymentLink(f.Deployment, true)}</th><td>{E(f.Version ?? "–")}</td><td>{f.Requests}</td><td>{f.Errors}</td><td data-rate>{Pct(f.Rate)}</td></tr>""");
            }
            main.Append("</tbody></table></div>");
        }
        if (view.Upstreams.Count > 0)
        {
            main.Append("""<div class="scroll"><table id="upstream-failures"><caption>Upstream endpoints with failed or refused attempts since this server started</caption><thead><tr><th scope="col">Deployment</th><th scope="col">Version</th><th scope="col">Endpoint</th><th scope="col">Attempts</th><th scope="col">Failed</th><th scope="col">Circuit open (not sent)</th></tr></thead><tbody>""");
            foreach (var u in view.Upstreams)
            {
                main.Append($"""<tr data-deployment="{E(u.Deployment)}" data-version="{E(u.Version)}"><th scope="row">{E(u.Deployment)}</th><td>{E(u.Version)}</td><td>{E(u.List)} #{u.Index} <code>{E(u.Host)}</code></td><td>{u.Attempts}</td><td>{u.Failures}</td><td>{u.Rejected}</td></tr>""");
            }
            main.Append("</tbody></table></div>");
        }
        main.Append("</section>");

        main.Append("""<section aria-labelledby="canaries-title" id="canaries-section"><h2 id="canaries-title">Canaries in flight</h2>""");
        if (view.Canaries.Count == 0)
        {
            main.Append("""<p class="empty" id="canaries">No rollout is running or paused.</p>""");
        }
        else
        {
            main.Append("""<div class="scroll"><table id="canaries"><caption>Rollouts running or paused, the oldest first</caption><thead><tr><th scope="col">Deployment</th><th scope="col">Stable → candidate</th><th scope="col">Status</th><th scope="col">Weight</th><th scope="col">Checks</th><th scope="col">Failed</th><th scope="col">Last analysis</th></tr></thead><tbody>""");
            foreach (var c in view.Canaries)
            {
                var last = c.LastOutcome is null ? """<span class="empty">none yet</span>"""
                    : $"""<span class="verdict-{E(c.LastOutcome)}">{E(c.LastOutcome)}</span>{(c.LastCheckAt is { } at ? " at " + When(at) : "")}{(c.LastReason is null ? "" : ": " + E(c.LastReason))}""";
                main.Append($"""<tr data-rollout="{E(c.Id)}" data-deployment="{E(c.Deployment)}"><th scope="row">{DeploymentLink(c.Deployment, true)}</th><td>{E(c.Stable)} → {E(c.Candidate)} ({E(c.Strategy)})</td><td>{E(c.Status)}</td><td>{c.Weight.ToString("0.##", Inv)} %</td><td data-checks>{c.Checks}</td><td data-failed class="{(c.FailedChecks > 0 ? "bad" : "")}">{c.FailedChecks}</td><td data-last>{last}</td></tr>""");
            }
            main.Append("</tbody></table></div>");
        }
        main.Append("</section>");

        var label = span.Bucket >= TimeSpan.FromDays(1) ? "MM-dd" : span.Span > TimeSpan.FromDays(1) ? "MM-dd HH:mm" : "HH:mm";
        main.Append($"""
            <section aria-labelledby="trend-title" id="trend">
            <h2 id="trend-title">Error rate</h2>
            {Charts.Line("error-rate", $"Share of served requests answered 5xx per {Durations.Format(span.Bucket)} (each point labelled with its bucket's end, UTC)",
                view.Trend.Select(p => new LinePoint(p.To.ToString(label, Inv), p.Rate)).ToList(), v => Pct(v))}
            </section>
            <section aria-labelledby="accuracy-title" id="accuracy">
            <h2 id="accuracy-title">Model accuracy</h2>
            {Charts.Line("accuracy-trend", $"Live score of every version per {Durations.Format(span.Bucket)}: the mean of the scored feedback on the requests served then",
                view.Accuracy.Select(p => new LinePoint(p.To.ToString(label, Inv), p.Mean)).ToList(), v => Pct(v))}
            <p class="muted">A label judged against the prediction counts 1 if right, 0 if wrong; a score counts as given. Feedback arrives after the request: recent buckets fill up later.</p>
            </section>
            """);
        return ConsoleApi.HtmlResult(Page("On-call dashboard", Wrap(main.ToString()), session, "dashboards"), StatusCodes.Status200OK);
    }

    public static async Task<IResult> DebugAsync(HttpContext context, [AsParameters] Services services, string? window, string? deployment, string? request,
        CancellationToken ct)
    {
        var (session, refusal) = await AuthorizeAsync(context, services, ct);
        if (refusal is not null)
        {
            return refusal;
        }
        if (DashboardWindow.Parse(window) is not { } span)
        {
            return BadWindow(session!, window);
        }
        request = request?.Trim();
        if (request is { Length: > Storage.Gateway.RequestLogEntity.RequestIdLength })
        {
            return ConsoleApi.Refused(session!, $"A request id has at most {Storage.Gateway.RequestLogEntity.RequestIdLength} characters.", StatusCodes.Status400BadRequest);
        }
        var view = await services.Queries.DebugAsync(span, deployment, request, ct);
        if (view is null)
        {
            return ConsoleApi.NotFound(session!, $"There is no deployment named '{deployment}'.");
        }
        var main = new StringBuilder(Header("debug", "Debug dashboard", span, view.From, view.To, view.Deployments, view.Deployment));

        main.Append($"""
            <section aria-labelledby="search-title" id="search">
            <h2 id="search-title">Request search</h2>
            <form id="request-search" class="filters" method="get" action="/console/dashboards/debug" role="search">
            <input type="hidden" name="window" value="{E(span.Name)}">{(view.Deployment is null ? "" : $"""<input type="hidden" name="deployment" value="{E(view.Deployment)}">""")}
            <label for="request">Request id (x-modelgate-request-id)<input id="request" name="request" type="search" value="{E(view.RequestId)}" maxlength="{Storage.Gateway.RequestLogEntity.RequestIdLength}"></label>
            <button type="submit">Find</button>
            </form>
            """);
        if (!string.IsNullOrEmpty(view.RequestId))
        {
            if (view.Found.Count == 0)
            {
                main.Append($"""<p class="empty" id="request-results">No record of request <code>{E(view.RequestId)}</code> is in the request log (records are written within about a second).</p>""");
            }
            else
            {
                main.Append($"""<div class="scroll"><table id="request-results"><caption>Records of request {E(view.RequestId)} (a fallback has two: the failed attempt and the stable version's answer)</caption>{RequestHead}<tbody>""");
                foreach (var r in view.Found)
                {
                    main.Append(RequestRow(r, withDeployment: true));
                }
                main.Append("</tbody></table></div>");
                foreach (var r in view.Found.Where(r => r.Payload is not null))
                {
                    main.Append($"""<details class="payload" data-payload="{r.Id}"><summary>Payload of record {r.Id} (sampled, personal data redacted)</summary><pre>{E(Pretty(r.Payload!, 8000))}</pre></details>""");
                }
            }
        }
        main.Append("</section>");

        if (view.Deployment is null)
        {
            main.Append("""<p class="empty">There is no deployment yet.</p>""");
            return ConsoleApi.HtmlResult(Page("Debug dashboard", Wrap(main.ToString()), session, "dashboards"), StatusCodes.Status200OK);
        }

        main.Append($"""<section aria-labelledby="samples-title" id="samples"><h2 id="samples-title">Recent sampled inputs of {E(view.Deployment)}</h2>""");
        if (view.Samples.Count == 0)
        {
            main.Append("""<p class="empty" id="sampled-inputs">No request of this deployment was sampled with its payload in this window (<code>Gateway:PayloadSampleRate</code>).</p>""");
        }
        else
        {
            main.Append($"""<ol id="sampled-inputs" class="samples">""");
            foreach (var r in view.Samples)
            {
                var (features, answer) = Snapshot(r.Payload!);
                main.Append($"""
                    <li data-request="{E(r.RequestId)}"><p><code>{E(r.RequestId)}</code> · {When(r.Time)} · {E(r.Version ?? "–")} ({E(r.Route ?? "–")}) · {r.Status} · prediction <strong data-prediction>{E(r.Prediction ?? "–")}</strong></p>
                    <details><summary>Feature snapshot (the request)</summary><pre data-features>{E(features)}</pre></details>
                    <details><summary>Response</summary><pre>{E(answer)}</pre></details></li>
                    """);
            }
            main.Append("</ol>");
        }
        if (view.FeatureRows.Count > 0)
        {
            main.Append($"""<div class="scroll"><table id="feature-rows"><caption>The latest input rows of {E(view.StableVersion)} kept for the drift monitor</caption><thead><tr><th scope="col">Time (UTC)</th>{string.Concat(view.FeatureColumns.Select(c => $"<th scope=\"col\">{E(c)}</th>"))}</tr></thead><tbody>""");
            foreach (var row in view.FeatureRows)
            {
                main.Append($"<tr><th scope=\"row\">{When(row.Time)}</th>{string.Concat(row.Values.Select(v => $"<td>{E(v)}</td>"))}</tr>");
            }
            main.Append("</tbody></table></div>");
        }
        main.Append("</section>");

        main.Append($"""<section aria-labelledby="drift-title" id="drift"><h2 id="drift-title">Drift of {E(view.Deployment)}@{E(view.StableVersion ?? "–")} (stable) over {E(span.Name)}</h2>""");
        main.Append(DriftPanel(view));
        main.Append("</section>");

        main.Append($"""<section aria-labelledby="latency-title" id="latency"><h2 id="latency-title">Latency per version</h2>""");
        if (view.Latency.Count == 0)
        {
            main.Append("""<p class="empty">No request was served in this window.</p>""");
        }
        var labels = LatencyLabels();
        foreach (var v in view.Latency)
        {
            main.Append($"""<div class="histogram" data-version="{E(v.Version)}">""");
            main.Append(Charts.Bars("latency-" + v.Version, $"{view.Deployment}@{v.Version}: served requests by latency ({v.Counts.Sum()} in all)",
                v.Counts.Select((count, i) => new ChartBar(labels[i], count, count.ToString(Inv))).ToList(), "requests"));
            main.Append("</div>");
        }
        main.Append("</section>");
        return ConsoleApi.HtmlResult(Page("Debug dashboard", Wrap(main.ToString()), session, "dashboards"), StatusCodes.Status200OK);
    }

    private static string DriftPanel(DebugView view)
    {
        if (view.Drift is not { } result)
        {
            return """<p class="empty" id="drift-refused">The deployment's routing names no stable version.</p>""";
        }
        if (result.Check is not { } check)
        {
            return $"""<p class="empty" id="drift-refused" data-code="{E(result.Code)}">No drift check: {E(result.Detail)}</p>""";
        }
        var report = check.Report;
        var rows = new StringBuilder();
        foreach (var c in report.Columns)
        {
            rows.Append($"""<tr data-column="{E(c.Column)}"{(c.Flagged ? " data-flagged" : "")}><th scope="row">{E(c.Column)}</th><td>{E(c.Kind.ToString())}</td><td>{E(c.Test?.ToString() ?? "–")}</td><td>{Optional(c.Statistic)}</td><td>{Optional(c.PValue)}</td><td>{Optional(c.Threshold)}</td><td class="{(c.Drifted ? "bad" : "")}">{(c.Drifted ? "drifted" : "no")}</td><td>{Pct(c.ReferenceMissingRate, "0.#")} → {Pct(c.WindowMissingRate, "0.#")}</td><td>{c.UnseenCount}</td><td>{E(c.Note)}</td></tr>""");
        }
        return $"""
            <p id="drift-summary" data-dataset-drift="{(report.DatasetDrift ? "true" : "false")}">{report.DriftedColumns} of {report.TestedColumns} tested columns drifted ({Pct(report.DriftShare, "0")}; dataset drift at {Pct(report.DatasetDriftShare, "0")}: <strong>{(report.DatasetDrift ? "yes" : "no")}</strong>), {report.WindowRows} sampled rows against {report.ReferenceRows} reference rows{(report.MissingColumns.Count > 0 ? "; not in the inputs: " + E(string.Join(", ", report.MissingColumns)) : "")}.</p>
            <div class="scroll"><table id="drift-columns"><caption>Each watched column: the test Evidently would run, its statistic and verdict</caption><thead><tr><th scope="col">Column</th><th scope="col">Kind</th><th scope="col">Test</th><th scope="col">Statistic</th><th scope="col">p-value</th><th scope="col">Threshold</th><th scope="col">Drift</th><th scope="col">Missing (ref → now)</th><th scope="col">Unseen</th><th scope="col">Note</th></tr></thead><tbody>{rows}</tbody></table></div>
            """;
    }

    /// <summary>The request and the response of a stored payload (<c>{"request": …, "response": …}</c>), indented and cut to a readable length.</summary>
    private static (string Request, string Response) Snapshot(string payload)
    {
        try
        {
            using var document = JsonDocument.Parse(payload);
            if (document.RootElement.ValueKind == JsonValueKind.Object)
            {
                string Part(string name) => document.RootElement.TryGetProperty(name, out var p) ? Pretty(p.GetRawText(), 4000) : "–";
                return (Part("request"), Part("response"));
            }
        }
        catch (JsonException)
        {
        }
        return (Cut(payload, 4000), "–");
    }

    private static string Pretty(string json, int max)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            return Cut(JsonSerializer.Serialize(document.RootElement, Indented), max);
        }
        catch (JsonException)
        {
            return Cut(json, max);
        }
    }

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static string Cut(string text, int max) => text.Length <= max ? text : text[..max] + "\n… (cut)";

    private const string RequestHead = """<thead><tr><th scope="col">Record</th><th scope="col">Time (UTC)</th><th scope="col">Deployment</th><th scope="col">Version</th><th scope="col">Route</th><th scope="col">Status</th><th scope="col">Latency</th><th scope="col">Tokens (prompt + completion)</th><th scope="col">Cost</th><th scope="col">Prediction</th></tr></thead>""";

    private static string RequestRow(LoggedRequest r, bool withDeployment) =>
        $"""<tr data-request-row="{r.Id}" data-status="{r.Status}"><th scope="row">{r.Id}</th><td>{When(r.Time)}</td><td>{(withDeployment ? DeploymentLink(r.Deployment, false) : "")}</td><td>{E(r.Version ?? "–")}</td><td>{E(r.Route ?? "–")}</td><td class="{(r.Status >= 500 ? "bad" : "")}">{r.Status}</td><td>{r.LatencyMs.ToString("0.#", Inv)} ms</td><td>{(r.PromptTokens is null && r.CompletionTokens is null ? "–" : $"{r.PromptTokens ?? 0} + {r.CompletionTokens ?? 0}")}</td><td>{(r.Cost is { } cost ? Money(cost) : "–")}</td><td data-prediction>{E(r.Prediction ?? "–")}</td></tr>""";

    /// <summary>The latency buckets' labels, from <see cref="DashboardQueries.LatencyBounds"/>.</summary>
    private static IReadOnlyList<string> LatencyLabels()
    {
        var bounds = DashboardQueries.LatencyBounds;
        return Enumerable.Range(0, bounds.Count + 1).Select(i => i == 0 ? $"< {bounds[0]:0} ms"
            : i == bounds.Count ? $"≥ {bounds[^1]:0} ms" : $"{bounds[i - 1]:0}–{bounds[i]:0} ms").ToList();
    }

    /// <summary>The title, the dashboards' tabs and the window selector (and, on the debug dashboard, the deployment's).</summary>
    private static string Header(string slug, string title, DashboardWindow window, DateTime from, DateTime to, IReadOnlyList<string>? deployments = null,
        string? deployment = null)
    {
        var tabs = string.Concat(Boards.Select(b =>
            $"""<li><a href="/console/dashboards/{b.Slug}?window={E(window.Name)}"{(b.Slug == slug ? " aria-current=\"page\"" : "")}>{E(b.Title)}</a></li>"""));
        var windows = string.Concat(DashboardWindow.All.Select(w => $"""<option value="{E(w.Name)}"{(w == window ? " selected" : "")}>{E(w.Name)}</option>"""));
        var deploymentField = deployments is null ? "" : $"""
            <label for="deployment">Deployment<select id="deployment" name="deployment">{string.Concat(deployments.Select(d => $"""<option value="{E(d)}"{(d == deployment ? " selected" : "")}>{E(d)}</option>"""))}</select></label>
            """;
        return $"""
            <p><a href="/console/dashboards">Dashboards</a> › {E(title)}</p>
            <h1>{E(title)}</h1>
            <nav aria-label="Dashboards" class="dash-tabs"><ul>{tabs}</ul></nav>
            <form id="window" class="filters" method="get" action="/console/dashboards/{slug}">
            <label for="window-select">Window<select id="window-select" name="window">{windows}</select></label>
            {deploymentField}
            <button type="submit">Show</button>
            </form>
            <p class="muted" id="window-range" data-from="{from.ToString("O", Inv)}" data-to="{to.ToString("O", Inv)}">From {When(from)} to {When(to)} UTC (the last {E(window.Name)}).</p>
            """;
    }

    private static async Task<(ConsoleSession? Session, IResult? Refusal)> AuthorizeAsync(HttpContext context, Services services, CancellationToken ct) =>
        await ConsoleApi.AuthorizeAsync(context, services.Sessions, services.Authorization, Permissions.Read, scopedKeysAllowed: false, ct);

    private static IResult BadWindow(ConsoleSession session, string? window) =>
        ConsoleApi.Refused(session, $"'{window}' is not a window: choose {string.Join(", ", DashboardWindow.All.Select(w => w.Name))}.", StatusCodes.Status400BadRequest);

    private static string Wrap(string main) => $"""<div class="dash">{main}</div>""";

    private static string DeploymentLink(string name, bool known) =>
        known ? $"""<a href="/console/deployments/{E(Uri.EscapeDataString(name))}">{E(name)}</a>""" : E(name);

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>A share (0–1) as a percentage; "–" for none.</summary>
    internal static string Pct(double? share, string format = "0.00") =>
        share is { } s && double.IsFinite(s) ? (s * 100).ToString(format, Inv) + "\u00a0%" : "–";

    /// <summary>A difference of two shares in percentage points.</summary>
    internal static string Points(double? difference) =>
        difference is { } d && double.IsFinite(d) ? (d * 100).ToString("+0.00;−0.00;0.00", Inv) + "\u00a0pt" : "–";

    internal static string Money(double value) => value.ToString("0.0000", Inv);

    private static string Number(double value) => value.ToString("0.####", Inv);

    private static string Optional(double? value) => value is { } v ? (double.IsFinite(v) ? v.ToString("0.####", Inv) : v > 0 ? "∞" : "−∞") : "–";

    private static string When(DateTime time) => time.ToString("yyyy-MM-dd HH:mm:ss", Inv);

    public const string Stylesheet = """
        .dash .muted { color: var(--muted); } .dash .bad { color: var(--bad); font-weight: 600; }
        .dash .kpi { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 12px; } .dash .kpi > span:first-child { font-size: 2rem; font-weight: 700; }
        .dash nav.dash-tabs ul { display: flex; flex-wrap: wrap; gap: 6px 16px; list-style: none; margin: 0 0 12px; padding: 0; }
        .dash nav.dash-tabs a[aria-current] { font-weight: 600; text-decoration: none; color: var(--fg); }
        .dash ul.boards li { margin-bottom: 8px; }
        .dash ol.samples { padding-left: 20px; } .dash ol.samples li p { margin: 4px 0; overflow-wrap: anywhere; }
        .dash details.payload pre, .dash ol.samples pre { max-height: 320px; overflow: auto; background: var(--soft); padding: 8px; border-radius: 6px; font-size: .8rem; }
        .dash select { max-width: 100%; } .dash form.filters label { max-width: 100%; }
        .dash section { margin-bottom: 8px; } .dash table:not(.skip) > caption { text-align: left; font-size: .85rem; color: var(--muted); padding-bottom: 4px; }
        """;
}
