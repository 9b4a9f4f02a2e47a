using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Playwright;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;
using ModelGate.WebConsole;
using static ModelGate.Tests.WebConsole.ConsolePages;

namespace ModelGate.Tests.WebConsole;

/// <summary>Sign-in, the session cookie, sign-out and antiforgery, driven in a real Chromium.</summary>
public sealed class SignInBrowserTests(BrowserServerFixture fixture) : IClassFixture<BrowserServerFixture>
{
    private BrowserServerFixture Server
    {
        get
        {
            fixture.SkipIfUnavailable();
            return fixture;
        }
    }

    private async Task<(IBrowserContext Context, IPage Page)> OpenAsync()
    {
        var context = await Server.NewContextAsync();
        return (context, await context.NewPageAsync());
    }

    [Fact]
    public async Task Harness_Browser_ReachesTheServerOnItsLoopbackSocket()
    {
        var (context, page) = await OpenAsync();
        await using var _ = context;
        var response = await page.GotoAsync("/healthz");
        Assert.Equal((int)HttpStatusCode.OK, response!.Status);
        Assert.Contains("ok", await page.Locator("body").InnerTextAsync());
    }

    [Fact]
    public async Task Root_NotSignedIn_RedirectsToSignIn()
    {
        var (context, page) = await OpenAsync();
        await using var _ = context;
        await page.GotoAsync("/");
        Assert.Equal(SignInPath, PathOf(page));
        await page.GotoAsync(CatalogPath);
        Assert.Equal(SignInPath, PathOf(page));
    }

    [Fact]
    public async Task SignInPage_HasALabelledKeyFieldAndAButton()
    {
        var (context, page) = await OpenAsync();
        await using var _ = context;
        await page.GotoAsync(SignInPath);
        var form = SignInForm(page);
        var key = form.GetByLabel("API key");
        Assert.Equal("apiKey", await key.GetAttributeAsync("name"));
        Assert.Equal("password", await key.GetAttributeAsync("type"));
        Assert.Equal(1, await form.GetByRole(AriaRole.Button).CountAsync());
        Assert.Equal("post", (await form.GetAttributeAsync("method"))?.ToLowerInvariant());
    }

    [Fact]
    public async Task SignIn_WrongKey_ShowsTheFormAgainWithAnAlert_401()
    {
        var (context, page) = await OpenAsync();
        await using var _ = context;
        var response = await SubmitKeyAsync(page, "mg_not-a-key-0123456789abcdefghijklmnopqrstuvwx");
        Assert.Equal((int)HttpStatusCode.Unauthorized, response.Status);
        Assert.Equal(SignInPath, PathOf(page));
        var alert = page.Locator("[role=alert]");
        await Assertions.Expect(alert).ToBeVisibleAsync();
        Assert.Matches("(?i)refused|not accepted|invalid|unknown|wrong", await alert.InnerTextAsync());
        await Assertions.Expect(SignInForm(page).GetByLabel("API key")).ToBeVisibleAsync();
        Assert.Null(await SessionCookieAsync(context));
    }

    [Fact]
    public async Task SignIn_GoodKey_RedirectsToCatalog_WithAnHttpOnlySameSiteStrictCookie()
    {
        var (context, page) = await OpenAsync();
        await using var _ = context;
        var response = await SubmitKeyAsync(page, ServerFixture.AdminKey);
        Assert.InRange(response.Status, 300, 399);
        await page.WaitForURLAsync(url => new Uri(url).AbsolutePath == CatalogPath);
        await Assertions.Expect(page.Locator("table#catalog")).ToBeVisibleAsync();

        var cookie = await SessionCookieAsync(context);
        Assert.NotNull(cookie);
        Assert.True(cookie.HttpOnly);
        Assert.Equal(SameSiteAttribute.Strict, cookie.SameSite);
        Assert.Equal("/", cookie.Path);
        // The key is exchanged for a session: the cookie does not carry it.
        Assert.DoesNotContain(ServerFixture.AdminKey, Uri.UnescapeDataString(cookie.Value));
        // A lifetime: a persistent cookie that expires, not a session-only one.
        Assert.True(cookie.Expires > DateTimeOffset.UtcNow.ToUnixTimeSeconds());

        await page.GotoAsync("/");
        Assert.Equal(CatalogPath, PathOf(page));
        // Scripts cannot read the session.
        Assert.DoesNotContain(SessionCookie, await page.EvaluateAsync<string>("() => document.cookie"));
    }

    /// <summary>
    /// A person's key shows the person's identity (their e-mail); a key that is its own service principal shows its name
    /// (that principal's display name: its identity is the generated <c>key:…</c>).
    /// </summary>
    [Theory]
    [InlineData(Roles.MlLead)]
    [InlineData(Roles.Viewer)]
    public async Task Header_SignedIn_ShowsWhoIsSignedIn(string role)
    {
        var key = await Server.CreateKeyAsync(new CreateKeyRequest(ServerFixture.UniqueName("console"), [role]));
        var me = await Server.Api(key.Key).GetMeAsync();
        var (context, page) = await OpenAsync();
        await using var _ = context;
        await SignInAsync(page, key.Key!);
        var expected = me.Kind == PrincipalKinds.Person ? me.Identity : me.DisplayName!;
        await Assertions.Expect(page.Locator("[data-testid=whoami]")).ToContainTextAsync(expected);
    }

