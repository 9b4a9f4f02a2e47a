using System.Text;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Lifecycle;

/// <summary>
/// One meaning of "production" for the regression check: the evaluation's default baseline and the evaluated gate's
/// regression check both take the version serving as stable in the model's production deployments.
/// </summary>
public abstract class ProductionBaselineTests(ServerFixture fixture) : ProviderTests(fixture)
{
    private const string TestCsvSha256 = EvaluationRuns.EvaluationApiTests.TestCsvSha256;

    private async Task<(string Model, ModelGateClient Evaluator, string Suite)> ThreeVersionsTwoInProductionAsync()
    {
        var model = ServerFixture.UniqueName("prod-baseline");
        var api = Server.Api();
        await api.CreateModelAsync(new CreateModelRequest(model, "risk-team", "medium", "classification", "CC-BY-4.0"));
        var versions = new[] { ("1.0.0", "v1-logreg"), ("2.0.0", "v2-mlp"), ("3.0.0", "v3-biased") };
        foreach (var (version, onnx) in versions)
        {
            var sha = await Server.UploadAsync(Fixtures.ModelBytes(onnx));
            await api.CreateVersionAsync(model, new CreateVersionRequest(version, [new ArtifactRef(sha, onnx + ".onnx")], Fixtures.Attestation(trainer: "alice")));
        }
        // Walking two versions through every gate is the walk-through's job; here the stages are set directly to stand
        // for 1.0.0 promoted first and 2.0.0 promoted a day later (1.0.0 kept as last-known-good).
        var promoted = Server.Time.GetUtcNow().UtcDateTime;
        foreach (var (version, days) in new[] { ("1.0.0", -2), ("2.0.0", -1) })
        {
            await Server.WithDbAsync(db => db.ModelVersions.Where(v => v.Model!.Name == model && v.Version == version)
                .ExecuteUpdateAsync(u => u.SetProperty(v => v.Stage, Stages.Production).SetProperty(v => v.StageChangedAt, promoted.AddDays(days))));
        }
        await Server.UploadAsync(await File.ReadAllBytesAsync(Path.Combine(AppContext.BaseDirectory, "fixtures", "datasets", "adult", "test.csv")));
        var yaml = "name: quick\ntask: classification\ndataset: {sha256: " + TestCsvSha256 + ", format: csv}\ntarget: income\nmetrics: [accuracy]\nbootstrap: {resamples: 20}\n";
        var suite = await Server.UploadAsync(Encoding.UTF8.GetBytes(yaml));
        var evaluator = await api.CreateKeyAsync(new CreateKeyRequest("eve", ["evaluator"]));
        return (model, Server.Api(evaluator.Key!), suite);
    }

    private async Task<EvaluationDto> EvaluateAsync(ModelGateClient evaluator, string model, string suite)
    {
        var started = await evaluator.StartEvaluationAsync(model, "3.0.0", new StartEvaluationRequest(suite));
        await Server.EvaluationFinishedAsync(started.Id);
        var done = await evaluator.GetEvaluationAsync(model, "3.0.0", started.Id);
        Assert.True(done.Status == EvaluationStatuses.Succeeded, done.Error);
        return done;
    }

    private async Task<IReadOnlyList<GateCheck>> RegressionChecksAsync(string model)
    {
        var report = await Server.Api().DryRunTransitionAsync(model, "3.0.0", new TransitionRequest(Stages.Evaluated, "gate dry run"));
        return report.Checks.Where(c => c.Check.StartsWith("regression", StringComparison.Ordinal)).ToList();
    }

