using System.Text;
using Microsoft.AspNetCore.Authorization;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Lifecycle;
using ModelGate.Security;
using ModelGate.Storage;
using ModelGate.Storage.Security;
using static ModelGate.WebConsole.Html;

namespace ModelGate.WebConsole;

/// <summary>
/// Principals (people and services that keys act for), for administrators with unscoped keys, as the REST API's
/// <c>/api/v1/principals</c>: the list, a principal's page with its keys, creating one, changing its roles and display name,
/// disabling it behind a confirmation. Every act calls <see cref="PrincipalCommands"/>, with the REST API's rules: an approving
/// role goes to a person only and never from the principal to itself (refused, and the refusal audited).
/// </summary>
public static class PrincipalsPages
{
    public const string Path = "/console/principals";

    public static RouteGroupBuilder MapPrincipalsPages(this RouteGroupBuilder console)
    {
        console.MapGet("/principals", ListAsync);
        console.MapPost("/principals", CreateAsync).DisableAntiforgery();
        console.MapGet("/principals/{id}", ShowAsync);
        console.MapPost("/principals/{id}", UpdateAsync).DisableAntiforgery();
        console.MapPost("/principals/{id}/disable", DisableAsync).DisableAntiforgery();
        return console;
    }

    public sealed record Services(ModelGateDbContext Db, ConsoleSessions Sessions, IAuthorizationService Authorization);

    public sealed record ActionServices(ConsoleSessions Sessions, IAuthorizationService Authorization, AuditedWrite Write, ApiKeyService Keys);

    private const string Forbidden = "Your key's roles do not allow managing principals (administrators with a key not scoped to deployments).";

    public static async Task<IResult> ListAsync(HttpContext context, [AsParameters] Services services, CancellationToken ct)
    {
        var (session, refusal) = await ConsoleApi.AuthorizeAsync(context, services.Sessions, services.Authorization, Permissions.KeysManage, scopedKeysAllowed: false, ct);
        if (refusal is not null)
        {
            return refusal;
        }
        var principals = await PrincipalCommands.ListAsync(services.Db, ct);
        var keys = (await services.Db.ApiKeys.AsNoTracking().GroupBy(k => k.PrincipalId)
                .Select(g => new { g.Key, All = g.Count(), Revoked = g.Count(k => k.RevokedAt != null) }).ToListAsync(ct))
            .ToDictionary(k => k.Key);
        var rows = new StringBuilder();
        foreach (var p in principals)
        {
            var count = keys.GetValueOrDefault(p.Id);
            rows.Append($"""
                <tr data-principal="{E(p.Id)}" data-enabled="{(p.DisabledAt is null ? "true" : "false")}"><th scope="row"><a href="{Path}/{E(p.Id)}">{E(p.Identity)}</a></th>
                <td>{E(p.DisplayName ?? "")}</td><td>{E(p.Kind)}</td><td data-roles>{KeysPages.RoleTags(p.Roles)}</td><td>{E(p.Source)}</td>
                <td>{(p.DisabledAt is null ? "enabled" : $"<span class=\"bad\">disabled</span> {KeysPages.When(p.DisabledAt)}")}</td>
                <td data-keys="{count?.All ?? 0}">{count?.All ?? 0}{(count is { Revoked: > 0 } ? $" ({count.Revoked} revoked)" : "")}</td></tr>
                """);
        }
        var main = $"""
            <h1>Principals</h1>
            <p><a href="#create-principal">Create a principal</a> · People and services that keys act for. Approving roles ({string.Join(", ", ApprovalRoles.All)}) are held by people only, granted by another administrator.</p>
            <div class="scroll">
            <table id="principals">
            <caption class="skip">Principals, oldest first</caption>
            <thead><tr><th scope="col">Identity</th><th scope="col">Name</th><th scope="col">Kind</th><th scope="col">Roles</th><th scope="col">Source</th><th scope="col">Status</th><th scope="col">Keys</th></tr></thead>
            <tbody>{rows}</tbody>
            </table>
            </div>
            <h2 id="create">Create a principal</h2>
            {CreateForm(session!, null)}
            """;
        return ConsoleApi.HtmlResult(Page("Principals", main, session, "principals"), StatusCodes.Status200OK);
    }

