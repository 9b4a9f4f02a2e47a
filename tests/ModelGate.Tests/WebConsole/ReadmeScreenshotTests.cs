using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using ModelGate.Client;
using ModelGate.Monitoring;
using ModelGate.Storage;
using ModelGate.Storage.Gateway;
using ModelGate.Tests.Infrastructure;
using static ModelGate.Tests.WebConsole.ConsolePages;

namespace ModelGate.Tests.WebConsole;

/// <summary>
/// The README's pictures of the three dashboards, taken in Chromium from a store with a day of traffic:
/// <c>docs/screenshots.sh</c> names docs/images in <see cref="DirectoryVariable"/>; otherwise (CI) they are written beside the
/// other screenshots, and the test still checks that each dashboard answers and draws its charts. The store: an
/// ONNX classifier served through OIP v2 (real inferences, so the debug dashboard has sampled inputs and a drift report)
/// with a canary rollout in flight, and an LLM deployment whose day of traffic (latency, 5xx, tokens, cost) is written into
/// the request log as the gateway would, with an error burst in the last half hour that the monitors page on.
/// </summary>
public sealed class ReadmeScreenshotTests(BrowserServerFixture fixture) : IClassFixture<BrowserServerFixture>
{
    public const string DirectoryVariable = "MODELGATE_README_SCREENSHOTS";

