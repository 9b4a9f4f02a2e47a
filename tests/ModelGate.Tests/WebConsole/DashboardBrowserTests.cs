using System.Buffers.Binary;
using Microsoft.Playwright;
using ModelGate.Client;
using Microsoft.EntityFrameworkCore;
using ModelGate.Storage.Evaluation;
using ModelGate.Storage.Gateway;
using ModelGate.Storage.Monitoring;
using ModelGate.Storage.Rollouts;
using ModelGate.Tests.Infrastructure;
using static ModelGate.Tests.WebConsole.ConsolePages;

namespace ModelGate.Tests.WebConsole;

/// <summary>
/// The three dashboards in a real Chromium: reached from the navigation, the window changed with the selector, a request
/// found by its id; screenshots of each at 1280 and 390 px, and nothing wider than the window outside a <c>.scroll</c> box.
/// </summary>
public sealed class DashboardBrowserTests(BrowserServerFixture fixture) : IClassFixture<BrowserServerFixture>
{
    private BrowserServerFixture Server
    {
        get
        {
            fixture.SkipIfUnavailable();
            return fixture;
        }
    }

    /// <summary>A day of traffic on two deployments of one production model, an SLO, alerts, a canary in flight and sampled payloads.</summary>
    private async Task<(string Model, string Deployment, string RequestId)> SeedAsync()
    {
        var api = Server.Api();
        var model = await UpstreamModels.RegisterAsync(Server, "dash");
        var routing = new RoutingTable("1.0.0", Backend: "upstream", Upstreams: new Dictionary<string, UpstreamBackend>
        {
            ["1.0.0"] = new("http://127.0.0.1:9/v1", "stub", "sk-dash"), ["1.1.0"] = new("http://127.0.0.1:9/v1", "stub", "sk-dash"),
        });
        var names = new[] { ServerFixture.UniqueName("dash-checkout"), ServerFixture.UniqueName("dash-search-with-a-rather-long-name") };
        foreach (var name in names)
        {
            await api.CreateDeploymentAsync(new CreateDeploymentRequest(name, DeploymentEnvironments.Development, model, routing));
        }
        await api.SetSloAsync(names[0], new SloSpec(0.995));
        var now = Server.Time.GetUtcNow().UtcDateTime;
        // In production, evaluated at 91 % and 88 %, with feedback on the day's requests: the quality panel has rows.
        await Server.WithDbAsync(db => db.ModelVersions.Where(v => v.Model!.Name == model).ExecuteUpdateAsync(u => u.SetProperty(v => v.Stage, Stages.Production)));
        var ids = await Server.WithDbAsync(db => db.ModelVersions.Where(v => v.Model!.Name == model).ToDictionaryAsync(v => v.Version, v => v.Id));
        var random = new Random(2);
        var requestId = "req-" + Guid.NewGuid().ToString("N")[..12];
        await Server.WithDbAsync(async db =>
        {
            for (var i = 0; i < 600; i++)
            {
                var name = names[i % 2];
                var canary = i % 5 == 0;
                db.RequestLogs.Add(new RequestLogEntity
                {
                    RequestId = i == 0 ? requestId : Guid.NewGuid().ToString("N"), Time = now - TimeSpan.FromMinutes(random.Next(0, 24 * 60)), Deployment = name,
                    Version = canary ? "1.1.0" : "1.0.0", Route = canary ? RouteKinds.Canary : RouteKinds.Stable, Protocol = "openai",
                    Status = random.Next(100) < (canary ? 8 : 2) ? 503 : 200, LatencyMs = 20 + random.Next(0, 900) * random.NextDouble(), Cost = random.Next(1, 200) / 10_000.0,
                    PromptTokens = random.Next(10, 400), CompletionTokens = random.Next(5, 300), Prediction = i % 3 == 0 ? "approve" : null,
                    Payload = i % 10 == 0
                        ? $$$"""{"request":{"model":"{{{name}}}","messages":[{"role":"user","content":"Where is my order [EMAIL]? It was placed on the 3rd and a very long sentence follows so that wrapping is exercised"}]},"response":{"choices":[{"message":{"content":"It ships today."}}]}}"""
                        : null,
                });
            }
            foreach (var (version, accuracy, scored, right) in new[] { ("1.0.0", "0.91", 40, 35), ("1.1.0", "0.88", 15, 11) })
            {
                db.Evaluations.Add(new EvaluationEntity
                {
                    Id = Guid.NewGuid().ToString("N")[..24], VersionId = ids[version], Model = model, Version = version, SuiteSha256 = new string('a', 64),
                    Status = EvaluationStatuses.Succeeded, Evaluator = "evaluator", Result = $$$"""{"external":true,"metrics":{"accuracy":{{{accuracy}}}}}""",
                    CreatedAt = now - TimeSpan.FromDays(9), FinishedAt = now - TimeSpan.FromDays(9),
                });
                for (var i = 0; i < scored; i++)
                {
                    db.Feedback.Add(new FeedbackEntity
                    {
                        RequestId = Guid.NewGuid().ToString("N"), Deployment = names[i % 2], Version = version, Route = RouteKinds.Stable, Score = i < right ? 1 : 0,
                        RequestTime = now - TimeSpan.FromMinutes(random.Next(0, 24 * 60)), Time = now, Actor = "support",
                    });
                }
            }
            db.Feedback.Add(new FeedbackEntity
            {
                RequestId = requestId, Deployment = names[0], Version = "1.0.0", Metric = "revenue_eur", MetricValue = 1249.5, RequestTime = now - TimeSpan.FromHours(2),
                Time = now, Actor = "billing",
            });
            db.Alerts.Add(new AlertEntity
            {
                Key = $"errors:{names[0]}", Group = names[0], Kind = AlertKinds.ErrorSpike, Severity = AlertSeverities.Page, Status = "firing",
                Summary = $"{names[0]}: 9.1 % of requests failed (5xx) in the last 5 min, against 1.2 % the hour before", Details = "{}", FiredAt = now - TimeSpan.FromMinutes(7),
                LastSeenAt = now, Occurrences = 2, Delivery = "none",
            });
            db.Rollouts.Add(new RolloutEntity
            {
                Id = "ro-" + Guid.NewGuid().ToString("N")[..12], Deployment = names[0], Stable = "1.0.0", Candidate = "1.1.0", Strategy = "canary",
                Status = RolloutStatuses.Running, Spec = "{}", Step = 1, Weight = 20, Checks = 3, FailedChecks = 1, StartedAt = now - TimeSpan.FromHours(1),
                StepStartedAt = now - TimeSpan.FromMinutes(20), NextCheckAt = now + TimeSpan.FromMinutes(5), CreatedBy = "test",
                History = $$"""[{"type":"check","at":"{{(now - TimeSpan.FromMinutes(5)).ToString("O")}}","outcome":"marginal","reason":"latency_p95 within tolerance, error_rate marginal"}]""",
            });
            return await db.SaveChangesAsync();
        });
        return (model, names[0], requestId);
    }

