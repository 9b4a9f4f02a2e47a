using System.Net;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using ModelGate.Client;
using ModelGate.Rollouts;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.WebConsole;

/// <summary>
/// The rollouts page over HTTP: progress and each analysis' verdicts as the REST API gives them; start, pause, resume,
/// abort and promote through the same domain service as the REST API — each act's effect and audit event read back through
/// the REST API; the anti-forgery token, the confirmation and the reason; a viewer sees no form and a forged post is 403; a
/// scoped key acts on its own deployment only.
/// </summary>
public sealed class RolloutPageTests(SqliteServerFixture server) : IClassFixture<SqliteServerFixture>
{
    private static string Path(string deployment) => $"/console/deployments/{deployment}/rollouts";

    private async Task<(string Deployment, ApiKeyDto Deployer, HttpClient Browser, string DeployerCookie, string ViewerCookie)> SetUpAsync()
    {
        var deployment = await AdultServing.DeployAsync(server, await AdultServing.RegisterAsync(server), new { stable = "1.0.0" });
        var browser = ConsoleHttp.Browser(server);
        var deployer = await server.CreateKeyAsync(new CreateKeyRequest("rollout deployer", [Roles.Deployer]));
        var deployerCookie = await ConsoleHttp.SignInAsync(browser, deployer.Key!);
        var viewerCookie = await ConsoleHttp.SignInAsync(browser, (await server.CreateKeyAsync(new CreateKeyRequest("rollout viewer", [Roles.Viewer]))).Key!);
        return (deployment, deployer, browser, deployerCookie, viewerCookie);
    }

    private static (string, string)[] Start(string token, string steps = "20, 40") =>
        [("_csrf", token), ("candidate", "1.1.0"), ("strategy", "canary"), ("steps", steps), ("intervalSeconds", "60"), ("confirm", "yes")];

    [Fact]
    public async Task StartPauseResumeAbort_ThroughThePage_ChangeTheRolloutAsTheApiDoes_AndAreAuditedWithTheReason()
    {
        var (deployment, deployer, browser, cookie, viewer) = await SetUpAsync();
        var api = server.Api();
        var page = await ConsoleHttp.GetAsync(browser, Path(deployment), cookie);
        Assert.Equal(HttpStatusCode.OK, page.Status);
        Assert.Contains("id=\"no-active-rollout\"", page.Body);
        Assert.Contains("<option value=\"1.1.0\">1.1.0</option>", ConsoleHttp.Element(page.Body, "select", "candidate"));
        Assert.DoesNotContain("<option value=\"1.0.0\">", ConsoleHttp.Element(page.Body, "select", "candidate")); // the stable version is no candidate
        var token = ConsoleHttp.Csrf(page.Body);

        // Without the token, without the confirmation, with falling steps (the REST API's validation): refused, nothing started.
        Assert.Equal(HttpStatusCode.BadRequest, (await ConsoleHttp.PostAsync(browser, Path(deployment), cookie, Start(token).Where(f => f.Item1 != "_csrf").ToArray())).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await ConsoleHttp.PostAsync(browser, Path(deployment), cookie, Start(token).Where(f => f.Item1 != "confirm").ToArray())).Status);
        var falling = await ConsoleHttp.PostAsync(browser, Path(deployment), cookie, Start(token, "40, 20"));
        Assert.Equal(HttpStatusCode.BadRequest, falling.Status);
        Assert.Matches("role=\"alert\">The rollout was not started: steps: rising weights", falling.Body);
        var unparsable = await ConsoleHttp.PostAsync(browser, Path(deployment), cookie, Start(token, "five"));
        Assert.Equal(HttpStatusCode.BadRequest, unparsable.Status);
        Assert.Empty(await api.ListRolloutsAsync(deployment));

        var started = await ConsoleHttp.PostAsync(browser, Path(deployment), cookie, Start(token));
        Assert.Equal(HttpStatusCode.Redirect, started.Status);
        Assert.Equal($"{Path(deployment)}?done=started", started.Location);
        var rollout = Assert.Single(await api.ListRolloutsAsync(deployment));
        Assert.Equal((RolloutStatuses.Running, "1.1.0", 20.0, RolloutStrategies.Canary, deployer.Principal), (rollout.Status, rollout.Candidate, rollout.Weight, rollout.Strategy, rollout.CreatedBy));
        Assert.Equal([20.0, 40.0], rollout.Spec.Steps);
        Assert.Equal(20, Assert.Single((await api.GetDeploymentAsync(deployment)).Routing.Candidates!).Weight);
        // A second start while one is in progress: the REST API's conflict, nothing more started.
        Assert.Equal(HttpStatusCode.Conflict, (await ConsoleHttp.PostAsync(browser, Path(deployment), cookie, Start(token))).Status);

