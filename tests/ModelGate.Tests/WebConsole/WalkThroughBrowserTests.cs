using System.Text.Json;
using Microsoft.Playwright;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;
using static ModelGate.Tests.WebConsole.ConsolePages;

namespace ModelGate.Tests.WebConsole;

/// <summary>
/// Walk-throughs in a real Chromium: find a model from the catalog and open its version, approve a release from its version
/// page, roll a deployment back through its page (each then seen through the REST API, audit log included), and the
/// rollback kept from a viewer and from a forged post.
/// </summary>
public sealed class WalkThroughBrowserTests(BrowserServerFixture fixture) : IClassFixture<BrowserServerFixture>
{
    private BrowserServerFixture Server
    {
        get
        {
            fixture.SkipIfUnavailable();
            return fixture;
        }
    }

    private async Task<(IBrowserContext Context, IPage Page)> SignedInAsync(string key)
    {
        var context = await Server.NewContextAsync();
        var page = await context.NewPageAsync();
        await SignInAsync(page, key);
        return (context, page);
    }

    /// <summary>A model with 1.0.0 and 1.1.0 and a development deployment moved from 1.0.0 to 1.1.0 (so 1.0.0 is last known good).</summary>
    private async Task<(string Model, string Deployment)> DeployedAsync()
    {
        var api = Server.Api();
        var model = ServerFixture.UniqueName("walk");
        await api.CreateModelAsync(new CreateModelRequest(model, "risk-team", RiskTiers.Low, "classification"));
        foreach (var (version, onnx) in new[] { ("1.0.0", "v1-logreg"), ("1.1.0", "v2-mlp") })
        {
            var sha = await Server.UploadAsync(Fixtures.ModelBytes(onnx));
            await api.CreateVersionAsync(model, new CreateVersionRequest(version, [new ArtifactRef(sha, onnx + ".onnx")],
                Fixtures.Attestation(trainer: "alice", datasetSha: onnx == "v1-logreg" ? Fixtures.TrainCsvSha256 : new string('c', 64))));
        }
        var deployment = ServerFixture.UniqueName("walk-dep");
        await api.CreateDeploymentAsync(new CreateDeploymentRequest(deployment, DeploymentEnvironments.Development, model, new RoutingTable("1.0.0")));
        await api.SetRoutingAsync(deployment, new RoutingTable("1.1.0"));
        return (model, deployment);
    }

    [Fact]
    public async Task Catalog_FindAModel_OpenItsVersion_ShowsTheAttestationAndArtifacts()
    {
        var (model, _) = await DeployedAsync();
        var sha = (await Server.Api().GetVersionAsync(model, "1.1.0")).Artifacts.Single().Sha256;
        var (context, page) = await SignedInAsync(ServerFixture.AdminKey);
        await using var _ = context;

        await page.Locator("form#catalog-search input[name=q]").FillAsync(model);
        await page.Locator("form#catalog-search").GetByRole(AriaRole.Button).ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("q="));
        await page.Locator($"tr[data-model=\"{model}\"]").GetByRole(AriaRole.Link, new() { Name = model, Exact = true }).ClickAsync();
        await page.WaitForURLAsync(url => new Uri(url).AbsolutePath == $"/console/models/{model}");
        await Assertions.Expect(page.Locator("#versions li[data-version]")).ToHaveCountAsync(2);

