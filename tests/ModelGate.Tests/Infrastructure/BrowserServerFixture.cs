using System.Reflection;
using Microsoft.Extensions.Time.Testing;
using Microsoft.Playwright;

namespace ModelGate.Tests.Infrastructure;

/// <summary>
/// The real host on Kestrel on a loopback port (SQLite, the bootstrap admin key) and one headless Chromium shared by the
/// test class: Debian's <c>chromium</c> driven by the Playwright driver bundled in the NuGet package (no browser download).
/// Without the browser the tests are skipped, except under CI, where that is a failure.
/// </summary>
public class BrowserServerFixture : SqliteServerFixture
{
    public const string ChromiumVariable = "MODELGATE_TEST_CHROMIUM";
    public const string DefaultChromium = "/usr/bin/chromium";

    private IPlaywright? _playwright;
    private IBrowser? _browser;

    public BrowserServerFixture()
    {
        // The browser judges the session cookie's expiry by its own (real) clock: the server's clock starts at the real
        // time, so that a cookie issued "now" is not already expired to Chromium. Tests still move it by hand.
        var now = DateTimeOffset.UtcNow;
        Time = new FakeTimeProvider(new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, now.Minute, now.Second, TimeSpan.Zero));
    }

    protected override bool ListensOnSocket => true;

    public static string ChromiumPath =>
        Environment.GetEnvironmentVariable(ChromiumVariable) is { Length: > 0 } path ? path : DefaultChromium;

    public static bool Required => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public IBrowser Browser => _browser ?? throw new InvalidOperationException(SkipReason ?? "the browser did not start");

    /// <summary>Where screenshots go: <c>TestResults/console-screenshots/</c> beside the test project.</summary>
    public static string ScreenshotDirectory => Path.Combine(
        typeof(BrowserServerFixture).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "TestResultsDirectory").Value!,
        "console-screenshots");

    public override async ValueTask InitializeAsync()
    {
        var chromium = ChromiumPath;
        if (!File.Exists(chromium))
        {
            var message = $"Chromium is not installed at '{chromium}' ({ChromiumVariable}); install Debian's chromium (apt-get install chromium), or run .ci/run, to include the browser tests";
            if (Required)
            {
                throw new InvalidOperationException(message);
            }
            SkipReason = message;
            return;
        }
        await base.InitializeAsync();
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = chromium, Headless = true });
    }

    /// <summary>A fresh browser context (its own cookies) on this server, at <paramref name="width"/>×<paramref name="height"/>.</summary>
    public async Task<IBrowserContext> NewContextAsync(int width = 1280, int height = 800)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = BaseAddress.ToString(),
            ViewportSize = new ViewportSize { Width = width, Height = height },
        });
        return context;
    }

    public override async ValueTask DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.DisposeAsync();
        }
        _playwright?.Dispose();
        await base.DisposeAsync();
    }
}
