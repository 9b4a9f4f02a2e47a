using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using System.Text;
using System.Text.Json;
using ModelGate.Cli;
using ModelGate.Client;
using ModelGate.Monitoring;
using ModelGate.Rollouts;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Rollouts;

/// <summary>Human control of rollouts and their hooks: a refusing pre-rollout hook, pause, abort with the rollback hook, shadow, the CLI.</summary>
public sealed class RolloutControlTests(AlertingServerFixture server) : IClassFixture<AlertingServerFixture>
{
    private static readonly System.Security.Claims.ClaimsPrincipal Actor = new(new System.Security.Claims.ClaimsIdentity(
        [new System.Security.Claims.Claim(System.Security.Claims.ClaimTypes.NameIdentifier, "test-controller")], "test"));

    private async Task<(int Exit, string Out)> Cli(params string[] args)
    {
        var (exit, output, _) = await server.CliAsync(args);
        return (exit, output);
    }

    [Fact]
    public async Task RolloutStart_WithHookOptions_CallsThePreRolloutHook_AndItsRefusalExitsRefused()
    {
        var deployment = await AdultServing.DeployAsync(server, await AdultServing.RegisterAsync(server), new { stable = "1.0.0" });
        var pre = server.Receiver.Url + "/cli-pre-" + deployment;
        server.Receiver.FailNext(10);
        var (exit, _) = await Cli("rollout", "start", deployment, "--candidate", "1.1.0", "--hook-pre-rollout", pre, "--hook-event", server.Receiver.Url + "/cli-event");
        server.Receiver.FailNext(0);
        Assert.Equal(ExitCodes.Refused, exit);
        Assert.Contains(server.Receiver.Requests, r => r.Path.EndsWith("/cli-pre-" + deployment, StringComparison.Ordinal));
        Assert.Empty((await server.Api().GetDeploymentAsync(deployment)).Routing.Candidates ?? []);
    }

