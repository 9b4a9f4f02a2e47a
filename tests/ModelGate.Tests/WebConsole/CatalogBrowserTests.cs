using System.Buffers.Binary;
using System.Text;
using Microsoft.Playwright;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;
using static ModelGate.Tests.WebConsole.ConsolePages;

namespace ModelGate.Tests.WebConsole;

/// <summary>The catalog page (models, their stages, search and filters) and the console's screenshots, in a real Chromium.</summary>
public sealed class CatalogBrowserTests(BrowserServerFixture fixture) : IClassFixture<BrowserServerFixture>
{
    private BrowserServerFixture Server
    {
        get
        {
            fixture.SkipIfUnavailable();
            return fixture;
        }
    }

    /// <summary>
    /// Two models that differ in every filtered field: the first has version 1.0.0 in <c>trained</c>, the second a version
    /// 1.0.0 that was rejected (the catalog lists the versions in the lifecycle's stages, not rejected or retired ones).
    /// </summary>
    private async Task<(string First, string Second, string Marker)> CreateModelsAsync()
    {
        var marker = Guid.NewGuid().ToString("N")[..8];
        var api = Server.Api();
        var first = $"fraud-{marker}";
        var second = $"churn-{marker}";
        await api.CreateModelAsync(new CreateModelRequest(first, $"payments-{marker}", RiskTiers.High, "classification", Tags: [$"cards-{marker}"]));
        await api.CreateModelAsync(new CreateModelRequest(second, $"growth-{marker}", RiskTiers.Low, "regression", Tags: [$"retention-{marker}"]));
        var sha = await Server.UploadAsync(Encoding.UTF8.GetBytes($"weights of {first} {Guid.NewGuid()}"));
        await api.CreateVersionAsync(first, new CreateVersionRequest("1.0.0", [new ArtifactRef(sha, "model.onnx")], Fixtures.Attestation()));
        await api.CreateVersionAsync(second, new CreateVersionRequest("1.0.0", [new ArtifactRef(sha, "model.onnx")], Fixtures.Attestation()));
        await api.TransitionAsync(second, "1.0.0", new TransitionRequest(Stages.Rejected, "not under test"));
        return (first, second, marker);
    }

    private static ILocator Row(IPage page, string model) => page.Locator($"table#catalog tr[data-model=\"{model}\"]");

    private async Task<(IBrowserContext Context, IPage Page)> SignedInAsync(int width = 1280, int height = 800)
    {
        var context = await Server.NewContextAsync(width, height);
        var page = await context.NewPageAsync();
        await SignInAsync(page, ServerFixture.AdminKey);
        return (context, page);
    }

    private static async Task SearchAsync(IPage page, Func<ILocator, Task> fill)
    {
        var form = page.Locator("form#catalog-search");
        Assert.Equal("get", (await form.GetAttributeAsync("method") ?? "get").ToLowerInvariant());
        await fill(form);
        var before = page.Url;
        await form.EvaluateAsync("f => f.requestSubmit()");
        await page.WaitForURLAsync(url => url != before);
        await page.Locator("table#catalog").WaitForAsync();
    }

