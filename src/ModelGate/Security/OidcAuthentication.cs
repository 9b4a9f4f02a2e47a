using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace ModelGate.Security;

/// <summary>
/// OpenID Connect bearer tokens on the control plane, beside API keys, in one <c>Authorization: Bearer</c> header: a value
/// that starts with <see cref="ApiKeyService.KeyPrefix"/> is a key, anything else is a token when <see cref="OidcOptions"/>
/// is configured (<see cref="SelectorScheme"/> chooses). A valid token acts as its person's principal
/// (<see cref="OidcPrincipals"/>), with the claims every request carries (<see cref="ModelGateClaims"/>). The data plane
/// stays API-key only (its policy, <see cref="Permissions.Infer"/>, authenticates with the key scheme alone).
/// </summary>
public static class OidcAuthentication
{
    public const string SchemeName = "Oidc";

    /// <summary>The default scheme: forwards each request to the key scheme or to <see cref="SchemeName"/>.</summary>
    public const string SelectorScheme = "ModelGate";

    /// <summary>The issuer of the token a request was made with.</summary>
    public const string IssuerClaim = "modelgate:issuer";

    public static IServiceCollection AddModelGateOidc(this IServiceCollection services)
    {
        services.AddOptions<OidcOptions>().BindConfiguration(OidcOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<OidcOptions>, ProblemValidation>();
        services.AddSingleton<OidcPrincipals>();
        services.AddSingleton<OidcCodeFlow>();
        services.AddOptions<JwtBearerOptions>(SchemeName).Configure<IOptions<OidcOptions>, TimeProvider>(Configure);
        new AuthenticationBuilder(services)
            .AddScheme<JwtBearerOptions, JwtBearerHandler>(SchemeName, null)
            .AddPolicyScheme(SelectorScheme, null, o => o.ForwardDefaultSelector = Select);
        return services;
    }

    /// <summary>Names the first thing wrong with the section (the generic message of <c>Validate</c> would not).</summary>
    private sealed class ProblemValidation : IValidateOptions<OidcOptions>
    {
        public ValidateOptionsResult Validate(string? name, OidcOptions options) =>
            options.Problem() is { } problem ? ValidateOptionsResult.Fail(problem) : ValidateOptionsResult.Success;
    }

    private static string Select(HttpContext context)
    {
        string? header = context.Request.Headers.Authorization;
        if (header is null || header.Length <= "Bearer ".Length || !header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            || header.AsSpan("Bearer ".Length).TrimStart().StartsWith(ApiKeyService.KeyPrefix, StringComparison.Ordinal)
            || !context.RequestServices.GetRequiredService<IOptions<OidcOptions>>().Value.Enabled)
        {
            return ApiKeyAuthenticationHandler.SchemeName;
        }
        return SchemeName;
    }

    private static void Configure(JwtBearerOptions jwt, IOptions<OidcOptions> configured, TimeProvider time)
    {
        var oidc = configured.Value;
        jwt.TimeProvider = time;
        jwt.MapInboundClaims = false; // claims keep the names the provider gave them (email, sub, groups)
        jwt.SaveToken = false;
        jwt.IncludeErrorDetails = false;
        jwt.RefreshOnIssuerKeyNotFound = true;
        if (!oidc.Enabled)
        {
            return; // never selected
        }
        var (address, isKeySet) = oidc.KeySource;
        // The configured address is the one outbound call made here: not subject to the egress policy, https unless it is loopback.
        var http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) }) { Timeout = TimeSpan.FromSeconds(10) };
        var documents = new HttpDocumentRetriever(http) { RequireHttps = !OidcOptions.IsLoopback(address) };
        jwt.ConfigurationManager = new ConfigurationManager<OpenIdConnectConfiguration>(address,
            isKeySet ? new KeySetRetriever(oidc.Issuer!) : new OpenIdConnectConfigurationRetriever(), documents)
        {
            AutomaticRefreshInterval = oidc.JwksRefreshInterval,
        };
        jwt.TokenValidationParameters = new TokenValidationParameters
        {
            ValidIssuer = oidc.Issuer,
            ValidAudience = oidc.Audience,
            ValidateIssuer = true,
            ValidateAudience = true,
            ValidateLifetime = true,
            RequireExpirationTime = true,
            RequireSignedTokens = true,
            ValidateIssuerSigningKey = true,
            ValidAlgorithms = oidc.Algorithms,
            ClockSkew = oidc.ClockSkew,
            // Expiry follows the server's clock (the tests' fake one), not the machine's.
            LifetimeValidator = (notBefore, expires, _, parameters) => ValidateLifetime(notBefore, expires, parameters.ClockSkew, time),
            NameClaimType = oidc.PrincipalClaim,
        };
        jwt.Events = new JwtBearerEvents
        {
            OnTokenValidated = TokenValidatedAsync,
            OnChallenge = ChallengeAsync,
        };
    }

    private static bool ValidateLifetime(DateTime? notBefore, DateTime? expires, TimeSpan skew, TimeProvider time)
    {
        var now = time.GetUtcNow().UtcDateTime;
        if (expires is null)
        {
            throw new SecurityTokenNoExpirationException("the token has no expiry");
        }
        if (notBefore is { } nbf && nbf > now + skew)
        {
            throw new SecurityTokenNotYetValidException("the token is not valid yet") { NotBefore = nbf };
        }
        if (expires.Value < now - skew)
        {
            throw new SecurityTokenExpiredException("the token expired") { Expires = expires.Value };
        }
        return true;
    }

    /// <summary>The signature and claims are valid: find (or make) the person's principal and act as it.</summary>
    private static async Task TokenValidatedAsync(TokenValidatedContext context)
    {
        var principals = context.HttpContext.RequestServices.GetRequiredService<OidcPrincipals>();
        var resolution = await principals.ResolveTokenAsync(context.Principal!, context.HttpContext.RequestAborted);
        if (resolution.Principal is not { } principal)
        {
            context.Fail(new OidcRefusal(resolution.Refusal!));
            return;
        }
        context.Principal = User(principal, principals.IssuerOf(context.Principal!));
        context.Success();
    }

    /// <summary>The request's user for a person signed in with single sign-on (a bearer token, or a console session).</summary>
    public static ClaimsPrincipal User(OidcPrincipal principal, string issuer)
    {
        var user = ModelGateClaims.Create(SchemeName, principal.Id, principal.Identity, principal.Roles);
        ((ClaimsIdentity)user.Identity!).AddClaim(new Claim(IssuerClaim, issuer));
        return user;
    }

    /// <summary>401 <c>unauthenticated</c> with <c>WWW-Authenticate: Bearer</c> and which check the token failed.</summary>
    private static Task ChallengeAsync(JwtBearerChallengeContext context)
    {
        context.HandleResponse();
        return ApiKeyAuthenticationHandler.ChallengeAsync(context.HttpContext, Describe(context.AuthenticateFailure,
            context.HttpContext.RequestServices.GetRequiredService<IOptions<OidcOptions>>().Value));
    }

    private const string MissingEither = "an API key or an OpenID Connect token is required: send 'Authorization: Bearer <key or token>'";

    /// <summary>What was wrong with a token, in words (the library's messages hide their details).</summary>
    public static string Describe(Exception? failure, OidcOptions? oidc) => failure switch
    {
        null => MissingEither,
        OidcRefusal refusal => refusal.Message,
        SecurityTokenExpiredException e => $"the token expired at {e.Expires:u}",
        SecurityTokenNotYetValidException e => $"the token is not valid before {e.NotBefore:u}",
        SecurityTokenNoExpirationException => "the token has no expiry (exp)",
        SecurityTokenInvalidAudienceException => $"the token's audience is not '{oidc?.Audience}'",
        SecurityTokenInvalidIssuerException => $"the token's issuer is not '{oidc?.Issuer}'",
        SecurityTokenInvalidAlgorithmException => $"the token's signing algorithm is not accepted (accepted: {string.Join(", ", oidc?.Algorithms ?? [])})",
        SecurityTokenSignatureKeyNotFoundException => "the token's signature does not verify with any key of the identity provider's key set (unknown key id, or signed by another key)",
        SecurityTokenInvalidSignatureException => "the token's signature is not valid (or it is unsigned)",
        SecurityTokenMalformedException or ArgumentException => "the bearer value is neither an API key (those start with 'mg_') nor a well-formed JSON Web Token",
        InvalidOperationException => $"the identity provider's signing keys could not be read from {oidc?.KeySource.Address}",
        _ => "the token is not valid",
    };

    /// <summary>A token refused after its signature and claims were checked (no principal claim, disabled principal).</summary>
    private sealed class OidcRefusal(string message) : Exception(message);

    /// <summary>Reads a bare JSON Web Key Set (the configured <see cref="OidcOptions.JwksUri"/>) as a provider configuration.</summary>
    private sealed class KeySetRetriever(string issuer) : IConfigurationRetriever<OpenIdConnectConfiguration>
    {
        public async Task<OpenIdConnectConfiguration> GetConfigurationAsync(string address, IDocumentRetriever retriever, CancellationToken cancel)
        {
            var keySet = new JsonWebKeySet(await retriever.GetDocumentAsync(address, cancel));
            var configuration = new OpenIdConnectConfiguration { Issuer = issuer, JwksUri = address, JsonWebKeySet = keySet };
            foreach (var key in keySet.GetSigningKeys())
            {
                configuration.SigningKeys.Add(key);
            }
            return configuration;
        }
    }
}
