using System.Buffers.Binary;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using ModelGate.Client;
using ModelGate.Rollouts;
using ModelGate.Storage.Gateway;
using ModelGate.Tests.Infrastructure;
using static ModelGate.Tests.WebConsole.ConsolePages;

namespace ModelGate.Tests.WebConsole;

/// <summary>
/// A deployer steers a canary through the deployment's pages in a real Chromium: start it from the rollouts tab, see its
/// progress and first analysis, pause it and abort it, each with a reason and a confirmation; the rollout's state and audit
/// events are then read through the REST API. Screenshots of the rollouts and overview pages at 1280 and 390 px.
/// </summary>
public sealed class DeploymentBrowserTests(BrowserServerFixture fixture) : IClassFixture<BrowserServerFixture>
{
    private BrowserServerFixture Server
    {
        get
        {
            fixture.SkipIfUnavailable();
            return fixture;
        }
    }

    private static ILocator Progress(IPage page) => page.Locator("#rollout-progress");

    /// <summary>Some traffic in the last hour, so that the overview's live traffic has figures to show.</summary>
    private async Task TrafficAsync(string deployment)
    {
        var now = Server.Time.GetUtcNow().UtcDateTime;
        var random = new Random(3);
        await Server.WithDbAsync(async db =>
        {
            for (var i = 0; i < 400; i++)
            {
                var canary = i % 10 == 0;
                db.RequestLogs.Add(new RequestLogEntity
                {
                    RequestId = $"b{i}-{deployment}", Time = now.AddSeconds(-random.Next(3600)), Deployment = deployment, Version = canary ? "1.1.0" : "1.0.0",
                    Route = canary ? RouteKinds.Canary : RouteKinds.Stable, Protocol = "oip-v2", Status = random.Next(50) == 0 ? 500 : 200,
                    LatencyMs = Math.Round(3 + random.NextDouble() * (canary ? 12 : 8), 1), Cost = 0.0004,
                });
            }
            return await db.SaveChangesAsync();
        });
    }

    private static async Task SubmitAsync(IPage page, ILocator form, string button, string done, string? reason = null)
    {
        if (reason is not null)
        {
            await form.GetByLabel("Reason").FillAsync(reason);
        }
        await form.GetByRole(AriaRole.Checkbox).CheckAsync();
        await form.GetByRole(AriaRole.Button, new() { Name = button }).ClickAsync();
        await page.WaitForURLAsync(url => url.Contains($"done={done}", StringComparison.Ordinal));
        await Assertions.Expect(page.Locator("#done")).ToBeVisibleAsync();
    }

    [Theory]
    [InlineData(1280, 800)]
    [InlineData(390, 844)]
    public async Task Canary_StartedPausedAndAborted_ThroughTheRolloutsPage(int width, int height)
    {
        var deployment = await AdultServing.DeployAsync(Server, await AdultServing.RegisterAsync(Server), new { stable = "1.0.0" });
        await TrafficAsync(deployment);
        await Server.Api().SetSloAsync(deployment, new SloSpec(0.99, LatencyObjective: 0.95, LatencyThresholdMs: 10));
        var deployer = await Server.CreateKeyAsync(new CreateKeyRequest(ServerFixture.UniqueName("canary-deployer"), [Roles.Deployer]));
        var context = await Server.NewContextAsync(width, height);
        await using var _ = context;
        var page = await context.NewPageAsync();
        await SignInAsync(page, deployer.Key!);
        Directory.CreateDirectory(BrowserServerFixture.ScreenshotDirectory);

        await page.GotoAsync($"/console/deployments/{deployment}");
        await page.Locator("#tab-rollouts").ClickAsync();
        await page.WaitForURLAsync(url => new Uri(url).AbsolutePath == $"/console/deployments/{deployment}/rollouts");
        await Assertions.Expect(page.Locator("#no-active-rollout")).ToBeVisibleAsync();

        // Start: candidate, strategy, steps, interval, confirmation.
        var start = page.Locator("form#rollout-start");
        await start.GetByLabel("Candidate version").SelectOptionAsync("1.1.0");
        await start.GetByLabel("Strategy").SelectOptionAsync(RolloutStrategies.Canary);
        await start.GetByLabel("Steps").FillAsync("10, 50");
        await start.GetByLabel("Interval between analyses").FillAsync("60");
        await SubmitAsync(page, start, "Start rollout", "started");
        await Assertions.Expect(Progress(page)).ToHaveAttributeAsync("data-status", RolloutStatuses.Running);
        await Assertions.Expect(Progress(page).Locator("[data-field=weight]")).ToHaveTextAsync("10 %");
        var rollout = Assert.Single(await Server.Api().ListRolloutsAsync(deployment));
        Assert.Equal((RolloutStatuses.Running, 10.0), (rollout.Status, rollout.Weight));

        // One interval passes: its analysis (no traffic reached the controller's telemetry: no data) is shown with its metrics.
        Server.Time.Advance(TimeSpan.FromSeconds(61));
        await Server.App.Services.GetRequiredService<RolloutController>().TickAsync(CancellationToken.None);
        await page.ReloadAsync();
        await Assertions.Expect(page.Locator("section.analysis")).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator("section.analysis table.verdicts tr[data-metric=error_rate]")).ToHaveCountAsync(1);