    [Theory]
    [InlineData(1280, 800)]
    [InlineData(390, 844)]
    public async Task Dashboards_FromTheNavigation_WindowAndRequestSearch_FitTheWidth_WithScreenshots(int width, int height)
    {
        var (model, deployment, requestId) = await SeedAsync();
        var context = await Server.NewContextAsync(width, height);
        await using var _ = context;
        var page = await context.NewPageAsync();
        Directory.CreateDirectory(BrowserServerFixture.ScreenshotDirectory);
        await SignInAsync(page, ServerFixture.AdminKey);

        await page.Locator("header nav").GetByRole(AriaRole.Link, new() { Name = "Dashboards" }).ClickAsync();
        await page.WaitForURLAsync(url => PathOf(page) == "/console/dashboards");
        await page.Locator("#dashboards").GetByRole(AriaRole.Link, new() { Name = "Executive" }).ClickAsync();
        await page.WaitForURLAsync(url => PathOf(page) == "/console/dashboards/executive");
        await Assertions.Expect(page.Locator("#availability-overall")).ToContainTextAsync("%");
        await Assertions.Expect(page.Locator($"#availability-by-deployment tr[data-deployment=\"{deployment}\"]")).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator("figure#cost-by-model svg")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator($"#quality-table tr[data-model=\"{model}\"]")).ToHaveCountAsync(2);
        await AssertFitsAsync(page, width);
        await ScreenshotAsync(page, $"dashboard-executive-{width}.png", width);

