using Microsoft.Extensions.DependencyInjection;
using System.Net;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Lifecycle;

/// <summary>Approvals by risk tier and separation of duties, on versions taken to staging under a policy that waives the earlier gates.</summary>
public sealed class ApprovalTierTests(SqliteServerFixture server) : IClassFixture<SqliteServerFixture>
{
    // Earlier gates are not the subject here: external results are allowed, the card and staging checks are waived.
    private const string Policy = """
        evaluated: { requirePlatformRun: false, requireIndependent: false, thresholds: [] }
        registered: { cardFields: [], requireLicense: false }
        staging: { requireDeployment: false }
        production: { requireStagingVerification: false }
        """;

    private async Task<(string Model, string Evaluation)> StagedAsync(string tier)
    {
        var admin = server.Api();
        var model = ServerFixture.UniqueName("tier");
        await admin.CreateModelAsync(new CreateModelRequest(model, "owners", tier, "classification"));
        await server.PutPolicyBelowFloorAsync(model, Policy);
        var sha = await server.UploadAsync(Fixtures.ModelBytes("v1-logreg"));
        await admin.CreateVersionAsync(model, new CreateVersionRequest("1.0.0", [new ArtifactRef(sha, "v1-logreg.onnx")], Fixtures.Attestation()));
        var suite = await server.UploadAsync("{\"name\":\"external\",\"task\":\"classification\"}"u8.ToArray());
        var evaluation = await admin.StartEvaluationAsync(model, "1.0.0", new StartEvaluationRequest(suite, External: true,
            Metrics: new Dictionary<string, double> { ["roc_auc"] = 0.9 }));
        foreach (var stage in new[] { Stages.Evaluated, Stages.Registered, Stages.Staging })
        {
            await admin.TransitionAsync(model, "1.0.0", new TransitionRequest(stage, "setting up"));
        }
        return (model, evaluation.Id);
    }

    private static ApprovalRequest Approval(string role, string evidence, DateTime? review = null) => new(ApprovalDecisions.Approve, role, [evidence], "accepted",
        "alerts", "rollback", review ?? DateTime.UtcNow.AddDays(30));

    private async Task<ModelGateClient> PersonAsync(string name, params string[] roles) =>
        server.Api((await server.CreateKeyAsync(new CreateKeyRequest(name, roles))).Key);

