using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Authorization;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Security;
using ModelGate.Storage;
using ModelGate.Storage.Security;
using static ModelGate.WebConsole.Html;

namespace ModelGate.WebConsole;

/// <summary>
/// API keys, for administrators with unscoped keys (the REST API's <see cref="Permissions.KeysManage"/>): the list, a key's
/// page, creating a key (its secret shown once, on the answer to the form's post, never stored or put in a URL) and revoking
/// one behind a confirmation. Both acts call <see cref="KeyCommands"/>, as the REST API does, and are audited alike.
/// </summary>
public static class KeysPages
{
    public const string Path = "/console/keys";

    public static RouteGroupBuilder MapKeysPages(this RouteGroupBuilder console)
    {
        console.MapGet("/keys", ListAsync);
        console.MapPost("/keys", CreateAsync).DisableAntiforgery();
        console.MapGet("/keys/{id}", ShowAsync);
        console.MapPost("/keys/{id}/revoke", RevokeAsync).DisableAntiforgery();
        return console;
    }

    public sealed record Services(ModelGateDbContext Db, ConsoleSessions Sessions, IAuthorizationService Authorization, TimeProvider Time);

    public sealed record ActionServices(ConsoleSessions Sessions, IAuthorizationService Authorization, AuditedWrite Write, ApiKeyService Keys, TimeProvider Time,
        ModelGateDbContext Db);

    private const string Forbidden = "Your key's roles do not allow managing keys (administrators with a key not scoped to deployments).";

    /// <summary>The list's status filter: every key, or those active, expired or revoked.</summary>
    public static readonly IReadOnlyList<string> Statuses = ["active", "expired", "revoked"];

    public static async Task<IResult> ListAsync(HttpContext context, [AsParameters] Services services, string? status, CancellationToken ct)
    {
        var (session, refusal) = await ConsoleApi.AuthorizeAsync(context, services.Sessions, services.Authorization, Permissions.KeysManage, scopedKeysAllowed: false, ct);
        if (refusal is not null)
        {
            return refusal;
        }
        var keys = await KeyCommands.ListAsync(services.Db, ct);
        var principals = await services.Db.Principals.AsNoTracking().ToDictionaryAsync(p => p.Id, ct);
        var now = services.Time.GetUtcNow().UtcDateTime;
        status = Statuses.Contains(status) ? status : null;
        var shown = keys.Where(k => status is null || Status(k, now) == status).ToList();
        var rows = new StringBuilder();
        foreach (var k in shown)
        {
            var principal = principals.GetValueOrDefault(k.PrincipalId);
            rows.Append($"""
                <tr data-key="{E(k.Id)}" data-status="{Status(k, now)}"><th scope="row"><a href="{Path}/{E(k.Id)}">{E(k.Name)}</a></th><td><code>{E(k.Id)}</code><br><code>{E(k.Prefix)}…</code></td>
                <td>{PrincipalLink(k.PrincipalId, principal)}</td><td data-roles>{RoleTags(k.Roles)}</td><td>{Scope(k)}</td>
                <td>{When(k.CreatedAt)}</td><td>{(k.ExpiresAt is null ? "never" : When(k.ExpiresAt))}</td><td>{StatusText(k, now)}</td></tr>
                """);
        }
        var main = $"""
            <h1>API keys</h1>
            <p><a href="#create-key">Create a key</a> · Each key acts for a principal and carries roles its principal holds. The secret is shown once, when the key is made.</p>
            <form id="keys-filter" class="filters" method="get" action="{Path}">
            <label for="key-status">Status<select id="key-status" name="status"><option value="">any</option>{string.Concat(Statuses.Select(x => $"""<option value="{x}"{(x == status ? " selected" : "")}>{x}</option>"""))}</select></label>
            <button type="submit">Filter</button>
            </form>
            <p>{shown.Count} of {keys.Count} key{(keys.Count == 1 ? "" : "s")}</p>
            <div class="scroll">
            <table id="keys">
            <caption class="skip">API keys, oldest first</caption>
            <thead><tr><th scope="col">Name</th><th scope="col">Id and prefix</th><th scope="col">Principal</th><th scope="col">Roles</th><th scope="col">Deployments</th><th scope="col">Created (UTC)</th><th scope="col">Expires</th><th scope="col">Status</th></tr></thead>
            <tbody>{rows}</tbody>
            </table>
            </div>
            <p class="empty">When a key was last used is not stored; a key's page shows its last data-plane request from the request log.</p>
            <h2 id="create">Create a key</h2>
            {CreateForm(session!, await PrincipalOptionsAsync(services.Db, ct), null)}
            """;
        return ConsoleApi.HtmlResult(Page("API keys", main, session, "keys"), StatusCodes.Status200OK);
    }

