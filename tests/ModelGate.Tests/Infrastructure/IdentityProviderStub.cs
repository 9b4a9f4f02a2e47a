using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace ModelGate.Tests.Infrastructure;

/// <summary>
/// Stands in for an OpenID Connect identity provider at the HTTP boundary: an RSA signing key whose public half it serves as
/// a JSON Web Key Set on a loopback port, and the tokens it would issue.
/// </summary>
public sealed class IdentityProviderStub : IAsyncDisposable
{
    public const string KeyId = "test-key-1";
    public const string Audience = "modelgate";

    private readonly WebApplication _app;

    private IdentityProviderStub(WebApplication app) => _app = app;

    /// <summary>The key the provider signs with (its public half is in the key set).</summary>
    public RSA SigningKey { get; } = RSA.Create(2048);

    public string Issuer { get; private set; } = "";

    public string JwksUri { get; private set; } = "";

    /// <summary>How many times the key set was read.</summary>
    public int KeySetReads;

    public static async Task<IdentityProviderStub> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var provider = new IdentityProviderStub(app);
        app.MapGet("/jwks", () =>
        {
            Interlocked.Increment(ref provider.KeySetReads);
            var p = provider.SigningKey.ExportParameters(false);
            return Results.Text(JsonSerializer.Serialize(new
            {
                keys = new[] { new { kty = "RSA", use = "sig", alg = "RS256", kid = KeyId, n = Base64UrlEncoder.Encode(p.Modulus), e = Base64UrlEncoder.Encode(p.Exponent) } },
            }), "application/json");
        });
        app.MapGet("/realms/test/.well-known/openid-configuration", () => Results.Json(new
        {
            issuer = provider.Issuer, jwks_uri = provider.JwksUri, id_token_signing_alg_values_supported = new[] { "RS256" },
            authorization_endpoint = provider.AuthorizationEndpoint, token_endpoint = provider.TokenEndpoint,
            response_types_supported = new[] { "code" }, code_challenge_methods_supported = new[] { "S256" },
        }));
        app.MapGet("/realms/test/protocol/openid-connect/auth", provider.Authorize);
        app.MapPost("/realms/test/protocol/openid-connect/token", provider.ExchangeAsync);
        await app.StartAsync();
        provider.Issuer = app.Urls.First() + "/realms/test";
        provider.JwksUri = app.Urls.First() + "/jwks";
        provider.AuthorizationEndpoint = provider.Issuer + "/protocol/openid-connect/auth";
        provider.TokenEndpoint = provider.Issuer + "/protocol/openid-connect/token";
        return provider;
    }

    // The authorization code flow, as a provider that approves at once whoever the test says signs in next.

    public string AuthorizationEndpoint { get; private set; } = "";

    public string TokenEndpoint { get; private set; } = "";

    /// <summary>The clock tokens are issued by (the server's fake one, for tests that sign in through the console).</summary>
    public Func<DateTimeOffset> Clock { get; set; } = () => DateTimeOffset.UtcNow;

    /// <summary>
    /// The authorization endpoint answers with a page whose link (<c>a#approve</c>) sends the browser back, instead of a
    /// redirect: the navigation back to the client is then started by the provider's page, cross-site, as when a person
    /// signs in at a real provider.
    /// </summary>
    public bool Interactive { get; set; }

    /// <summary>Who signs in at the authorization endpoint from now on (and what is wrong with the tokens they get).</summary>
    public ProviderSignIn? SignsIn { get; set; }

    /// <summary>Every authorization request's query, and every token request's form, in order.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<IReadOnlyDictionary<string, string>> AuthorizeRequests { get; } = new();

    public System.Collections.Concurrent.ConcurrentQueue<IReadOnlyDictionary<string, string>> TokenRequests { get; } = new();

    private sealed record Grant(string ClientId, string RedirectUri, string Challenge, string? Nonce, ProviderSignIn Who);

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Grant> _grants = new(StringComparer.Ordinal);

    private IResult Authorize(HttpRequest request)
    {
        var query = request.Query.ToDictionary(q => q.Key, q => q.Value.ToString(), StringComparer.Ordinal);
        AuthorizeRequests.Enqueue(query);
        var redirect = query.GetValueOrDefault("redirect_uri") ?? "";
        var state = Uri.EscapeDataString(query.GetValueOrDefault("state") ?? "");
        var who = SignsIn ?? throw new InvalidOperationException("the test did not say who signs in (SignsIn)");
        if (who.Error is { } error)
        {
            return Results.Redirect($"{redirect}?error={Uri.EscapeDataString(error)}&error_description={Uri.EscapeDataString("the person said no")}&state={state}");
        }
        if (query.GetValueOrDefault("response_type") != "code" || query.GetValueOrDefault("code_challenge_method") != "S256"
            || string.IsNullOrEmpty(query.GetValueOrDefault("code_challenge")) || string.IsNullOrEmpty(query.GetValueOrDefault("client_id")))
        {
            return Results.Redirect($"{redirect}?error=invalid_request&state={state}");
        }
        var code = Base64UrlEncoder.Encode(RandomNumberGenerator.GetBytes(16));
        _grants[code] = new Grant(query["client_id"], redirect, query["code_challenge"], query.GetValueOrDefault("nonce"), who);
        var back = $"{redirect}?code={code}&state={state}";
        if (Interactive)
        {
            var encode = System.Text.Encodings.Web.HtmlEncoder.Default;
            return Results.Content($"""
                <!doctype html><html lang="en"><head><meta charset="utf-8"><title>Stand-in provider</title></head>
                <body><h1>Stand-in provider</h1><p><a id="approve" href="{encode.Encode(back)}">Continue as {encode.Encode(who.Email)}</a></p></body></html>
                """, "text/html; charset=utf-8");
        }
        return Results.Redirect(back);
    }

    /// <summary>The token endpoint: a code once, for the client and redirect URI it was issued to, with the PKCE verifier of its challenge.</summary>
    private async Task<IResult> ExchangeAsync(HttpRequest request)
    {
        var form = (await request.ReadFormAsync()).ToDictionary(f => f.Key, f => f.Value.ToString(), StringComparer.Ordinal);
        if (request.Headers.Authorization.ToString() is { Length: > 0 } basic && basic.StartsWith("Basic ", StringComparison.Ordinal))
        {
            var pair = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(basic["Basic ".Length..])).Split(':', 2);
            form["basic_client_id"] = Uri.UnescapeDataString(pair[0]);
            form["basic_client_secret"] = Uri.UnescapeDataString(pair[1]);
        }
        TokenRequests.Enqueue(form);
        static IResult Refuse(string error, string description) => Results.Json(new { error, error_description = description }, statusCode: 400);
        if (form.GetValueOrDefault("grant_type") != "authorization_code" || !_grants.TryRemove(form.GetValueOrDefault("code") ?? "", out var grant))
        {
            return Refuse("invalid_grant", "the code is unknown or was used already");
        }
        if ((form.GetValueOrDefault("client_id") ?? form.GetValueOrDefault("basic_client_id")) != grant.ClientId || form.GetValueOrDefault("redirect_uri") != grant.RedirectUri)
        {
            return Refuse("invalid_grant", "another client or redirect URI");
        }
        if (Base64UrlEncoder.Encode(SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(form.GetValueOrDefault("code_verifier") ?? ""))) != grant.Challenge)
        {
            return Refuse("invalid_grant", "PKCE verification failed");
        }
        var who = grant.Who;
        var claims = new Dictionary<string, object>();
        if ((who.Nonce ?? grant.Nonce) is { } nonce)
        {
            claims["nonce"] = nonce;
        }
        var idToken = Token(who.Email, Clock() - who.IssuedAgo, who.Groups, who.Lifetime, who.Audience ?? grant.ClientId, signWith: who.SignWith, claims: claims);
        return Results.Json(new { access_token = "at-" + Guid.NewGuid().ToString("N"), token_type = "Bearer", expires_in = 300, id_token = idToken });
    }

    /// <summary>
    /// The server's configuration for this provider, with the role mappings the tests use: the key set's address, or with
    /// <paramref name="discover"/> the provider's base address (the key set found through its discovery document).
    /// </summary>
    public IEnumerable<string> Arguments(bool discover = false) =>
    [
        $"--Oidc:Issuer={Issuer}", $"--Oidc:Audience={Audience}", discover ? $"--Oidc:Authority={Issuer}" : $"--Oidc:JwksUri={JwksUri}",
        "--Oidc:RoleMappings:ml-leads=ml-lead", "--Oidc:RoleMappings:owners=product-owner", "--Oidc:RoleMappings:trainers=trainer",
        "--Oidc:RoleMappings:Readers=viewer",
    ];

    /// <summary>
    /// A token for <paramref name="email"/> issued at <paramref name="now"/> (the server's clock), valid for
    /// <paramref name="lifetime"/> (default 5 minutes); every other part may be overridden to make it invalid.
    /// </summary>
    public string Token(string email, DateTimeOffset now, string[]? groups = null, TimeSpan? lifetime = null, string? audience = null,
        string? issuer = null, RSA? signWith = null, string keyId = KeyId, DateTimeOffset? notBefore = null, string? name = null,
        IDictionary<string, object>? claims = null)
    {
        var all = new Dictionary<string, object> { ["sub"] = "sub-" + email, ["email"] = email, ["groups"] = groups ?? [] };
        if (name is not null)
        {
            all["name"] = name;
        }
        foreach (var (k, v) in claims ?? new Dictionary<string, object>())
        {
            all[k] = v;
        }
        var descriptor = new SecurityTokenDescriptor
        {
            Issuer = issuer ?? Issuer,
            Audience = audience ?? Audience,
            IssuedAt = now.UtcDateTime,
            NotBefore = (notBefore ?? now).UtcDateTime,
            Expires = (now + (lifetime ?? TimeSpan.FromMinutes(5))).UtcDateTime,
            Claims = all,
            SigningCredentials = new SigningCredentials(new RsaSecurityKey(signWith ?? SigningKey) { KeyId = keyId }, SecurityAlgorithms.RsaSha256),
        };
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(descriptor);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        SigningKey.Dispose();
    }
}