    public static async Task<IResult> ShowAsync(string id, HttpContext context, [AsParameters] Services services, string? done, CancellationToken ct)
    {
        var (session, refusal) = await ConsoleApi.AuthorizeAsync(context, services.Sessions, services.Authorization, Permissions.KeysManage, scopedKeysAllowed: false, ct);
        if (refusal is not null)
        {
            return refusal;
        }
        if (await PrincipalCommands.FindAsync(services.Db, id, ct) is not { } found)
        {
            return ConsoleApi.NotFound(session!, $"There is no principal '{ClientText.Echo(id)}'.");
        }
        var (principal, keys) = found;
        var keyRows = string.Concat(keys.Select(k =>
            $"""<tr data-key="{E(k.Id)}"><th scope="row"><a href="{KeysPages.Path}/{E(k.Id)}">{E(k.Name)}</a></th><td><code>{E(k.Prefix)}…</code></td><td>{KeysPages.RoleTags(k.Roles)}</td><td>{KeysPages.When(k.CreatedAt)}</td><td>{(k.RevokedAt is null ? "active" : "revoked " + KeysPages.When(k.RevokedAt))}</td></tr>"""));
        var main = new StringBuilder($"""
            <p><a href="{Path}">Principals</a> › {E(principal.Identity)}</p>
            <h1>{E(principal.DisplayName ?? principal.Identity)}</h1>
            {Done(done)}
            <dl class="facts" id="principal-facts" data-enabled="{(principal.DisabledAt is null ? "true" : "false")}">
            <dt>Id</dt><dd><code>{E(principal.Id)}</code></dd>
            <dt>Identity</dt><dd>{E(principal.Identity)}</dd>
            <dt>Kind</dt><dd>{E(principal.Kind)}</dd>
            <dt>Roles</dt><dd data-roles>{KeysPages.RoleTags(principal.Roles)}</dd>
            <dt>Source</dt><dd>{E(principal.Source)}</dd>
            <dt>Created</dt><dd>{KeysPages.When(principal.CreatedAt)} UTC by <code>{E(principal.CreatedBy)}</code></dd>
            <dt>Status</dt><dd>{(principal.DisabledAt is null ? "enabled" : $"<span class=\"bad\">disabled</span> {KeysPages.When(principal.DisabledAt)} UTC by <code>{E(principal.DisabledBy)}</code>")}</dd>
            </dl>
            <h2>Keys</h2>
            {(keys.Count == 0 ? """<p class="empty" id="principal-keys">No keys.</p>""" : $"""
                <div class="scroll"><table id="principal-keys"><caption class="skip">The principal's keys</caption>
                <thead><tr><th scope="col">Name</th><th scope="col">Prefix</th><th scope="col">Roles</th><th scope="col">Created (UTC)</th><th scope="col">Status</th></tr></thead>
                <tbody>{keyRows}</tbody></table></div>
                """)}
            <p><a href="{KeysPages.Path}#create-key">Create a key</a> for this principal: give its identity, <code>{E(principal.Identity)}</code>.</p>
            """);
        if (principal.DisabledAt is null)
        {
            var self = session!.User.ActorId() == principal.Id;
            var held = PrincipalDirectory.RolesOf(principal);
            var checks = new StringBuilder();
            foreach (var role in Roles.All)
            {
                var has = held.Contains(role);
                var approving = SeparationOfDuties.IsApprovalRole(role);
                // Not offered where the REST API would refuse it (a forged post is refused all the same): approving roles to
                // a service, or to oneself. A role already held stays a live checkbox, so that it can be removed.
                var offered = has || !approving || (principal.Kind == PrincipalKinds.Person && !self);
                var why = !approving ? "" : principal.Kind != PrincipalKinds.Person ? " (people only)" : self && !has ? " (not to yourself)" : "";
                checks.Append($"""<label class="check"><input type="checkbox" name="roles" value="{E(role)}"{(has ? " checked" : "")}{(offered ? "" : " disabled")}> {E(role)}{(why.Length > 0 ? $" <span class=\"empty\">{why}</span>" : "")}</label>""");
                if (has)
                {
                    checks.Append($"""<input type="hidden" name="held" value="{E(role)}">""");
                }
            }
            main.Append($"""
                <h2>Roles and name</h2>
                <form id="principal-roles" class="stack" method="post" action="{Path}/{E(principal.Id)}">
                {Csrf(session)}
                <label for="display-name">Display name<input id="display-name" name="displayName" maxlength="{PrincipalCommands.MaxDisplayNameLength}" value="{E(principal.DisplayName)}"></label>
                <fieldset><legend>Roles</legend>{checks}</fieldset>
                <p class="empty">Each role granted or removed is an audit event; a role removed leaves the principal's keys at once.</p>
                <button type="submit">Save</button>
                </form>
                <h2>Disable</h2>
                <form id="disable-principal" class="stack" method="post" action="{Path}/{E(principal.Id)}/disable">
                {Csrf(session)}
                <p>Every key of this principal stops working at once{(self ? ", <strong>the one you are signed in with included</strong>" : "")}. A disabled principal stays disabled.</p>
                <label class="check"><input type="checkbox" name="confirm" value="yes" required> I confirm disabling {E(principal.Identity)}</label>
                <button type="submit" class="danger">Disable</button>
                </form>
                """);
        }
        return ConsoleApi.HtmlResult(Page(principal.Identity, main.ToString(), session, "principals"), StatusCodes.Status200OK);
    }

