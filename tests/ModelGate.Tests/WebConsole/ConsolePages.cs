using Microsoft.Playwright;

namespace ModelGate.Tests.WebConsole;

/// <summary>The console's page contract as the browser tests drive it (selectors in one place).</summary>
public static class ConsolePages
{
    public const string SignInPath = "/console/sign-in";
    public const string CatalogPath = "/console";
    public const string SessionCookie = "modelgate_console";

    /// <summary>The hidden form field that carries the session's anti-forgery token.</summary>
    public const string AntiforgeryField = ModelGate.WebConsole.ConsoleSessions.CsrfField;

    public static string PathOf(IPage page) => new Uri(page.Url).AbsolutePath;

    public static ILocator SignInForm(IPage page) => page.Locator("form#sign-in");

    /// <summary>Fills the sign-in form with <paramref name="key"/> and submits it; returns the response to the form's POST.</summary>
    public static async Task<IResponse> SubmitKeyAsync(IPage page, string key)
    {
        if (PathOf(page) != SignInPath)
        {
            await page.GotoAsync(SignInPath);
        }
        var form = SignInForm(page);
        await form.GetByLabel("API key").FillAsync(key);
        return await page.RunAndWaitForResponseAsync(() => form.GetByRole(AriaRole.Button).ClickAsync(),
            r => r.Request.Method == "POST" && r.Request.IsNavigationRequest);
    }

    /// <summary>Signs in with <paramref name="key"/> and returns once the catalog has loaded.</summary>
    public static async Task SignInAsync(IPage page, string key)
    {
        await SubmitKeyAsync(page, key);
        await page.WaitForURLAsync(url => new Uri(url).AbsolutePath == CatalogPath);
        await page.Locator("table#catalog").WaitForAsync();
    }

    public static async Task<BrowserContextCookiesResult?> SessionCookieAsync(IBrowserContext context) =>
        (await context.CookiesAsync()).SingleOrDefault(c => c.Name == SessionCookie);

    // Admin pages (keys, principals) and silences: the admin helper's block.
    public const string KeysPath = "/console/keys";
    public const string PrincipalsPath = "/console/principals";

    public static ILocator CreateKeyForm(IPage page) => page.Locator("form#create-key");

    /// <summary>The new key's secret on the answer to the create form (shown once).</summary>
    public static ILocator NewKeySecret(IPage page) => page.Locator("[data-testid=secret]");

    public static ILocator KeyRow(IPage page, string id) => page.Locator($"table#keys tr[data-key=\"{id}\"]");

    public static ILocator SilenceForm(IPage page) => page.Locator("form#create-silence");

    public static ILocator AlertRow(IPage page, string key) => page.Locator($"table#firing tr[data-alert=\"{key}\"]");

    public static ILocator SignOutButton(IPage page) => page.Locator("form#sign-out").GetByRole(AriaRole.Button);

    // Single sign-on (OpenID Connect), when the server is configured for it.

    public const string SingleSignOnStartPath = "/console/oidc/sign-in";
    public const string SingleSignOnCallbackPath = "/console/oidc/callback";

    /// <summary>The sign-in page's "Sign in with single sign-on" form (absent when single sign-on is not configured).</summary>
    public static ILocator SingleSignOnForm(IPage page) => page.Locator("form#sso");
}