    [Fact]
    public async Task Medium_NeedsProductOwnerAndMlLead_FromTwoPeople()
    {
        var (model, evidence) = await StagedAsync(RiskTiers.Medium);
        var both = await PersonAsync("max", Roles.MlLead, Roles.ProductOwner);
        await both.ApproveAsync(model, "1.0.0", Approval(Roles.MlLead, evidence));
        var twice = await Assert.ThrowsAsync<ModelGateApiException>(() => both.ApproveAsync(model, "1.0.0", Approval(Roles.ProductOwner, evidence)));
        Assert.Equal("separation_of_duties", twice.Code);
        Assert.Contains("one person fills one role", twice.Problem!.Detail);

        var report = await server.Api().DryRunTransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Production, "go"));
        Assert.Equal(["approval:product-owner"], report.Checks.Where(c => !c.Passed).Select(c => c.Check));
        var wrongRole = await Assert.ThrowsAsync<ModelGateApiException>(async () =>
            await (await PersonAsync("lee", Roles.MlLead)).ApproveAsync(model, "1.0.0", Approval(Roles.ProductOwner, evidence)));
        Assert.Equal(HttpStatusCode.BadRequest, wrongRole.Status); // the key does not hold the role it claims
        var unknownEvidence = await Assert.ThrowsAsync<ModelGateApiException>(async () =>
            await (await PersonAsync("pat", Roles.ProductOwner)).ApproveAsync(model, "1.0.0", Approval(Roles.ProductOwner, "eval_0000000000000000")));
        Assert.Equal("unknown_evidence", unknownEvidence.Code);

        await (await PersonAsync("pia", Roles.ProductOwner)).ApproveAsync(model, "1.0.0", Approval(Roles.ProductOwner, evidence));
        var done = await server.Api().TransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Production, "go"));
        Assert.True(done.Report.Passed);
    }

    [Fact]
    public async Task High_NeedsTheRiskCommittee_AndARejectionBlocks()
    {
        var (model, evidence) = await StagedAsync(RiskTiers.High);
        await (await PersonAsync("lee", Roles.MlLead)).ApproveAsync(model, "1.0.0", Approval(Roles.MlLead, evidence));
        var report = await server.Api().DryRunTransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Production, "go"));
        Assert.Equal(["approval:risk-committee"], report.Checks.Where(c => !c.Passed).Select(c => c.Check));

        await (await PersonAsync("rita", Roles.RiskCommittee)).ApproveAsync(model, "1.0.0", Approval(Roles.RiskCommittee, evidence) with { Decision = ApprovalDecisions.Reject });
        var blocked = await server.Api().DryRunTransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Production, "go"));
        Assert.Contains(blocked.Checks, c => c.Check == "no_rejection" && !c.Passed);
        var after = await Assert.ThrowsAsync<ModelGateApiException>(async () =>
            await (await PersonAsync("rob", Roles.RiskCommittee)).ApproveAsync(model, "1.0.0", Approval(Roles.RiskCommittee, evidence)));
        Assert.Contains("register a new version", after.Problem!.Detail);
    }

    [Fact]
    public async Task ReviewsDue_ListProductionVersionsPastTheirReviewDate()
    {
        var (model, evidence) = await StagedAsync(RiskTiers.Low);
        await (await PersonAsync("lee", Roles.MlLead)).ApproveAsync(model, "1.0.0", Approval(Roles.MlLead, evidence, server.Time.GetUtcNow().UtcDateTime.AddDays(10)));
        await server.Api().TransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Production, "go"));
        Assert.DoesNotContain(await server.Api().ReviewsDueAsync(), r => r.Model == model);
        server.Time.Advance(TimeSpan.FromDays(11));
        var due = Assert.Single(await server.Api().ReviewsDueAsync(), r => r.Model == model);
        Assert.Equal("1.0.0", due.Version);
        Assert.InRange(due.DaysOverdue, 0.9, 1.1);
        // …and the monitors raise a ticket for it.
        await server.App.Services.GetRequiredService<ModelGate.Monitoring.Monitors>().EvaluateAsync(CancellationToken.None);
        var alert = Assert.Single(await server.Api().ListAlertsAsync("firing", model));
        Assert.Equal((AlertKinds.ReviewOverdue, AlertSeverities.Ticket, $"review:{model}@1.0.0"), (alert.Kind, alert.Severity, alert.Key));
    }

    [Fact]
    public async Task BadTransitions_AreProblems_AndChangeNothing()
    {
        var (model, _) = await StagedAsync(RiskTiers.Low);
        var api = server.Api();
        foreach (var (request, field) in new[]
                 {
                     (new TransitionRequest("heaven", "x"), "to"),
                     (new TransitionRequest(Stages.Production, ""), "reason"),
                     (new TransitionRequest(Stages.Retired, "x", Trigger: "boredom"), "trigger"),
                 })
        {
            var e = await Assert.ThrowsAsync<ModelGateApiException>(() => api.TransitionAsync(model, "1.0.0", request));
            Assert.Equal(HttpStatusCode.BadRequest, e.Status);
            Assert.Contains(field, e.Problem!.Errors!.Keys);
        }
        var backwards = await Assert.ThrowsAsync<ModelGateApiException>(() => api.TransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Evaluated, "again")));
        Assert.Contains(backwards.Problem!.Checks!, c => c.Check == "stage_transition");
        Assert.Equal("version_not_found", (await Assert.ThrowsAsync<ModelGateApiException>(() => api.TransitionAsync(model, "9.9.9", new TransitionRequest(Stages.Evaluated, "x")))).Code);
        var viewer = server.Api((await api.CreateKeyAsync(new CreateKeyRequest("v", [Roles.Viewer]))).Key);
        Assert.Equal(HttpStatusCode.Forbidden, (await Assert.ThrowsAsync<ModelGateApiException>(() => viewer.TransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Production, "x")))).Status);
        Assert.Equal(Stages.Staging, (await api.GetVersionAsync(model, "1.0.0")).Stage);
        var policy = await Assert.ThrowsAsync<ModelGateApiException>(() => api.PutPolicyAsync(model, "production: { approvals: { low: [deployer] } }"));
        Assert.Equal(HttpStatusCode.BadRequest, policy.Status);
        var yaml = await Assert.ThrowsAsync<ModelGateApiException>(() => api.PutPolicyAsync(model, "evaluated: { colour: red }"));
        Assert.Equal(HttpStatusCode.BadRequest, yaml.Status);
        Assert.Equal(1, (await api.GetPolicyAsync(model)).Revision);
    }
}
