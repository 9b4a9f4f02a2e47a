using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Security.Claims;
using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using ModelGate.Security;

namespace ModelGate.WebConsole;

/// <summary>The web console's settings (section <c>Console</c>).</summary>
public sealed class ConsoleOptions
{
    public const string Section = "Console";

    /// <summary>How long a sign-in lasts (the session cookie's lifetime); at most 7 days.</summary>
    [Range(typeof(TimeSpan), "00:05:00", "7.00:00:00")]
    public TimeSpan SessionLifetime { get; set; } = TimeSpan.FromHours(8);
}

/// <summary>How a console session was signed in.</summary>
public enum ConsoleSignInMethod
{
    /// <summary>With an API key: the session acts with that key's roles and scope.</summary>
    ApiKey,

    /// <summary>With OpenID Connect: the session acts as the person's principal, with its roles and no deployment scope.</summary>
    SingleSignOn,
}

/// <summary>
/// A signed-in console session: who acts (<see cref="User"/>: the REST API's user for the key, or for the person signed in
/// with single sign-on), the scope it acts in (<see cref="Key"/>), its anti-forgery token and its expiry.
/// </summary>
/// <param name="Key">
/// For a key's session, the key (found again on every page). For single sign-on, a stand-in that carries no key: no scope
/// (<c>Deployments</c> null: a person is never scoped), <c>Id</c> empty, <c>Name</c> and roles the principal's. Pages read
/// it for the scope only; <see cref="ApiKey"/> is the key, when there is one.
/// </param>
public sealed record ConsoleSession(ClaimsPrincipal User, AuthenticatedKey Key, string CsrfToken, DateTimeOffset ExpiresAt)
{
    public ConsoleSignInMethod Method { get; init; } = ConsoleSignInMethod.ApiKey;

    /// <summary>The API key this session was signed in with; null for a single sign-on session.</summary>
    public AuthenticatedKey? ApiKey => Method == ConsoleSignInMethod.ApiKey ? Key : null;
}

