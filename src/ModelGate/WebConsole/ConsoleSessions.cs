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

/// <summary>A signed-in console session: the key it acts with, found again on every page, and its anti-forgery token.</summary>
public sealed record ConsoleSession(ClaimsPrincipal User, AuthenticatedKey Key, string CsrfToken, DateTimeOffset ExpiresAt);

/// <summary>
/// Console sessions without ASP.NET Core's data protection (which ModelGate leaves out: no key ring, no XML, no files under
/// the user's home): the session cookie holds the API key's SHA-256, its expiry and the session's anti-forgery token,
/// sealed with AES-256-GCM under the server's secret key (<see cref="SecretProtector"/>, shared by every replica of a
/// store). The key itself is never stored. Every page checks the key again (<see cref="ApiKeyService.ValidateHashAsync"/>),
/// so a revoked or expired key, or a disabled principal, ends the session at the next request; the user acts with exactly
/// the roles and scope the key has through the REST API. The cookie is HttpOnly, SameSite=Strict, Secure on HTTPS.
/// Every form carries the session's token, compared in constant time on every POST.
/// </summary>
public sealed class ConsoleSessions(SecretProtector secrets, ApiKeyService keys, TimeProvider time, IOptions<ConsoleOptions> options)
{
    public const string CookieName = "modelgate_console";
    public const string CsrfField = "_csrf";
    private const string Version = "s1";

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
        var csrf = Base64Url(RandomNumberGenerator.GetBytes(24));
        var sealedValue = secrets.Protect(string.Join('|', Version, ApiKeyService.Hash(apiKey.Trim()), expires.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture), csrf));
        context.Response.Cookies.Append(CookieName, sealedValue, new CookieOptions
        {
            HttpOnly = true,
            SameSite = SameSiteMode.Strict,
            Secure = context.Request.IsHttps,
            Path = "/",
            Expires = expires,
            IsEssential = true,
        });
        return key;
    }

    /// <summary>The request's session, or null: no cookie, one that does not open, has expired, or whose key no longer validates.</summary>
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
        if (parts is not [Version, var hash, var expiresText, var csrf] ||
            !long.TryParse(expiresText, NumberStyles.None, CultureInfo.InvariantCulture, out var expiresUnix))
        {
            return null;
        }
        var expires = DateTimeOffset.FromUnixTimeSeconds(expiresUnix);
        if (expires <= time.GetUtcNow() || await keys.ValidateHashAsync(hash, cancellationToken) is not { } key)
        {
            return null;
        }
        return new ConsoleSession(key.Principal, key, csrf, expires);
    }

    public static void SignOut(HttpContext context) =>
        context.Response.Cookies.Delete(CookieName, new CookieOptions { Path = "/", HttpOnly = true, SameSite = SameSiteMode.Strict, Secure = context.Request.IsHttps });

    /// <summary>Whether a posted form carries the session's anti-forgery token.</summary>
    public static bool CsrfValid(ConsoleSession session, IFormCollection form) =>
        form.TryGetValue(CsrfField, out var given) && given.Count == 1 && given[0] is { } token &&
        CryptographicOperations.FixedTimeEquals(System.Text.Encoding.UTF8.GetBytes(token), System.Text.Encoding.UTF8.GetBytes(session.CsrfToken));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