    [Fact]
    public async Task AComparisonThatMeasuresNoneOfTheRegressionMetrics_DoesNotPassTheRegressionCheck()
    {
        var (model, evaluator, _) = await ThreeVersionsTwoInProductionAsync();
        // Compared with production, but on precision only: the policy judges regressions on roc_auc and accuracy.
        var yaml = "name: precision-only\ntask: classification\ndataset: {sha256: " + TestCsvSha256 + ", format: csv}\ntarget: income\nmetrics: [precision]\nbootstrap: {resamples: 20}\n";
        var suite = await Server.UploadAsync(Encoding.UTF8.GetBytes(yaml));
        var evaluation = await EvaluateAsync(evaluator, model, suite);
        Assert.Equal("2.0.0", evaluation.Baseline);

        var check = Assert.Single(await RegressionChecksAsync(model));
        Assert.Equal("regression", check.Check);
        Assert.False(check.Passed);
        Assert.Contains($"{evaluation.Id} measured none of them", check.Actual);
        Assert.Contains("roc_auc, accuracy", check.Expected);
    }

    [Fact]
    public async Task TwoVersionsInProduction_DeploymentStableIsTheBaseline_ForEvaluationAndGateAlike()
    {
        var (model, evaluator, suite) = await ThreeVersionsTwoInProductionAsync();

        // The production deployment was rolled back: 1.0.0 serves as stable although 2.0.0 was promoted later.
        var prodA = ServerFixture.UniqueName("prod-a");
        await Server.Api().CreateDeploymentAsync(new CreateDeploymentRequest(prodA, "production", model, new RoutingTable("1.0.0")));
        var evaluation = await EvaluateAsync(evaluator, model, suite);
        Assert.Equal("1.0.0", evaluation.Baseline);
        var checks = await RegressionChecksAsync(model);
        Assert.DoesNotContain(checks, c => c.Actual == "none");
        var accuracy = Assert.Single(checks, c => c.Check == "regression:accuracy");
        Assert.Contains("1.0.0", accuracy.Expected);

        // Traffic moves to 2.0.0: the baseline follows the deployment, and the earlier comparison no longer counts.
        await Server.Api().SetRoutingAsync(prodA, new RoutingTable("2.0.0"));
        var stale = Assert.Single(await RegressionChecksAsync(model));
        Assert.Equal("none", stale.Actual);
        Assert.Contains("2.0.0", stale.Expected);
        Assert.Equal("2.0.0", (await EvaluateAsync(evaluator, model, suite)).Baseline);
        accuracy = Assert.Single(await RegressionChecksAsync(model), c => c.Check == "regression:accuracy");
        Assert.Contains("2.0.0", accuracy.Expected);
    }

    [Fact]
    public async Task SeveralProductionDeployments_TheHighestStableIsTheBaseline_NoneRouted_TheNewestProductionVersion()
    {
        var (model, evaluator, suite) = await ThreeVersionsTwoInProductionAsync();

        // No production deployment yet: the newest version in stage production.
        Assert.Equal("2.0.0", (await EvaluateAsync(evaluator, model, suite)).Baseline);
        Assert.Contains("2.0.0", Assert.Single(await RegressionChecksAsync(model), c => c.Check == "regression:accuracy").Expected);

        // Two production deployments with different stables: the highest version among them, in both places.
        await Server.Api().CreateDeploymentAsync(new CreateDeploymentRequest(ServerFixture.UniqueName("prod-eu"), "production", model, new RoutingTable("1.0.0")));
        await Server.Api().CreateDeploymentAsync(new CreateDeploymentRequest(ServerFixture.UniqueName("prod-us"), "production", model, new RoutingTable("2.0.0")));
        Assert.Equal("2.0.0", (await EvaluateAsync(evaluator, model, suite)).Baseline);
        Assert.Contains("2.0.0", Assert.Single(await RegressionChecksAsync(model), c => c.Check == "regression:accuracy").Expected);
    }
}

public sealed class ProductionBaselineTests_Sqlite(SqliteServerFixture fixture) : ProductionBaselineTests(fixture), IClassFixture<SqliteServerFixture>;

public sealed class ProductionBaselineTests_Postgres(PostgresServerFixture fixture) : ProductionBaselineTests(fixture), IClassFixture<PostgresServerFixture>;
