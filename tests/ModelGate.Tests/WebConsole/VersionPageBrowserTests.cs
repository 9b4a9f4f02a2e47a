using System.Buffers.Binary;
using Microsoft.Playwright;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;
using static ModelGate.Tests.WebConsole.ConsolePages;

namespace ModelGate.Tests.WebConsole;

/// <summary>A full version page (lineage graph, an evaluation in full with its fairness chart, the card, approvals) in a real Chromium, with screenshots.</summary>
public sealed class VersionPageBrowserTests(BrowserServerFixture fixture) : IClassFixture<BrowserServerFixture>
{
    private BrowserServerFixture Server
    {
        get
        {
            fixture.SkipIfUnavailable();
            return fixture;
        }
    }

    /// <summary>Two Adult models, 1.1.0 evaluated against 1.0.0 by the platform, with a card, a deployment and an approval.</summary>
    private async Task<(string Model, string Run)> CreateVersionAsync()
    {
        var api = Server.Api();
        var model = ServerFixture.UniqueName("vp-browser");
        await api.CreateModelAsync(new CreateModelRequest(model, "risk-team", RiskTiers.Low, "classification", Description: "Adult income"));
        foreach (var (version, onnx) in new[] { ("1.0.0", "v1-logreg"), ("1.1.0", "v2-mlp") })
        {
            var sha = await Server.UploadAsync(Fixtures.ModelBytes(onnx));
            await api.CreateVersionAsync(model, new CreateVersionRequest(version, [new ArtifactRef(sha, onnx + ".onnx")], Fixtures.Attestation(baseModel: $"{model}@1.0.0")));
        }
        await Server.UploadAsync(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "fixtures", "datasets", "adult", "test.csv")));
        var suite = await Server.UploadAsync(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "fixtures", "suites", "adult-classification.json")));
        var evaluator = Server.Api((await Server.CreateKeyAsync(new CreateKeyRequest("vp browser eve", [Roles.Evaluator]))).Key!);
        var run = await evaluator.StartEvaluationAsync(model, "1.1.0", new StartEvaluationRequest(suite, Baseline: "1.0.0"));
        await Server.EvaluationFinishedAsync(run.Id);
        await api.PutCardAsync(model, "1.1.0", new ModelCard(IntendedUse: "Ranking census records by income band for research.", OutOfScopeUse: "Credit or hiring decisions.",
            Limitations: ["Trained on 1994 census data.", "Lower recall for women."], TrainingData: "UCI Adult training split.",
            Evaluation: new CardEvaluation("Held-out Adult test split.", [run.Id]), EthicalConsiderations: [new EthicalConsideration("Sex disparity", "Monitored by group.")]));
        await api.CreateDeploymentAsync(new CreateDeploymentRequest(ServerFixture.UniqueName("vp-browser"), DeploymentEnvironments.Development, model, new RoutingTable("1.1.0")));
        await Server.WithDbAsync(db => Microsoft.EntityFrameworkCore.EntityFrameworkQueryableExtensions.ExecuteUpdateAsync(
            db.ModelVersions.Where(v => v.Model!.Name == model && v.Version == "1.1.0"), u => u.SetProperty(v => v.Stage, Stages.Staging)));
        var lead = await Server.CreateKeyAsync(new CreateKeyRequest("vp browser lead", [Roles.MlLead]));
        await Server.Api(lead.Key!).ApproveAsync(model, "1.1.0", new ApprovalRequest(ApprovalDecisions.Approve, Roles.MlLead, [run.Id],
            "Lower recall for women, monitored.", "Error-rate and drift alerts.", "modelgate rollback to 1.0.0", Server.Time.GetUtcNow().UtcDateTime.Date.AddDays(90)));
        return (model, run.Id);
    }

    [Theory]
    [InlineData(1280, 800)]
    [InlineData(390, 844)]
    public async Task VersionPage_ShowsTheEvidenceInFull_AndFitsTheWidth(int width, int height)
    {
        var (model, run) = await CreateVersionAsync();
        var context = await Server.NewContextAsync(width, height);
        await using var _ = context;
        var page = await context.NewPageAsync();
        await SignInAsync(page, ServerFixture.AdminKey);
        await page.GotoAsync($"/console/models/{model}/versions/1.1.0");

        await Assertions.Expect(page.GetByRole(AriaRole.Img, new() { Name = $"Lineage of {model}@1.1.0" })).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator($"#run-{run} .run-metrics tr[data-metric=accuracy]")).ToBeVisibleAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Img, new() { Name = $"Selection rate by sex ({run})" })).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator($"#run-{run} .run-deltas tr[data-metric=roc_auc]")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#card-limitations")).ToContainTextAsync("Lower recall for women.");
        await Assertions.Expect(page.Locator("#approvals")).ToContainTextAsync("modelgate rollback to 1.0.0");
        // The base model's node links to its version page, by keyboard too.
        var baseLink = page.Locator("#lineage table a", new() { HasText = $"{model}@1.0.0" });
        await baseLink.FocusAsync();
        await page.Keyboard.PressAsync("Enter");
        await page.WaitForURLAsync(url => url.EndsWith($"/console/models/{model}/versions/1.0.0", StringComparison.Ordinal));
        // Back to the version page by its address: a history step back may be restored from the back-forward cache without the
        // load event GoBackAsync waits for (it timed out once under the full suite's load).
        await page.GotoAsync($"/console/models/{model}/versions/1.1.0");
        await Assertions.Expect(page.GetByRole(AriaRole.Img, new() { Name = $"Lineage of {model}@1.1.0" })).ToBeVisibleAsync();

        var scrollWidth = await page.EvaluateAsync<int>("() => document.documentElement.scrollWidth");
        Assert.True(scrollWidth <= width, $"{PathOf(page)} is {scrollWidth} px wide in a {width} px window");
        Directory.CreateDirectory(BrowserServerFixture.ScreenshotDirectory);
        var path = Path.Combine(BrowserServerFixture.ScreenshotDirectory, $"version-{width}.png");
        var png = await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });
        Assert.Equal(width, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16, 4)));
    }
}