    public static async Task<IResult> ShowAsync(string id, HttpContext context, [AsParameters] Services services, string? done, CancellationToken ct)
    {
        var (session, refusal) = await ConsoleApi.AuthorizeAsync(context, services.Sessions, services.Authorization, Permissions.KeysManage, scopedKeysAllowed: false, ct);
        if (refusal is not null)
        {
            return refusal;
        }
        var key = await services.Db.ApiKeys.AsNoTracking().FirstOrDefaultAsync(k => k.Id == id, ct);
        if (key is null)
        {
            return ConsoleApi.NotFound(session!, $"There is no key '{ClientText.Echo(id)}'.");
        }
        var principal = await services.Db.Principals.AsNoTracking().FirstOrDefaultAsync(p => p.Id == key.PrincipalId, ct);
        var lastUsed = await services.Db.RequestLogs.AsNoTracking().Where(r => r.KeyId == key.Id).MaxAsync(r => (DateTime?)r.Time, ct);
        var now = services.Time.GetUtcNow().UtcDateTime;
        var main = new StringBuilder($"""
            <p><a href="{Path}">API keys</a> › {E(key.Name)}</p>
            <h1>{E(key.Name)}</h1>
            {(done == "revoked" ? """<p role="status" class="done">Revoked: the key is refused from now on.</p>""" : "")}
            <dl class="facts" id="key-facts" data-status="{Status(key, now)}">
            <dt>Id</dt><dd><code>{E(key.Id)}</code></dd>
            <dt>Prefix</dt><dd><code>{E(key.Prefix)}…</code></dd>
            <dt>Principal</dt><dd>{PrincipalLink(key.PrincipalId, principal)}</dd>
            <dt>Roles</dt><dd>{RoleTags(key.Roles)}</dd>
            <dt>Roles in effect</dt><dd>{(principal is null ? "none (no principal)" : RoleTags(string.Join(' ', ApiKeyService.EffectiveRoles(key.Roles, principal.Roles))))}</dd>
            <dt>Deployments</dt><dd>{Scope(key)}</dd>
            <dt>Limits</dt><dd>{Limits(key)}</dd>
            <dt>Created</dt><dd>{When(key.CreatedAt)} UTC by <code>{E(key.CreatedBy)}</code></dd>
            <dt>Expires</dt><dd>{(key.ExpiresAt is null ? "never" : When(key.ExpiresAt) + " UTC")}</dd>
            <dt>Status</dt><dd>{StatusText(key, now)}{(key.RevokedBy is null ? "" : $" by <code>{E(key.RevokedBy)}</code>")}</dd>
            <dt>Last data-plane request</dt><dd id="last-used">{(lastUsed is null ? "none in the request log" : When(lastUsed) + " UTC")}</dd>
            </dl>
            """);
        if (key.RevokedAt is null)
        {
            var own = session!.Key.Id == key.Id;
            main.Append($"""
                <h2>Revoke</h2>
                <form id="revoke-key" class="stack" method="post" action="{Path}/{E(key.Id)}/revoke">
                {Csrf(session)}
                <p>The key is refused at once, on the REST API, the data plane and in the console. A revoked key stays revoked.{(own ? " <strong>This is the key you are signed in with: revoking it signs you out.</strong>" : "")}</p>
                <label class="check"><input type="checkbox" name="confirm" value="yes" required> I confirm the revocation of {E(key.Name)}</label>
                <button type="submit" class="danger">Revoke the key</button>
                </form>
                """);
        }
        return ConsoleApi.HtmlResult(Page(key.Name, main.ToString(), session, "keys"), StatusCodes.Status200OK);
    }

