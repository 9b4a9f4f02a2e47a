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
        }));
        await app.StartAsync();
        provider.Issuer = app.Urls.First() + "/realms/test";
        provider.JwksUri = app.Urls.First() + "/jwks";
        return provider;
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