    public static async Task<IResult> CreateAsync(HttpContext context, [AsParameters] ActionServices services, CancellationToken ct)
    {
        var (session, form, refusal) = await ConsoleApi.PostedAsync(context, services.Sessions, services.Authorization, Permissions.KeysManage,
            s => s.Key.Deployments is null, Forbidden, ct);
        if (refusal is not null || session is null || form is null)
        {
            return refusal!;
        }
        var posted = new CreatePrincipalRequest(form["kind"].ToString(), form["identity"].ToString(),
            form["displayName"].ToString() is { Length: > 0 } name ? name : null, [.. Checked(form, "roles")]);
        if (FormText.Problem(form) is { } problem)
        {
            return NotCreated(session, problem, StatusCodes.Status400BadRequest, posted);
        }
        var outcome = await PrincipalCommands.CreateAsync(services.Write, posted, session.User, ct);
        return outcome switch
        {
            { Principal: { } created } => Results.Redirect($"{Path}/{Uri.EscapeDataString(created.Id)}?done=created"),
            { Invalid: { } invalid } => NotCreated(session, FormText.Describe(invalid), StatusCodes.Status400BadRequest, posted),
            _ => NotCreated(session, outcome.Detail, outcome.Status, posted),
        };
    }

    public static async Task<IResult> UpdateAsync(string id, HttpContext context, [AsParameters] ActionServices services, CancellationToken ct)
    {
        var (session, form, refusal) = await ConsoleApi.PostedAsync(context, services.Sessions, services.Authorization, Permissions.KeysManage,
            s => s.Key.Deployments is null, Forbidden, ct);
        if (refusal is not null || session is null || form is null)
        {
            return refusal!;
        }
        if (FormText.Problem(form) is { } problem)
        {
            return NotChanged(session, id, problem, StatusCodes.Status400BadRequest);
        }
        // The change the person made on the page: the roles ticked that were not held when it was shown are granted, those held
        // then and no longer ticked are removed (a change made meanwhile by someone else is left as it is).
        var ticked = Checked(form, "roles").ToList();
        var shown = Checked(form, "held").ToList();
        var request = new UpdatePrincipalRequest(form.ContainsKey("displayName") ? form["displayName"].ToString() : null,
            [.. ticked.Except(shown)], [.. shown.Except(ticked)]);
        return Answer(session, id, await PrincipalCommands.UpdateAsync(services.Write, services.Keys, id, request, session.User, ct), "saved");
    }

