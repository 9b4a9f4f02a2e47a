using System.Buffers.Binary;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using ModelGate.Client;
using ModelGate.Monitoring;
using ModelGate.Tests.Infrastructure;
using static ModelGate.Tests.WebConsole.ConsolePages;

namespace ModelGate.Tests.WebConsole;

/// <summary>
/// The admin pages in a real Chromium: a key created through the UI signs in after signing out; a silence created from an
/// alert's row; screenshots of the keys, principals and alerts pages at 1280 and 390 px.
/// </summary>
public sealed class AdminBrowserTests(BrowserServerFixture fixture) : IClassFixture<BrowserServerFixture>
{
    private BrowserServerFixture Server
    {
        get
        {
            fixture.SkipIfUnavailable();
            return fixture;
        }
    }

    private async Task<(IBrowserContext Context, IPage Page)> SignedInAsync(string key, int width = 1280, int height = 800)
    {
        var context = await Server.NewContextAsync(width, height);
        var page = await context.NewPageAsync();
        await SignInAsync(page, key);
        return (context, page);
    }

    [Fact]
    public async Task Keys_CreatedThroughTheUi_SignsInAfterSigningOut_WithItsOwnRoles()
    {
        var (context, page) = await SignedInAsync(ServerFixture.AdminKey);
        await using var _ = context;
        var name = ServerFixture.UniqueName("ui key");

        await page.Locator("nav").GetByRole(AriaRole.Link, new() { Name = "Keys", Exact = true }).ClickAsync();
        await page.WaitForURLAsync(url => new Uri(url).AbsolutePath == KeysPath);
        var form = CreateKeyForm(page);
        await form.GetByLabel("Name", new() { Exact = true }).FillAsync(name);
        await form.Locator("input[name=roles][value=viewer]").CheckAsync();
        await form.Locator("input[name=roles][value=deployer]").CheckAsync();
        var created = await page.RunAndWaitForResponseAsync(() => form.GetByRole(AriaRole.Button).ClickAsync(),
            r => r.Request.Method == "POST" && r.Request.IsNavigationRequest);
        Assert.Equal(201, created.Status);
        Assert.Contains("no-store", await created.HeaderValueAsync("cache-control") ?? "");
        var secret = await NewKeySecret(page).InputValueAsync();
        Assert.StartsWith("mg_", secret);
        Assert.DoesNotContain(secret, page.Url);

        // The key is listed, its secret is not.
        var key = Assert.Single(await Server.Api().ListKeysAsync(), k => k.Name == name);
        await page.GotoAsync(KeysPath);
        await Assertions.Expect(KeyRow(page, key.Id)).ToHaveCountAsync(1);
        Assert.DoesNotContain(secret, await page.ContentAsync());

        // The sign-out's own answer (a redirect to sign-in), then the sign-in page: a refusal would be named here, not time out.
        var signedOut = await page.RunAndWaitForResponseAsync(() => SignOutButton(page).ClickAsync(),
            r => r.Request.Method == "POST" && new Uri(r.Url).AbsolutePath == "/console/sign-out");
        Assert.Equal(302, signedOut.Status);
        await Assertions.Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/console/sign-in$"));
        await SignInAsync(page, secret);
        await Assertions.Expect(page.Locator("[data-testid=whoami]")).ToHaveTextAsync(name);
        // A deployer's session: no admin pages in its navigation.
        await Assertions.Expect(page.Locator("nav").GetByRole(AriaRole.Link, new() { Name = "Keys", Exact = true })).ToHaveCountAsync(0);
        Assert.Equal(key.Id, (await Server.Api(secret).GetMeAsync()).KeyId);
    }

    [Fact]
    public async Task Silence_CreatedFromAnAlertsRow_IsListedInForce_AndAudited()
    {
        var prefix = ServerFixture.UniqueName("slo:browser");
        var alert = $"{prefix}:fast";
        await Server.App.Services.GetRequiredService<AlertManager>().RaiseAsync(alert, prefix, "slo", "page", "error budget burning", new { },
            TestContext.Current.CancellationToken);
        var (context, page) = await SignedInAsync(ServerFixture.AdminKey);
        await using var _ = context;

        await page.GotoAsync("/console/alerts");
        await AlertRow(page, alert).GetByRole(AriaRole.Link, new() { Name = "Silence this" }).ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("silence="));
        var form = SilenceForm(page);
        await Assertions.Expect(form.GetByLabel("Alert key prefix")).ToHaveValueAsync(alert);
        await form.GetByLabel("Alert key prefix").FillAsync(prefix);
        await form.GetByLabel("For how long", new() { Exact = false }).FillAsync("90m");
        await form.GetByLabel("Reason", new() { Exact = false }).FillAsync("failover drill");
        await form.GetByRole(AriaRole.Button).ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("done=silenced"));
        await Assertions.Expect(page.Locator("#silences")).ToContainTextAsync(prefix);

        var silence = Assert.Single(await Server.Api().ListSilencesAsync(), s => s.KeyPrefix == prefix);
        Assert.Equal(Server.Time.GetUtcNow().UtcDateTime.AddMinutes(90), silence.Until);
        Assert.Single((await Server.Api().ListAuditAsync(subject: $"alerts/{prefix}")).Items, e => e.Action == "alert.silenced");
    }

    [Theory]
    [InlineData(1280, 800)]
    [InlineData(390, 844)]
    public async Task Screenshots_KeysPrincipalsAndAlerts_FitTheWidth(int width, int height)
    {
        var api = Server.Api();
        var person = await api.CreatePrincipalAsync(new CreatePrincipalRequest(PrincipalKinds.Person, ServerFixture.UniqueName("pat") + "@example.com",
            "Pat Example", [Roles.Deployer, Roles.Viewer]));
        await api.CreateKeyAsync(new CreateKeyRequest(ServerFixture.UniqueName("pat laptop"), [Roles.Deployer], Deployments: ["checkout", "search"],
            Principal: person.Id));
        await Server.App.Services.GetRequiredService<AlertManager>().RaiseAsync(ServerFixture.UniqueName("slo:checkout"), "checkout", "slo", "page",
            "checkout: error budget burning 14.4× (1 h window)", new { }, TestContext.Current.CancellationToken);
        var (context, page) = await SignedInAsync(ServerFixture.AdminKey, width, height);
        await using var _ = context;
        Directory.CreateDirectory(BrowserServerFixture.ScreenshotDirectory);

        foreach (var (path, name) in new[] { (KeysPath, "keys"), (PrincipalsPath, "principals"), ($"{PrincipalsPath}/{person.Id}", "principal"), ("/console/alerts", "alerts") })
        {
            await page.GotoAsync(path);
            await Assertions.Expect(page.Locator("main h1")).ToBeVisibleAsync();
            var file = Path.Combine(BrowserServerFixture.ScreenshotDirectory, $"{name}-{width}.png");
            var png = await page.ScreenshotAsync(new PageScreenshotOptions { Path = file, FullPage = true });
            var scrollWidth = await page.EvaluateAsync<int>("() => document.documentElement.scrollWidth");
            var widest = await page.EvaluateAsync<string>($"() => [...document.querySelectorAll('body *')].filter(e => !e.closest('.scroll') && e.getBoundingClientRect().right > {width}).map(e => e.tagName + '#' + e.id + '.' + e.className).slice(0, 5).join(' ')");
            Assert.True(scrollWidth <= width, $"{path} is {scrollWidth} px wide in a {width} px window: {widest}");
            Assert.Equal(width, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16, 4)));
        }
    }
}