        await SubmitAsync(page, page.Locator("form#rollout-pause"), "Pause", RolloutActions.Pause, "paused for the release freeze");
        await Assertions.Expect(Progress(page)).ToHaveAttributeAsync("data-status", RolloutStatuses.Paused);
        await Assertions.Expect(page.Locator("form#rollout-resume")).ToBeVisibleAsync();
        Assert.Equal(RolloutStatuses.Paused, (await Server.Api().GetRolloutAsync(deployment, rollout.Id)).Status);
        await AssertFitsAsync(page, width);
        await AssertScreenshotAsync(page, $"deployment-rollouts-{width}.png", width);

        await SubmitAsync(page, page.Locator("form#rollout-abort"), "Abort", RolloutActions.Abort, "candidate not needed");
        await Assertions.Expect(page.Locator("#no-active-rollout")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator($"#rollouts tr[data-rollout=\"{rollout.Id}\"]")).ToHaveAttributeAsync("data-status", RolloutStatuses.Aborted);
        var aborted = await Server.Api().GetRolloutAsync(deployment, rollout.Id);
        Assert.Equal(RolloutStatuses.Aborted, aborted.Status);
        Assert.Empty((await Server.Api().GetDeploymentAsync(deployment)).Routing.Candidates ?? []);
        var events = (await Server.Api().ListAuditAsync(subject: $"deployments/{deployment}/rollouts/{rollout.Id}")).Items;
        Assert.Equal(["rollout.started", "rollout.paused", "rollout.aborted"], events.Select(e => e.Action));
        Assert.All(events, e => Assert.Equal(deployer.Principal, e.Actor));
        Assert.Equal("candidate not needed", events[2].Details.GetProperty("reason").GetString());

        await page.Locator("#tab-overview").ClickAsync();
        await page.WaitForURLAsync(url => new Uri(url).AbsolutePath == $"/console/deployments/{deployment}");
        await Assertions.Expect(page.Locator("#traffic tr[data-version=\"1.0.0\"][data-route=stable]")).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator("#slo tr[data-objective=availability]")).ToHaveCountAsync(1);
        await AssertFitsAsync(page, width);
        await AssertScreenshotAsync(page, $"deployment-{width}.png", width);

        // The drift tab: a baseline of two columns and a sampled window that moved, drawn per column.
        await DriftAsync(deployment);
        await page.Locator("#tab-drift").ClickAsync();
        await page.WaitForURLAsync(url => new Uri(url).AbsolutePath == $"/console/deployments/{deployment}/drift");
        await Assertions.Expect(page.Locator("#drift-columns tr[data-column=hours][data-drifted=true]")).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator("div.histogram[data-column=sector] svg[role=img]")).ToHaveCountAsync(1);
        await AssertFitsAsync(page, width);
        await AssertScreenshotAsync(page, $"deployment-drift-{width}.png", width);
    }

    private async Task DriftAsync(string deployment)
    {
        var model = (await Server.Api().GetDeploymentAsync(deployment)).Model;
        var random = new Random(5);
        var sectors = new[] { "retail", "health", "finance", "public", "energy" };
        var csv = new System.Text.StringBuilder("hours,sector\n");
        for (var i = 0; i < 500; i++)
        {
            csv.Append(System.Globalization.CultureInfo.InvariantCulture, $"{Math.Round(40 + 8 * (random.NextDouble() + random.NextDouble() - 1), 1)},{sectors[random.Next(i % 3 == 0 ? 5 : 3)]}\n");
        }
        var dataset = await Server.UploadAsync(System.Text.Encoding.UTF8.GetBytes(csv.ToString()));
        using (var set = await Server.Client().PutAsync($"/api/v1/models/{model}/versions/1.0.0/drift-baseline",
                   new StringContent($"{{\"dataset\":\"{dataset}\",\"columns\":[\"hours\",\"sector\"]}}", System.Text.Encoding.UTF8, "application/json")))
        {
            Assert.True(set.IsSuccessStatusCode, await set.Content.ReadAsStringAsync());
        }
        var window = 200;
        Server.App.Services.GetRequiredService<ModelGate.Gateway.Telemetry.InputSamples>().AddTensorRows(deployment, "1.0.0",
            Server.Time.GetUtcNow().UtcDateTime.AddMinutes(-5), new Dictionary<string, Array>
            {
                ["hours"] = Enumerable.Range(0, window).Select(_ => Math.Round(46 + 8 * (random.NextDouble() + random.NextDouble() - 1), 1)).ToArray(),
                ["sector"] = Enumerable.Range(0, window).Select(i => i % 7 == 0 ? "crypto" : sectors[random.Next(5)]).ToArray(),
            }, window);
    }

    /// <summary>Usable at this width: the page does not scroll sideways (a wide table may scroll inside its own box).</summary>
    private static async Task AssertFitsAsync(IPage page, int width)
    {
        var scrollWidth = await page.EvaluateAsync<int>("() => document.documentElement.scrollWidth");
        if (scrollWidth > width)
        {
            // Name what sticks out, to fix it.
            var wide = await page.EvaluateAsync<string[]>(
                "w => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > w).slice(0, 8).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))",
                width);
            Assert.Fail($"{PathOf(page)} is {scrollWidth} px wide in a {width} px window: {string.Join(", ", wide)}");
        }
    }

    private static async Task AssertScreenshotAsync(IPage page, string name, int width)
    {
        var path = Path.Combine(BrowserServerFixture.ScreenshotDirectory, name);
        var png = await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });
        Assert.Equal(width, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16, 4)));
    }
}
