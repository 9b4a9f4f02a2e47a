using System.Text;
using Microsoft.AspNetCore.Authorization;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Monitoring;
using ModelGate.Security;
using ModelGate.Storage;
using static ModelGate.WebConsole.Html;

namespace ModelGate.WebConsole;

/// <summary>
/// Alerts: those firing (silenced ones marked), the last 100 resolved, and the silences in force — what
/// <c>GET /api/v1/alerts</c> and <c>…/silences</c> show, for unscoped keys as they do; for keys that may manage alerts, a form
/// to create a silence (prefilled from an alert's "silence this" link), the REST API's <see cref="Silences.CreateAsync"/>.
/// </summary>
public static class AlertsPage
{
    public sealed record Services(ModelGateDbContext Db, ConsoleSessions Sessions, IAuthorizationService Authorization, TimeProvider Time);

    public static async Task<IResult> ShowAsync(HttpContext context, [AsParameters] Services services, string? silence, string? done, CancellationToken ct)
    {
        var (session, refusal) = await ConsoleApi.AuthorizeAsync(context, services.Sessions, services.Authorization, Permissions.Read, scopedKeysAllowed: false, ct);
        if (refusal is not null)
        {
            return refusal;
        }
        var db = services.Db;
        var firing = await db.Alerts.AsNoTracking().Where(a => a.Status == "firing").OrderByDescending(a => a.FiredAt).ToListAsync(ct);
        var resolved = await db.Alerts.AsNoTracking().Where(a => a.Status != "firing").OrderByDescending(a => a.ResolvedAt).Take(100).ToListAsync(ct);
        var now = services.Time.GetUtcNow().UtcDateTime;
        var silences = await Silences.InForceAsync(db, now, ct);
        var mayManage = (await services.Authorization.AuthorizeAsync(session!.User, Permissions.AlertsManage)).Succeeded;
        string Rows(IEnumerable<Storage.Monitoring.AlertEntity> alerts, bool action) => string.Concat(alerts.Select(a =>
            $"""<tr data-alert="{E(a.Key)}"><td>{E(a.Severity)}</td><td>{E(a.Kind)}</td><td>{E(a.Summary)}<br><code class="alert-key">{E(a.Key)}</code></td><td>{a.FiredAt:yyyy-MM-dd HH:mm}</td><td>{(a.ResolvedAt is { } r ? r.ToString("yyyy-MM-dd HH:mm", System.Globalization.CultureInfo.InvariantCulture) : "–")}</td><td>{a.Occurrences}</td><td data-silenced="{(a.Silenced ? "true" : "false")}">{(a.Silenced ? "silenced" : "")}</td>{(action ? $"""<td><a class="silence-this" href="/console/alerts?silence={Uri.EscapeDataString(a.Key)}#silence">Silence this</a></td>""" : "")}</tr>"""));
        string Head(bool action) => $"""<thead><tr><th scope="col">Severity</th><th scope="col">Kind</th><th scope="col">Summary</th><th scope="col">Fired (UTC)</th><th scope="col">Resolved</th><th scope="col">Times</th><th scope="col">Silenced</th>{(action ? """<th scope="col"><span class="skip">Action</span></th>""" : "")}</tr></thead>""";
        var main = new StringBuilder($"""
            <h1>Alerts</h1>
            {(done == "silenced" ? """<p role="status" class="done">Silence created: alerts that fire under it are recorded, not delivered.</p>""" : "")}
            <h2>Firing ({firing.Count})</h2>
            {(firing.Count == 0 ? """<p class="empty" id="firing">Nothing is firing.</p>""" : $"""<div class="scroll"><table id="firing">{Head(mayManage)}<tbody>{Rows(firing, mayManage)}</tbody></table></div>""")}
            <h2>Silences in force</h2>
            <ul id="silences">{(silences.Count == 0 ? """<li class="empty">none</li>""" : string.Concat(silences.Select(s => $"<li data-silence=\"{s.Id}\"><code>{E(s.KeyPrefix)}</code> until {s.Until:yyyy-MM-dd HH:mm} UTC: {E(s.Reason)} ({E(s.CreatedBy)})</li>")))}</ul>
            """);
        if (mayManage)
        {
            main.Append(SilenceForm(session, new SilenceRequest(ClientText.Bound(silence, Silences.MaxKeyPrefixLength) ?? "", "2h", "")));
        }
        main.Append($"""
            <h2>Resolved (the last 100)</h2>
            <div class="scroll"><table id="resolved">{Head(false)}<tbody>{Rows(resolved, false)}</tbody></table></div>
            """);
        return ConsoleApi.HtmlResult(Page("Alerts", main.ToString(), session, "alerts"), StatusCodes.Status200OK);
    }

    public sealed record SilenceServices(ConsoleSessions Sessions, IAuthorizationService Authorization, AuditedWrite Write);

    public static async Task<IResult> SilenceAsync(HttpContext context, [AsParameters] SilenceServices services, CancellationToken ct)
    {
        var (session, form, refusal) = await ConsoleApi.PostedAsync(context, services.Sessions, services.Authorization, Permissions.AlertsManage,
            s => s.Key.Deployments is null, "Your key's roles do not allow silencing alerts.", ct);
        if (refusal is not null || session is null || form is null)
        {
            return refusal!;
        }
        var request = new SilenceRequest(form["keyPrefix"].ToString(), form["duration"].ToString().Trim(), form["reason"].ToString());
        var problem = FormText.Problem(form, "reason");
        if (problem is null)
        {
            var outcome = await Silences.CreateAsync(services.Write, request, session.User, ct);
            if (outcome.Created is not null)
            {
                return Results.Redirect("/console/alerts?done=silenced");
            }
            problem = FormText.Describe(outcome.Invalid!);
        }
        var main = $"""
            <p><a href="/console/alerts">Alerts</a> › new silence</p>
            <h1>Silence not created</h1>
            <p role="alert">{E(problem)}</p>
            {SilenceForm(session, request with { KeyPrefix = ClientText.Bound(request.KeyPrefix, 400) ?? "", Reason = ClientText.Bound(request.Reason, Silences.MaxReasonLength) ?? "" })}
            """;
        return ConsoleApi.HtmlResult(Page("Silence not created", main, session, "alerts"), StatusCodes.Status400BadRequest);
    }

    private static string SilenceForm(ConsoleSession session, SilenceRequest values) => $"""
        <h2 id="silence">Create a silence</h2>
        <form id="create-silence" class="stack" method="post" action="/console/alerts/silences">
        {Csrf(session)}
        <p class="empty">Alerts that fire while it is in force, with a key starting with the prefix, are recorded but not delivered.</p>
        <label for="silence-prefix">Alert key prefix<input id="silence-prefix" name="keyPrefix" required maxlength="{Silences.MaxKeyPrefixLength}" value="{E(values.KeyPrefix)}" placeholder="slo:checkout" autocomplete="off"></label>
        <label for="silence-duration">For how long (up to 30d: 30m, 2h, 1d)<input id="silence-duration" name="duration" required maxlength="16" value="{E(values.Duration)}" pattern="[0-9]+[smhd]"></label>
        <label for="silence-reason">Reason (recorded in the audit log)<textarea id="silence-reason" name="reason" required maxlength="{Silences.MaxReasonLength}" rows="2">{E(values.Reason)}</textarea></label>
        <button type="submit">Silence</button>
        </form>
        """;
}
