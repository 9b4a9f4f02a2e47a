using System.Net;
using System.Text;
using System.Text.Json;
using ModelGate.Cli;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Monitoring;

public sealed class FeedbackAndRollbackTests(SqliteServerFixture server) : IClassFixture<SqliteServerFixture>
{
    [Fact]
    public async Task Feedback_WithTrueLabels_GivesLiveAccuracyPerVersion()
    {
        var model = await AdultServing.RegisterAsync(server);
        var deployment = await AdultServing.DeployAsync(server, model, new { stable = "1.0.0" });
        var client = server.Client();
        var truth = AdultServing.TestSet.Value.Strings("income");
        var right = 0;
        var ids = new List<(string Id, string Label)>();
        for (var row = 0; row < 60; row++)
        {
            using var response = await client.PostAsync($"/v2/models/{deployment}/infer",
                new StringContent(AdultServing.Request(row, 1).ToJsonString(), Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            var predicted = body.RootElement.GetProperty("outputs").EnumerateArray().Single(o => o.GetProperty("name").GetString() == "label")
                .GetProperty("data")[0].GetInt64();
            right += predicted.ToString(System.Globalization.CultureInfo.InvariantCulture) == truth[row] ? 1 : 0;
            ids.Add((response.Headers.GetValues("x-modelgate-request-id").Single(), truth[row]));
        }
        var api = server.Api();
        await server.FlushRequestLogAsync(); // the request log is written asynchronously
        foreach (var (id, label) in ids)
        {
            var sent = await api.SendFeedbackAsync(new FeedbackRequest(id, Label: label));
            Assert.Equal("1.0.0", sent.Version);
            Assert.Equal(sent.Prediction == label ? 1 : 0, sent.Score);
        }
        var metrics = await api.GetDeploymentMetricsAsync(deployment, "1h");
        var stable = metrics.Series.Single(s => s.Version == "1.0.0");
        Assert.Equal(60, stable.FeedbackCount);
        Assert.Equal(right / 60.0, stable.FeedbackMean!.Value, 12);
        Assert.True(right > 40, "v1-logreg is right on most rows");

        await ProblemAssert.IsProblem(await client.PostAsync("/api/v1/feedback", new StringContent("{\"requestId\":\"nope\",\"label\":\"1\"}", Encoding.UTF8, "application/json")),
            HttpStatusCode.NotFound, "request_not_found");
        await ProblemAssert.IsProblem(await client.PostAsync("/api/v1/feedback", new StringContent($"{{\"requestId\":\"{ids[0].Id}\",\"score\":7}}", Encoding.UTF8, "application/json")),
            HttpStatusCode.BadRequest, "validation_failed");
        await ProblemAssert.IsProblem(await client.PostAsync("/api/v1/feedback", new StringContent($"{{\"requestId\":\"{ids[0].Id}\"}}", Encoding.UTF8, "application/json")),
            HttpStatusCode.BadRequest, "validation_failed");
    }

    [Fact]
    public async Task Rollback_DropsTheCanary_ThenReturnsToTheLastKnownGood_AndIsAudited()
    {
        var model = await AdultServing.RegisterAsync(server);
        var deployment = await AdultServing.DeployAsync(server, model, new { stable = "1.0.0" });
        var api = server.Api();
        Assert.Equal("nothing_to_roll_back", (await Assert.ThrowsAsync<ModelGateApiException>(() => api.RollbackAsync(deployment))).Code);

        await api.SetRoutingAsync(deployment, new RoutingTable("1.0.0", [new CandidateRoute("1.1.0", 50)]));
        var first = await api.RollbackAsync(deployment, "canary errors");
        Assert.Equal("1.0.0", first.Routing.Stable);
        Assert.Empty(first.Routing.Candidates ?? []);

        await api.SetRoutingAsync(deployment, new RoutingTable("1.1.0"));
        // A deployer who did not make the change rolls it back, with the CLI.
        var deployer = await server.Api().CreateKeyAsync(new CreateKeyRequest("night-shift", [Roles.Deployer]));
        var (exit, output, _) = await server.CliAsync(["rollback", deployment, "--reason", "bad release"], deployer.Key);
        Assert.Equal(ExitCodes.Ok, exit);
        Assert.Contains("all traffic to 1.0.0", output);
        using var response = await server.Client().PostAsync($"/v2/models/{deployment}/infer",
            new StringContent(AdultServing.Request(0, 1).ToJsonString(), Encoding.UTF8, "application/json"));
        Assert.Equal("1.0.0", response.Headers.GetValues("x-modelgate-version").Single());
        // Rolled away from, 1.1.0 is not a target for another rollback.
        Assert.Equal("nothing_to_roll_back", (await Assert.ThrowsAsync<ModelGateApiException>(() => api.RollbackAsync(deployment))).Code);

        var events = await api.ListAuditAsync(subject: $"deployments/{deployment}");
        Assert.Equal(2, events.Items.Count(e => e.Action == "deployment.rolled_back" && e.Outcome == "success"));
        var viewer = server.Api((await api.CreateKeyAsync(new CreateKeyRequest("v", [Roles.Viewer]))).Key);
        Assert.Equal(HttpStatusCode.Forbidden, (await Assert.ThrowsAsync<ModelGateApiException>(() => viewer.RollbackAsync(deployment))).Status);
    }
}