    [Fact]
    public async Task Dashboards_PicturedForTheReadme()
    {
        // docs/screenshots.sh names docs/images; otherwise (CI) the pictures go with the other screenshots.
        var directory = Environment.GetEnvironmentVariable(DirectoryVariable) is { Length: > 0 } named
            ? named
            : Path.Combine(BrowserServerFixture.ScreenshotDirectory, "readme");
        fixture.SkipIfUnavailable();
        var server = fixture;
        var api = server.Api();

        // The classifier: real traffic through the gateway, a drift baseline, an SLO, a canary in flight.
        const string classifier = "income-classifier";
        await api.CreateModelAsync(new CreateModelRequest(classifier, "risk-team", RiskTiers.High, "classification"));
        foreach (var (version, onnx) in new[] { ("1.0.0", "v1-logreg"), ("1.1.0", "v2-mlp") })
        {
            var sha = await server.UploadAsync(Fixtures.ModelBytes(onnx));
            await api.CreateVersionAsync(classifier, new CreateVersionRequest(version, [new ArtifactRef(sha, onnx + ".onnx")], Fixtures.Attestation()));
        }
        var train = await server.UploadAsync(await File.ReadAllBytesAsync(Path.Combine(AppContext.BaseDirectory, "fixtures", "datasets", "adult", "train.csv")));
        using (var set = await server.Client().PutAsync($"/api/v1/models/{classifier}/versions/1.0.0/drift-baseline",
                   new StringContent($$"""{"dataset": "{{train}}"}""", Encoding.UTF8, "application/json")))
        {
            Assert.True(set.IsSuccessStatusCode, await set.Content.ReadAsStringAsync());
        }
        const string scorer = "income-scoring";
        await api.CreateDeploymentAsync(new CreateDeploymentRequest(scorer, DeploymentEnvironments.Development, classifier, new RoutingTable("1.0.0")));
        var income = AdultServing.TestSet.Value.Strings("income");
        var answered = new List<(string Id, string Label)>();
        for (var row = 0; row < 600; row++)
        {
            using var response = await server.Client().PostAsync($"/v2/models/{scorer}/infer",
                new StringContent(AdultServing.Request(row, 1).ToJsonString(), Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            answered.Add((response.Headers.GetValues("x-modelgate-request-id").Single(), income[row]));
        }
        await server.FlushRequestLogAsync();
        // The true labels of the first 400 come back as feedback: the live accuracy.
        foreach (var (id, label) in answered.Take(400))
        {
            await api.SendFeedbackAsync(new FeedbackRequest(id, Label: label));
        }
        await api.SetSloAsync(scorer, new SloSpec(0.995, 0.99, 50));
        await api.StartRolloutAsync(scorer, new StartRolloutRequest("1.1.0", Steps: [10, 25, 50], IntervalSeconds: 300));

        // The LLM integration: a day of traffic as the gateway logs it, a burst of 5xx in the last 30 minutes.
        const string summariser = "ticket-summariser";
        await api.CreateModelAsync(new CreateModelRequest(summariser, "support", RiskTiers.Medium, "llm-chat"));
        foreach (var (version, template) in new[] { ("1.0.0", "Summarise: {{ticket}}"), ("1.1.0", "Summarise in 15 words: {{ticket}}") })
        {
            await api.CreateVersionAsync(summariser, new CreateVersionRequest(version, [], Fixtures.Attestation() with
            {
                Architecture = "upstream", PromptTemplate = new PromptTemplate("You summarise support tickets.", template, ["ticket"]),
            }));
        }
        var upstream = new UpstreamBackend("http://127.0.0.1:9/v1", "gpt-4o-mini", InputPricePer1K: 0.00015, OutputPricePer1K: 0.0006);
        const string support = "support-summary";
        await api.CreateDeploymentAsync(new CreateDeploymentRequest(support, DeploymentEnvironments.Development, summariser, new RoutingTable("1.0.0",
            [new CandidateRoute("1.1.0", 10)], Backend: "upstream", Upstreams: new Dictionary<string, UpstreamBackend> { ["1.0.0"] = upstream, ["1.1.0"] = upstream })));
        await api.SetSloAsync(support, new SloSpec(0.999, 0.99, 6000));
        var now = server.Time.GetUtcNow().UtcDateTime;
        var random = new Random(7);
        var rows = new List<RequestLogEntity>();
        for (var minute = 24 * 60; minute > 0; minute--)
        {
            for (var k = 0; k < 6; k++)
            {
                var canary = random.NextDouble() < 0.1;
                var failed = random.NextDouble() < (minute <= 30 ? 0.06 : 0.002);
                long prompt = 300 + random.Next(500), completion = 40 + random.Next(120);
                var latency = 600 + 900 * -Math.Log(1 - random.NextDouble());
                rows.Add(new RequestLogEntity
                {
                    RequestId = $"req-{minute:D4}-{k}", Time = now - TimeSpan.FromMinutes(minute) + TimeSpan.FromSeconds(k * 10), KeyId = null,
                    Deployment = support, Version = canary ? "1.1.0" : "1.0.0", Route = canary ? "canary" : "stable", Protocol = "openai",
                    Status = failed ? 502 : 200, LatencyMs = latency, UpstreamLatencyMs = latency - 2,
                    PromptTokens = failed ? null : prompt, CompletionTokens = failed ? null : completion, UsageSource = failed ? null : "upstream",
                    Cost = failed ? null : prompt / 1000.0 * 0.00015 + completion / 1000.0 * 0.0006,
                });
            }
        }
        await server.WithDbAsync(async db =>
        {
            await new BulkInsert<RequestLogEntity>(db).InsertAsync(db, rows, CancellationToken.None);
            return 0;
        });
        await server.FlushRequestLogAsync();
        await server.App.Services.GetRequiredService<Monitors>().EvaluateAsync(CancellationToken.None);
        Assert.Contains(await api.ListAlertsAsync("firing"), a => a.Group == support);

        var context = await server.NewContextAsync(1280, 900);
        await using var _ = context;
        var page = await context.NewPageAsync();
        await SignInAsync(page, ServerFixture.AdminKey);
        Directory.CreateDirectory(directory);
        foreach (var (name, path) in new[]
                 {
                     ("executive", "/console/dashboards/executive?window=24h"),
                     ("on-call", "/console/dashboards/on-call?window=24h"),
                     ("debug", $"/console/dashboards/debug?window=1h&deployment={scorer}"),
                 })
        {
            var response = await page.GotoAsync(path);
            Assert.Equal(200, response!.Status);
            Assert.True(await page.Locator("figure.chart svg").CountAsync() > 0, $"the {name} dashboard drew no chart");
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(directory, $"dashboard-{name}.png"), FullPage = true });
        }
    }
}
