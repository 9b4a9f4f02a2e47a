using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace ModelGate.Security;

/// <summary>Why a single sign-on did not sign anyone in.</summary>
public enum OidcSignInFailure
{
    /// <summary>Single sign-on is not configured for the console (no authorization and token endpoint).</summary>
    NotConfigured,

    /// <summary>The identity provider sent the browser back with an <c>error</c> (the person cancelled, the client is not allowed…).</summary>
    ProviderError,

    /// <summary>The answer does not belong to a sign-in this browser started (no pending sign-in, another state, or too late).</summary>
    StateMismatch,

    /// <summary>The answer carries no authorization code.</summary>
    MissingCode,

    /// <summary>The provider's discovery document or token endpoint could not be reached or read.</summary>
    ProviderUnavailable,

    /// <summary>The token endpoint refused the code (used already, expired, another client's, wrong PKCE verifier…).</summary>
    ExchangeRefused,

    /// <summary>The id_token failed validation (signature, issuer, audience, lifetime, algorithm).</summary>
    InvalidToken,

    /// <summary>The id_token's nonce is not this sign-in's.</summary>
    NonceMismatch,

    /// <summary>The token names no principal that may act (disabled, unknown when principals are not made, no identity claim).</summary>
    PrincipalRefused,
}

/// <summary>A sign-in started: where to send the browser, and the sealed state to keep in it until the provider sends it back.</summary>
public sealed record OidcSignInStart(string? AuthorizationUrl, string? Pending, DateTimeOffset ExpiresAt, OidcSignInFailure? Failure = null, string? Reason = null);

/// <summary>A sign-in completed: the principal it signs in, or which check failed and why (in words for the person).</summary>
public sealed record OidcSignInResult(OidcPrincipal? Principal, OidcSignInFailure? Failure, string? Reason)
{
    public static OidcSignInResult Refused(OidcSignInFailure failure, string reason) => new(null, failure, reason);
}