        await page.Locator("#versions li[data-version=\"1.1.0\"]").GetByRole(AriaRole.Link, new() { Name = "1.1.0" }).ClickAsync();
        await page.WaitForURLAsync(url => new Uri(url).AbsolutePath == $"/console/models/{model}/versions/1.1.0");
        var body = page.Locator("main");
        await Assertions.Expect(body).ToContainTextAsync("alice");
        await Assertions.Expect(body).ToContainTextAsync(sha);
    }

    [Fact]
    public async Task ModelPage_CompareTwoVersions_ShowsTheAttestationChangesAndTheBump()
    {
        var (model, _) = await DeployedAsync();
        var (context, page) = await SignedInAsync(ServerFixture.AdminKey);
        await using var _ = context;
        await page.GotoAsync($"/console/models/{model}");

        var form = page.Locator("form#compare");
        await form.Locator("select[name=a]").SelectOptionAsync("1.0.0");
        await form.Locator("select[name=b]").SelectOptionAsync("1.1.0");
        await form.GetByRole(AriaRole.Button, new() { Name = "Compare" }).ClickAsync();
        await page.WaitForURLAsync(url => new Uri(url).AbsolutePath == $"/console/models/{model}/compare");
        var query = System.Web.HttpUtility.ParseQueryString(new Uri(page.Url).Query);
        Assert.Equal(("1.0.0", "1.1.0"), (query["a"], query["b"]));
        // 1.1.0 was trained on another dataset: the attestation diff says so.
        await Assertions.Expect(page.Locator("#attestation-diff")).ToContainTextAsync(new string('c', 64));
        await Assertions.Expect(page.Locator("#bump")).ToBeVisibleAsync();
    }

    [Fact]
    public async Task Approval_FromTheVersionPage_IsRecordedAndAudited_NoFormForAViewer()
    {
        var api = Server.Api();
        var model = ServerFixture.UniqueName("walk-approve");
        await api.CreateModelAsync(new CreateModelRequest(model, "risk-team", RiskTiers.Low, "classification"));
        var sha = await Server.UploadAsync(Fixtures.ModelBytes("v1-logreg"));
        await api.CreateVersionAsync(model, new CreateVersionRequest("1.0.0", [new ArtifactRef(sha, "v1-logreg.onnx")], Fixtures.Attestation()));
        var suite = await Server.UploadAsync(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "fixtures", "suites", "adult-classification.json")));
        var evaluation = await api.StartEvaluationAsync(model, "1.0.0", new StartEvaluationRequest(suite, External: true,
            Metrics: new Dictionary<string, double> { ["accuracy"] = 0.85 }));
        // Straight to staging: the gates on the way are not under test here.
        await Server.WithDbAsync(db => Microsoft.EntityFrameworkCore.EntityFrameworkQueryableExtensions.ExecuteUpdateAsync(
            db.ModelVersions.Where(v => v.Model!.Name == model), u => u.SetProperty(v => v.Stage, Stages.Staging)));
        var path = $"/console/models/{model}/versions/1.0.0";

        var viewer = await Server.CreateKeyAsync(new CreateKeyRequest(ServerFixture.UniqueName("walk-onlooker"), [Roles.Viewer]));
        var (viewerContext, viewerPage) = await SignedInAsync(viewer.Key!);
        await using (viewerContext)
        {
            await viewerPage.GotoAsync(path);
            await Assertions.Expect(viewerPage.Locator("#approvals")).ToBeVisibleAsync();
            await Assertions.Expect(viewerPage.Locator("form#approve")).ToHaveCountAsync(0);
        }

        var lead = await Server.CreateKeyAsync(new CreateKeyRequest(ServerFixture.UniqueName("walk-lead"), [Roles.MlLead]));
        var (context, page) = await SignedInAsync(lead.Key!);
        await using var _ = context;
        await page.GotoAsync(path);
        var form = page.Locator("form#approve");
        await form.GetByLabel("Approving role").SelectOptionAsync(Roles.MlLead);
        await form.GetByRole(AriaRole.Radio, new() { Name = "approve" }).CheckAsync();
        await form.Locator($"input[name=evidence][value=\"{evaluation.Id}\"]").CheckAsync();
        await form.GetByLabel("Risks accepted").FillAsync("none beyond the card");
        await form.GetByLabel("Monitoring plan").FillAsync("error-rate alerts");
        await form.GetByLabel("Rollback plan").FillAsync("modelgate rollback");
        await form.GetByLabel("Next review").FillAsync("2027-12-01");
        await form.GetByRole(AriaRole.Button, new() { Name = "Record decision" }).ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("done=recorded"));
        await Assertions.Expect(page.Locator("#approvals")).ToContainTextAsync(Roles.MlLead);

        var approval = Assert.Single(await api.ListApprovalsAsync(model, "1.0.0"));
        Assert.Equal((lead.Principal, Roles.MlLead, ApprovalDecisions.Approve), (approval.Approver, approval.Role, approval.Decision));
        Assert.Contains((await api.ListAuditAsync(subject: $"models/{model}/versions/1.0.0", limit: 50)).Items,
            e => e.Action == "version.approved" && e.Actor == lead.Principal);
    }

    [Fact]
    public async Task Rollback_ThroughTheDeploymentPage_IsAppliedAndAudited()
    {
        var (_, deployment) = await DeployedAsync();
        var deployer = await Server.CreateKeyAsync(new CreateKeyRequest(ServerFixture.UniqueName("walk-deployer"), [Roles.Deployer]));
        var (context, page) = await SignedInAsync(deployer.Key!);
        await using var _ = context;
        var reason = $"bad canary {Guid.NewGuid():N}";

        await page.GetByRole(AriaRole.Navigation).GetByRole(AriaRole.Link, new() { Name = "Deployments" }).ClickAsync();
        await page.Locator($"tr[data-deployment=\"{deployment}\"]").GetByRole(AriaRole.Link, new() { Name = deployment }).ClickAsync();
        await page.WaitForURLAsync(url => new Uri(url).AbsolutePath == $"/console/deployments/{deployment}");
        await Assertions.Expect(page.Locator("#routing tr[data-route=stable]")).ToContainTextAsync("1.1.0");

        var form = page.Locator("form#rollback");
        await form.GetByLabel("Reason").FillAsync(reason);
        await form.GetByRole(AriaRole.Checkbox).CheckAsync();
        await form.GetByRole(AriaRole.Button, new() { Name = "Roll back" }).ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("done=rolled-back"));
        await Assertions.Expect(page.Locator("[role=status]")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#routing tr[data-route=stable]")).ToContainTextAsync("1.0.0");

        Assert.Equal("1.0.0", (await Server.Api().GetDeploymentAsync(deployment)).Routing.Stable);
        var events = (await Server.Api().ListAuditAsync(subject: $"deployments/{deployment}", limit: 50)).Items;
        var rollback = Assert.Single(events, e => e.Action == "deployment.rolled_back");
        Assert.Equal(deployer.Principal, rollback.Actor);
        Assert.Contains(reason, rollback.Details.GetRawText());
    }

    [Fact]
    public async Task Rollback_ForAViewer_HasNoForm_AndAForgedPostIsForbidden()
    {
        var (_, deployment) = await DeployedAsync();
        var viewer = await Server.CreateKeyAsync(new CreateKeyRequest(ServerFixture.UniqueName("walk-viewer"), [Roles.Viewer]));
        var (context, page) = await SignedInAsync(viewer.Key!);
        await using var _ = context;

        await page.GotoAsync($"/console/deployments/{deployment}");
        await Assertions.Expect(page.Locator("#routing")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("form#rollback")).ToHaveCountAsync(0);
        await Assertions.Expect(page.GetByRole(AriaRole.Button, new() { Name = "Roll back" })).ToHaveCountAsync(0);

        // The viewer's own valid token, the fields the deployer's form would send: refused for the role.
        var token = await page.Locator($"form#sign-out input[name={AntiforgeryField}]").InputValueAsync();
        var forged = await PostFormAsync(context, $"/console/deployments/{deployment}/rollback",
            (AntiforgeryField, token), ("reason", "forged"), ("confirm", "yes"));
        Assert.Equal(403, forged.Status);
        Assert.Equal("1.1.0", (await Server.Api().GetDeploymentAsync(deployment)).Routing.Stable);
        Assert.DoesNotContain((await Server.Api().ListAuditAsync(subject: $"deployments/{deployment}", limit: 50)).Items,
            e => e.Action == "deployment.rolled_back");
    }

    [Fact]
    public async Task Rollback_WithoutTheAntiforgeryToken_IsRefused()
    {
        var (_, deployment) = await DeployedAsync();
        var deployer = await Server.CreateKeyAsync(new CreateKeyRequest(ServerFixture.UniqueName("walk-deployer"), [Roles.Deployer]));
        var (context, page) = await SignedInAsync(deployer.Key!);
        await using var _ = context;
        await page.GotoAsync($"/console/deployments/{deployment}");
        await Assertions.Expect(page.Locator("form#rollback")).ToBeVisibleAsync();

        var response = await PostFormAsync(context, $"/console/deployments/{deployment}/rollback", ("reason", "no token"), ("confirm", "yes"));
        Assert.InRange(response.Status, 400, 499);
        Assert.Equal("1.1.0", (await Server.Api().GetDeploymentAsync(deployment)).Routing.Stable);
    }

    /// <summary>A form POST with the browser context's cookies (session and all), as a page on this site could send it.</summary>
    private static Task<IAPIResponse> PostFormAsync(IBrowserContext context, string path, params (string Name, string Value)[] fields)
    {
        var form = context.APIRequest.CreateFormData();
        foreach (var (name, value) in fields)
        {
            form.Set(name, value);
        }
        return context.APIRequest.PostAsync(path, new APIRequestContextOptions { Form = form, MaxRedirects = 0 });
    }
}
