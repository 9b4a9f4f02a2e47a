using Microsoft.AspNetCore.Mvc;
using ModelGate.Security;

namespace ModelGate.WebConsole;

/// <summary>
/// The console's single sign-on (OpenID Connect, when configured): the sign-in page's button posts to
/// <c>/console/oidc/sign-in</c>, which sends the browser to the identity provider with a short-lived cookie holding the sealed
/// pending sign-in (state, nonce, PKCE verifier); the provider sends it back to <c>/console/oidc/callback</c>, which
/// completes the sign-in (<see cref="OidcCodeFlow"/>) and starts a console session as the person's principal, or shows the
/// sign-in page with the reason, with no session.
/// </summary>
public static class OidcSignInPages
{
    /// <summary>
    /// The pending sign-in's cookie: SameSite=Lax, as the provider's redirect back is a cross-site navigation; only sent to the
    /// callback's path; deleted by the callback whatever its outcome.
    /// </summary>
    public const string PendingCookie = "modelgate_oidc";

    private const string CookiePath = "/console/oidc";

    public static RouteGroupBuilder MapOidcSignIn(this RouteGroupBuilder console)
    {
        console.MapPost("/oidc/sign-in", StartAsync).DisableAntiforgery();
        console.MapGet("/oidc/callback", CallbackAsync);
        return console;
    }

    /// <summary>The sign-in page's button, when single sign-on is configured.</summary>
    internal static string Button(bool available) => !available ? "" : """
        <form id="sso" method="post" action="/console/oidc/sign-in">
        <button type="submit">Sign in with single sign-on</button>
        </form>
        <p class="or">or with an API key</p>
        """;

    public const string Stylesheet = """
        .card p.or { margin: 14px 0; text-align: center; color: var(--muted); font-size: .85rem; }
        """;

    private static async Task<IResult> StartAsync(HttpContext context, OidcCodeFlow flow, CancellationToken ct)
    {
        if (!flow.Available)
        {
            return ConsoleApi.HtmlResult(ConsoleApi.SignInPage("Single sign-on is not configured on this server: sign in with an API key.", false),
                StatusCodes.Status404NotFound);
        }
        // As for the key's sign-in: a page elsewhere must not start sign-ins in this browser.
        if (ConsoleApi.FromAnotherSite(context))
        {
            return ConsoleApi.HtmlResult(ConsoleApi.SignInPage("Sign in from this console's own page.", true), StatusCodes.Status403Forbidden);
        }
        var start = await flow.StartAsync(flow.RedirectUri(context.Request), ct);
        if (start.Failure is not null)
        {
            return ConsoleApi.HtmlResult(ConsoleApi.SignInPage($"Single sign-on is not available: {start.Reason}.", true), StatusCodes.Status502BadGateway);
        }
        context.Response.Cookies.Append(PendingCookie, start.Pending!, new CookieOptions
        {
            HttpOnly = true,
            SameSite = SameSiteMode.Lax,
            Secure = context.Request.IsHttps,
            Path = CookiePath,
            Expires = start.ExpiresAt,
            IsEssential = true,
        });
        return Results.Redirect(start.AuthorizationUrl!);
    }

    private static async Task<IResult> CallbackAsync(HttpContext context, OidcCodeFlow flow, ConsoleSessions sessions,
        string? code, string? state, string? error, [FromQuery(Name = "error_description")] string? errorDescription, CancellationToken ct)
    {
        context.Request.Cookies.TryGetValue(PendingCookie, out var pending);
        // One answer per sign-in: the pending sign-in is gone whatever happens next.
        context.Response.Cookies.Delete(PendingCookie, new CookieOptions { Path = CookiePath, HttpOnly = true, SameSite = SameSiteMode.Lax, Secure = context.Request.IsHttps });
        var result = await flow.CompleteAsync(pending, state, code, error, errorDescription, ct);
        if (result.Principal is not { } principal)
        {
            var status = result.Failure switch
            {
                OidcSignInFailure.NotConfigured => StatusCodes.Status404NotFound,
                OidcSignInFailure.StateMismatch or OidcSignInFailure.MissingCode => StatusCodes.Status400BadRequest,
                OidcSignInFailure.PrincipalRefused => StatusCodes.Status403Forbidden,
                OidcSignInFailure.ProviderUnavailable => StatusCodes.Status502BadGateway,
                _ => StatusCodes.Status401Unauthorized,
            };
            return ConsoleApi.HtmlResult(ConsoleApi.SignInPage($"Single sign-on failed: {result.Reason}.", flow.Available), status);
        }
        sessions.SignIn(context, principal);
        // A page that moves on by itself (Refresh), not a redirect: the session cookie is SameSite=Strict and this response ends
        // a navigation the provider's site started, so a browser would not send it along a redirect from here; a navigation
        // from this page is same-site.
        context.Response.Headers["Refresh"] = "0; url=/console";
        return ConsoleApi.HtmlResult(Html.Page("Signed in", $"""
            <div class="card" id="signed-in">
            <h1>Signed in</h1>
            <p>Signed in as <strong data-testid="sso-identity">{Html.E(principal.Identity)}</strong>.</p>
            <p><a id="continue" href="/console">Continue to the console</a></p>
            </div>
            """, null), StatusCodes.Status200OK);
    }
}
