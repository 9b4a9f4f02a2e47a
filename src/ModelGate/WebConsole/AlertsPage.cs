using System.Text;
using Microsoft.AspNetCore.Authorization;
using Microsoft.EntityFrameworkCore;
using ModelGate.Security;
using ModelGate.Storage;
using static ModelGate.WebConsole.Html;

namespace ModelGate.WebConsole;

/// <summary>
/// Alerts: those firing (silenced ones marked), the last 100 resolved, and the silences in force — what
/// <c>GET /api/v1/alerts</c> and <c>…/silences</c> show, for unscoped keys as they do.
/// </summary>
public static class AlertsPage
{
    public sealed record Services(ModelGateDbContext Db, ConsoleSessions Sessions, IAuthorizationService Authorization, TimeProvider Time);

    public static async Task<IResult> ShowAsync(HttpContext context, [AsParameters] Services services, CancellationToken ct)
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
        var silences = await db.Silences.AsNoTracking().Where(s => s.Until > now).OrderBy(s => s.Until).ToListAsync(ct);
        string Rows(IEnumerable<Storage.Monitoring.AlertEntity> alerts) => string.Concat(alerts.Select(a =>
            $"""<tr data-alert="{E(a.Key)}"><td>{E(a.Severity)}</td><td>{E(a.Kind)}</td><td>{E(a.Summary)}</td><td>{a.FiredAt:yyyy-MM-dd HH:mm}</td><td>{(a.ResolvedAt is { } r ? r.ToString("yyyy-MM-dd HH:mm", System.Globalization.CultureInfo.InvariantCulture) : "–")}</td><td>{a.Occurrences}</td><td>{(a.Silenced ? "silenced" : "")}</td></tr>"""));
        const string Head = """<thead><tr><th scope="col">Severity</th><th scope="col">Kind</th><th scope="col">Summary</th><th scope="col">Fired (UTC)</th><th scope="col">Resolved</th><th scope="col">Times</th><th scope="col">Silenced</th></tr></thead>""";
        var main = new StringBuilder($"""
            <h1>Alerts</h1>
            <h2>Firing ({firing.Count})</h2>
            {(firing.Count == 0 ? """<p class="empty" id="firing">Nothing is firing.</p>""" : $"""<div class="scroll"><table id="firing">{Head}<tbody>{Rows(firing)}</tbody></table></div>""")}
            <h2>Silences in force</h2>
            <ul id="silences">{(silences.Count == 0 ? """<li class="empty">none</li>""" : string.Concat(silences.Select(s => $"<li><code>{E(s.KeyPrefix)}</code> until {s.Until:yyyy-MM-dd HH:mm} UTC: {E(s.Reason)} ({E(s.CreatedBy)})</li>")))}</ul>
            <h2>Resolved (the last 100)</h2>
            <div class="scroll"><table id="resolved">{Head}<tbody>{Rows(resolved)}</tbody></table></div>
            """);
        return ConsoleApi.HtmlResult(Page("Alerts", main.ToString(), session, "alerts"), StatusCodes.Status200OK);
    }
}
