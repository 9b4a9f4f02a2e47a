using System.Security.Claims;
using System.Text;
using Microsoft.AspNetCore.Authorization;
using ModelGate.Client;
using ModelGate.Security;
using static ModelGate.WebConsole.Html;

namespace ModelGate.WebConsole;

/// <summary>
/// The web console, served at <c>/console</c> by the all-in-one and control roles: server-rendered HTML pages over the same
/// services the REST API uses, each checked with the REST API's authorization policy for the same act, so nothing is
/// reachable through it that the signed-in key cannot do by API. <c>GET /</c> leads to it.
/// </summary>
public static class ConsoleApi
{
    public static IServiceCollection AddModelGateConsole(this IServiceCollection services)
    {
        services.AddOptions<ConsoleOptions>().BindConfiguration(ConsoleOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<ConsoleSessions>();
        services.AddScoped<Catalog>();
        services.AddScoped<DashboardQueries>();
        return services;
    }

    public static IEndpointRouteBuilder MapConsole(this IEndpointRouteBuilder app)
    {
        // The console authenticates with its own session cookie (ConsoleSessions), not a bearer: its endpoints are anonymous
        // to the API's schemes and check the session, then the policy, themselves.
        app.MapGet("/", async (HttpContext context, ConsoleSessions sessions, CancellationToken ct) =>
            Results.Redirect(await sessions.ReadAsync(context, ct) is null ? "/console/sign-in" : "/console")).AllowAnonymous().ExcludeFromDescription();
        var console = app.MapGroup("/console").AllowAnonymous().ExcludeFromDescription();
        console.MapGet("/console.css", (HttpContext context) =>
        {
            context.Response.Headers.CacheControl = "public, max-age=3600";
            return Results.Text(Styles, "text/css; charset=utf-8");
        });
        console.MapGet("/sign-in", (OidcCodeFlow sso) => HtmlResult(SignInPage(null, sso.Available), StatusCodes.Status200OK));
        console.MapPost("/sign-in", SignInAsync).DisableAntiforgery();
        console.MapPost("/sign-out", SignOutAsync).DisableAntiforgery();
        console.MapOidcSignIn();
        console.MapGet("/", CatalogPageAsync);
        console.MapGet("/models/{name}", VersionPages.ModelAsync);
        console.MapGet("/models/{name}/versions/{version}", VersionPages.VersionAsync);
        console.MapGet("/models/{name}/compare", VersionPages.CompareAsync);
        console.MapPost("/models/{name}/versions/{version}/approve", VersionPages.ApproveAsync).DisableAntiforgery();
        console.MapGet("/deployments", DeploymentPages.ListAsync);
        console.MapGet("/audit", AuditPage.ShowAsync);
        console.MapGet("/alerts", AlertsPage.ShowAsync);
        console.MapPost("/alerts/silences", AlertsPage.SilenceAsync).DisableAntiforgery();
        console.MapGet("/deployments/{name}", DeploymentPages.ShowAsync);
        console.MapPost("/deployments/{name}/rollback", DeploymentPages.RollbackAsync).DisableAntiforgery();
        console.MapPost("/deployments/{name}/slo", SloForm.SetAsync).DisableAntiforgery();
        console.MapKeysPages().MapPrincipalsPages();
        console.MapDeploymentPages();
        Dashboards.Map(console);
        // Any other address under /console: the console's own "not found" page (signed out: to sign-in), not the API's 401.
        console.MapGet("/{**rest}", async (HttpContext context, ConsoleSessions sessions, CancellationToken ct) =>
            await sessions.ReadAsync(context, ct) is { } session ? NotFound(session, "There is no such page in the console.") : Results.Redirect("/console/sign-in"));
        return app;
    }

    /// <summary>The stylesheet served: the layout's, then each part's own (charts, …).</summary>
    private static readonly string Styles = string.Join('\n', Stylesheet, Charts.Stylesheet, KeysPages.Stylesheet, DeploymentPages.Stylesheet, Dashboards.Stylesheet,
        OidcSignInPages.Stylesheet, VersionEvidence.Stylesheet);

    internal static IResult HtmlResult(string html, int status) => Results.Content(html, "text/html; charset=utf-8", Encoding.UTF8, status);

    internal static string SignInPage(string? error, bool singleSignOn) => Page("Sign in", $"""
        <div class="card">
        <h1>Sign in</h1>
        {(error is null ? "" : $"""<p role="alert">{E(error)}</p>""")}
        {OidcSignInPages.Button(singleSignOn)}
        <form id="sign-in" method="post" action="/console/sign-in">
        <label for="apiKey">API key<input id="apiKey" name="apiKey" type="password" autocomplete="current-password" required maxlength="256"></label>
        <button type="submit">Sign in</button>
        </form>
        </div>
        """, null);

    private static async Task<IResult> SignInAsync(HttpContext context, ConsoleSessions sessions, OidcCodeFlow sso, CancellationToken ct)
    {
        if (!context.Request.HasFormContentType)
        {
            return HtmlResult(SignInPage("Sign in with the form.", sso.Available), StatusCodes.Status400BadRequest);
        }
        if (FromAnotherSite(context))
        {
            return HtmlResult(SignInPage("Sign in from this console's own page.", sso.Available), StatusCodes.Status403Forbidden);
        }
        var form = await context.Request.ReadFormAsync(ct);
        var key = form["apiKey"].ToString();
        if (key.Length is 0 or > 256 || await sessions.SignInAsync(context, key, ct) is null)
        {
            return HtmlResult(SignInPage("That API key was refused: unknown, revoked or expired.", sso.Available), StatusCodes.Status401Unauthorized);
        }
        return Results.Redirect("/console");
    }

    /// <summary>
    /// Login CSRF: a page elsewhere must not sign this browser in (or start a sign-in). Browsers name the page that posted in
    /// Origin; a post from another origin is refused whatever the cookie's SameSite would have done.
    /// </summary>
    internal static bool FromAnotherSite(HttpContext context) =>
        context.Request.Headers.Origin is [{ } origin] && origin != "null" &&
        (!Uri.TryCreate(origin, UriKind.Absolute, out var from) || !string.Equals(from.Authority, context.Request.Host.Value, StringComparison.OrdinalIgnoreCase));

    private static async Task<IResult> SignOutAsync(HttpContext context, ConsoleSessions sessions, IAuthorizationService authorization, CancellationToken ct)
    {
        var (_, _, refusal) = await PostedAsync(context, sessions, authorization, null, _ => true, "", ct);
        if (refusal is not null)
        {
            return refusal;
        }
        ConsoleSessions.SignOut(context);
        return Results.Redirect("/console/sign-in");
    }

    /// <summary>The session and whether its key may do what <paramref name="policy"/> allows (the REST API's policies); a redirect to sign in without one.</summary>
    internal static async Task<(ConsoleSession? Session, IResult? Refusal)> AuthorizeAsync(HttpContext context, ConsoleSessions sessions, IAuthorizationService authorization,
        string policy, bool scopedKeysAllowed, CancellationToken ct)
    {
        var session = await sessions.ReadAsync(context, ct);
        if (session is null)
        {
            ConsoleSessions.SignOut(context);
            return (null, Results.Redirect("/console/sign-in"));
        }
        context.User = session.User;
        if (!(await authorization.AuthorizeAsync(session.User, policy)).Succeeded || (!scopedKeysAllowed && session.Key.Deployments is not null))
        {
            return (session, Forbidden(session, "Your key's roles do not allow this page.", StatusCodes.Status403Forbidden));
        }
        return (session, null);
    }

    /// <summary>
    /// What every action (a POST) checks first: a session (else to sign-in), the form's anti-forgery token (400), and, when a
    /// <paramref name="policy"/> is named, the REST API's policy for the act and the key's scope (<paramref name="inScope"/>; 403).
    /// </summary>
    internal static async Task<(ConsoleSession? Session, IFormCollection? Form, IResult? Refusal)> PostedAsync(HttpContext context, ConsoleSessions sessions,
        IAuthorizationService authorization, string? policy, Func<ConsoleSession, bool> inScope, string forbidden, CancellationToken ct)
    {
        var session = await sessions.ReadAsync(context, ct);
        if (session is null)
        {
            return (null, null, Results.Redirect("/console/sign-in"));
        }
        context.User = session.User;
        var form = context.Request.HasFormContentType ? await context.Request.ReadFormAsync(ct) : null;
        if (form is null || !ConsoleSessions.CsrfValid(session, form))
        {
            return (session, null, Forbidden(session, "The form's anti-forgery token is missing or wrong: reload the page and try again.", StatusCodes.Status400BadRequest));
        }
        if (policy is not null && (!(await authorization.AuthorizeAsync(session.User, policy)).Succeeded || !inScope(session)))
        {
            return (session, null, Forbidden(session, forbidden, StatusCodes.Status403Forbidden));
        }
        return (session, form, null);
    }

    internal static IResult NotFound(ConsoleSession session, string message) =>
        HtmlResult(Page("Not found", $"""<h1>Not found</h1><p role="alert">{E(message)}</p><p><a href="/console">Back to the catalog</a></p>""", session),
            StatusCodes.Status404NotFound);

    internal static IResult Refused(ConsoleSession session, string message, int status) => Forbidden(session, message, status);

    private static IResult Forbidden(ConsoleSession session, string message, int status) =>
        HtmlResult(Page("Not allowed", $"""<h1>Not allowed</h1><p role="alert">{E(message)}</p><p><a href="/console">Back to the catalog</a></p>""", session), status);

    private static async Task<IResult> CatalogPageAsync(HttpContext context, ConsoleSessions sessions, IAuthorizationService authorization, Catalog catalog,
        string? q, string? tier, string? task, CancellationToken ct)
    {
        var (session, refusal) = await AuthorizeAsync(context, sessions, authorization, Permissions.Read, scopedKeysAllowed: true, ct);
        if (refusal is not null)
        {
            return refusal;
        }
        tier = RiskTiers.All.Contains(tier) ? tier : null;
        task = ModelTasks.All.Contains(task) ? task : null;
        q = q is { Length: > 200 } ? q[..200] : q;
        var entries = await catalog.ListAsync(new CatalogFilter(q, tier, task), ct);
        string Options(IEnumerable<string> values, string? selected, string any) =>
            $"""<option value="">{E(any)}</option>""" + string.Concat(values.Select(v => $"""<option value="{E(v)}"{(v == selected ? " selected" : "")}>{E(v)}</option>"""));
        var rows = new StringBuilder();
        foreach (var m in entries)
        {
            rows.Append($"""<tr data-model="{E(m.Name)}"><th scope="row"><a href="/console/models/{E(m.Name)}">{E(m.Name)}</a></th><td>{E(m.Owner)}</td><td class="tier-{E(m.RiskTier)}">{E(m.RiskTier)}</td><td>{E(m.Task)}</td>""");
            foreach (var stage in Catalog.Columns)
            {
                var versions = m.VersionsByStage[stage];
                rows.Append($"""<td data-stage="{E(stage)}">{(versions.Count == 0 ? """<span class="empty">–</span>""" : string.Join(" ", versions.Select(v => $"""<a class="tag" href="/console/models/{E(m.Name)}/versions/{E(v)}">{E(v)}</a>""")))}</td>""");
            }
            rows.Append($"""<td>{string.Join(" ", m.Tags.Select(t => $"""<span class="tag">{E(t)}</span>"""))}</td></tr>""");
        }
        var main = $"""
            <h1>Catalog</h1>
            <form id="catalog-search" class="filters" method="get" action="/console" role="search">
            <label for="q">Search<input id="q" name="q" type="search" value="{E(q)}" placeholder="name, owner or tag" maxlength="200"></label>
            <label for="tier">Risk tier<select id="tier" name="tier">{Options(RiskTiers.All, tier, "any")}</select></label>
            <label for="task">Task<select id="task" name="task">{Options(ModelTasks.All, task, "any")}</select></label>
            <button type="submit">Filter</button>
            </form>
            <p>{entries.Count} model{(entries.Count == 1 ? "" : "s")}</p>
            <div class="scroll">
            <table id="catalog">
            <caption class="skip">Models with the versions in each stage</caption>
            <thead><tr><th scope="col">Model</th><th scope="col">Owner</th><th scope="col">Risk</th><th scope="col">Task</th>{string.Concat(Catalog.Columns.Select(s => $"""<th scope="col">{E(s)}</th>"""))}<th scope="col">Tags</th></tr></thead>
            <tbody>{rows}</tbody>
            </table>
            </div>
            """;
        return HtmlResult(Page("Catalog", main, session, "catalog"), StatusCodes.Status200OK);
    }
}