        page = await ConsoleHttp.GetAsync(browser, Path(deployment), cookie);
        Assert.Contains($"id=\"rollout-progress\" data-rollout=\"{rollout.Id}\" data-status=\"running\"", page.Body);
        Assert.Contains("<dd data-field=\"step\">step 1 of 2 (20 % → 40 %, then promotion)</dd>", page.Body);
        Assert.Contains("id=\"rollout-pause\"", page.Body);
        Assert.DoesNotContain("id=\"rollout-resume\"", page.Body);
        Assert.DoesNotContain("id=\"rollout-start\"", page.Body);
        var act = $"{Path(deployment)}/{rollout.Id}";

        // A reason is needed; then paused, with the reason in the audit event.
        Assert.Equal(HttpStatusCode.BadRequest, (await ConsoleHttp.PostAsync(browser, $"{act}/pause", cookie, ("_csrf", token), ("confirm", "yes"))).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await ConsoleHttp.PostAsync(browser, $"{act}/pause", cookie, ("reason", "holiday"), ("confirm", "yes"))).Status);
        Assert.Equal(RolloutStatuses.Running, (await api.GetRolloutAsync(deployment, rollout.Id)).Status);
        var paused = await ConsoleHttp.PostAsync(browser, $"{act}/pause", cookie, ("_csrf", token), ("reason", "holiday freeze"), ("confirm", "yes"));
        Assert.Equal((HttpStatusCode.Redirect, $"{Path(deployment)}?done=pause"), (paused.Status, paused.Location));
        Assert.Equal(RolloutStatuses.Paused, (await api.GetRolloutAsync(deployment, rollout.Id)).Status);
        page = await ConsoleHttp.GetAsync(browser, Path(deployment), cookie);
        Assert.Contains("id=\"rollout-resume\"", page.Body);
        Assert.DoesNotContain("id=\"rollout-pause\"", page.Body);

        Assert.Equal(HttpStatusCode.Redirect, (await ConsoleHttp.PostAsync(browser, $"{act}/resume", cookie, ("_csrf", token), ("reason", "back"), ("confirm", "yes"))).Status);
        Assert.Equal(RolloutStatuses.Running, (await api.GetRolloutAsync(deployment, rollout.Id)).Status);
        Assert.Equal(HttpStatusCode.Redirect, (await ConsoleHttp.PostAsync(browser, $"{act}/abort", cookie, ("_csrf", token), ("reason", "latency <worse>"), ("confirm", "yes"))).Status);
        Assert.Equal(RolloutStatuses.Aborted, (await api.GetRolloutAsync(deployment, rollout.Id)).Status);
        Assert.Empty((await api.GetDeploymentAsync(deployment)).Routing.Candidates ?? []);

        var events = (await api.ListAuditAsync(subject: $"deployments/{deployment}/rollouts/{rollout.Id}")).Items;
        Assert.Equal(["rollout.started", "rollout.paused", "rollout.resumed", "rollout.aborted"], events.Select(e => e.Action));
        Assert.All(events, e => Assert.Equal(deployer.Principal, e.Actor));
        Assert.Equal("holiday freeze", events[1].Details.GetProperty("reason").GetString());
        Assert.Equal("latency <worse>", events[3].Details.GetProperty("reason").GetString());

        // An ended rollout: the REST API's conflict, nothing written; the page lists it with its status and shows the start form again.
        Assert.Equal(HttpStatusCode.Conflict, (await ConsoleHttp.PostAsync(browser, $"{act}/resume", cookie, ("_csrf", token), ("reason", "again"), ("confirm", "yes"))).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await ConsoleHttp.PostAsync(browser, $"{act}/explode", cookie, ("_csrf", token), ("reason", "x"), ("confirm", "yes"))).Status);
        Assert.Equal(4, (await api.ListAuditAsync(subject: $"deployments/{deployment}/rollouts/{rollout.Id}")).Items.Count);
        page = await ConsoleHttp.GetAsync(browser, Path(deployment), cookie);
        Assert.Contains($"<tr data-rollout=\"{rollout.Id}\" data-status=\"aborted\">", page.Body);
        Assert.Contains("latency &lt;worse&gt;", page.Body);
        Assert.Contains("id=\"rollout-start\"", page.Body);
        _ = viewer;
    }

    [Fact]
    public async Task Promote_ThroughThePage_MakesTheCandidateStable()
    {
        var (deployment, deployer, browser, cookie, _) = await SetUpAsync();
        var token = ConsoleHttp.Csrf((await ConsoleHttp.GetAsync(browser, Path(deployment), cookie)).Body);
        Assert.Equal(HttpStatusCode.Redirect, (await ConsoleHttp.PostAsync(browser, Path(deployment), cookie, Start(token))).Status);
        var rollout = Assert.Single(await server.Api().ListRolloutsAsync(deployment));

        var promoted = await ConsoleHttp.PostAsync(browser, $"{Path(deployment)}/{rollout.Id}/promote", cookie, ("_csrf", token), ("reason", "good enough"), ("confirm", "yes"));
        Assert.Equal(HttpStatusCode.Redirect, promoted.Status);
        Assert.Equal(RolloutStatuses.Promoted, (await server.Api().GetRolloutAsync(deployment, rollout.Id)).Status);
        Assert.Equal("1.1.0", (await server.Api().GetDeploymentAsync(deployment)).Routing.Stable);
        Assert.Contains((await server.Api().ListAuditAsync(subject: $"deployments/{deployment}/rollouts/{rollout.Id}")).Items,
            e => e.Action == "rollout.promoted" && e.Actor == deployer.Principal);
    }

    [Fact]
    public async Task Analyses_AreShownWithEachMetricsVerdict_AsTheRestApiReturnsThem()
    {
        var (deployment, _, browser, cookie, _) = await SetUpAsync();
        var api = server.Api();
        var rollout = await api.StartRolloutAsync(deployment, new StartRolloutRequest("1.1.0"));
        Assert.Contains("id=\"no-analyses\"", (await ConsoleHttp.GetAsync(browser, Path(deployment), cookie)).Body);
        // One interval without traffic: an analysis with no data.
        server.Time.Advance(TimeSpan.FromSeconds(61));
        await server.App.Services.GetRequiredService<RolloutController>().TickAsync(CancellationToken.None);
        var analysis = Assert.Single((await api.GetRolloutAsync(deployment, rollout.Id)).Analyses!);

        var page = (await ConsoleHttp.GetAsync(browser, Path(deployment), cookie)).Body;
        var section = Regex.Match(page, "<section class=\"analysis\" data-analysis=\"0\".*?</section>", RegexOptions.Singleline).Value;
        Assert.Contains($"data-outcome=\"{analysis.Outcome}\"", section);
        Assert.Contains($"Requests: stable {analysis.StableRequests:N0}, candidate {analysis.CandidateRequests:N0}.", section);
        Assert.NotEmpty(analysis.Metrics);
        foreach (var metric in analysis.Metrics)
        {
            Assert.Contains($"<tr data-metric=\"{metric.Name}\" data-classification=\"{metric.Classification}\">", section);
        }
        Assert.Contains("<dd data-field=\"checks\">1</dd>", page);
    }

    [Fact]
    public async Task Viewer_SeesNoActionForm_AndAForgedPostIsRefused_AsIsAScopedKeyOnAnotherDeployment()
    {
        var (deployment, _, browser, cookie, viewer) = await SetUpAsync();
        var asViewer = await ConsoleHttp.GetAsync(browser, Path(deployment), viewer);
        Assert.Equal(HttpStatusCode.OK, asViewer.Status);
        Assert.DoesNotContain("id=\"rollout-start\"", asViewer.Body);
        var viewerToken = ConsoleHttp.Csrf(asViewer.Body);
        Assert.Equal(HttpStatusCode.Forbidden, (await ConsoleHttp.PostAsync(browser, Path(deployment), viewer, Start(viewerToken))).Status);
        Assert.Empty(await server.Api().ListRolloutsAsync(deployment));

        var token = ConsoleHttp.Csrf((await ConsoleHttp.GetAsync(browser, Path(deployment), cookie)).Body);
        Assert.Equal(HttpStatusCode.Redirect, (await ConsoleHttp.PostAsync(browser, Path(deployment), cookie, Start(token))).Status);
        var rollout = Assert.Single(await server.Api().ListRolloutsAsync(deployment));
        asViewer = await ConsoleHttp.GetAsync(browser, Path(deployment), viewer);
        Assert.Contains("id=\"rollout-progress\"", asViewer.Body);
        Assert.DoesNotContain("<form id=\"rollout-", asViewer.Body);
        Assert.Equal(HttpStatusCode.Forbidden,
            (await ConsoleHttp.PostAsync(browser, $"{Path(deployment)}/{rollout.Id}/abort", viewer, ("_csrf", viewerToken), ("reason", "x"), ("confirm", "yes"))).Status);

        // A deployer's key scoped to another deployment: this one's page is not found, its post refused.
        var scoped = await ConsoleHttp.SignInAsync(browser, (await server.CreateKeyAsync(new CreateKeyRequest("elsewhere deployer", [Roles.Deployer], Deployments: ["elsewhere"]))).Key!);
        Assert.Equal(HttpStatusCode.NotFound, (await ConsoleHttp.GetAsync(browser, Path(deployment), scoped)).Status);
        var scopedToken = ConsoleHttp.Csrf((await ConsoleHttp.GetAsync(browser, "/console/deployments", scoped)).Body);
        Assert.Equal(HttpStatusCode.Forbidden,
            (await ConsoleHttp.PostAsync(browser, $"{Path(deployment)}/{rollout.Id}/abort", scoped, ("_csrf", scopedToken), ("reason", "x"), ("confirm", "yes"))).Status);
        Assert.Equal(RolloutStatuses.Running, (await server.Api().GetRolloutAsync(deployment, rollout.Id)).Status);
        Assert.Equal(["rollout.started"], (await server.Api().ListAuditAsync(subject: $"deployments/{deployment}/rollouts/{rollout.Id}")).Items.Select(e => e.Action));
    }
}