    [Fact]
    public async Task Catalog_ListsEachModel_WithOwnerTierTaskAndTheVersionInEachStage()
    {
        var (first, second, marker) = await CreateModelsAsync();
        var (context, page) = await SignedInAsync();
        await using var _ = context;

        var row = Row(page, first);
        await Assertions.Expect(row).ToHaveCountAsync(1);
        var text = await row.InnerTextAsync();
        Assert.Contains(first, text);
        Assert.Contains($"payments-{marker}", text);
        Assert.Contains("high", text, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("classification", text);
        await Assertions.Expect(row.Locator($"[data-stage={Stages.Trained}]")).ToHaveTextAsync("1.0.0");
        foreach (var stage in (string[])[Stages.Evaluated, Stages.Registered, Stages.Staging, Stages.Production])
        {
            await Assertions.Expect(row.Locator($"[data-stage={stage}]")).Not.ToContainTextAsync("1.0.0");
        }
        await Assertions.Expect(page.Locator("table#catalog thead")).ToContainTextAsync(Stages.Trained, new() { IgnoreCase = true });

        var other = await Row(page, second).InnerTextAsync();
        Assert.Contains($"growth-{marker}", other);
        Assert.Contains("low", other, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("regression", other);
        Assert.DoesNotContain("1.0.0", other);
    }

    [Theory]
    [InlineData("name")]
    [InlineData("owner")]
    [InlineData("tag")]
    public async Task Catalog_Search_FiltersByNameOwnerOrTag(string field)
    {
        var (first, second, marker) = await CreateModelsAsync();
        var (context, page) = await SignedInAsync();
        await using var _ = context;
        var query = field switch { "name" => first, "owner" => $"payments-{marker}", _ => $"cards-{marker}" };

        await SearchAsync(page, form => form.Locator("input[name=q]").FillAsync(query));
        Assert.Equal(query, System.Web.HttpUtility.ParseQueryString(new Uri(page.Url).Query)["q"]);
        await Assertions.Expect(Row(page, first)).ToHaveCountAsync(1);
        await Assertions.Expect(Row(page, second)).ToHaveCountAsync(0);
        // The search box keeps what was searched.
        Assert.Equal(query, await page.Locator("form#catalog-search input[name=q]").InputValueAsync());
    }

    [Fact]
    public async Task Catalog_TierAndTaskFilters_KeepOnlyMatchingModels()
    {
        var (first, second, _) = await CreateModelsAsync();
        var (context, page) = await SignedInAsync();
        await using var _ = context;

        await SearchAsync(page, form => form.Locator("select[name=tier]").SelectOptionAsync(RiskTiers.Low));
        await Assertions.Expect(Row(page, second)).ToHaveCountAsync(1);
        await Assertions.Expect(Row(page, first)).ToHaveCountAsync(0);

        await page.GotoAsync(CatalogPath);
        await SearchAsync(page, form => form.Locator("select[name=task]").SelectOptionAsync("classification"));
        await Assertions.Expect(Row(page, first)).ToHaveCountAsync(1);
        await Assertions.Expect(Row(page, second)).ToHaveCountAsync(0);
    }

    [Theory]
    [InlineData(1280, 800)]
    [InlineData(390, 844)]
    public async Task Screenshots_SignInAndCatalog_FitTheWidth(int width, int height)
    {
        await CreateModelsAsync();
        var context = await Server.NewContextAsync(width, height);
        await using var _ = context;
        var page = await context.NewPageAsync();
        Directory.CreateDirectory(BrowserServerFixture.ScreenshotDirectory);

        await page.GotoAsync(SignInPath);
        await AssertFitsAsync(page, width);
        await AssertScreenshotAsync(page, $"sign-in-{width}.png", width);

        await SignInAsync(page, ServerFixture.AdminKey);
        await AssertFitsAsync(page, width);
        await AssertScreenshotAsync(page, $"catalog-{width}.png", width);
    }

    /// <summary>Usable at this width: the page does not scroll sideways (a wide table may scroll inside its own box).</summary>
    private static async Task AssertFitsAsync(IPage page, int width)
    {
        var scrollWidth = await page.EvaluateAsync<int>("() => document.documentElement.scrollWidth");
        Assert.True(scrollWidth <= width, $"{PathOf(page)} is {scrollWidth} px wide in a {width} px window");
    }

    private static async Task AssertScreenshotAsync(IPage page, string name, int width)
    {
        var path = Path.Combine(BrowserServerFixture.ScreenshotDirectory, name);
        var png = await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });
        // PNG signature, then the IHDR chunk: width at byte 16, big-endian.
        Assert.Equal(0x89, png[0]);
        Assert.Equal(width, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16, 4)));
        Assert.True(File.Exists(path));
    }
}