    [Fact]
    public async Task Hooks_Pause_Abort_Shadow_AndTheCli()
    {
        var model = await AdultServing.RegisterAsync(server);
        var deployment = await AdultServing.DeployAsync(server, model, new { stable = "1.0.0" });
        var api = server.Api();
        var hooks = new RolloutHooks(PreRollout: server.Receiver.Url + "/pre", Rollback: server.Receiver.Url + "/rollback", Event: server.Receiver.Url + "/event");

        server.Receiver.FailNext(10);
        var refused = await Assert.ThrowsAsync<ModelGateApiException>(() => api.StartRolloutAsync(deployment, new StartRolloutRequest("1.1.0", Hooks: hooks)));
        Assert.Equal("pre_rollout_hook_refused", refused.Code);
        Assert.Empty((await api.GetDeploymentAsync(deployment)).Routing.Candidates ?? []);
        server.Receiver.FailNext(0);

        var (exit, output) = await Cli("rollout", "start", deployment, "--candidate", "1.1.0", "--steps", "20", "40");
        Assert.Equal(ExitCodes.Ok, exit);
        var id = output.Split(' ')[0];
        Assert.Equal(20, (await api.GetDeploymentAsync(deployment)).Routing.Candidates!.Single().Weight);
        Assert.Equal("rollout_in_progress", (await Assert.ThrowsAsync<ModelGateApiException>(() => api.StartRolloutAsync(deployment, new StartRolloutRequest("1.1.0")))).Code);
        Assert.Equal(ExitCodes.Ok, (await Cli("rollout", "pause", deployment, id, "--reason", "holiday")).Exit);
        Assert.Equal(RolloutStatuses.Paused, (await api.GetRolloutAsync(deployment, id)).Status);
        Assert.Equal(ExitCodes.Ok, (await Cli("rollout", "abort", deployment, id)).Exit);
        var aborted = await api.GetRolloutAsync(deployment, id);
        Assert.Equal(RolloutStatuses.Aborted, aborted.Status);
        Assert.Empty((await api.GetDeploymentAsync(deployment)).Routing.Candidates ?? []);
        Assert.Equal("rollout_ended", (await Assert.ThrowsAsync<ModelGateApiException>(() => api.RolloutActionAsync(deployment, id, "resume"))).Code);
        var status = await Cli("rollout", "status", deployment);
        Assert.Contains("aborted", status.Out);
        var events = (await api.ListAuditAsync(subject: $"deployments/{deployment}/rollouts/{id}")).Items;
        Assert.Equal(["rollout.started", "rollout.paused", "rollout.aborted"], events.Select(e => e.Action));
        // Each rollout event was written in the transaction of the routing change that went with it (same time, next sequence).
        var routingEvents = (await api.ListAuditAsync(subject: $"deployments/{deployment}")).Items.Where(e => e.Action == "deployment.routing_changed").ToList();
        foreach (var e in events.Where(e => e.Action != "rollout.paused"))
        {
            Assert.Contains(routingEvents, r => r.Sequence == e.Sequence - 1 && r.Time == e.Time);
        }

        // With hooks: abort calls the rollback hook, signed.
        var hooked = await api.StartRolloutAsync(deployment, new StartRolloutRequest("1.1.0", Hooks: hooks));
        await api.RolloutActionAsync(deployment, hooked.Id, "abort", "changed our minds");
        var rollbackCall = server.Receiver.Requests.Single(r => r.Path.EndsWith("/rollback", StringComparison.Ordinal));
        Assert.Equal(AlertManager.Sign(AlertingServerFixture.Secret, rollbackCall.Body), rollbackCall.Headers["x-modelgate-signature"]);
        Assert.Equal("changed our minds", JsonDocument.Parse(rollbackCall.Body).RootElement.GetProperty("reason").GetString());
        Assert.Contains(server.Receiver.Requests, r => r.Path.EndsWith("/event", StringComparison.Ordinal) && r.Headers["x-modelgate-event"] == "rollout.aborted");

        // Shadow: mirrored, never served; promotion of a shadow rollout completes it and removes the mirror.
        var shadow = await api.StartRolloutAsync(deployment, new StartRolloutRequest("1.1.0", RolloutStrategies.Shadow));
        Assert.Equal(new ShadowRoute("1.1.0", 100), (await api.GetDeploymentAsync(deployment)).Routing.Shadow);
        var client = server.Client();
        for (var i = 0; i < 20; i++)
        {
            using var response = await client.PostAsync($"/v2/models/{deployment}/infer", new StringContent(AdultServing.Request(i, 1).ToJsonString(), Encoding.UTF8, "application/json"));
            Assert.Equal("1.0.0", response.Headers.GetValues("x-modelgate-version").Single());
        }
        var done = await api.RolloutActionAsync(deployment, shadow.Id, "promote");
        Assert.Equal(RolloutStatuses.Completed, done.Status);
        var routing = (await api.GetDeploymentAsync(deployment)).Routing;
        Assert.Null(routing.Shadow);
        Assert.Equal("1.0.0", routing.Stable);
    }