    public static async Task<IResult> DisableAsync(string id, HttpContext context, [AsParameters] ActionServices services, CancellationToken ct)
    {
        var (session, form, refusal) = await ConsoleApi.PostedAsync(context, services.Sessions, services.Authorization, Permissions.KeysManage,
            s => s.Key.Deployments is null, Forbidden, ct);
        if (refusal is not null || session is null || form is null)
        {
            return refusal!;
        }
        if (form["confirm"] != "yes")
        {
            return NotChanged(session, id, "Disabling a principal needs its confirmation: tick the box.", StatusCodes.Status400BadRequest);
        }
        return Answer(session, id, await PrincipalCommands.UpdateAsync(services.Write, services.Keys, id, new UpdatePrincipalRequest(Disabled: true), session.User, ct),
            "disabled");
    }

    private static IResult Answer(ConsoleSession session, string id, PrincipalOutcome outcome, string done) => outcome switch
    {
        { Principal: { } changed } => Results.Redirect($"{Path}/{Uri.EscapeDataString(changed.Id)}?done={done}"),
        { Invalid: { } invalid } => NotChanged(session, id, FormText.Describe(invalid), StatusCodes.Status400BadRequest),
        { Status: StatusCodes.Status404NotFound } => ConsoleApi.NotFound(session, $"There is no principal '{ClientText.Echo(id)}'."),
        _ => NotChanged(session, id, outcome.Detail, outcome.Status),
    };

    private static IEnumerable<string> Checked(IFormCollection form, string field) => form[field].Select(r => r ?? "").Where(r => r.Length > 0).Distinct();

    private static string Done(string? done) => done switch
    {
        "created" => """<p role="status" class="done">Created.</p>""",
        "saved" => """<p role="status" class="done">Saved: the roles below are in force.</p>""",
        "disabled" => """<p role="status" class="done">Disabled: its keys are refused from now on.</p>""",
        _ => "",
    };

    private static IResult NotChanged(ConsoleSession session, string id, string? problem, int status)
    {
        var main = $"""
            <p><a href="{Path}">Principals</a> › <a href="{Path}/{E(Uri.EscapeDataString(id))}">{E(ClientText.Echo(id))}</a></p>
            <h1>Not changed</h1>
            <p role="alert">{E(problem ?? "refused")}</p>
            <p><a href="{Path}/{E(Uri.EscapeDataString(id))}">Back to the principal</a></p>
            """;
        return ConsoleApi.HtmlResult(Page("Not changed", main, session, "principals"), status);
    }

    private static IResult NotCreated(ConsoleSession session, string? problem, int status, CreatePrincipalRequest posted)
    {
        var main = $"""
            <p><a href="{Path}">Principals</a> › new principal</p>
            <h1>Principal not created</h1>
            <p role="alert">{E(problem ?? "refused")}</p>
            {CreateForm(session, posted)}
            """;
        return ConsoleApi.HtmlResult(Page("Principal not created", main, session, "principals"), status);
    }

    private static string CreateForm(ConsoleSession session, CreatePrincipalRequest? posted)
    {
        var kinds = string.Concat(PrincipalKinds.All.Select(k => $"""<option value="{E(k)}"{(posted?.Kind == k ? " selected" : "")}>{E(k)}</option>"""));
        var checks = string.Concat(Roles.All.Select(r =>
            $"""<label class="check"><input type="checkbox" name="roles" value="{E(r)}"{(posted?.Roles?.Contains(r) == true ? " checked" : "")}> {E(r)}{(SeparationOfDuties.IsApprovalRole(r) ? " <span class=\"empty\">(people only)</span>" : "")}</label>"""));
        return $"""
            <form id="create-principal" class="stack" method="post" action="{Path}">
            {Csrf(session)}
            <label for="principal-kind">Kind<select id="principal-kind" name="kind">{kinds}</select></label>
            <label for="principal-identity">Identity (e-mail or subject)<input id="principal-identity" name="identity" required maxlength="{PrincipalCommands.MaxIdentityLength}" value="{E(ClientText.Bound(posted?.Identity, 400))}" autocomplete="off"></label>
            <label for="principal-name">Display name (optional)<input id="principal-name" name="displayName" maxlength="{PrincipalCommands.MaxDisplayNameLength}" value="{E(ClientText.Bound(posted?.DisplayName, 400))}"></label>
            <fieldset><legend>Roles</legend>{checks}</fieldset>
            <button type="submit">Create the principal</button>
            </form>
            """;
    }
}
