using System.Text.Json;
using ModelGate.Client;
using ModelGate.Lifecycle;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Lifecycle;

/// <summary>The staging verification's rollback drill and latency threshold, on versions taken to staging under a policy that waives the earlier gates.</summary>
public sealed class StagingVerificationTests(SqliteServerFixture server) : IClassFixture<SqliteServerFixture>
{
    private const string Policy = """
        evaluated: { requirePlatformRun: false, requireIndependent: false, thresholds: [] }
        registered: { cardFields: [], requireLicense: false }
        """;

    /// <summary>A model with the given versions registered, and the Adult suite whose rows are the smoke requests.</summary>
    private async Task<(ModelGateClient Api, string Model, string Suite)> ModelAsync(params (string Version, string Onnx)[] versions)
    {
        var api = server.Api();
        var model = ServerFixture.UniqueName("drill");
        await api.CreateModelAsync(new CreateModelRequest(model, "owners", RiskTiers.Low, "classification"));
        await server.PutPolicyBelowFloorAsync(model, Policy);
        await server.UploadAsync(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "fixtures", "datasets", "adult", "test.csv")));
        var suite = await server.UploadAsync(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "fixtures", "suites", "adult-classification.json")));
        foreach (var (version, onnx) in versions)
        {
            var sha = await server.UploadAsync(Fixtures.ModelBytes(onnx));
            await api.CreateVersionAsync(model, new CreateVersionRequest(version, [new ArtifactRef(sha, onnx + ".onnx")], Fixtures.Attestation()));
        }
        return (api, model, suite);
    }

    [Fact]
    public async Task Drill_StableSetStraightToTheNewVersion_RollsBackToTheVersionServedBefore_AndTheLatencyLimitComesFromThePolicy()
    {
        var (api, model, suite) = await ModelAsync(("1.0.0", "v1-logreg"), ("2.0.0", "v2-mlp"));
        await api.StartEvaluationAsync(model, "1.0.0", new StartEvaluationRequest(suite, External: true, Metrics: new Dictionary<string, double> { ["roc_auc"] = 0.9 }));
        var run = await api.StartEvaluationAsync(model, "2.0.0", new StartEvaluationRequest(suite)); // its rows are the smoke requests
        await server.EvaluationFinishedAsync(run.Id);
        foreach (var version in new[] { "1.0.0", "2.0.0" })
        {
            await api.TransitionAsync(model, version, new TransitionRequest(Stages.Evaluated, "setting up"));
            await api.TransitionAsync(model, version, new TransitionRequest(Stages.Registered, "setting up"));
        }
        var staging = ServerFixture.UniqueName("drill-staging");
        await api.CreateDeploymentAsync(new CreateDeploymentRequest(staging, DeploymentEnvironments.Staging, model, new RoutingTable("1.0.0")));
        // set-route --stable 2.0.0: no candidate is left to show that the deployment served 1.0.0.
        await api.SetRoutingAsync(staging, new RoutingTable("2.0.0"));
        await api.TransitionAsync(model, "2.0.0", new TransitionRequest(Stages.Staging, "deployed to staging"));

        var verification = await api.VerifyStagingAsync(model, "2.0.0", new StagingVerificationRequest(SmokeRows: 5, LoadRequests: 20, Concurrency: 2));

        Assert.True(verification.Passed, string.Join("; ", verification.Checks.Select(c => $"{c.Check}: {c.Detail}")));
        var drill = verification.Checks.Single(c => c.Check == "rollback_drill");
        Assert.DoesNotContain("first version", drill.Detail);
        var figures = drill.Figures!.Value;
        Assert.False(figures.GetProperty("first").GetBoolean());
        Assert.Equal("1.0.0", figures.GetProperty("previous").GetString());
        Assert.Equal("1.0.0", figures.GetProperty("answeredAfterRollback").GetString());
        Assert.Equal("2.0.0", figures.GetProperty("answeredAfterRestore").GetString());
        Assert.Equal(5, figures.GetProperty("requests").GetInt32());
        Assert.Equal(64, figures.GetProperty("previousDigest").GetString()!.Length);
        foreach (var timing in new[] { "rollbackRouteMs", "rollbackMs", "restoreRouteMs", "restoreMs", "totalMs" })
        {
            Assert.Equal(JsonValueKind.Number, figures.GetProperty(timing).ValueKind);
        }
        var restored = (await api.GetDeploymentAsync(staging)).Routing;
        Assert.Equal("2.0.0", restored.Stable);
        Assert.Empty(restored.Candidates ?? []);
        var latency = verification.Checks.Single(c => c.Check == "latency_throughput");
        Assert.Equal(ProductionGate.DefaultStagingLatencyP99Ms, latency.Figures!.Value.GetProperty("p99LimitMs").GetDouble());

        // A limit no load can meet fails the latency check, and with it the verification.
        await server.PutPolicyBelowFloorAsync(model, Policy + "\nproduction: { stagingLatencyP99Ms: 0.001 }\n");
        var slow = await api.VerifyStagingAsync(model, "2.0.0", new StagingVerificationRequest(SmokeRows: 5, LoadRequests: 20, Concurrency: 2));
        Assert.False(slow.Passed);
        Assert.Equal(["latency_throughput"], slow.Checks.Where(c => !c.Passed).Select(c => c.Check));
        Assert.Contains("limit 0.001 ms", slow.Checks.Single(c => c.Check == "latency_throughput").Detail);
    }

    [Fact]
    public async Task Drill_DeploymentThatNeverServedAnotherVersion_IsTheFirstVersion()
    {
        var (api, model, suite) = await ModelAsync(("1.0.0", "v1-logreg"));
        var run = await api.StartEvaluationAsync(model, "1.0.0", new StartEvaluationRequest(suite));
        await server.EvaluationFinishedAsync(run.Id);
        await api.TransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Evaluated, "setting up"));
        await api.TransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Registered, "setting up"));
        var staging = ServerFixture.UniqueName("first-staging");
        await api.CreateDeploymentAsync(new CreateDeploymentRequest(staging, DeploymentEnvironments.Staging, model, new RoutingTable("1.0.0")));
        await api.TransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Staging, "deployed to staging"));

        var verification = await api.VerifyStagingAsync(model, "1.0.0", new StagingVerificationRequest(SmokeRows: 3, LoadRequests: 5, Concurrency: 1));

        var drill = verification.Checks.Single(c => c.Check == "rollback_drill");
        Assert.True(drill.Passed, drill.Detail);
        Assert.True(drill.Figures!.Value.GetProperty("first").GetBoolean());
        Assert.Contains("first version", drill.Detail);
    }

    [Fact]
    public void PreviousVersion_PrefersTheLatestOtherStable_PassesOverRetired_ThenTakesACandidateThatTookTraffic()
    {
        var stages = new Dictionary<string, string> { ["1.0.0"] = Stages.Retired, ["1.1.0"] = Stages.Production, ["2.0.0"] = Stages.Staging, ["1.5.0"] = Stages.Staging };
        RoutingTable[] history = [new("2.0.0", [new CandidateRoute("1.5.0", 10)]), new("1.1.0"), new("1.0.0")];
        Assert.Equal(("1.1.0", 0), Pick(history));
        Assert.Equal(("1.5.0", 1), Pick([new("2.0.0", [new CandidateRoute("1.5.0", 10)]), new("1.0.0")]));
        Assert.Equal(((string?)null, 0), Pick([new("2.0.0", [new CandidateRoute("1.5.0", 0)])]));
        (string?, int) Pick(RoutingTable[] tables)
        {
            var (previous, retired) = StagingVerifier.PreviousVersion(tables, "2.0.0", stages);
            return (previous, retired.Count);
        }
    }

    [Fact]
    public void LatencyCheck_P99AboveThePolicyLimit_Fails()
    {
        Assert.True(StagingVerifier.LatencyCheck(100, 4, 2, 3, 900, 500, 0, 1000).Passed);
        Assert.False(StagingVerifier.LatencyCheck(100, 4, 2, 3, 1200, 500, 0, 1000).Passed);
        Assert.False(StagingVerifier.LatencyCheck(100, 4, 2, 3, 10, 500, 1, 1000).Passed);
    }
}