    [Fact]
    public async Task RoutingAndRolloutState_CommitTogether_OrNotAtAll()
    {
        var model = await AdultServing.RegisterAsync(server);
        var deployment = await AdultServing.DeployAsync(server, model, new { stable = "1.0.0" });
        var api = server.Api();
        var first = await api.StartRolloutAsync(deployment, new StartRolloutRequest("1.1.0"));
        await api.RolloutActionAsync(deployment, first.Id, "abort");
        var before = await api.GetDeploymentAsync(deployment);
        var auditBefore = await server.AuditCountAsync();

        // A rollout row that cannot be written (its id is taken) must take the routing change down with it.
        var controller = server.App.Services.GetRequiredService<RolloutController>();
        var clash = new ModelGate.Storage.Rollouts.RolloutEntity
        {
            Id = first.Id, Deployment = deployment, Stable = "1.0.0", Candidate = "1.1.0", Strategy = RolloutStrategies.Canary, Status = RolloutStatuses.Running,
            Spec = "{}", Weight = 30, History = "[]", CreatedBy = "test",
        };
        await Assert.ThrowsAnyAsync<Microsoft.EntityFrameworkCore.DbUpdateException>(() =>
            controller.StartAsync(clash, table => table with { Candidates = [new CandidateRoute("1.1.0", 30)] }, Actor, default));

        var after = await api.GetDeploymentAsync(deployment);
        Assert.Empty(after.Routing.Candidates ?? []);
        Assert.Equal(before.Revision, after.Revision);
        Assert.Equal(auditBefore, await server.AuditCountAsync());
        using var served = await server.Client().PostAsync($"/v2/models/{deployment}/infer",
            new StringContent(AdultServing.Request(0, 1).ToJsonString(), Encoding.UTF8, "application/json"));
        Assert.Equal("1.0.0", served.Headers.GetValues("x-modelgate-version").Single());
    }

    [Fact]
    public async Task Start_WhileAnotherIsInProgress_IsRefusedInsideTheWrite_AndChangesNothing()
    {
        var model = await AdultServing.RegisterAsync(server);
        var deployment = await AdultServing.DeployAsync(server, model, new { stable = "1.0.0" });
        var api = server.Api();
        var first = await api.StartRolloutAsync(deployment, new StartRolloutRequest("1.1.0", Steps: [20, 40]));
        var before = await api.GetDeploymentAsync(deployment);
        var auditBefore = await server.AuditCountAsync();

        // A second start that read the deployment before the first one was written (the API's early check passed for both):
        // the write itself refuses it.
        var controller = server.App.Services.GetRequiredService<RolloutController>();
        var second = new ModelGate.Storage.Rollouts.RolloutEntity
        {
            Id = "ro_second", Deployment = deployment, Stable = "1.0.0", Candidate = "1.1.0", Strategy = RolloutStrategies.Canary, Status = RolloutStatuses.Running,
            Spec = "{}", Weight = 30, History = "[]", CreatedBy = "test",
        };
        var started = await controller.StartAsync(second, table => table with { Candidates = [new CandidateRoute("1.1.0", 30)] }, Actor, default);

        Assert.Equal(RolloutWriteOutcome.InProgress, started.Outcome);
        var after = await api.GetDeploymentAsync(deployment);
        Assert.Equal((before.Revision, 20.0), (after.Revision, after.Routing.Candidates!.Single().Weight));
        Assert.Equal(auditBefore, await server.AuditCountAsync());
        Assert.Equal([first.Id], (await api.ListRolloutsAsync(deployment)).Select(r => r.Id));
        var refused = await Assert.ThrowsAsync<ModelGateApiException>(() => api.StartRolloutAsync(deployment, new StartRolloutRequest("1.1.0")));
        Assert.Equal("rollout_in_progress", refused.Code);
    }

