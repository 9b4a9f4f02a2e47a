using System.Buffers.Binary;
using Microsoft.Playwright;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;
using static ModelGate.Tests.WebConsole.ConsolePages;

namespace ModelGate.Tests.WebConsole;

/// <summary>
/// The browser server with single sign-on through the stand-in provider. The browser reaches the provider's authorization
/// endpoint as <c>localhost</c> and the console as <c>127.0.0.1</c>: two sites, so the provider's redirect back is a
/// cross-site navigation, as with a real provider (the explicit <c>Oidc:AuthorizationEndpoint</c> wins over the discovered one).
/// </summary>
public sealed class OidcBrowserServerFixture : BrowserServerFixture, IOidcServer
{
    public IdentityProviderStub IdP { get; private set; } = null!;

    protected override async Task<IEnumerable<string>> ExtraArgumentsAsync()
    {
        IdP = await IdentityProviderStub.StartAsync();
        IdP.Clock = Time.GetUtcNow;
        var authorize = new UriBuilder(IdP.AuthorizationEndpoint) { Host = "localhost" }.Uri.ToString();
        return [.. IdP.Arguments(discover: true), "--Oidc:RoleMappings:admins=admin", $"--Oidc:AuthorizationEndpoint={authorize}"];
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

/// <summary>Signing in with single sign-on in a real Chromium, through the stand-in provider.</summary>
public sealed class OidcSignInBrowserTests(OidcBrowserServerFixture fixture) : IClassFixture<OidcBrowserServerFixture>
{
    private OidcBrowserServerFixture Server
    {
        get
        {
            fixture.SkipIfUnavailable();
            return fixture;
        }
    }

    [Theory]
    [InlineData(1280, 800)]
    [InlineData(390, 844)]
    public async Task SingleSignOn_InChromium_ReachesTheCatalogAsThePerson_WithAStrictSessionCookie(int width, int height)
    {
        var email = $"grace-{Guid.NewGuid().ToString("N")[..8]}@example.com";
        Server.IdP.SignsIn = new ProviderSignIn(email, ["admins"]);
        Server.IdP.Interactive = true;
        var context = await Server.NewContextAsync(width, height);
        await using var _ = context;
        var page = await context.NewPageAsync();
        var navigations = new System.Collections.Concurrent.ConcurrentQueue<string>();
        page.Request += (_, request) =>
        {
            if (request.IsNavigationRequest)
            {
                navigations.Enqueue(request.Url);
            }
        };
        await page.GotoAsync(SignInPath);
        var sso = SingleSignOnForm(page).GetByRole(AriaRole.Button, new() { Name = "Sign in with single sign-on" });
        await Assertions.Expect(sso).ToBeVisibleAsync();
        Assert.True(await page.EvaluateAsync<int>("() => document.documentElement.scrollWidth") <= width);
        Directory.CreateDirectory(BrowserServerFixture.ScreenshotDirectory);
        var png = await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserServerFixture.ScreenshotDirectory, $"sign-in-sso-{width}.png"), FullPage = true });
        Assert.Equal(width, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16, 4)));

        // Keyboard: the button is reachable and pressed with Enter; at the provider (another site) the person goes on, and
        // the provider's page sends the browser back: a cross-site navigation, which carries the pending sign-in's Lax cookie.
        await sso.FocusAsync();
        await page.Keyboard.PressAsync("Enter");
        await page.WaitForURLAsync(url => url.StartsWith("http://localhost:", StringComparison.Ordinal));
        await page.Locator("a#approve").ClickAsync();
        await page.WaitForURLAsync(url => new Uri(url).AbsolutePath == CatalogPath);
        await page.Locator("table#catalog").WaitForAsync();
        Assert.Equal(email, await page.Locator("[data-testid=whoami]").InnerTextAsync());
        await Assertions.Expect(page.Locator("nav a[href='/console/principals']")).ToBeVisibleAsync();
        // The browser went to the provider under the other site's name, and came back to the callback.
        Assert.Contains(navigations, u => u.StartsWith("http://localhost:", StringComparison.Ordinal) && u.Contains("/protocol/openid-connect/auth?", StringComparison.Ordinal));
        Assert.Contains(navigations, u => u.StartsWith(Server.BaseAddress + SingleSignOnCallbackPath.TrimStart('/') + "?", StringComparison.Ordinal));

        var cookies = await context.CookiesAsync();
        var session = Assert.Single(cookies, c => c.Name == SessionCookie);
        Assert.True(session.HttpOnly);
        Assert.Equal(SameSiteAttribute.Strict, session.SameSite);
        Assert.DoesNotContain(cookies, c => c.Name == ModelGate.WebConsole.OidcSignInPages.PendingCookie);

        // Through the REST API: the person's principal, with the role the admins group maps to.
        var principal = await Server.Api().GetPrincipalAsync(email);
        Assert.Equal([Roles.Admin], principal.Roles);
    }
}