        // The window selector (GET): the choice is kept in the address and in the form.
        await page.Locator("form#window").GetByLabel("Window").SelectOptionAsync("7d");
        await page.Locator("form#window").GetByRole(AriaRole.Button, new() { Name = "Show" }).ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("window=7d"));
        Assert.Equal("7d", await page.Locator("form#window select[name=window]").InputValueAsync());

        await page.Locator("nav.dash-tabs").GetByRole(AriaRole.Link, new() { Name = "On-call" }).ClickAsync();
        await page.WaitForURLAsync(url => PathOf(page) == "/console/dashboards/on-call");
        Assert.Contains("window=7d", page.Url);
        await Assertions.Expect(page.Locator($"#slo-table tr[data-deployment=\"{deployment}\"]")).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator($"#active-alerts tr[data-alert=\"errors:{deployment}\"]")).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator($"#canaries tr[data-deployment=\"{deployment}\"]")).ToContainTextAsync("marginal");
        await Assertions.Expect(page.Locator("figure#error-rate svg path.line")).ToHaveCountAsync(1);
        await AssertFitsAsync(page, width);
        await ScreenshotAsync(page, $"dashboard-on-call-{width}.png", width);

        await page.Locator("nav.dash-tabs").GetByRole(AriaRole.Link, new() { Name = "Debug" }).ClickAsync();
        await page.WaitForURLAsync(url => PathOf(page) == "/console/dashboards/debug");
        await page.Locator("form#window").GetByLabel("Deployment").SelectOptionAsync(deployment);
        await page.Locator("form#window").GetByRole(AriaRole.Button, new() { Name = "Show" }).ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("deployment="));
        await page.Locator("form#request-search").GetByLabel("Request id (x-modelgate-request-id)").FillAsync(requestId);
        await page.Locator("form#request-search").GetByRole(AriaRole.Button, new() { Name = "Find" }).ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("request="));
        await Assertions.Expect(page.Locator("#request-results tr[data-request-row]")).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator("#sampled-inputs > li").First).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("div.histogram[data-version=\"1.0.0\"] svg")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#drift-refused")).ToBeVisibleAsync();
        await AssertFitsAsync(page, width);
        await ScreenshotAsync(page, $"dashboard-debug-{width}.png", width);
    }

    /// <summary>The page does not scroll sideways, and no element outside a <c>.scroll</c> box reaches past the window's right edge.</summary>
    private static async Task AssertFitsAsync(IPage page, int width)
    {
        var overflowing = await page.EvaluateAsync<string[]>("""
            (w) => [...document.querySelectorAll('body *')]
              .filter(e => !e.closest('.scroll') && !e.closest('.skip') && e.getBoundingClientRect().width > 0 && e.getBoundingClientRect().right > w + 0.5)
              .map(e => `${e.tagName.toLowerCase()}#${e.id}.${e.className?.baseVal ?? e.className} right=${Math.round(e.getBoundingClientRect().right)}`)
              .slice(0, 10)
            """, width);
        Assert.True(overflowing.Length == 0, $"{PathOf(page)} at {width} px: {string.Join("; ", overflowing)}");
        var scrollWidth = await page.EvaluateAsync<int>("() => document.documentElement.scrollWidth");
        Assert.True(scrollWidth <= width, $"{PathOf(page)} is {scrollWidth} px wide in a {width} px window");
    }

    private static async Task ScreenshotAsync(IPage page, string name, int width)
    {
        var path = Path.Combine(BrowserServerFixture.ScreenshotDirectory, name);
        var png = await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });
        Assert.Equal(0x89, png[0]);
        Assert.Equal(width, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16, 4)));
    }
}