    public static async Task<IResult> CreateAsync(HttpContext context, [AsParameters] ActionServices services, CancellationToken ct)
    {
        var (session, form, refusal) = await ConsoleApi.PostedAsync(context, services.Sessions, services.Authorization, Permissions.KeysManage,
            s => s.Key.Deployments is null, Forbidden, ct);
        if (refusal is not null || session is null || form is null)
        {
            return refusal!;
        }
        var posted = KeyForm.Read(form);
        DateTimeOffset? expires = null;
        if ((FormText.Problem(form) ?? ExpiryProblem(posted.Expires, out expires)) is { } problem)
        {
            return NotCreated(session, problem, StatusCodes.Status400BadRequest, posted, await PrincipalOptionsAsync(services.Db, ct));
        }
        var deployments = posted.Deployments.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var request = new CreateKeyRequest(posted.Name, posted.Roles, expires, deployments.Length == 0 ? null : deployments,
            Principal: posted.Principal.Length == 0 ? null : posted.Principal);
        var outcome = await KeyCommands.CreateAsync(services.Write, services.Keys, services.Time, request, session.User, ct);
        return outcome switch
        {
            { Key: { } key, Secret: { } secret } => Created(context, session, key, secret),
            { Invalid: { } invalid } => NotCreated(session, FormText.Describe(invalid), StatusCodes.Status400BadRequest, posted, await PrincipalOptionsAsync(services.Db, ct)),
            _ => NotCreated(session, outcome.Detail, outcome.Status, posted, await PrincipalOptionsAsync(services.Db, ct)),
        };
    }