/// <summary>
/// The console's single sign-on: OpenID Connect's authorization code flow with PKCE (S256), <c>state</c> and <c>nonce</c>.
/// <see cref="StartAsync"/> makes the provider's authorization URL and the pending sign-in (state, nonce, PKCE verifier,
/// redirect URI, deadline), sealed with the server's secret key for a cookie in this browser; <see cref="CompleteAsync"/>
/// checks the state the provider sent back against it, exchanges the code at the token endpoint, validates the id_token with
/// the bearer scheme's own validation parameters and key set (<see cref="OidcAuthentication"/>; the audience is the client id)
/// plus the nonce, and finds the person's principal with the bearer scheme's rule (<see cref="OidcPrincipals.ResolveTokenAsync"/>).
/// The provider's endpoints are configured (or discovered from <see cref="OidcOptions.Authority"/>) explicitly, so they are
/// reached whatever the egress policy says, https only except on loopback.
/// </summary>
public sealed partial class OidcCodeFlow(IOptions<OidcOptions> options, IOptionsMonitor<JwtBearerOptions> bearer, OidcPrincipals principals,
    SecretProtector secrets, TimeProvider time, ILogger<OidcCodeFlow> logger) : IDisposable
{
    public const string CallbackPath = "/console/oidc/callback";
    public const string Scopes = "openid email profile";
    private const string Version = "o1";

    private readonly HttpClient _http = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5), AllowAutoRedirect = false })
    {
        Timeout = TimeSpan.FromSeconds(10),
        MaxResponseContentBufferSize = 1024 * 1024,
    };

    private readonly Lazy<IConfigurationManager<OpenIdConnectConfiguration>?> _discovery = new(() => Discovery(options.Value, bearer));

    public bool Available => options.Value.ConsoleSignIn;

    /// <summary>The redirect URI registered at the provider: <see cref="OidcOptions.RedirectBaseUrl"/>, else the request's own address, plus the callback's path.</summary>
    public string RedirectUri(HttpRequest request) =>
        (string.IsNullOrWhiteSpace(options.Value.RedirectBaseUrl) ? $"{request.Scheme}://{request.Host}{request.PathBase}" : options.Value.RedirectBaseUrl.TrimEnd('/'))
        + CallbackPath;

    public async Task<OidcSignInStart> StartAsync(string redirectUri, CancellationToken cancellationToken)
    {
        var oidc = options.Value;
        var expires = time.GetUtcNow() + oidc.SignInTimeout;
        if (!Available)
        {
            return new OidcSignInStart(null, null, expires, OidcSignInFailure.NotConfigured, "single sign-on is not configured");
        }
        var (authorize, _, problem) = await EndpointsAsync(cancellationToken);
        if (problem is not null)
        {
            return new OidcSignInStart(null, null, expires, OidcSignInFailure.ProviderUnavailable, problem);
        }
        var state = Random();
        var nonce = Random();
        var verifier = Random();
        var challenge = Base64UrlEncoder.Encode(SHA256.HashData(Encoding.ASCII.GetBytes(verifier)));
        var scope = string.Join(' ', Scopes.Split(' ').Concat(oidc.ExtraScopes).Distinct(StringComparer.Ordinal));
        var query = string.Join('&', new (string Name, string Value)[]
        {
            ("response_type", "code"), ("client_id", oidc.EffectiveClientId), ("redirect_uri", redirectUri), ("scope", scope),
            ("state", state), ("nonce", nonce), ("code_challenge", challenge), ("code_challenge_method", "S256"),
        }.Select(p => $"{p.Name}={Uri.EscapeDataString(p.Value)}"));
        var url = authorize + (authorize!.Contains('?', StringComparison.Ordinal) ? "&" : "?") + query;
        var pending = secrets.Protect(string.Join('|', Version, expires.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture), state, nonce, verifier, redirectUri));
        return new OidcSignInStart(url, pending, expires);
    }

    /// <summary>
    /// Completes the sign-in the provider sent the browser back from: <paramref name="pending"/> is what <see cref="StartAsync"/>
    /// sealed (from this browser's cookie), the rest the callback's query.
    /// </summary>
    public async Task<OidcSignInResult> CompleteAsync(string? pending, string? state, string? code, string? error, string? errorDescription,
        CancellationToken cancellationToken)
    {
        var result = await CompleteCoreAsync(pending, state, code, error, errorDescription, cancellationToken);
        if (result.Failure is { } failure)
        {
            // The person sees the reason; the operator sees it too (a redirect URI not registered shows up as invalid_grant).
            if (failure is OidcSignInFailure.ProviderError or OidcSignInFailure.StateMismatch or OidcSignInFailure.MissingCode)
            {
                LogDeclined(logger, failure, result.Reason!); // the person's doing (cancelled, an old tab), or a forged answer
            }
            else
            {
                LogRefused(logger, failure, result.Reason!);
            }
        }
        return result;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Console single sign-on refused ({Failure}): {Reason}")]
    private static partial void LogRefused(ILogger logger, OidcSignInFailure failure, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Console single sign-on not completed ({Failure}): {Reason}")]
    private static partial void LogDeclined(ILogger logger, OidcSignInFailure failure, string reason);

    private async Task<OidcSignInResult> CompleteCoreAsync(string? pending, string? state, string? code, string? error, string? errorDescription,
        CancellationToken cancellationToken)
    {
        if (!Available)
        {
            return OidcSignInResult.Refused(OidcSignInFailure.NotConfigured, "single sign-on is not configured");
        }
        if (Open(pending) is not { } started || state is null || !FixedEquals(state, started.State))
        {
            return OidcSignInResult.Refused(OidcSignInFailure.StateMismatch,
                "this answer from the identity provider does not belong to a sign-in started in this browser (no sign-in pending, or another one's state)");
        }
        if (started.ExpiresAt <= time.GetUtcNow())
        {
            return OidcSignInResult.Refused(OidcSignInFailure.StateMismatch,
                $"the sign-in took longer than {options.Value.SignInTimeout.TotalMinutes:0.#} minutes at the identity provider");
        }
        if (!string.IsNullOrEmpty(error))
        {
            return OidcSignInResult.Refused(OidcSignInFailure.ProviderError, $"the identity provider refused the sign-in: {Clip(error)}" +
                (string.IsNullOrWhiteSpace(errorDescription) ? "" : $" ({Clip(errorDescription)})"));
        }
        if (string.IsNullOrEmpty(code))
        {
            return OidcSignInResult.Refused(OidcSignInFailure.MissingCode, "the identity provider's answer carries no authorization code");
        }
        var (_, tokenEndpoint, problem) = await EndpointsAsync(cancellationToken);
        if (problem is not null)
        {
            return OidcSignInResult.Refused(OidcSignInFailure.ProviderUnavailable, problem);
        }
        var (idToken, refusal) = await ExchangeAsync(tokenEndpoint!, code, started, cancellationToken);
        if (idToken is null)
        {
            return refusal!;
        }
        var (token, invalid) = await ValidateAsync(idToken, cancellationToken);
        if (token is null)
        {
            return OidcSignInResult.Refused(OidcSignInFailure.InvalidToken, $"the identity provider's id_token was refused: {invalid}");
        }
        if (token.FindFirst("nonce")?.Value is not { } nonce || !FixedEquals(nonce, started.Nonce))
        {
            return OidcSignInResult.Refused(OidcSignInFailure.NonceMismatch, "the id_token's nonce is not this sign-in's (a token issued for another sign-in)");
        }
        var resolution = await principals.ResolveTokenAsync(token, cancellationToken);
        return resolution.Principal is { } principal ? new OidcSignInResult(principal, null, null)
            : OidcSignInResult.Refused(OidcSignInFailure.PrincipalRefused, resolution.Refusal!);
    }

    private sealed record Pending(DateTimeOffset ExpiresAt, string State, string Nonce, string Verifier, string RedirectUri);

    private Pending? Open(string? sealedValue)
    {
        if (string.IsNullOrEmpty(sealedValue) || sealedValue.Length > 4096)
        {
            return null;
        }
        string[] parts;
        try
        {
            parts = secrets.Unprotect(sealedValue).Split('|', 6);
        }
        catch (Exception e) when (e is CryptographicException or FormatException or ArgumentException)
        {
            return null;
        }
        return parts is [Version, var expires, var state, var nonce, var verifier, var redirectUri]
            && long.TryParse(expires, NumberStyles.None, CultureInfo.InvariantCulture, out var unix)
            ? new Pending(DateTimeOffset.FromUnixTimeSeconds(unix), state, nonce, verifier, redirectUri) : null;
    }

    /// <summary>The code for tokens at the token endpoint (RFC 6749 4.1.3 with the PKCE verifier); the id_token, or why not.</summary>
    private async Task<(string? IdToken, OidcSignInResult? Refusal)> ExchangeAsync(string tokenEndpoint, string code, Pending started, CancellationToken cancellationToken)
    {
        var oidc = options.Value;
        var form = new List<KeyValuePair<string, string>>
        {
            new("grant_type", "authorization_code"), new("code", code), new("redirect_uri", started.RedirectUri), new("code_verifier", started.Verifier),
        };
        using var request = new HttpRequestMessage(HttpMethod.Post, tokenEndpoint);
        if (string.IsNullOrEmpty(oidc.ClientSecret))
        {
            form.Add(new("client_id", oidc.EffectiveClientId)); // a public client names itself; PKCE binds the code to this sign-in
        }
        else
        {
            // client_secret_basic: both parts form-encoded first (RFC 6749 2.3.1).
            var basic = $"{Uri.EscapeDataString(oidc.EffectiveClientId)}:{Uri.EscapeDataString(oidc.ClientSecret)}";
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(basic)));
        }
        request.Content = new FormUrlEncodedContent(form);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        JsonElement body;
        int status;
        try
        {
            using var response = await _http.SendAsync(request, cancellationToken);
            status = (int)response.StatusCode;
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            try
            {
                using var document = JsonDocument.Parse(text);
                body = document.RootElement.Clone();
            }
            catch (JsonException)
            {
                return (null, OidcSignInResult.Refused(status is >= 200 and < 300 or >= 500 ? OidcSignInFailure.ProviderUnavailable : OidcSignInFailure.ExchangeRefused,
                    $"the identity provider's token endpoint answered {status} without a JSON body"));
            }
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return (null, OidcSignInResult.Refused(OidcSignInFailure.ProviderUnavailable, $"the identity provider's token endpoint could not be reached ({tokenEndpoint})"));
        }
        if (status is < 200 or >= 300)
        {
            var error = body.ValueKind == JsonValueKind.Object && body.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;
            var description = body.ValueKind == JsonValueKind.Object && body.TryGetProperty("error_description", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString() : null;
            return (null, OidcSignInResult.Refused(status >= 500 ? OidcSignInFailure.ProviderUnavailable : OidcSignInFailure.ExchangeRefused,
                $"the identity provider's token endpoint refused the code ({status}{(error is null ? "" : ": " + Clip(error))}{(string.IsNullOrWhiteSpace(description) ? "" : ", " + Clip(description))})"));
        }
        if (body.ValueKind != JsonValueKind.Object || !body.TryGetProperty("id_token", out var idToken) || idToken.ValueKind != JsonValueKind.String)
        {
            return (null, OidcSignInResult.Refused(OidcSignInFailure.ExchangeRefused, "the identity provider's token endpoint answered without an id_token (is the 'openid' scope allowed for this client?)"));
        }
        return (idToken.GetString(), null);
    }

    /// <summary>
    /// Validates the id_token as the bearer scheme validates a token (its <see cref="TokenValidationParameters"/> and key set),
    /// with the client id as the audience; the token's claims keep the provider's names.
    /// </summary>
    private async Task<(ClaimsPrincipal? Token, string? Refusal)> ValidateAsync(string idToken, CancellationToken cancellationToken)
    {
        var oidc = options.Value;
        var jwt = bearer.Get(OidcAuthentication.SchemeName);
        var parameters = jwt.TokenValidationParameters.Clone();
        parameters.ValidAudience = oidc.EffectiveClientId;
        parameters.ValidAudiences = null;
        if (jwt.ConfigurationManager is BaseConfigurationManager manager)
        {
            parameters.ConfigurationManager = manager;
        }
        else if (jwt.ConfigurationManager is not null)
        {
            parameters.IssuerSigningKeys = (await jwt.ConfigurationManager.GetConfigurationAsync(cancellationToken)).SigningKeys;
        }
        var result = await new JsonWebTokenHandler { MapInboundClaims = false }.ValidateTokenAsync(idToken, parameters);
        if (!result.IsValid)
        {
            if (result.Exception is SecurityTokenSignatureKeyNotFoundException && jwt.RefreshOnIssuerKeyNotFound)
            {
                jwt.ConfigurationManager?.RequestRefresh(); // as the bearer scheme does: the provider may have rotated its keys
            }
            return (null, result.Exception switch
            {
                SecurityTokenInvalidAudienceException => $"the token's audience is not '{oidc.EffectiveClientId}'",
                SecurityTokenMalformedException or ArgumentException => "the id_token is not a well-formed JSON Web Token",
                var e => OidcAuthentication.Describe(e, oidc),
            });
        }
        var token = new ClaimsPrincipal(result.ClaimsIdentity);
        // OpenID Connect Core 3.1.3.7: an authorized party, when named, is this client.
        if (token.FindFirst("azp")?.Value is { } azp && azp != oidc.EffectiveClientId)
        {
            return (null, $"the token was issued to another client (azp '{Clip(azp)}')");
        }
        return (token, null);
    }

    /// <summary>The authorization and token endpoints: configured, or from the provider's discovery document.</summary>
    private async Task<(string? Authorize, string? Token, string? Problem)> EndpointsAsync(CancellationToken cancellationToken)
    {
        var oidc = options.Value;
        string? authorize = NullIfBlank(oidc.AuthorizationEndpoint), token = NullIfBlank(oidc.TokenEndpoint);
        if ((authorize is null || token is null) && _discovery.Value is { } discovery)
        {
            try
            {
                var configuration = await discovery.GetConfigurationAsync(cancellationToken);
                authorize ??= NullIfBlank(configuration.AuthorizationEndpoint);
                token ??= NullIfBlank(configuration.TokenEndpoint);
            }
            catch (InvalidOperationException)
            {
                return (null, null, $"the identity provider's discovery document could not be read from {oidc.Authority!.TrimEnd('/')}/.well-known/openid-configuration");
            }
        }
        foreach (var (name, address) in new[] { ("authorization_endpoint", authorize), ("token_endpoint", token) })
        {
            if (address is null || !OidcOptions.IsAllowedAddress(address))
            {
                return (null, null, $"the identity provider's {name} is {(address is null ? "not known" : $"not https ('{address}')")}");
            }
        }
        return (authorize, token, null);
    }

    /// <summary>The discovery document's reader: the bearer scheme's when its keys come from the same document, else one of our own.</summary>
    private static IConfigurationManager<OpenIdConnectConfiguration>? Discovery(OidcOptions oidc, IOptionsMonitor<JwtBearerOptions> bearer)
    {
        if (string.IsNullOrWhiteSpace(oidc.Authority))
        {
            return null;
        }
        if (!oidc.KeySource.IsKeySet)
        {
            return bearer.Get(OidcAuthentication.SchemeName).ConfigurationManager;
        }
        var address = oidc.Authority.TrimEnd('/') + "/.well-known/openid-configuration";
        var http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) }) { Timeout = TimeSpan.FromSeconds(10) };
        return new ConfigurationManager<OpenIdConnectConfiguration>(address, new OpenIdConnectConfigurationRetriever(),
            new HttpDocumentRetriever(http) { RequireHttps = !OidcOptions.IsLoopback(address) })
        {
            AutomaticRefreshInterval = oidc.JwksRefreshInterval,
        };
    }

    private static string Random() => Base64UrlEncoder.Encode(RandomNumberGenerator.GetBytes(32));

    private static bool FixedEquals(string a, string b) =>
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(a), Encoding.UTF8.GetBytes(b));

    private static string? NullIfBlank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;

    /// <summary>Text from the provider or the browser, shortened for a message.</summary>
    private static string Clip(string text) => text.Length <= 200 ? text : text[..200] + "…";

    public void Dispose() => _http.Dispose();
}
