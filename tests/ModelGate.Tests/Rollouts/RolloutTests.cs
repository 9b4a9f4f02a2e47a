using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using ModelGate.Cli;
using ModelGate.Client;
using ModelGate.Gateway;
using ModelGate.Rollouts;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Rollouts;

/// <summary>
/// Rollouts of ONNX classifiers judged by the canary analysis under simulated traffic from test.csv, on a fake clock, at
/// default settings but for the interval: v2-mlp is promoted every time; v4-broken is rolled back with no labels at all,
/// on its prediction distribution, and pages; a candidate with too little traffic is never promoted and fails at the
/// no-data limit; a shadow of v4-broken is reported as disagreeing with stable. No client request fails.
/// </summary>
public sealed class RolloutTests(SqliteServerFixture server, ITestOutputHelper output) : IClassFixture<SqliteServerFixture>
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

    /// <summary>
    /// One rollout interval of traffic: <paramref name="slots"/> ten-second slots of requests, then (with
    /// <paramref name="labels"/>) the true labels as feedback, then the controller's tick.
    /// </summary>
    private async Task IntervalAsync(string deployment, int perSlot, bool labels, int slots = 12)
    {
        var client = server.Client();
        var income = AdultServing.TestSet.Value.Strings("income");
        var sent = new List<(string Id, string Label)>();
        for (var slot = 0; slot < slots; slot++)
        {
            for (var i = 0; i < perSlot; i++)
            {
                var row = Rows.Value[_next++ % Rows.Value.Length];
                using var response = await client.PostAsync($"/v2/models/{deployment}/infer",
                    new StringContent(AdultServing.Request(row, 1).ToJsonString(), Encoding.UTF8, "application/json"));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode); // no client request fails, whatever the rollout does
                sent.Add((response.Headers.GetValues("x-modelgate-request-id").Single(), income[row]));
            }
            server.Time.Advance(TimeSpan.FromSeconds(10));
        }
        await server.FlushRequestLogAsync();
        if (labels)
        {
            var api = server.Api();
            foreach (var (id, label) in sent)
            {
                await api.SendFeedbackAsync(new FeedbackRequest(id, Label: label));
            }
        }
        await server.App.Services.GetRequiredService<RolloutController>().TickAsync(CancellationToken.None);
    }

    /// <summary>Runs intervals until the rollout ends (at most <paramref name="max"/>); returns it and the highest weight it reached.</summary>
    private async Task<(RolloutDto Rollout, double MaxWeight)> RunAsync(string deployment, string id, int perSlot, bool labels, int slots = 12, int max = 10)
    {
        var api = server.Api();
        var maxWeight = 0.0;
        var rollout = await api.GetRolloutAsync(deployment, id);
        for (var i = 0; i < max && RolloutStatuses.IsActive(rollout.Status); i++)
        {
            maxWeight = Math.Max(maxWeight, rollout.Weight);
            await IntervalAsync(deployment, perSlot, labels, slots);
            rollout = await api.GetRolloutAsync(deployment, id);
        }
        await WriteAnalysesAsync(rollout);
        return (rollout, maxWeight);
    }

    private async Task WriteAnalysesAsync(RolloutDto rollout)
    {
        using var writer = new StringWriter();
        await writer.WriteLineAsync($"{rollout.Status}: {rollout.Reason}");
        foreach (var analysis in rollout.Analyses ?? [])
        {
            await RolloutCommands.WriteAnalysisAsync(writer, rollout.Id, analysis);
        }
        output.WriteLine(writer.ToString());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Canary_ToV2Mlp_IsPromoted_EveryRun(int run)
    {
        var deployment = await DeployAsync();
        var api = server.Api();

        var good = await api.StartRolloutAsync(deployment, new StartRolloutRequest("1.1.0", IntervalSeconds: 120));
        Assert.Equal(5, (await api.GetDeploymentAsync(deployment)).Routing.Candidates!.Single().Weight);
        var (promoted, _) = await RunAsync(deployment, good.Id, perSlot: 100, labels: true);

        Assert.True(promoted.Status == RolloutStatuses.Promoted, $"run {run}: {promoted.Status}: {promoted.Reason}");
        var routing = (await api.GetDeploymentAsync(deployment)).Routing;
        Assert.Equal("1.1.0", routing.Stable);
        Assert.Empty(routing.Candidates ?? []);
        var weights = promoted.History.EnumerateArray().Where(e => e.GetProperty("type").GetString() == "step").Select(e => e.GetProperty("weight").GetDouble());
        Assert.Equal([10.0, 25.0, 50.0], weights);
        // Promoted on evidence: every passing analysis compared the prediction distribution and the feedback, with enough requests.
        var passes = promoted.Analyses!.Where(a => a.Outcome == AnalysisOutcomes.Pass).ToList();
        Assert.Equal(4, passes.Count);
        Assert.All(passes, a =>
        {
            Assert.True(a.CandidateRequests >= 50);
            Assert.Contains(a.Metrics, m => m.Name == "positive_rate" && m.Classification == "Pass");
            Assert.Contains(a.Metrics, m => m.Name == "score_distribution" && m.Classification == "Pass");
            Assert.Contains(a.Metrics, m => m.Name == "feedback_score" && m.Classification == "Pass");
        });
        Assert.DoesNotContain(promoted.Analyses!, a => a.Outcome == AnalysisOutcomes.Fail);
        // The reason agrees with the history: "every analysis passed" only if every one did.
        Assert.Equal(promoted.Analyses!.All(a => a.Outcome == AnalysisOutcomes.Pass), promoted.Reason!.StartsWith("every analysis passed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Canary_ToV4Broken_WithNoLabels_IsRolledBackOnItsPredictions_AndPages()
    {
        var deployment = await DeployAsync();
        var api = server.Api();

        var bad = await api.StartRolloutAsync(deployment, new StartRolloutRequest("1.2.0", IntervalSeconds: 120));
        var (rolledBack, maxWeight) = await RunAsync(deployment, bad.Id, perSlot: 100, labels: false);

        Assert.True(rolledBack.Status == RolloutStatuses.RolledBack, $"{rolledBack.Status}: {rolledBack.Reason}");
        Assert.True(maxWeight < 50, $"the broken candidate reached {maxWeight} %");
        Assert.Contains("positive_rate", rolledBack.Reason);
        Assert.Contains("score_distribution", rolledBack.Reason);
        var last = rolledBack.Analyses!.Last();
        Assert.Equal(AnalysisOutcomes.Fail, last.Outcome);
        Assert.DoesNotContain(last.Metrics, m => m.Name == "feedback_score"); // no labels: caught on the prediction distribution alone
        var positive = last.Metrics.Single(m => m.Name == "positive_rate");
        Assert.True(positive.CriticalFailure);
        Assert.True(positive.Candidate < positive.Stable / 2, $"{positive.Candidate} vs {positive.Stable}");
        Assert.True(positive.CandidateSamples > 0 && positive.StableSamples > 0);
        Assert.Equal("1.0.0", (await api.GetDeploymentAsync(deployment)).Routing.Stable);
        Assert.Empty((await api.GetDeploymentAsync(deployment)).Routing.Candidates ?? []);

        // A page names the failed metrics; the reason agrees with the history.
        var alert = Assert.Single(await api.ListAlertsAsync("firing", deployment), a => a.Kind == AlertKinds.RolloutRolledBack);
        Assert.Equal(AlertSeverities.Page, alert.Severity);
        Assert.Contains("positive_rate", alert.Summary);
        Assert.Contains("positive_rate", alert.Details.GetProperty("failedMetrics").ToString());
        Assert.Equal(rolledBack.FailedChecks, rolledBack.Analyses!.Count(a => a.Outcome == AnalysisOutcomes.Fail));
        Assert.DoesNotContain("()", rolledBack.Reason);

        // The CLI prints the analysis as a table.
        var (exit, status, _) = await server.CliAsync(["rollout", "status", deployment]);
        Assert.Equal(ExitCodes.Ok, exit);
        Assert.Contains("METRIC", status);
        Assert.Matches(@"positive_rate\s+0\.\d+\s+0(\.\d+)?\s+\d+/\d+\s+\[", status);
        Assert.Contains("FAILED", status);
    }

    [Fact]
    public async Task Canary_WithTooLittleTraffic_IsNeverPromoted_AndFailsAtTheNoDataLimit()
    {
        var deployment = await DeployAsync();
        var api = server.Api();

        // All defaults: a 60-second interval in which the candidate gets ~6 of 120 requests at 5 % (on main it was promoted).
        var starved = await api.StartRolloutAsync(deployment, new StartRolloutRequest("1.1.0"));
        var rollout = await api.GetRolloutAsync(deployment, starved.Id);
        for (var i = 0; i < 6 && RolloutStatuses.IsActive(rollout.Status); i++)
        {
            await IntervalAsync(deployment, perSlot: 20, labels: true, slots: 6);
            rollout = await api.GetRolloutAsync(deployment, starved.Id);
        }
        await WriteAnalysesAsync(rollout);

        Assert.Equal(RolloutStatuses.RolledBack, rollout.Status);
        Assert.Equal(0, rollout.Step);
        Assert.Equal(3, rollout.Analyses!.Count);
        Assert.All(rollout.Analyses, a => Assert.Equal(AnalysisOutcomes.NoData, a.Outcome));
        Assert.StartsWith("no data for 3 analyses in a row (the no-data limit is 3): the candidate served", rollout.Reason);
        Assert.DoesNotContain(rollout.History.EnumerateArray(), e => e.GetProperty("type").GetString() == "step");
        Assert.Equal("1.0.0", (await api.GetDeploymentAsync(deployment)).Routing.Stable);
        var alert = Assert.Single(await api.ListAlertsAsync("firing", deployment), a => a.Kind == AlertKinds.RolloutRolledBack);
        Assert.Contains("no_data", alert.Summary);
    }

    [Fact]
    public async Task Shadow_OfV4Broken_IsReportedAsDisagreeing()
    {
        var deployment = await DeployAsync();
        var api = server.Api();

        var shadow = await api.StartRolloutAsync(deployment, new StartRolloutRequest("1.2.0", RolloutStrategies.Shadow, IntervalSeconds: 30));
        var (done, _) = await RunAsync(deployment, shadow.Id, perSlot: 40, labels: false, slots: 3);

        Assert.True(done.Status == RolloutStatuses.RolledBack, $"{done.Status}: {done.Reason}");
        var last = done.Analyses!.Last();
        Assert.Equal(AnalysisOutcomes.Fail, last.Outcome);
        var agreement = last.Metrics.Single(m => m.Name == "label_agreement");
        var delta = last.Metrics.Single(m => m.Name == "mean_abs_delta_p");
        Assert.True(agreement.Classification == "Low" || delta.Classification == "High", $"agreement {agreement.Candidate}, mean |Δp| {delta.Candidate}");
        Assert.True(agreement.CandidateSamples >= 50);
        Assert.Null((await api.GetDeploymentAsync(deployment)).Routing.Shadow);
    }
}