/// <summary>
/// Console sessions without ASP.NET Core's data protection (which ModelGate leaves out: no key ring, no XML, no files under
/// the user's home): the session cookie holds either the API key's SHA-256 or, for a person signed in with OpenID Connect,
/// their principal's id, then the session's expiry and anti-forgery token, sealed with AES-256-GCM under the server's secret
/// key (<see cref="SecretProtector"/>, shared by every replica of a store). The key itself is never stored. Every page finds
/// the key again (<see cref="ApiKeyService.ValidateHashAsync"/>) or the principal (<see cref="OidcPrincipals.FindAsync"/>),
/// so a revoked or expired key, or a disabled principal, ends the session at the next request; the user acts with exactly
/// the roles and scope the key has through the REST API, or with the roles the principal holds now. The cookie is HttpOnly,
/// SameSite=Strict, Secure on HTTPS. Every form carries the session's token, compared in constant time on every POST.
/// </summary>
public sealed class ConsoleSessions(SecretProtector secrets, ApiKeyService keys, OidcPrincipals principals, IOptions<OidcOptions> oidc,
    TimeProvider time, IOptions<ConsoleOptions> options)
{
    public const string CookieName = "modelgate_console";
    public const string CsrfField = "_csrf";
    private const string KeyVersion = "s1";
    private const string PersonVersion = "p1";

    /// <summary>Signs in with <paramref name="apiKey"/>: the key as the REST API would accept it, and the cookie set; null when it is refused.</summary>
    public async Task<AuthenticatedKey?> SignInAsync(HttpContext context, string apiKey, CancellationToken cancellationToken)
    {
        var key = await keys.ValidateAsync(apiKey.Trim(), cancellationToken);
        if (key is null)
        {
            return null;
        }
        var expires = time.GetUtcNow() + options.Value.SessionLifetime;
        if (key.ExpiresAt is { } keyExpires && keyExpires < expires.UtcDateTime)
        {
            expires = new DateTimeOffset(DateTime.SpecifyKind(keyExpires, DateTimeKind.Utc));
        }
        Issue(context, KeyVersion, ApiKeyService.Hash(apiKey.Trim()), expires);
        return key;
    }

    /// <summary>
    /// Signs in the person a single sign-on named (<see cref="OidcCodeFlow"/>): a session of <see cref="ConsoleOptions.SessionLifetime"/>,
    /// not bounded by the id_token's expiry (the token proves the sign-in; the principal is checked on every page instead).
    /// </summary>
    public DateTimeOffset SignIn(HttpContext context, OidcPrincipal principal)
    {
        var expires = time.GetUtcNow() + options.Value.SessionLifetime;
        Issue(context, PersonVersion, principal.Id, expires);
        return expires;
    }

    private void Issue(HttpContext context, string version, string subject, DateTimeOffset expires)
    {
        var csrf = Base64Url(RandomNumberGenerator.GetBytes(24));
        var sealedValue = secrets.Protect(string.Join('|', version, subject, expires.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture), csrf));
        context.Response.Cookies.Append(CookieName, sealedValue, new CookieOptions
        {
            HttpOnly = true,
            SameSite = SameSiteMode.Strict,
            Secure = context.Request.IsHttps,
            Path = "/",
            Expires = expires,
            IsEssential = true,
        });
    }

    /// <summary>
    /// The request's session, or null: no cookie, one that does not open, has expired, or whose key no longer validates or
    /// whose principal is disabled (or single sign-on no longer configured).
    /// </summary>
    public async Task<ConsoleSession?> ReadAsync(HttpContext context, CancellationToken cancellationToken)
    {
        if (!context.Request.Cookies.TryGetValue(CookieName, out var cookie) || string.IsNullOrEmpty(cookie) || cookie.Length > 4096)
        {
            return null;
        }
        string[] parts;
        try
        {
            parts = secrets.Unprotect(cookie).Split('|');
        }
        catch (Exception e) when (e is CryptographicException or FormatException or ArgumentException)
        {
            return null;
        }
        if (parts is not [var version and (KeyVersion or PersonVersion), var subject, var expiresText, var csrf] ||
            !long.TryParse(expiresText, NumberStyles.None, CultureInfo.InvariantCulture, out var expiresUnix))
        {
            return null;
        }
        var expires = DateTimeOffset.FromUnixTimeSeconds(expiresUnix);
        if (expires <= time.GetUtcNow())
        {
            return null;
        }
        if (version == KeyVersion)
        {
            return await keys.ValidateHashAsync(subject, cancellationToken) is { } key ? new ConsoleSession(key.Principal, key, csrf, expires) : null;
        }
        if (!oidc.Value.Enabled || (await principals.FindAsync(subject, cancellationToken)).Principal is not { } person)
        {
            return null;
        }
        var scope = new AuthenticatedKey("", person.Identity, person.Roles, null, PrincipalId: person.Id, PrincipalIdentity: person.Identity);
        return new ConsoleSession(OidcAuthentication.User(person, oidc.Value.Issuer!), scope, csrf, expires) { Method = ConsoleSignInMethod.SingleSignOn };
    }

    public static void SignOut(HttpContext context) =>
        context.Response.Cookies.Delete(CookieName, new CookieOptions { Path = "/", HttpOnly = true, SameSite = SameSiteMode.Strict, Secure = context.Request.IsHttps });

    /// <summary>Whether a posted form carries the session's anti-forgery token.</summary>
    public static bool CsrfValid(ConsoleSession session, IFormCollection form) =>
        form.TryGetValue(CsrfField, out var given) && given.Count == 1 && given[0] is { } token &&
        CryptographicOperations.FixedTimeEquals(System.Text.Encoding.UTF8.GetBytes(token), System.Text.Encoding.UTF8.GetBytes(session.CsrfToken));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