    [Fact]
    public async Task SignOut_EndsTheSession_ConsoleRedirectsToSignIn()
    {
        var (context, page) = await OpenAsync();
        await using var _ = context;
        await SignInAsync(page, ServerFixture.AdminKey);
        var form = page.Locator("form#sign-out");
        Assert.Equal("/console/sign-out", new Uri(new Uri(page.Url), await form.GetAttributeAsync("action") ?? "").AbsolutePath);
        await form.GetByRole(AriaRole.Button).ClickAsync();
        await page.WaitForURLAsync(url => new Uri(url).AbsolutePath != CatalogPath);
        Assert.Null(await SessionCookieAsync(context));
        await page.GotoAsync(CatalogPath);
        Assert.Equal(SignInPath, PathOf(page));
    }

    [Fact]
    public async Task Forms_ThatPost_CarryAnAntiforgeryToken()
    {
        var (context, page) = await OpenAsync();
        await using var _ = context;
        await SignInAsync(page, ServerFixture.AdminKey);
        var posting = page.Locator("form[method=post i], form[method=POST]");
        var count = await posting.CountAsync();
        Assert.True(count >= 1, "the signed-in page has no POST form (sign-out)");
        for (var i = 0; i < count; i++)
        {
            var form = posting.Nth(i);
            Assert.True(await form.Locator($"input[name={AntiforgeryField}]").CountAsync() == 1,
                $"form {await form.GetAttributeAsync("id")} has no antiforgery token");
        }
    }

    /// <summary>
    /// Login CSRF: a page on another site posts its own key to the sign-in form, which would sign the victim's browser in as
    /// the attacker (what they then do in the console is recorded as the attacker's and shows the attacker's data).
    /// </summary>
    [Fact]
    public async Task SignIn_PostedFromAnotherSite_DoesNotSignTheBrowserIn()
    {
        var (context, page) = await OpenAsync();
        await using var _ = context;
        var target = new Uri(Server.BaseAddress, SignInPath);
        await page.RouteAsync("http://attacker.example/**", route => route.FulfillAsync(new RouteFulfillOptions
        {
            ContentType = "text/html",
            Body = $"""
                <form id="f" method="post" action="{target}"><input name="apiKey" value="{ServerFixture.AdminKey}"></form>
                <script>document.getElementById('f').submit()</script>
                """,
        }));
        await page.RunAndWaitForResponseAsync(() => page.GotoAsync("http://attacker.example/"),
            r => r.Request.Method == "POST" && new Uri(r.Url).AbsolutePath == SignInPath);
        Assert.Null(await SessionCookieAsync(context));
    }

    [Fact]
    public async Task SignOut_WithoutAntiforgeryToken_IsRefused_SessionStillWorks()
    {
        var (context, page) = await OpenAsync();
        await using var _ = context;
        await SignInAsync(page, ServerFixture.AdminKey);

        // The sign-out form's own fields, less the token, posted with the browser's cookies (session and antiforgery).
        var fields = await page.Locator("form#sign-out input[type=hidden]").EvaluateAllAsync<Dictionary<string, string>>(
            "inputs => Object.fromEntries(inputs.map(i => [i.name, i.value]))");
        Assert.True(fields.Remove(AntiforgeryField), "the sign-out form carries no antiforgery token");
        var form = context.APIRequest.CreateFormData();
        foreach (var (name, value) in fields)
        {
            form.Set(name, value);
        }
        var forged = await context.APIRequest.PostAsync("/console/sign-out", new APIRequestContextOptions { Form = form, MaxRedirects = 0 });
        Assert.InRange(forged.Status, 400, 499);

        Assert.NotNull(await SessionCookieAsync(context));
        await page.ReloadAsync();
        Assert.Equal(CatalogPath, PathOf(page));
        await Assertions.Expect(page.Locator("table#catalog")).ToBeVisibleAsync();
    }

    /// <summary>The server ends a session at its lifetime (Console:SessionLifetime) whatever the browser still holds.</summary>
    [Fact]
    public async Task Session_PastItsLifetime_EndsAtTheNextPageLoad()
    {
        var (context, page) = await OpenAsync();
        await using var _ = context;
        var lifetime = Server.App.Services.GetRequiredService<IOptions<ConsoleOptions>>().Value.SessionLifetime;
        await SignInAsync(page, ServerFixture.AdminKey);
        Server.Time.Advance(lifetime - TimeSpan.FromMinutes(1));
        await page.ReloadAsync();
        Assert.Equal(CatalogPath, PathOf(page));

        Server.Time.Advance(TimeSpan.FromMinutes(1));
        await page.ReloadAsync();
        Assert.Equal(SignInPath, PathOf(page));
    }

    [Fact]
    public async Task RevokedKey_SessionStopsWorking_AtTheNextPageLoad()
    {
        var key = await Server.CreateKeyAsync(new CreateKeyRequest(ServerFixture.UniqueName("console-revoked"), [Roles.Viewer]));
        var (context, page) = await OpenAsync();
        await using var _ = context;
        await SignInAsync(page, key.Key!);

        await Server.Api().RevokeKeyAsync(key.Id);
        await page.ReloadAsync();
        Assert.Equal(SignInPath, PathOf(page));
        await page.GotoAsync(CatalogPath);
        Assert.Equal(SignInPath, PathOf(page));
    }
}
