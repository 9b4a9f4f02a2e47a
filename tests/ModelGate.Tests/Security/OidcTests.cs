using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using ModelGate.Client;
using ModelGate.Security;
using ModelGate.Storage.Security;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Security;

/// <summary>
/// Single sign-on against an identity provider the test serves itself (signing key and key set on loopback): a valid token
/// acts as its person's principal with the mapped roles; every kind of invalid token gets 401 saying which check failed;
/// a person's key and token are one principal, so separation of duties holds across them; the data plane takes keys only.
/// </summary>
public abstract class OidcTests(ServerFixture fixture) : ProviderTests(fixture)
{
    private IdentityProviderStub Provider => ((IOidcServer)Server).IdP;

    private DateTimeOffset Now => Server.Time.GetUtcNow();

    private static string Email(string name) => $"{name}-{Guid.NewGuid().ToString("N")[..8]}@example.com";

    [Fact]
    public async Task ValidToken_ActsAsItsPrincipal_WithTheMappedRoles()
    {
        var email = Email("bob");
        var token = Provider.Token(email, Now, ["ml-leads", "readers", "unmapped"], name: "Bob Example");
        var me = await Server.Api(token).GetMeAsync();
        Assert.Equal(MeDto.ByOidc, me.AuthenticatedBy);
        Assert.Equal(Provider.Issuer, me.Issuer);
        Assert.Equal(email, me.Identity);
        Assert.Equal("Bob Example", me.DisplayName);
        Assert.Equal(PrincipalKinds.Person, me.Kind);
        Assert.StartsWith("prn_", me.Principal);
        Assert.Equal([Roles.MlLead, Roles.Viewer], me.Roles.Order());
        Assert.Null(me.KeyId);

        // What the token does is recorded against the principal.
        var model = ServerFixture.UniqueName("sso");
        await Server.Api(token).CreateModelAsync(new CreateModelRequest(model, "owners", RiskTiers.Low, "classification"));
        var created = Assert.Single((await Server.Api().ListAuditAsync(subject: $"models/{model}")).Items);
        Assert.Equal(me.Principal, created.Actor);

        // The principal was made once, by oidc, as a person from single sign-on.
        var stored = await Server.WithDbAsync(db => Task.FromResult(db.Principals.Single(p => p.Id == me.Principal)));
        Assert.Equal((PrincipalSources.Oidc, PrincipalKinds.Person, "ml-lead viewer"), (stored.Source, stored.Kind, stored.Roles));
        var provisioned = Assert.Single((await Server.Api().ListAuditAsync(subject: OidcPrincipals.Subject(me.Principal))).Items);
        Assert.Equal(("principal.created", OidcPrincipals.Actor), (provisioned.Action, provisioned.Actor));
        Assert.Equal(me.Principal, (await Server.Api(Provider.Token(email.ToUpperInvariant(), Now, ["ml-leads", "readers"])).GetMeAsync()).Principal);
    }

