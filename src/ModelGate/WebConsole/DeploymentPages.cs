using System.Text;
using Microsoft.AspNetCore.Authorization;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Gateway;
using ModelGate.Security;
using ModelGate.Storage;
using static ModelGate.WebConsole.Html;

namespace ModelGate.WebConsole;

/// <summary>
/// Deployments: the list (a scoped key sees its own), and a deployment's page — its routing table with weights, shadow and
/// upstreams (URLs as the REST API shows them to this key, never a key), and the rollback, behind a confirmation, for keys
/// that may deploy it. The rollback is the REST API's (<see cref="DeploymentRouting.RollbackAsync"/>), audited alike.
/// </summary>
public static class DeploymentPages
{
    public sealed record Services(ModelGateDbContext Db, ConsoleSessions Sessions, IAuthorizationService Authorization);

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
            <div class="scroll"><table id="deployments"><thead><tr><th scope="col">Deployment</th><th scope="col">Environment</th><th scope="col">Model</th><th scope="col">Stable</th><th scope="col">Candidates</th><th scope="col">Backend</th></tr></thead>
            <tbody>{rows}</tbody></table></div>
            """;
        return ConsoleApi.HtmlResult(Page("Deployments", main, session, "deployments"), StatusCodes.Status200OK);
    }

    public static async Task<IResult> ShowAsync(string name, HttpContext context, [AsParameters] Services services, string? done, CancellationToken ct)
    {
        var (session, refusal) = await ConsoleApi.AuthorizeAsync(context, services.Sessions, services.Authorization, Permissions.Read, scopedKeysAllowed: true, ct);
        if (refusal is not null)
        {
            return refusal;
        }
        var entity = DeploymentScope.Allows(session!.Key, name) ? await services.Db.Deployments.AsNoTracking().FirstOrDefaultAsync(d => d.Name == name, ct) : null;
        if (entity is null)
        {
            return ConsoleApi.NotFound(session, $"There is no deployment named '{name}'.");
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
            <p><a href="/console/deployments">Deployments</a> › {E(entity.Name)}</p>
            <h1>{E(entity.Name)}</h1>
            {(done == "rolled-back" ? """<p role="status" class="done">Rolled back: the routing below is in force.</p>""" : "")}
            <dl class="facts"><dt>Environment</dt><dd>{E(entity.Environment)}</dd><dt>Model</dt><dd><a href="/console/models/{E(entity.Model)}">{E(entity.Model)}</a></dd>
            <dt>Revision</dt><dd id="revision">{entity.Revision}</dd><dt>Last known good</dt><dd>{E(entity.LastKnownGood ?? "–")}</dd><dt>Backend</dt><dd>{E(table.Backend)}</dd></dl>
            <h2>Routing</h2>
            <div class="scroll"><table id="routing"><thead><tr><th scope="col">Version</th><th scope="col">Role</th><th scope="col">Traffic</th><th scope="col">Upstream</th></tr></thead>
            <tbody>{weights}</tbody></table></div>
            """);
        var mayDeploy = (await services.Authorization.AuthorizeAsync(session.User, Permissions.Deploy)).Succeeded;
        if (mayDeploy)
        {
            main.Append($"""
                <h2>Roll back</h2>
                <form id="rollback" method="post" action="/console/deployments/{E(entity.Name)}/rollback">
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

    private static string Upstream(RoutingTable table, string version) =>
        table.Upstreams?.GetValueOrDefault(version) is { } u ? $"{E(u.Url ?? string.Join(", ", u.Endpoints?.Select(e => e.Url) ?? []))} ({E(u.Model)})" : "–";
}
