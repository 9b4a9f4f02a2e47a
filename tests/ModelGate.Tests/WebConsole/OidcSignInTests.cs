using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;
using ModelGate.Client;
using ModelGate.Security;
using ModelGate.Storage.Security;
using ModelGate.Tests.Infrastructure;
using ModelGate.WebConsole;

using static ModelGate.Tests.WebConsole.ConsoleHttp;

namespace ModelGate.Tests.WebConsole;

/// <summary>
/// A console server with single sign-on: the stand-in provider (<see cref="IdentityProviderStub"/>) found through its discovery
/// document (authorization, token and key set endpoints), its groups mapped to roles, an admins group among them.
/// </summary>
public sealed class ConsoleOidcServerFixture : SqliteServerFixture, IOidcServer
{
    public IdentityProviderStub IdP { get; private set; } = null!;

    protected override async Task<IEnumerable<string>> ExtraArgumentsAsync()
    {
        IdP = await IdentityProviderStub.StartAsync();
        IdP.Clock = Time.GetUtcNow; // the provider issues tokens by the server's (fake) clock
        return [.. IdP.Arguments(discover: true), "--Oidc:RoleMappings:admins=admin"];
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

/// <summary>
/// The console's single sign-on over HTTP, against a provider the test serves: the authorization code flow with PKCE, state
/// and nonce starts a session as the person's principal with the mapped roles; every broken answer (another state, a replayed
/// code, another nonce or audience, a foreign signature, an expired token, the provider's error, a disabled or unknown
/// principal) shows the sign-in page with the reason and starts no session.
/// </summary>
public sealed partial class OidcSignInTests(ConsoleOidcServerFixture server) : IClassFixture<ConsoleOidcServerFixture>
{
    private IdentityProviderStub Provider => server.IdP;

    /// <summary>The browser's side of the console (in memory): neither follows redirects nor keeps cookies.</summary>
    private HttpClient Browser() => ConsoleHttp.Browser(server);

    /// <summary>The browser's side of the provider (a socket): redirects are followed by the test, step by step.</summary>
    private static readonly HttpClient ToProvider = new(new SocketsHttpHandler { AllowAutoRedirect = false });

    private static string Email(string name) => $"{name}-{Guid.NewGuid().ToString("N")[..8]}@example.com";

    private sealed record Attempt(string AuthorizationUrl, string PendingCookie, string SetCookie);

    private sealed record Answer(HttpStatusCode Status, string Body, IReadOnlyList<string> SetCookies, HttpResponseMessage Response)
    {
        public string? Session => SetCookies.FirstOrDefault(c => c.StartsWith(ConsoleSessions.CookieName + "=", StringComparison.Ordinal) && !c.StartsWith(ConsoleSessions.CookieName + "=;", StringComparison.Ordinal))?.Split(';')[0];
    }

    /// <summary>The sign-in page's button: the console answers with the provider's authorization URL and the pending sign-in's cookie.</summary>
    private static async Task<Attempt> StartAsync(HttpClient browser)
    {
        using var response = await browser.PostAsync("/console/oidc/sign-in", new FormUrlEncodedContent([]));
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        var setCookie = Assert.Single(response.Headers.GetValues("Set-Cookie"));
        Assert.StartsWith(OidcSignInPages.PendingCookie + "=", setCookie);
        return new Attempt(response.Headers.Location!.OriginalString, setCookie.Split(';')[0], setCookie);
    }

    /// <summary>The provider approves: the callback address it sends the browser back to.</summary>
    private static async Task<Uri> AuthorizeAsync(string authorizationUrl)
    {
        using var response = await ToProvider.GetAsync(authorizationUrl);
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        return response.Headers.Location!;
    }

    private static async Task<Answer> CallbackAsync(HttpClient browser, Uri callback, string? pendingCookie)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, callback.PathAndQuery);
        if (pendingCookie is not null)
        {
            request.Headers.Add("Cookie", pendingCookie);
        }
        var response = await browser.SendAsync(request);
        return new Answer(response.StatusCode, await response.Content.ReadAsStringAsync(),
            response.Headers.TryGetValues("Set-Cookie", out var cookies) ? cookies.ToList() : [], response);
    }

