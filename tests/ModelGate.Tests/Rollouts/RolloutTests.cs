using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using ModelGate.Client;
using ModelGate.Rollouts;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Rollouts;

/// <summary>
/// Rollouts judged by the canary analysis under simulated traffic from test.csv, with feedback carrying the true labels,
/// on a fake clock: v2-mlp is promoted; v4-broken is rolled back before it reaches 50 %; no client request fails.
/// </summary>
public sealed class RolloutTests(SqliteServerFixture server) : IClassFixture<SqliteServerFixture>
{
    // Traffic balanced between the classes (alternating rows with income 1 and 0), so that accuracy tells good models from bad.
    private static readonly Lazy<int[]> Rows = new(() =>
    {
        var income = AdultServing.TestSet.Value.Strings("income");
        var positive = Enumerable.Range(0, income.Length).Where(i => income[i] == "1").Take(1500).ToArray();
        var negative = Enumerable.Range(0, income.Length).Where(i => income[i] == "0").Take(1500).ToArray();
        return positive.Zip(negative, (p, n) => new[] { p, n }).SelectMany(x => x).ToArray();
    });

    private int _next;

    private async Task<string> DeployAsync()
    {
        var model = ServerFixture.UniqueName("ro");
        var api = server.Api();
        await api.CreateModelAsync(new CreateModelRequest(model, "o", "low", "classification"));
        foreach (var (version, onnx, data) in new[] { ("1.0.0", "v1-logreg", 'a'), ("1.1.0", "v2-mlp", 'a'), ("1.2.0", "v4-broken", 'c') })
        {
            var sha = await server.UploadAsync(Fixtures.ModelBytes(onnx));
            await api.CreateVersionAsync(model, new CreateVersionRequest(version, [new ArtifactRef(sha, onnx + ".onnx")],
                data == 'a' ? Fixtures.Attestation() : Fixtures.Attestation(datasetSha: new string(data, 64))));
        }
        return await AdultServing.DeployAsync(server, model, new { stable = "1.0.0" });
    }

    /// <summary>One rollout interval of traffic: <paramref name="slots"/> ten-second slots of requests, then the true labels as feedback, then the controller's tick.</summary>
    private async Task<Dictionary<string, int>> IntervalAsync(string deployment, int slots = 12, int perSlot = 80)
    {
        var client = server.Client();
        var income = AdultServing.TestSet.Value.Strings("income");
        var sent = new List<(string Id, string Label)>();
        var versions = new Dictionary<string, int>();
        for (var slot = 0; slot < slots; slot++)
        {
            for (var i = 0; i < perSlot; i++)
            {
                var row = Rows.Value[_next++ % Rows.Value.Length];
                using var response = await client.PostAsync($"/v2/models/{deployment}/infer",
                    new StringContent(AdultServing.Request(row, 1).ToJsonString(), Encoding.UTF8, "application/json"));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode); // no client request fails, whatever the rollout does
                sent.Add((response.Headers.GetValues("x-modelgate-request-id").Single(), income[row]));
                var version = response.Headers.GetValues("x-modelgate-version").Single();
                versions[version] = versions.GetValueOrDefault(version) + 1;
            }
            server.Time.Advance(TimeSpan.FromSeconds(10));
        }
        await server.FlushRequestLogAsync();
        var api = server.Api();
        foreach (var (id, label) in sent)
        {
            await api.SendFeedbackAsync(new FeedbackRequest(id, Label: label));
        }
        await server.App.Services.GetRequiredService<RolloutController>().TickAsync(CancellationToken.None);
        return versions;
    }

    [Fact]
    public async Task Canary_ToV2Mlp_IsPromoted_AndToV4Broken_IsRolledBackBeforeFiftyPercent()
    {
        var deployment = await DeployAsync();
        var api = server.Api();

        var good = await api.StartRolloutAsync(deployment, new StartRolloutRequest("1.1.0", IntervalSeconds: 120));
        Assert.Equal(5, (await api.GetDeploymentAsync(deployment)).Routing.Candidates!.Single().Weight);
        for (var i = 0; i < 6 && RolloutStatuses.IsActive((await api.GetRolloutAsync(deployment, good.Id)).Status); i++)
        {
            await IntervalAsync(deployment);
        }
        var promoted = await api.GetRolloutAsync(deployment, good.Id);
        Assert.True(promoted.Status == RolloutStatuses.Promoted, $"{promoted.Status}: {promoted.Reason}\n{promoted.History}");
        var routing = (await api.GetDeploymentAsync(deployment)).Routing;
        Assert.Equal("1.1.0", routing.Stable);
        Assert.Empty(routing.Candidates ?? []);
        var weights = promoted.History.EnumerateArray().Where(e => e.GetProperty("type").GetString() == "step").Select(e => e.GetProperty("weight").GetDouble());
        Assert.Equal([10.0, 25.0, 50.0], weights);

        // Now from 1.1.0 to the model trained on shuffled labels.
        var bad = await api.StartRolloutAsync(deployment, new StartRolloutRequest("1.2.0", IntervalSeconds: 120, FailedCheckLimit: 1));
        var maxWeight = 0.0;
        for (var i = 0; i < 6 && RolloutStatuses.IsActive((await api.GetRolloutAsync(deployment, bad.Id)).Status); i++)
        {
            maxWeight = Math.Max(maxWeight, (await api.GetRolloutAsync(deployment, bad.Id)).Weight);
            await IntervalAsync(deployment);
        }
        var rolledBack = await api.GetRolloutAsync(deployment, bad.Id);
        Assert.True(rolledBack.Status == RolloutStatuses.RolledBack, $"{rolledBack.Status}: {rolledBack.Reason}\n{rolledBack.History}");
        Assert.True(maxWeight < 50, $"the broken candidate reached {maxWeight} %");
        Assert.Contains("feedback_score", rolledBack.History.ToString());
        routing = (await api.GetDeploymentAsync(deployment)).Routing;
        Assert.Equal("1.1.0", routing.Stable);
        Assert.Empty(routing.Candidates ?? []);
        var audit = await api.ListAuditAsync(subject: $"deployments/{deployment}/rollouts/{bad.Id}");
        Assert.Equal(["rollout.started", "rollout.rolled_back"], audit.Items.Select(e => e.Action));
    }
}