    [Fact]
    public async Task AChangeMadeFromAStaleRead_IsRefused_AndLosesNothing()
    {
        var model = await AdultServing.RegisterAsync(server);
        var deployment = await AdultServing.DeployAsync(server, model, new { stable = "1.0.0" });
        var api = server.Api();
        var rollout = await api.StartRolloutAsync(deployment, new StartRolloutRequest("1.1.0", Steps: [20, 40]));

        // The controller (or another replica) reads the rollout ...
        await using var scope = server.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ModelGate.Storage.ModelGateDbContext>();
        var stale = await db.Rollouts.FirstAsync(r => r.Id == rollout.Id);
        // ... a person pauses it meanwhile ...
        Assert.Equal(RolloutStatuses.Paused, (await api.RolloutActionAsync(deployment, rollout.Id, "pause", "hold on")).Status);
        var auditBefore = await server.AuditCountAsync();

        // ... and an abort (a routing change with the rollout's end) decided on the stale reading is refused as a whole.
        var controller = server.App.Services.GetRequiredService<RolloutController>();
        var refused = await controller.AbortAsync(rollout.Id, stale.History, "from a stale read", Actor, default);
        Assert.Equal(RolloutWriteOutcome.Stale, refused.Outcome);
        // So is a promotion (the tick's, after its check commits) decided on that reading; over HTTP this outcome is 409 rollout_changed.
        var promoted = await controller.PromoteAsync(rollout.Id, stale.History, Actor, "from a stale read", default);
        Assert.Equal(RolloutWriteOutcome.Stale, promoted.Outcome);

        var now = await api.GetRolloutAsync(deployment, rollout.Id);
        Assert.Equal(RolloutStatuses.Paused, now.Status);
        Assert.Equal(20, now.Weight);
        Assert.Contains("hold on", now.History.ToString());
        Assert.Equal(20, (await api.GetDeploymentAsync(deployment)).Routing.Candidates!.Single().Weight);
        Assert.Equal(auditBefore, await server.AuditCountAsync());

        // A plain save from a stale read is refused too (the history is the rollout's concurrency token).
        stale.Step = 1;
        await Assert.ThrowsAsync<Microsoft.EntityFrameworkCore.DbUpdateConcurrencyException>(() => db.SaveChangesAsync());
    }

    [Fact]
    public async Task Start_WithBadEvidenceSettingsOrMetrics_Is400WithFieldErrors()
    {
        var model = await AdultServing.RegisterAsync(server);
        var deployment = await AdultServing.DeployAsync(server, model, new { stable = "1.0.0" });
        using var response = await server.Client().PostAsync($"/api/v1/deployments/{deployment}/rollouts", new StringContent("""
            {"candidate": "1.1.0", "minimumRequests": 0, "minimumFeedback": -1, "noDataLimit": 0,
             "metrics": [{"name": "conversion", "direction": "down"}, {"name": "conversion"}, {"name": "error_rate"}, {"name": "Bad Name", "minimumSamples": 0}]}
            """, Encoding.UTF8, "application/json"));
        var problem = await ProblemAssert.IsProblem(response, System.Net.HttpStatusCode.BadRequest, "validation_failed");
        var errors = problem.GetProperty("errors");
        foreach (var field in new[] { "minimumRequests", "minimumFeedback", "noDataLimit", "metrics[0].direction", "metrics[1].name", "metrics[2].name",
                     "metrics[3].name", "metrics[3].minimumSamples" })
        {
            Assert.True(errors.TryGetProperty(field, out _), $"no error for {field}: {errors}");
        }
        Assert.Empty((await server.Api().GetDeploymentAsync(deployment)).Routing.Candidates ?? []);

        // An interval too short to hold minimumSamples ten-second slots could never be judged: refused at the start.
        var shortInterval = await Assert.ThrowsAsync<ModelGateApiException>(() =>
            server.Api().StartRolloutAsync(deployment, new StartRolloutRequest("1.1.0", IntervalSeconds: 20, MinimumSamples: 3)));
        Assert.Equal("validation_failed", shortInterval.Code);
        Assert.Contains("at least 30 s", shortInterval.Problem!.Errors!["intervalSeconds"].Single());

        // Valid ones are kept in the spec.
        var started = await server.Api().StartRolloutAsync(deployment, new StartRolloutRequest("1.1.0", MinimumRequests: 200, NoDataLimit: 5,
            Metrics: [new RolloutMetricSpec("conversion", MetricDirections.Decrease, Critical: true)]));
        Assert.Equal(200, started.Spec.MinimumRequests);
        Assert.Equal(5, started.Spec.NoDataLimit);
        Assert.Equal("conversion", started.Spec.Metrics!.Single().Name);
        Assert.Empty(started.Analyses!);
        await server.Api().RolloutActionAsync(deployment, started.Id, "abort");
    }