    /// <summary>The form's expiry date (00:00 UTC that day; empty: none), or why it is not one.</summary>
    private static string? ExpiryProblem(string text, out DateTimeOffset? expires)
    {
        expires = null;
        if (text.Length == 0)
        {
            return null;
        }
        if (!DateTime.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var date))
        {
            return "expires: a date, yyyy-mm-dd";
        }
        expires = new DateTimeOffset(date, TimeSpan.Zero);
        return null;
    }

    public static async Task<IResult> RevokeAsync(string id, HttpContext context, [AsParameters] ActionServices services, CancellationToken ct)
    {
        var (session, form, refusal) = await ConsoleApi.PostedAsync(context, services.Sessions, services.Authorization, Permissions.KeysManage,
            s => s.Key.Deployments is null, Forbidden, ct);
        if (refusal is not null || session is null || form is null)
        {
            return refusal!;
        }
        if (form["confirm"] != "yes")
        {
            return ConsoleApi.Refused(session, "A revocation needs its confirmation: tick the box.", StatusCodes.Status400BadRequest);
        }
        var outcome = await KeyCommands.RevokeAsync(services.Write, services.Keys, id, session.User, ct);
        return outcome.Key is null
            ? ConsoleApi.NotFound(session, $"There is no key '{ClientText.Echo(id)}'.")
            : Results.Redirect($"{Path}/{Uri.EscapeDataString(id)}?done=revoked");
    }

    /// <summary>
    /// The new key's secret, once: on the answer to the post (never in a URL, so not in history or logs), which no cache keeps.
    /// </summary>
    private static IResult Created(HttpContext context, ConsoleSession session, ApiKeyEntity key, string secret)
    {
        context.Response.Headers.CacheControl = "no-store";
        context.Response.Headers.Pragma = "no-cache";
        var main = $"""
            <p><a href="{Path}">API keys</a> › {E(key.Name)}</p>
            <h1>Key created</h1>
            <div class="secret" id="new-key">
            <p role="status"><strong>Copy this key now.</strong> It is shown this once: ModelGate keeps only its hash and cannot show it again.</p>
            <label for="secret">API key for {E(key.Name)}<input id="secret" data-testid="secret" type="text" readonly value="{E(secret)}" spellcheck="false" autocomplete="off"></label>
            <p class="empty">Send it as <code>Authorization: Bearer …</code> (the REST API, the data plane), give it to the <code>modelgate</code> CLI as <code>MODELGATE_TOKEN</code>, or sign in to this console with it.</p>
            </div>
            <dl class="facts"><dt>Id</dt><dd><code>{E(key.Id)}</code></dd><dt>Roles</dt><dd>{RoleTags(key.Roles)}</dd><dt>Deployments</dt><dd>{Scope(key)}</dd>
            <dt>Expires</dt><dd>{(key.ExpiresAt is null ? "never" : When(key.ExpiresAt) + " UTC")}</dd></dl>
            <p><a href="{Path}/{E(key.Id)}">The key's page</a> · <a href="{Path}">All keys</a></p>
            """;
        return ConsoleApi.HtmlResult(Page("Key created", main, session, "keys"), StatusCodes.Status201Created);
    }

    private static IResult NotCreated(ConsoleSession session, string? problem, int status, KeyForm posted, IReadOnlyList<PrincipalEntity> principals)
    {
        var main = $"""
            <p><a href="{Path}">API keys</a> › new key</p>
            <h1>Key not created</h1>
            <p role="alert">{E(problem ?? "refused")}</p>
            {CreateForm(session, principals, posted)}
            """;
        return ConsoleApi.HtmlResult(Page("Key not created", main, session, "keys"), status);
    }

    /// <summary>What the create form posted (blank fields as empty strings, roles as checked).</summary>
    private sealed record KeyForm(string Name, string[] Roles, string Principal, string Deployments, string Expires)
    {
        public static KeyForm Read(IFormCollection form) => new(form["name"].ToString(), [.. form["roles"].Select(r => r ?? "").Where(r => r.Length > 0)],
            form["principal"].ToString().Trim(), form["deployments"].ToString(), form["expires"].ToString().Trim());
    }

    private static string CreateForm(ConsoleSession session, IReadOnlyList<PrincipalEntity> principals, KeyForm? posted)
    {
        // Long input is cut for echoing back: the page says what was wrong, it need not repeat 10 kB of it.
        static string Back(string? text) => E(ClientText.Bound(text, 400));
        var checks = string.Concat(Roles.All.Select(r =>
            $"""<label class="check"><input type="checkbox" name="roles" value="{E(r)}"{(posted?.Roles.Contains(r) == true ? " checked" : "")}> {E(r)}{(Lifecycle.SeparationOfDuties.IsApprovalRole(r) ? " <span class=\"empty\">(people only)</span>" : "")}</label>"""));
        var options = string.Concat(principals.Select(p => $"""<option value="{E(p.Identity)}">{E(p.Kind)}{(p.DisplayName is null ? "" : " · " + E(p.DisplayName))}</option>"""));
        return $"""
            <form id="create-key" class="stack" method="post" action="{Path}">
            {Csrf(session)}
            <label for="key-name">Name<input id="key-name" name="name" required maxlength="{KeyCommands.MaxNameLength}" value="{Back(posted?.Name)}"></label>
            <fieldset><legend>Roles</legend>{checks}</fieldset>
            <label for="key-principal">Principal (identity or id; empty: the key is its own service principal)<input id="key-principal" name="principal" list="principal-list" maxlength="{PrincipalCommands.MaxIdentityLength}" value="{Back(posted?.Principal)}" autocomplete="off"></label>
            <datalist id="principal-list">{options}</datalist>
            <label for="key-deployments">Deployments it may call (space-separated; empty: all)<input id="key-deployments" name="deployments" maxlength="2000" value="{Back(posted?.Deployments)}"></label>
            <label for="key-expires">Expires (00:00 UTC that day; empty: never)<input id="key-expires" name="expires" type="date" value="{Back(posted?.Expires)}"></label>
            <button type="submit">Create the key</button>
            </form>
            """;
    }

    /// <summary>The enabled principals a key may be made for, people first.</summary>
    private static async Task<IReadOnlyList<PrincipalEntity>> PrincipalOptionsAsync(ModelGateDbContext db, CancellationToken ct) =>
        await db.Principals.AsNoTracking().Where(p => p.DisabledAt == null && !p.Identity.StartsWith("key:"))
            .OrderByDescending(p => p.Kind == PrincipalKinds.Person).ThenBy(p => p.IdentityKey).Take(500).ToListAsync(ct);

    internal static string When(DateTime? time) => time?.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) ?? "–";

    internal static string RoleTags(string roles) =>
        roles.Split(' ', StringSplitOptions.RemoveEmptyEntries) is { Length: > 0 } list
            ? string.Join(" ", list.Select(r => $"""<span class="tag" data-role="{E(r)}">{E(r)}</span>"""))
            : """<span class="empty">none</span>""";

    internal static string PrincipalLink(string id, PrincipalEntity? principal) =>
        principal is null ? $"<code>{E(id)}</code>"
        : $"""<a href="{PrincipalsPages.Path}/{E(principal.Id)}">{E(principal.Identity)}</a>{(principal.DisabledAt is null ? "" : " <span class=\"bad\">(disabled)</span>")}""";

    private static string Scope(ApiKeyEntity k) =>
        k.Deployments is { Length: > 0 } d ? string.Join(" ", d.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(x => $"""<span class="tag">{E(x)}</span>""")) : "all";

    private static string Limits(ApiKeyEntity k)
    {
        var limits = new List<string>();
        if (k.RequestsPerMinute is { } rpm)
        {
            limits.Add($"{rpm.ToString(CultureInfo.InvariantCulture)} requests/min");
        }
        if (k.TokensPerMinute is { } tpm)
        {
            limits.Add($"{tpm.ToString(CultureInfo.InvariantCulture)} tokens/min");
        }
        if (k.CostBudget is { } budget)
        {
            limits.Add($"budget {budget.ToString("0.##", CultureInfo.InvariantCulture)}");
        }
        if (!k.AllowPinning)
        {
            limits.Add("no version pinning");
        }
        return limits.Count == 0 ? "none" : E(string.Join(", ", limits));
    }

    private static string Status(ApiKeyEntity k, DateTime now) => k.RevokedAt is not null ? "revoked" : k.ExpiresAt <= now ? "expired" : "active";

    private static string StatusText(ApiKeyEntity k, DateTime now) => Status(k, now) switch
    {
        "revoked" => $"""<span class="bad">revoked</span> {When(k.RevokedAt)}""",
        "expired" => """<span class="bad">expired</span>""",
        _ => "active",
    };

    /// <summary>The keys, principals and silence pages' own styles.</summary>
    public const string Stylesheet = """
        form.stack { display: flex; flex-direction: column; gap: 12px; align-items: flex-start; max-width: 640px; }
        form.stack label:not(.check) { width: 100%; } form.stack input:not([type=checkbox]), form.stack select { width: 100%; max-width: 520px; }
        form.stack fieldset { width: 100%; }
        button.danger { background: var(--bad); border-color: var(--bad); }
        .bad { color: var(--bad); font-weight: 600; }
        .secret { border: 2px solid #1a7f37; border-radius: 8px; padding: 12px 16px; margin-bottom: 16px; max-width: 720px; }
        .secret input { width: 100%; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
        tr[data-status=revoked], tr[data-enabled=false] { color: var(--muted); }
        table#keys code, table#principal-keys code { white-space: nowrap; overflow-wrap: normal; }
        code.alert-key { color: var(--muted); font-size: .8rem; }
        """;
}

/// <summary>What every admin form checks before its values reach a command: text without control characters.</summary>
internal static class FormText
{
    /// <summary>Why the form's text is not acceptable (null: it is); fields in <paramref name="multiLine"/> may hold line breaks and tabs.</summary>
    public static string? Problem(IFormCollection form, params string[] multiLine)
    {
        foreach (var (name, values) in form)
        {
            foreach (var value in values)
            {
                if (ClientText.Check(value, singleLine: !multiLine.Contains(name)) is { } why)
                {
                    return $"{ClientText.Echo(name)}: {why}";
                }
            }
        }
        return null;
    }

    public static string Describe(ValidationErrors invalid) =>
        string.Join("; ", invalid.ToDictionary().Select(e => $"{e.Key}: {string.Join(" ", e.Value.Select(v => ClientText.Bound(v, 400)))}"));
}