    /// <summary>The whole flow for <paramref name="who"/>: the callback's answer (and the callback address, for replays).</summary>
    private async Task<(Answer Answer, Uri Callback, Attempt Attempt)> SignInAsync(HttpClient browser, ProviderSignIn who)
    {
        Provider.SignsIn = who;
        var attempt = await StartAsync(browser);
        var callback = await AuthorizeAsync(attempt.AuthorizationUrl);
        return (await CallbackAsync(browser, callback, attempt.PendingCookie), callback, attempt);
    }



    [GeneratedRegex("<p role=\"alert\">([^<]*)</p>")]
    private static partial Regex AlertElement();

    /// <summary>The page's <c>[role=alert]</c> text, decoded.</summary>
    private static string AlertOf(string body) => WebUtility.HtmlDecode(AlertElement().Match(body).Groups[1].Value);

    private static Dictionary<string, string> QueryOf(string url) =>
        Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(new Uri(url).Query).ToDictionary(q => q.Key, q => q.Value.ToString());

    [Fact]
    public async Task SignIn_WithTheProvider_StartsASessionAsTheMappedPrincipal_AnAdminSeesTheAdminNavigation()
    {
        var browser = Browser();
        var signIn = await GetAsync(browser, "/console/sign-in", null);
        Assert.Contains("<form id=\"sso\" method=\"post\" action=\"/console/oidc/sign-in\">", signIn.Body);
        Assert.Contains("Sign in with single sign-on", signIn.Body);
        Assert.Contains("<form id=\"sign-in\"", signIn.Body); // the API key's form stays

        var email = Email("ada");
        Provider.SignsIn = new ProviderSignIn(email, ["admins", "readers"]);
        var attempt = await StartAsync(browser);
        // The pending sign-in's cookie: only for the callback, HttpOnly, Lax (the provider's redirect back is cross-site).
        Assert.Contains("path=/console/oidc", attempt.SetCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("httponly", attempt.SetCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=lax", attempt.SetCookie, StringComparison.OrdinalIgnoreCase);
        // The authorization request: code flow, S256 PKCE, state and nonce, the scopes, ModelGate's client id and absolute redirect URI.
        Assert.StartsWith(Provider.AuthorizationEndpoint + "?", attempt.AuthorizationUrl);
        var asked = QueryOf(attempt.AuthorizationUrl);
        Assert.Equal(("code", "S256", "openid email profile", IdentityProviderStub.Audience, "http://localhost/console/oidc/callback"),
            (asked["response_type"], asked["code_challenge_method"], asked["scope"], asked["client_id"], asked["redirect_uri"]));
        Assert.True(asked["state"].Length >= 43 && asked["nonce"].Length >= 43 && asked["state"] != asked["nonce"]);

        var callback = await AuthorizeAsync(attempt.AuthorizationUrl);
        Provider.TokenRequests.Clear();
        var answer = await CallbackAsync(browser, callback, attempt.PendingCookie);
        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.Contains($"data-testid=\"sso-identity\">{email}<", answer.Body);
        Assert.Equal("0; url=/console", answer.Response.Headers.GetValues("Refresh").Single());
        // The code was exchanged with the verifier whose SHA-256 is the challenge sent (the provider checks it too).
        var exchanged = Assert.Single(Provider.TokenRequests);
        Assert.Equal(asked["code_challenge"], Base64UrlEncoder.Encode(SHA256.HashData(Encoding.ASCII.GetBytes(exchanged["code_verifier"]))));
        Assert.Equal(("authorization_code", "http://localhost/console/oidc/callback", IdentityProviderStub.Audience),
            (exchanged["grant_type"], exchanged["redirect_uri"], exchanged["client_id"]));
        // The pending sign-in is gone; the session cookie is the console's usual one.
        Assert.Contains(answer.SetCookies, c => c.StartsWith(OidcSignInPages.PendingCookie + "=;", StringComparison.Ordinal));
        var sessionCookie = Assert.Single(answer.SetCookies, c => c.StartsWith(ConsoleSessions.CookieName + "=", StringComparison.Ordinal));
        Assert.Contains("samesite=strict", sessionCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("httponly", sessionCookie, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(email, Uri.UnescapeDataString(sessionCookie), StringComparison.OrdinalIgnoreCase);

        var page = await GetAsync(browser, "/console", answer.Session);
        Assert.Equal(HttpStatusCode.OK, page.Status);
        Assert.Contains($"data-testid=\"whoami\">{email}<", page.Body);
        Assert.Contains("href=\"/console/principals\"", page.Body); // admins → admin: the admin navigation
        Assert.Contains("href=\"/console/audit\"", page.Body); // a person is never scoped to deployments
        // The person's principal, made at sign-in with the mapped roles and audited as the bearer path does.
        var principal = await server.Api().GetPrincipalAsync(email);
        Assert.Equal((PrincipalKinds.Person, PrincipalSources.Oidc), (principal.Kind, principal.Source));
        Assert.Equal([Roles.Admin, Roles.Viewer], principal.Roles.Order());
        var created = Assert.Single((await server.Api().ListAuditAsync(subject: OidcPrincipals.Subject(principal.Id))).Items);
        Assert.Equal(("principal.created", OidcPrincipals.Actor), (created.Action, created.Actor));

        // Sign-out, with the form's token, ends the person's session as it ends a key's.
        using var signOut = new HttpRequestMessage(HttpMethod.Post, "/console/sign-out")
        {
            Content = new FormUrlEncodedContent([KeyValuePair.Create("_csrf", Csrf(page.Body))]),
        };
        signOut.Headers.Add("Cookie", answer.Session!);
        using (var signedOut = await browser.SendAsync(signOut))
        {
            Assert.Equal(HttpStatusCode.Redirect, signedOut.StatusCode);
            Assert.Contains(signedOut.Headers.GetValues("Set-Cookie"), c => c.StartsWith(ConsoleSessions.CookieName + "=;", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Viewer_SignedInWithTheProvider_HasNoAdminNavigation_AndAForgedApprovalIs403()
    {
        var model = ServerFixture.UniqueName("sso-approve");
        await server.Api().CreateModelAsync(new CreateModelRequest(model, "o", RiskTiers.Low, "classification"));
        var sha = await server.UploadAsync(Fixtures.ModelBytes("v1-logreg"));
        await server.Api().CreateVersionAsync(model, new CreateVersionRequest("1.0.0", [new ArtifactRef(sha, "m.onnx")], Fixtures.Attestation()));
        var browser = Browser();
        var email = Email("vic");
        var (answer, _, _) = await SignInAsync(browser, new ProviderSignIn(email, ["readers"]));
        Assert.Equal(HttpStatusCode.OK, answer.Status);

        var page = await GetAsync(browser, $"/console/models/{model}/versions/1.0.0", answer.Session);
        Assert.Equal(HttpStatusCode.OK, page.Status);
        Assert.Contains($"data-testid=\"whoami\">{email}<", page.Body);
        Assert.DoesNotContain("href=\"/console/principals\"", page.Body);
        Assert.DoesNotContain("id=\"approve\"", page.Body);
        var token = Csrf(page.Body);
        using var forged = new HttpRequestMessage(HttpMethod.Post, $"/console/models/{model}/versions/1.0.0/approve")
        {
            Content = new FormUrlEncodedContent([KeyValuePair.Create("_csrf", token), KeyValuePair.Create("decision", "approve"), KeyValuePair.Create("role", Roles.MlLead)]),
        };
        forged.Headers.Add("Cookie", answer.Session!);
        using var refused = await browser.SendAsync(forged);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.DoesNotContain((await server.Api().ListAuditAsync(subject: $"models/{model}*")).Items, e => e.Action == "version.approved");
    }

    [Fact]
    public async Task Callback_WithAnotherStateOrNoPendingSignIn_IsRefused400_AndStartsNoSession()
    {
        var browser = Browser();
        Provider.SignsIn = new ProviderSignIn(Email("mallory"), ["admins"]);
        var mine = await StartAsync(browser);
        var other = await StartAsync(browser);
        var callback = await AuthorizeAsync(other.AuthorizationUrl);
        Assert.NotEqual(QueryOf(mine.AuthorizationUrl)["state"], QueryOf(other.AuthorizationUrl)["state"]);

        // Another sign-in's answer in this browser (login CSRF: someone else's code), and an answer with no sign-in pending.
        foreach (var (name, cookie) in new[] { ("another state", mine.PendingCookie), ("no pending sign-in", null) })
        {
            var answer = await CallbackAsync(browser, callback, cookie);
            Assert.True(answer.Status == HttpStatusCode.BadRequest, $"{name}: {answer.Status}");
            Assert.Contains("does not belong to a sign-in started in this browser", AlertOf(answer.Body));
            Assert.Null(answer.Session);
        }
        // A callback with the right state but no code.
        var noCode = await CallbackAsync(browser, new Uri($"http://localhost/console/oidc/callback?state={QueryOf(other.AuthorizationUrl)["state"]}"), other.PendingCookie);
        Assert.Equal(HttpStatusCode.BadRequest, noCode.Status);
        Assert.Contains("no authorization code", noCode.Body);
        Assert.Null(noCode.Session);
    }

    [Fact]
    public async Task Callback_AfterTheSignInTimeout_IsRefused400()
    {
        var browser = Browser();
        Provider.SignsIn = new ProviderSignIn(Email("slow"), ["readers"]);
        var attempt = await StartAsync(browser);
        var callback = await AuthorizeAsync(attempt.AuthorizationUrl);
        server.Time.Advance(TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(1)); // Oidc:SignInTimeout (10 minutes)
        var answer = await CallbackAsync(browser, callback, attempt.PendingCookie);
        Assert.Equal(HttpStatusCode.BadRequest, answer.Status);
        Assert.Contains("the sign-in took longer than 10 minutes", AlertOf(answer.Body));
        Assert.Null(answer.Session);
    }

    [Fact]
    public async Task TokenEndpoint_Unreachable_Is502_AndStartsNoSession()
    {
        var options = server.App.Services.GetRequiredService<IOptions<OidcOptions>>().Value;
        using var closed = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        closed.Start();
        var port = ((IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop(); // a port nothing listens on
        options.TokenEndpoint = $"http://127.0.0.1:{port}/token";
        try
        {
            var (answer, _, _) = await SignInAsync(Browser(), new ProviderSignIn(Email("offline"), ["readers"]));
            Assert.Equal(HttpStatusCode.BadGateway, answer.Status);
            Assert.Contains($"token endpoint could not be reached (http://127.0.0.1:{port}/token)", AlertOf(answer.Body));
            Assert.Null(answer.Session);
        }
        finally
        {
            options.TokenEndpoint = null;
        }
    }

    [Fact]
    public async Task Callback_Replayed_IsRefusedAtTheTokenEndpoint_AndStartsNoSession()
    {
        var browser = Browser();
        var (first, callback, attempt) = await SignInAsync(browser, new ProviderSignIn(Email("rex"), ["readers"]));
        Assert.Equal(HttpStatusCode.OK, first.Status);
        Assert.NotNull(first.Session);

        // The same answer again, with the pending sign-in's cookie kept: the provider takes a code once.
        var replayed = await CallbackAsync(browser, callback, attempt.PendingCookie);
        Assert.Equal(HttpStatusCode.Unauthorized, replayed.Status);
        Assert.Contains("token endpoint refused the code (400: invalid_grant", AlertOf(replayed.Body));
        Assert.Null(replayed.Session);
    }

    private static readonly RSA OtherKey = RSA.Create(2048);

    [Theory]
    [InlineData("wrong nonce", "nonce is not this sign-in's")]
    [InlineData("wrong audience", "audience is not 'modelgate'")]
    [InlineData("wrong signature", "signature is not valid")]
    [InlineData("expired", "the token expired at")]
    [InlineData("provider error", "refused the sign-in: access_denied (the person said no)")]
    public async Task BrokenAnswer_IsRefused401_SayingWhichCheckFailed_AndStartsNoSession(string broken, string reason)
    {
        var email = Email("eve");
        var who = new ProviderSignIn(email, ["readers"]);
        who = broken switch
        {
            "wrong nonce" => who with { Nonce = "not-this-sign-ins-nonce" },
            "wrong audience" => who with { Audience = "another-client" },
            "wrong signature" => who with { SignWith = OtherKey }, // the provider's key id, another key
            "expired" => who with { IssuedAgo = TimeSpan.FromMinutes(10) }, // 5 minutes' lifetime, past the 30 s skew
            "provider error" => who with { Error = "access_denied" },
            _ => throw new ArgumentOutOfRangeException(nameof(broken)),
        };
        var (answer, _, _) = await SignInAsync(Browser(), who);
        Assert.Equal(HttpStatusCode.Unauthorized, answer.Status);
        Assert.Contains(reason, AlertOf(answer.Body));
        Assert.Null(answer.Session);
        Assert.Contains("<form id=\"sso\"", answer.Body); // the sign-in page again, to start over
        // Nothing was provisioned for a refused token.
        Assert.False(await server.WithDbAsync(db => Task.FromResult(db.Principals.Any(p => p.IdentityKey == email))));
    }

    [Fact]
    public async Task DisabledPrincipal_SessionEndsAtTheNextPage_AndSigningInAgainIsRefused403()
    {
        var browser = Browser();
        var email = Email("dora");
        var (answer, _, _) = await SignInAsync(browser, new ProviderSignIn(email, ["readers"]));
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(browser, "/console", answer.Session)).Status);

        var admin = await server.PeopleAdminAsync();
        await admin.UpdatePrincipalAsync(email, new UpdatePrincipalRequest(Disabled: true));
        Assert.Equal("/console/sign-in", (await GetAsync(browser, "/console", answer.Session)).Location);

        var again = await SignInAsync(browser, new ProviderSignIn(email, ["readers"]));
        Assert.Equal(HttpStatusCode.Forbidden, again.Answer.Status);
        Assert.Contains("is disabled", AlertOf(again.Answer.Body));
        Assert.Null(again.Answer.Session);
    }

    [Fact]
    public async Task RolesChangedAfterSignIn_TakeEffectAtTheNextPage()
    {
        var browser = Browser();
        var email = Email("rolf");
        var (answer, _, _) = await SignInAsync(browser, new ProviderSignIn(email, ["admins"]));
        Assert.Contains("href=\"/console/principals\"", (await GetAsync(browser, "/console", answer.Session)).Body);
        var admin = await server.PeopleAdminAsync();
        await admin.UpdatePrincipalAsync(email, new UpdatePrincipalRequest(Grant: [Roles.Viewer], Revoke: [Roles.Admin]));
        var page = await GetAsync(browser, "/console", answer.Session);
        Assert.Equal(HttpStatusCode.OK, page.Status);
        Assert.DoesNotContain("href=\"/console/principals\"", page.Body);
    }

    [Fact]
    public async Task ClientSecretRedirectBaseAndExtraScopes_AreSentAsConfigured()
    {
        var options = server.App.Services.GetRequiredService<IOptions<OidcOptions>>().Value;
        options.ClientSecret = "s3cret:with/odd+chars";
        options.RedirectBaseUrl = "https://ml.example.com/gate/";
        options.ExtraScopes = ["groups", "openid"];
        try
        {
            var browser = Browser();
            Provider.SignsIn = new ProviderSignIn(Email("cid"), ["readers"]);
            var attempt = await StartAsync(browser);
            var asked = QueryOf(attempt.AuthorizationUrl);
            const string Redirect = "https://ml.example.com/gate/console/oidc/callback";
            Assert.Equal((Redirect, "openid email profile groups"), (asked["redirect_uri"], asked["scope"]));
            var callback = await AuthorizeAsync(attempt.AuthorizationUrl);
            Assert.StartsWith(Redirect + "?code=", callback.ToString());
            // The reverse proxy takes the prefix off before the request reaches the console.
            Provider.TokenRequests.Clear();
            var answer = await CallbackAsync(browser, new Uri("http://localhost/console/oidc/callback" + callback.Query), attempt.PendingCookie);
            Assert.Equal(HttpStatusCode.OK, answer.Status);
            var exchanged = Assert.Single(Provider.TokenRequests);
            // client_secret_basic: the id and secret in the Authorization header (form-encoded first), not in the form.
            Assert.Equal((IdentityProviderStub.Audience, "s3cret:with/odd+chars"), (exchanged["basic_client_id"], exchanged["basic_client_secret"]));
            Assert.False(exchanged.ContainsKey("client_id"));
            Assert.Equal(Redirect, exchanged["redirect_uri"]);
        }
        finally
        {
            options.ClientSecret = null;
            options.RedirectBaseUrl = null;
            options.ExtraScopes = [];
        }
    }

    [Fact]
    public async Task UnknownPrincipal_WhenPrincipalsAreNotMadeAtSignIn_IsRefused403()
    {
        var options = server.App.Services.GetRequiredService<IOptions<OidcOptions>>().Value;
        var email = Email("nobody");
        options.CreatePrincipals = false;
        try
        {
            var (answer, _, _) = await SignInAsync(Browser(), new ProviderSignIn(email, ["readers"]));
            Assert.Equal(HttpStatusCode.Forbidden, answer.Status);
            Assert.Contains($"no principal is named '{email}'", AlertOf(answer.Body));
            Assert.Null(answer.Session);
            Assert.False(await server.WithDbAsync(db => Task.FromResult(db.Principals.Any(p => p.IdentityKey == email))));

            // Made by an administrator first, the person signs in.
            await (await server.PeopleAdminAsync()).CreatePrincipalAsync(new CreatePrincipalRequest(PrincipalKinds.Person, email, null, [Roles.Viewer]));
            var (made, _, _) = await SignInAsync(Browser(), new ProviderSignIn(email, ["readers"]));
            Assert.Equal(HttpStatusCode.OK, made.Status);
        }
        finally
        {
            options.CreatePrincipals = true;
        }
    }
}

/// <summary>Without single sign-on configured, the sign-in page has no button and the flow's endpoints are not there.</summary>
public sealed class OidcSignInAbsentTests(SqliteServerFixture server) : IClassFixture<SqliteServerFixture>
{
    [Fact]
    public async Task SignInPage_WithoutSingleSignOn_HasNoButton_AndTheFlowIsNotFound()
    {
        using var browser = new HttpClient(server.Handler()) { BaseAddress = new Uri("http://localhost/") };
        var page = await (await browser.GetAsync("/console/sign-in")).Content.ReadAsStringAsync();
        Assert.Contains("<form id=\"sign-in\"", page);
        Assert.DoesNotContain("id=\"sso\"", page);
        Assert.DoesNotContain("single sign-on", page, StringComparison.OrdinalIgnoreCase);
        using var start = await browser.PostAsync("/console/oidc/sign-in", new FormUrlEncodedContent([]));
        Assert.Equal(HttpStatusCode.NotFound, start.StatusCode);
        Assert.False(start.Headers.Contains("Set-Cookie"));
        using var callback = await browser.GetAsync("/console/oidc/callback?code=x&state=y");
        Assert.Equal(HttpStatusCode.NotFound, callback.StatusCode);
    }
}

/// <summary>The console sign-in's part of the <c>Oidc</c> section: when it is on, and what start-up refuses.</summary>
public sealed class OidcSignInOptionsTests
{
    private static OidcOptions Bearer() => new() { Issuer = "https://idp.example/", Audience = "modelgate", JwksUri = "https://idp.example/jwks" };

    [Fact]
    public void ConsoleSignIn_IsOnWithAnAuthorityOrBothEndpoints_AndTheClientIdDefaultsToTheAudience()
    {
        Assert.False(Bearer().ConsoleSignIn); // a key set alone: bearer tokens only
        var discovered = Bearer();
        discovered.Authority = "https://idp.example/"; // keys from the key set, endpoints from the discovery document
        Assert.True(discovered.ConsoleSignIn);
        Assert.False(new OidcOptions { Authority = "https://idp.example/" }.ConsoleSignIn); // no issuer: off
        var both = Bearer();
        both.AuthorizationEndpoint = "https://idp.example/auth";
        Assert.False(both.ConsoleSignIn);
        both.TokenEndpoint = "https://idp.example/token";
        Assert.True(both.ConsoleSignIn);
        Assert.Equal("modelgate", both.EffectiveClientId);
        both.ClientId = "console";
        Assert.Equal("console", both.EffectiveClientId);
    }

    [Theory]
    [InlineData("AuthorizationEndpoint", "http://idp.example/auth", "must be an absolute https URL")]
    [InlineData("TokenEndpoint", "http://idp.example/token", "must be an absolute https URL")]
    [InlineData("AuthorizationEndpoint only", "https://idp.example/auth", "go together")]
    [InlineData("RedirectBaseUrl", "ml.example.com", "RedirectBaseUrl must be an absolute http(s) URL")]
    [InlineData("RedirectBaseUrl", "https://ml.example.com/?x=1", "without query or fragment")]
    [InlineData("ExtraScopes", "two words", "is not a scope")]
    [InlineData("SignInTimeout", "00:00:10", "SignInTimeout must be between")]
    public void Problem_NamesTheKey(string key, string value, string expected)
    {
        var options = Bearer();
        switch (key)
        {
            case "AuthorizationEndpoint": options.AuthorizationEndpoint = value; options.TokenEndpoint = "https://idp.example/token"; break;
            case "TokenEndpoint": options.TokenEndpoint = value; options.AuthorizationEndpoint = "https://idp.example/auth"; break;
            case "AuthorizationEndpoint only": options.AuthorizationEndpoint = value; break;
            case "RedirectBaseUrl": options.RedirectBaseUrl = value; break;
            case "ExtraScopes": options.ExtraScopes = [value]; break;
            case "SignInTimeout": options.SignInTimeout = TimeSpan.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
        }
        Assert.Contains(expected, options.Problem());
        Assert.Null(Bearer().Problem());
    }
}