    [Fact]
    public async Task Promote_PausedWhileItsConfirmHookIsAsked_Is409RolloutChanged_AndThePauseStands()
    {
        var model = await AdultServing.RegisterAsync(server);
        var deployment = await AdultServing.DeployAsync(server, model, new { stable = "1.0.0" });
        var api = server.Api();
        var rollout = await api.StartRolloutAsync(deployment, new StartRolloutRequest("1.1.0", Steps: [20, 40],
            Hooks: new RolloutHooks(ConfirmPromotion: server.Receiver.Url + "/confirm-race")));

        // While the promotion waits for its confirm hook, someone else pauses the rollout.
        server.Receiver.OnRequest = async received =>
        {
            if (received.Path.EndsWith("/confirm-race", StringComparison.Ordinal))
            {
                await api.RolloutActionAsync(deployment, rollout.Id, "pause", "hold on");
            }
        };
        try
        {
            var raced = await Assert.ThrowsAsync<ModelGateApiException>(() => api.RolloutActionAsync(deployment, rollout.Id, "promote"));
            Assert.Equal("rollout_changed", raced.Code);
        }
        finally
        {
            server.Receiver.OnRequest = null;
        }

        var now = await api.GetRolloutAsync(deployment, rollout.Id);
        Assert.Equal(RolloutStatuses.Paused, now.Status);
        var routing = (await api.GetDeploymentAsync(deployment)).Routing;
        Assert.Equal("1.0.0", routing.Stable);
        Assert.Equal(20, routing.Candidates!.Single().Weight);
    }

    [Fact]
    public async Task AB_SplitsStickily_AndIsPromotedAfterItsIntervals()
    {
        var model = await AdultServing.RegisterAsync(server);
        var deployment = await AdultServing.DeployAsync(server, model, new { stable = "1.0.0" });
        var api = server.Api();
        var ab = await api.StartRolloutAsync(deployment, new StartRolloutRequest("1.1.0", RolloutStrategies.AB, IntervalSeconds: 30, Intervals: 1));
        var routing = (await api.GetDeploymentAsync(deployment)).Routing;
        Assert.Equal(50, routing.Candidates!.Single().Weight);
        Assert.Equal("x-modelgate-user", routing.Stickiness!.Header);

        var client = server.Client();
        var seen = new Dictionary<string, HashSet<string>>();
        for (var slot = 0; slot < 4; slot++)
        {
            // Enough users for each side to pass the analysis' minimum of 50 requests; each request a different row.
            for (var user = 0; user < 150; user++)
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, $"/v2/models/{deployment}/infer")
                {
                    Content = new StringContent(AdultServing.Request(slot * 150 + user, 1).ToJsonString(), Encoding.UTF8, "application/json"),
                };
                request.Headers.Add("x-modelgate-user", $"user-{user}");
                using var response = await client.SendAsync(request);
                (seen.TryGetValue($"user-{user}", out var set) ? set : seen[$"user-{user}"] = []).Add(response.Headers.GetValues("x-modelgate-version").Single());
            }
            server.Time.Advance(TimeSpan.FromSeconds(10));
        }
        Assert.All(seen.Values, versions => Assert.Single(versions)); // sticky: each user stays on one version
        Assert.Equal(2, seen.Values.SelectMany(v => v).Distinct().Count());

        await server.App.Services.GetRequiredService<ModelGate.Rollouts.RolloutController>().TickAsync(CancellationToken.None);
        var done = await api.GetRolloutAsync(deployment, ab.Id);
        Assert.True(done.Status == RolloutStatuses.Promoted, $"{done.Status}: {done.Reason} {done.History}");
        Assert.Equal("1.1.0", (await api.GetDeploymentAsync(deployment)).Routing.Stable);
    }
}