/// <summary>
/// Who signs in at the stand-in provider's authorization endpoint, and what is wrong with what they get: an <see cref="Error"/>
/// instead of a code, another nonce or audience, a signature by another key, an id_token issued long ago.
/// </summary>
public sealed record ProviderSignIn(string Email, string[] Groups)
{
    public string? Error { get; init; }
    public string? Nonce { get; init; }
    public string? Audience { get; init; }
    public RSA? SignWith { get; init; }
    public TimeSpan IssuedAgo { get; init; }
    public TimeSpan Lifetime { get; init; } = TimeSpan.FromMinutes(5);
}

/// <summary>A server configured for single sign-on with an <see cref="IdentityProviderStub"/> started with it.</summary>
public interface IOidcServer
{
    IdentityProviderStub IdP { get; }
}

public sealed class OidcSqliteServerFixture : SqliteServerFixture, IOidcServer
{
    public IdentityProviderStub IdP { get; private set; } = null!;

    protected override async Task<IEnumerable<string>> ExtraArgumentsAsync()
    {
        IdP = await IdentityProviderStub.StartAsync();
        return IdP.Arguments();
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        if (IdP is not null)
        {
            await IdP.DisposeAsync();
        }
    }
}

public sealed class OidcPostgresServerFixture : PostgresServerFixture, IOidcServer
{
    public IdentityProviderStub IdP { get; private set; } = null!;

    protected override async Task<IEnumerable<string>> ExtraArgumentsAsync()
    {
        IdP = await IdentityProviderStub.StartAsync();
        return IdP.Arguments();
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        if (IdP is not null)
        {
            await IdP.DisposeAsync();
        }
    }
}

/// <summary>A SQLite server that finds the provider's key set through its discovery document (<c>Oidc:Authority</c>).</summary>
public sealed class OidcDiscoveryServerFixture : SqliteServerFixture, IOidcServer
{
    public IdentityProviderStub IdP { get; private set; } = null!;

    protected override async Task<IEnumerable<string>> ExtraArgumentsAsync()
    {
        IdP = await IdentityProviderStub.StartAsync();
        return IdP.Arguments(discover: true);
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        if (IdP is not null)
        {
            await IdP.DisposeAsync();
        }
    }
}