    [Fact]
    public async Task ChangedGroups_SyncTheStoredRoles_AndAuditIt()
    {
        var email = Email("carol");
        var first = await Server.Api(Provider.Token(email, Now, ["trainers"])).GetMeAsync();
        Assert.Equal([Roles.Trainer], first.Roles);
        var key = (await Server.Api().CreateKeyAsync(new CreateKeyRequest("carol ci", [Roles.Trainer], Principal: email))).Key!;
        Assert.Equal([Roles.Trainer], (await Server.Api(key).GetMeAsync()).Roles);
        var second = await Server.Api(Provider.Token(email, Now, ["ml-leads", "owners"])).GetMeAsync();
        Assert.Equal(first.Principal, second.Principal);
        Assert.Equal([Roles.MlLead, Roles.ProductOwner], second.Roles.Order());

        var synced = Assert.Single((await Server.Api().ListAuditAsync(subject: OidcPrincipals.Subject(first.Principal))).Items, e => e.Action == "principal.roles_synced");
        Assert.Equal(OidcPrincipals.Actor, synced.Actor);
        Assert.Equal(["trainer"], synced.Details.GetProperty("from").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(["ml-lead", "product-owner"], synced.Details.GetProperty("to").EnumerateArray().Select(e => e.GetString()));
        var roles = await Server.WithDbAsync(db => Task.FromResult(db.Principals.Single(p => p.Id == first.Principal).Roles));
        Assert.Equal("ml-lead product-owner", roles);
        // Her key acts with the roles her principal holds now, at once: trainer is gone.
        Assert.Empty((await Server.Api(key).GetMeAsync()).Roles);
    }

    [Fact]
    public async Task InvalidTokens_Get401_SayingWhichCheckFailed()
    {
        var email = Email("eve");
        using var other = RSA.Create(2048);
        var cases = new (string Name, string Token, string Detail)[]
        {
            ("wrong audience", Provider.Token(email, Now, audience: "someone-else"), "audience is not 'modelgate'"),
            ("wrong issuer", Provider.Token(email, Now, issuer: "https://evil.example/"), $"issuer is not '{Provider.Issuer}'"),
            ("wrong signature", Provider.Token(email, Now, signWith: other), "the token's signature is not valid"),
            ("unknown key id", Provider.Token(email, Now, signWith: other, keyId: "other-key"), "signature does not verify"),
            ("not yet valid", Provider.Token(email, Now, notBefore: Now.AddMinutes(10), lifetime: TimeSpan.FromMinutes(20)), "not valid before"),
            ("alg none", Unsigned(email), "the token's signature is not valid (or it is unsigned)"),
            ("not a token", "not-a-token-at-all", "neither an API key"),
        };
        foreach (var (name, token, detail) in cases)
        {
            await AssertUnauthenticatedAsync(token, detail, name);
        }
        await AssertUnauthenticatedAsync(null, "an API key or an OpenID Connect token is required", "no header");
        // Nothing was provisioned for the refused tokens.
        Assert.False(await Server.WithDbAsync(db => Task.FromResult(db.Principals.Any(p => p.IdentityKey == email))));
    }

    [Fact]
    public async Task Principal_IsCachedBriefly_NotLookedUpOnEveryRequest()
    {
        var principals = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<OidcPrincipals>(Server.App.Services);
        var token = Provider.Token(Email("hal"), Now, ["readers"], lifetime: TimeSpan.FromMinutes(10));
        await Server.Api(token).GetMeAsync();
        var before = principals.Lookups;
        for (var i = 0; i < 5; i++)
        {
            await Server.Api(token).GetMeAsync();
        }
        Assert.Equal(before, principals.Lookups);
        Server.Time.Advance(TimeSpan.FromSeconds(11)); // past Oidc:PrincipalCacheDuration (10 s)
        await Server.Api(token).GetMeAsync();
        Assert.Equal(before + 1, principals.Lookups);
    }

    [Fact]
    public async Task ExpiredToken_Gets401_ByTheServersClock()
    {
        var token = Provider.Token(Email("frank"), Now, ["readers"], lifetime: TimeSpan.FromMinutes(2));
        await Server.Api(token).GetMeAsync();
        Server.Time.Advance(TimeSpan.FromMinutes(3)); // past exp plus the 30 s clock skew
        await AssertUnauthenticatedAsync(token, "the token expired at", "expired");
    }

    [Fact]
    public async Task DisabledPrincipal_TokenIsRefused()
    {
        var email = Email("gone");
        await Server.WithDbAsync(async db =>
        {
            var p = PrincipalDirectory.NewEntity(PrincipalDirectory.NewId(), PrincipalKinds.Person, email, null, [Roles.Viewer], PrincipalSources.Api,
                Server.Time.GetUtcNow().UtcDateTime, "test");
            p.DisabledAt = Server.Time.GetUtcNow().UtcDateTime;
            p.DisabledBy = "test";
            db.Principals.Add(p);
            return await db.SaveChangesAsync();
        });
        await AssertUnauthenticatedAsync(Provider.Token(email, Now, ["readers"]), "is disabled", "disabled");
    }

    [Fact]
    public async Task DataPlane_TakesApiKeysOnly_ATokenGets401SayingSo()
    {
        var token = Provider.Token(Email("app"), Now, ["readers"]);
        using var client = Server.Client(token);
        foreach (var (method, path) in new[] { ("POST", "/v1/chat/completions"), ("GET", "/v1/models"), ("GET", "/v2/models/anything/ready") })
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), path);
            if (method == "POST")
            {
                request.Content = new StringContent("""{"model":"x","messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json");
            }
            using var response = await client.SendAsync(request);
            Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{method} {path}: {(int)response.StatusCode}");
            var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal("unauthenticated", problem.GetProperty("code").GetString());
            Assert.Contains("takes API keys only", problem.GetProperty("detail").GetString());
        }
    }

    [Fact]
    public async Task SamePerson_KeyAndToken_AreOnePrincipal_AndCannotApproveWhatTheyRegistered()
    {
        var email = Email("alice");
        var principalId = await Server.WithDbAsync(async db =>
        {
            var p = PrincipalDirectory.NewEntity(PrincipalDirectory.NewId(), PrincipalKinds.Person, email, "Alice", [Roles.Trainer, Roles.ProductOwner],
                PrincipalSources.Api, Server.Time.GetUtcNow().UtcDateTime, "test");
            db.Principals.Add(p);
            await db.SaveChangesAsync();
            return p.Id;
        });
        var key = (await Server.Api().CreateKeyAsync(new CreateKeyRequest("alice laptop", [Roles.Trainer], Principal: email))).Key!;
        var token = Provider.Token(email, Now, ["trainers", "owners"]);
        var byKey = await Server.Api(key).GetMeAsync();
        var byToken = await Server.Api(token).GetMeAsync();
        Assert.Equal((principalId, principalId), (byKey.Principal, byToken.Principal));
        Assert.Equal((MeDto.ByApiKey, "alice laptop"), (byKey.AuthenticatedBy, byKey.KeyName));

        // Alice registers a version with her key (the attestation names another trainer) …
        var model = ServerFixture.UniqueName("sod");
        var admin = Server.Api();
        await Server.Api(key).CreateModelAsync(new CreateModelRequest(model, "owners", RiskTiers.Low, "classification"));
        await Server.PutPolicyBelowFloorAsync(model, """
            evaluated: { requirePlatformRun: false, requireIndependent: false, thresholds: [] }
            registered: { cardFields: [], requireLicense: false }
            staging: { requireDeployment: false }
            production: { requireStagingVerification: false }
            """);
        var sha = await Server.UploadAsync(Fixtures.ModelBytes("v1-logreg"));
        await Server.Api(key).CreateVersionAsync(model, new CreateVersionRequest("1.0.0", [new ArtifactRef(sha, "v1-logreg.onnx")], Fixtures.Attestation(trainer: "someone-else")));
        var suite = await Server.UploadAsync("{\"name\":\"external\",\"task\":\"classification\"}"u8.ToArray());
        var evaluation = await admin.StartEvaluationAsync(model, "1.0.0", new StartEvaluationRequest(suite, External: true,
            Metrics: new Dictionary<string, double> { ["roc_auc"] = 0.9 }));
        foreach (var stage in new[] { Stages.Evaluated, Stages.Registered, Stages.Staging })
        {
            await admin.TransitionAsync(model, "1.0.0", new TransitionRequest(stage, "setting up"));
        }

        // … and cannot approve it as product-owner through single sign-on.
        var refused = await Assert.ThrowsAsync<ModelGateApiException>(() => Server.Api(token).ApproveAsync(model, "1.0.0",
            new ApprovalRequest(ApprovalDecisions.Approve, Roles.ProductOwner, [evaluation.Id], "accepted", "alerts", "rollback", DateTime.UtcNow.AddDays(30))));
        Assert.Equal(HttpStatusCode.Forbidden, refused.Status);
        Assert.Equal("separation_of_duties", refused.Code);
        Assert.Contains("you registered this version", refused.Problem!.Detail);
    }

    [Fact]
    public async Task Whoami_PrintsThePrincipalAndHowItAuthenticated()
    {
        var email = Email("dana");
        var (exit, output, error) = await Server.CliAsync(["whoami"], Provider.Token(email, Now, ["owners"]));
        Assert.True(exit == 0, error);
        Assert.Contains(email, output);
        Assert.Contains("roles: product-owner", output);
        Assert.Contains($"OpenID Connect token from {Provider.Issuer}", output);
        var (keyExit, keyOutput, _) = await Server.CliAsync(["whoami", "--output", "json"]);
        Assert.Equal(0, keyExit);
        Assert.Equal(MeDto.ByApiKey, JsonDocument.Parse(keyOutput).RootElement.GetProperty("authenticatedBy").GetString());
    }

    private async Task AssertUnauthenticatedAsync(string? token, string detail, string because)
    {
        using var client = Server.Client(token);
        using var response = await client.GetAsync("/api/v1/me");
        Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{because}: {(int)response.StatusCode}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.ToString());
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("unauthenticated", problem.GetProperty("code").GetString());
        Assert.True(problem.GetProperty("detail").GetString()!.Contains(detail, StringComparison.Ordinal),
            $"{because}: '{problem.GetProperty("detail").GetString()}' does not say '{detail}'");
    }

    /// <summary>A token with <c>alg: none</c> and no signature.</summary>
    private string Unsigned(string email)
    {
        static string Part(object o) => Microsoft.IdentityModel.Tokens.Base64UrlEncoder.Encode(JsonSerializer.SerializeToUtf8Bytes(o));
        return Part(new { alg = "none", typ = "JWT" }) + "." + Part(new Dictionary<string, object>
        {
            ["iss"] = Provider.Issuer, ["aud"] = IdentityProviderStub.Audience, ["email"] = email, ["sub"] = email,
            ["exp"] = Now.AddMinutes(5).ToUnixTimeSeconds(), ["nbf"] = Now.ToUnixTimeSeconds(),
        }) + ".";
    }
}

public sealed class OidcTests_Sqlite(OidcSqliteServerFixture fixture) : OidcTests(fixture), IClassFixture<OidcSqliteServerFixture>;

public sealed class OidcTests_Postgres(OidcPostgresServerFixture fixture) : OidcTests(fixture), IClassFixture<OidcPostgresServerFixture>;

/// <summary>The key set found through the provider's discovery document (<c>Oidc:Authority</c> instead of <c>Oidc:JwksUri</c>).</summary>
public sealed class OidcDiscoveryTests(OidcDiscoveryServerFixture server) : IClassFixture<OidcDiscoveryServerFixture>
{
    [Fact]
    public async Task Authority_KeySetFoundByDiscovery_TokenAccepted()
    {
        var me = await server.Api(server.IdP.Token("ivy@example.com", server.Time.GetUtcNow(), ["owners"])).GetMeAsync();
        Assert.Equal(("ivy@example.com", MeDto.ByOidc), (me.Identity, me.AuthenticatedBy));
        Assert.Equal([Roles.ProductOwner], me.Roles);
    }
}

public sealed class OidcOptionsTests
{
    [Fact]
    public async Task BadSection_StopsTheServerAtStart_NamingTheKey()
    {
        var data = Path.Combine(Path.GetTempPath(), "modelgate-tests", Guid.NewGuid().ToString("N"));
        await using var app = ModelGate.Hosting.ModelGateHost.Build([$"--Data:Directory={data}", "--Database:Provider=sqlite",
            "--Oidc:Issuer=https://idp.example/", "--Oidc:Audience=modelgate", "--Oidc:JwksUri=http://idp.example/jwks"],
            b => Microsoft.AspNetCore.TestHost.WebHostBuilderExtensions.UseTestServer(b.WebHost));
        var e = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() => app.StartAsync(TestContext.Current.CancellationToken));
        Assert.Contains("Oidc:JwksUri must be an absolute https URL (http only to a loopback address)", e.Message);
    }

    private static OidcOptions Configured(string jwks) => new() { Issuer = "https://idp.example/", Audience = "modelgate", JwksUri = jwks };

    [Theory]
    [InlineData("https://idp.example/jwks", true)]
    [InlineData("http://127.0.0.1:8080/jwks", true)]
    [InlineData("http://[::1]:8080/jwks", true)]
    [InlineData("http://localhost:8080/jwks", true)]
    [InlineData("http://idp.example/jwks", false)]
    [InlineData("http://10.0.0.5/jwks", false)]
    [InlineData("/jwks", false)]
    public void JwksUri_HttpsOrLoopbackOnly(string address, bool accepted) =>
        Assert.Equal(accepted, Configured(address).Problem() is null);

    [Fact]
    public void Problem_NamesWhatIsMissingOrWrong()
    {
        Assert.Null(new OidcOptions().Problem()); // off
        Assert.Contains("Audience", new OidcOptions { Issuer = "https://idp.example/", JwksUri = "https://idp.example/jwks" }.Problem());
        Assert.Contains("JwksUri", new OidcOptions { Issuer = "https://idp.example/", Audience = "a" }.Problem());
        var badRole = Configured("https://idp.example/jwks");
        badRole.RoleMappings["admins"] = "admin superuser";
        Assert.Contains("'superuser'", badRole.Problem());
        var symmetric = Configured("https://idp.example/jwks");
        symmetric.Algorithms = ["HS256"];
        Assert.Contains("asymmetric", symmetric.Problem());
    }

    [Fact]
    public void MapRoles_UnionOfMappedValues_CaseInsensitive()
    {
        var options = Configured("https://idp.example/jwks");
        options.RoleMappings = new Dictionary<string, string> { ["ML-Leads"] = "ml-lead, viewer", ["owners"] = "product-owner" };
        Assert.Equal(["ml-lead", "product-owner", "viewer"], options.MapRoles(["ml-leads", "owners", "unknown"]));
        Assert.Empty(options.MapRoles(["unknown"]));
    }
}
