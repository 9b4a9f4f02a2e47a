using System.Text;
using Microsoft.AspNetCore.Authorization;
using Microsoft.EntityFrameworkCore;
using ModelGate.Audit;
using ModelGate.Security;
using ModelGate.Storage;
using static ModelGate.WebConsole.Html;

namespace ModelGate.WebConsole;

/// <summary>
/// The audit log: events newest first, filtered by subject (a trailing <c>*</c> matches a prefix) and actor as the REST API
/// filters them, 100 a page; and, on request, the chain verified (status, head, evidence records) by the same verifier as
/// <c>GET /api/v1/audit/verify</c>. Unscoped keys only, as the REST API's audit reads.
/// </summary>
public static class AuditPage
{
    public const int PageSize = 100;

    public sealed record Services(ModelGateDbContext Db, ConsoleSessions Sessions, IAuthorizationService Authorization, AuditVerifier Verifier);

    public static async Task<IResult> ShowAsync(HttpContext context, [AsParameters] Services services, string? subject, string? actor, int? page, bool? verify,
        CancellationToken ct)
    {
        var (session, refusal) = await ConsoleApi.AuthorizeAsync(context, services.Sessions, services.Authorization, Permissions.Read, scopedKeysAllowed: false, ct);
        if (refusal is not null)
        {
            return refusal;
        }
        subject = subject is { Length: > 0 and <= 500 } ? subject.Trim() : null;
        actor = actor is { Length: > 0 and <= 200 } ? actor.Trim() : null;
        var number = Math.Clamp(page ?? 1, 1, 100_000);
        var query = AuditApi.Filter(services.Db.AuditEvents.AsNoTracking(), subject, actor, null, null);
        var total = await query.CountAsync(ct);
        var events = await query.OrderByDescending(e => e.Sequence).Skip((number - 1) * PageSize).Take(PageSize).ToListAsync(ct);
        var main = new StringBuilder($"""
            <h1>Audit log</h1>
            <form id="audit-filter" class="filters" method="get" action="/console/audit">
            <label for="subject">Subject (a trailing * matches a prefix)<input id="subject" name="subject" value="{E(subject)}" maxlength="500" placeholder="models/adult-income*"></label>
            <label for="actor">Actor<input id="actor" name="actor" value="{E(actor)}" maxlength="200" placeholder="prn_…"></label>
            <button type="submit">Filter</button>
            <button type="submit" name="verify" value="true">Verify the chain</button>
            </form>
            """);
        if (verify == true)
        {
            var report = await services.Verifier.VerifyAsync(null, ct);
            main.Append(report.Valid
                ? $"""<p id="verify" role="status" class="done" data-valid="true">Chain intact: {report.Checked:N0} events, head #{report.HeadSequence} <code>{E(report.HeadHash)}</code>; evidence records {report.Evidence?.Checked ?? 0:N0} checked, {report.Evidence?.Failed ?? 0:N0} do not verify.</p>"""
                : $"""<p id="verify" role="alert" data-valid="false">Chain broken at #{report.FirstBrokenSequence}: {E(report.Reason)}</p>""");
        }
        main.Append($"""<p>{total:N0} event{(total == 1 ? "" : "s")}{(total > PageSize ? $", page {number} of {(total + PageSize - 1) / PageSize}" : "")}</p>""");
        main.Append("""<div class="scroll"><table id="audit"><thead><tr><th scope="col">#</th><th scope="col">Time (UTC)</th><th scope="col">Action</th><th scope="col">Subject</th><th scope="col">Actor</th><th scope="col">Outcome</th></tr></thead><tbody>""");
        foreach (var e in events)
        {
            main.Append($"""<tr data-sequence="{e.Sequence}"><td>{e.Sequence}</td><td>{e.Time:yyyy-MM-dd HH:mm:ss}</td><td>{E(e.Action)}</td><td>{E(e.Subject)}</td><td>{E(e.Actor)}</td><td>{E(e.Outcome)}</td></tr>""");
        }
        main.Append("</tbody></table></div>");
        string Link(int target) => $"/console/audit?subject={Uri.EscapeDataString(subject ?? "")}&actor={Uri.EscapeDataString(actor ?? "")}&page={target}";
        main.Append("""<nav aria-label="Pages" class="pages">""");
        if (number > 1)
        {
            main.Append($"""<a rel="prev" href="{E(Link(number - 1))}">Newer</a> """);
        }
        if (number * PageSize < total)
        {
            main.Append($"""<a rel="next" href="{E(Link(number + 1))}">Older</a>""");
        }
        main.Append("</nav>");
        return ConsoleApi.HtmlResult(Page("Audit log", main.ToString(), session, "audit"), StatusCodes.Status200OK);
    }
}
