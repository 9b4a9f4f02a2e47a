using System.Net;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using ModelGate.Audit;
using ModelGate.Client;
using ModelGate.Storage.Evaluation;
using ModelGate.Storage.Lifecycle;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Audit;

/// <summary>
/// A database writer without the chain key edits the evidence a gate reads (an evaluation's result, an approval's role, a staging
/// verification's outcome, a card), alone or with its stored evidence hash recomputed to match: the gate refuses with a named
/// evidence_integrity check, the record's show says it does not verify, and audit verify fails naming it.
/// </summary>
public abstract partial class EvidenceIntegrityTests(ServerFixture fixture) : ProviderTests(fixture)
{
    private const string EvaluatedPolicy = """
        evaluated: { requirePlatformRun: false, requireIndependent: false, thresholds: [ { metric: roc_auc, min: 0.88 } ] }
        registered: { cardFields: [], requireLicense: false }
        """;

    private const string ProductionPolicy = """
        evaluated: { requirePlatformRun: false, requireIndependent: false, thresholds: [] }
        registered: { cardFields: [], requireLicense: false }
        """;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<(ModelGateClient Api, string Model, string Suite)> ModelAsync(string policy)
    {
        var api = Server.Api();
        var model = ServerFixture.UniqueName("evidence");
        await api.CreateModelAsync(new CreateModelRequest(model, "owners", RiskTiers.Low, "classification"));
        await Server.PutPolicyBelowFloorAsync(model, policy);
        await Server.UploadAsync(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "fixtures", "datasets", "adult", "test.csv")));
        var suite = await Server.UploadAsync(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "fixtures", "suites", "adult-classification.json")));
        var sha = await Server.UploadAsync(Fixtures.ModelBytes("v1-logreg"));
        await api.CreateVersionAsync(model, new CreateVersionRequest("1.0.0", [new ArtifactRef(sha, "v1-logreg.onnx")], Fixtures.Attestation()));
        return (api, model, suite);
    }

    /// <summary>The gate (dry run and the real request) refuses with the named check, whose actual value starts with the failure.</summary>
    private async Task AssertGateRefusesAsync(ModelGateClient api, string model, string to, string check, string failure)
    {
        var dry = await api.DryRunTransitionAsync(model, "1.0.0", new TransitionRequest(to, "evidence test"), Ct);
        Assert.False(dry.Passed);
        var named = Assert.Single(dry.Checks, c => c.Check == check);
        Assert.False(named.Passed);
        Assert.StartsWith(failure + ":", named.Actual);
        var refused = await Assert.ThrowsAsync<ModelGateApiException>(() => api.TransitionAsync(model, "1.0.0", new TransitionRequest(to, "evidence test"), Ct));
        Assert.Equal(HttpStatusCode.Conflict, refused.Status);
        Assert.Contains(refused.Problem!.Checks!, c => c.Check == check && !c.Passed);
    }

    private async Task AssertGatePassesCheckAsync(ModelGateClient api, string model, string to, string check)
    {
        var dry = await api.DryRunTransitionAsync(model, "1.0.0", new TransitionRequest(to, "evidence test"), Ct);
        var named = Assert.Single(dry.Checks, c => c.Check == check);
        Assert.True(named.Passed, $"{named.Expected} / {named.Actual}");
        Assert.Equal("verified", named.Actual);
    }

    /// <summary>audit verify (API and CLI) fails and names the record.</summary>
    private async Task AssertAuditVerifyNamesAsync(string kind, string id, string failure)
    {
        var result = await Server.Api().VerifyAuditAsync(Ct);
        Assert.False(result.Valid);
        Assert.Contains($"{kind} {id}", result.Reason);
        var record = Assert.Single(result.Evidence!.Records, r => r.Kind == kind && r.Id == id);
        Assert.False(record.Verified);
        Assert.Equal(failure, record.Failure);
        var (exit, output, _) = await Server.CliAsync(["audit", "verify"]);
        Assert.Equal(ModelGate.Cli.ExitCodes.VerificationFailed, exit);
        Assert.Contains($"TAMPERED {kind} {id}: {failure}", output);
    }

    /// <summary>A show command exits 7 and says why.</summary>
    private async Task AssertCliShowFailsAsync(string[] args, string failure)
    {
        var (exit, output, error) = await Server.CliAsync(args);
        Assert.Equal(ModelGate.Cli.ExitCodes.VerificationFailed, exit);
        Assert.Contains(failure, output + error);
    }

    private async Task AssertAuditVerifyValidAsync()
    {
        var result = await Server.Api().VerifyAuditAsync(Ct);
        Assert.True(result.Valid, result.Reason);
        Assert.True(result.Evidence!.Checked > 0);
        Assert.Equal(0, result.Evidence.Failed);
    }

    [Fact]
    public async Task Evaluation_ResultEditedToPassing_GateRefuses_ShowAndAuditVerifyNameIt_AlsoWithItsHashRecomputed()
    {
        var (api, model, suite) = await ModelAsync(EvaluatedPolicy);
        var recorded = await api.StartEvaluationAsync(model, "1.0.0", new StartEvaluationRequest(suite, External: true,
            Metrics: new Dictionary<string, double> { ["roc_auc"] = 0.7 }), Ct);
        var check = $"evidence_integrity:evaluation:{recorded.Id}";
        await AssertGatePassesCheckAsync(api, model, Stages.Evaluated, check);
        Assert.True((await api.GetEvaluationAsync(model, "1.0.0", recorded.Id, Ct)).Integrity!.Verified);
        await AssertAuditVerifyValidAsync();

        var original = await Server.WithDbAsync(db => db.Evaluations.AsNoTracking().SingleAsync(e => e.Id == recorded.Id, Ct));
        const string passing = """{"external":true,"metrics":{"roc_auc":0.95}}""";
        try
        {
            await Server.WithDbAsync(db => db.Evaluations.Where(e => e.Id == recorded.Id).ExecuteUpdateAsync(s => s.SetProperty(e => e.Result, passing), Ct));
            // The forged figure now passes the threshold; only the integrity check stands in the way.
            var dry = await api.DryRunTransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Evaluated, "evidence test"), Ct);
            Assert.True(Assert.Single(dry.Checks, c => c.Check == "metric:roc_auc").Passed);
            await AssertGateRefusesAsync(api, model, Stages.Evaluated, check, EvidenceFailures.ContentChanged);
            var shown = await api.GetEvaluationAsync(model, "1.0.0", recorded.Id, Ct);
            Assert.False(shown.Integrity!.Verified);
            Assert.Equal(EvidenceFailures.ContentChanged, shown.Integrity.Failure);
            Assert.Contains(original.EvidenceSha256!, shown.Integrity.Expected);
            Assert.False(Assert.Single(await api.ListEvaluationsAsync(model, "1.0.0", Ct), e => e.Id == recorded.Id).Integrity!.Verified);
            var (exit, output, _) = await Server.CliAsync(["eval", "show", $"{model}@1.0.0", recorded.Id]);
            Assert.Equal(ModelGate.Cli.ExitCodes.VerificationFailed, exit);
            Assert.Contains("integrity: NOT VERIFIED (content_changed)", output);
            await AssertAuditVerifyNamesAsync(EvidenceKinds.Evaluation, recorded.Id, EvidenceFailures.ContentChanged);

            // The writer also recomputes the stored hash (the hash function is public): the keyed audit event still holds the old one.
            var forged = await Server.WithDbAsync(db => db.Evaluations.AsNoTracking().SingleAsync(e => e.Id == recorded.Id, Ct));
            var rehash = EvidenceHashes.Evaluation(forged);
            await Server.WithDbAsync(db => db.Evaluations.Where(e => e.Id == recorded.Id).ExecuteUpdateAsync(s => s.SetProperty(e => e.EvidenceSha256, rehash), Ct));
            await AssertGateRefusesAsync(api, model, Stages.Evaluated, check, EvidenceFailures.AuditEventMismatch);
            shown = await api.GetEvaluationAsync(model, "1.0.0", recorded.Id, Ct);
            Assert.Equal(EvidenceFailures.AuditEventMismatch, shown.Integrity!.Failure);
            Assert.Contains(original.EvidenceSha256!, shown.Integrity.Expected);
            await AssertAuditVerifyNamesAsync(EvidenceKinds.Evaluation, recorded.Id, EvidenceFailures.AuditEventMismatch);
        }
        finally
        {
            await Server.WithDbAsync(db => db.Evaluations.Where(e => e.Id == recorded.Id).ExecuteUpdateAsync(s => s
                .SetProperty(e => e.Result, original.Result).SetProperty(e => e.EvidenceSha256, original.EvidenceSha256), Ct));
        }
        await AssertGatePassesCheckAsync(api, model, Stages.Evaluated, check);
        await AssertAuditVerifyValidAsync();
    }

    [Fact]
    public async Task Evaluation_EditedWithItsHashAndItsAuditEventRewritten_DoesNotVerifyWithoutTheChainKey()
    {
        var (api, model, suite) = await ModelAsync(EvaluatedPolicy);
        var recorded = await api.StartEvaluationAsync(model, "1.0.0", new StartEvaluationRequest(suite, External: true,
            Metrics: new Dictionary<string, double> { ["roc_auc"] = 0.7 }), Ct);
        var original = await Server.WithDbAsync(db => db.Evaluations.AsNoTracking().SingleAsync(e => e.Id == recorded.Id, Ct));
        var originalEvent = await Server.WithDbAsync(db => db.AuditEvents.AsNoTracking().SingleAsync(e => e.Sequence == original.EvidenceAuditSequence, Ct));
        Assert.Contains(original.EvidenceSha256!, originalEvent.Details);
        // Another write after it, so that the refused transitions below link to that one, not to the event this test rewrites.
        await api.CreateModelAsync(new CreateModelRequest(ServerFixture.UniqueName("after"), "owners", RiskTiers.Low, "classification"), Ct);
        const string passing = """{"external":true,"metrics":{"roc_auc":0.95}}""";
        try
        {
            // The writer edits the result, recomputes the record's hash, and writes that hash into the audit event's details, recomputing
            // the event's hash with plain SHA-256 (it has no chain key).
            await Server.WithDbAsync(db => db.Evaluations.Where(e => e.Id == recorded.Id).ExecuteUpdateAsync(s => s.SetProperty(e => e.Result, passing), Ct));
            var forged = await Server.WithDbAsync(db => db.Evaluations.AsNoTracking().SingleAsync(e => e.Id == recorded.Id, Ct));
            var rehash = EvidenceHashes.Evaluation(forged);
            var details = originalEvent.Details.Replace(original.EvidenceSha256!, rehash);
            var eventHash = AuditChain.ComputeHash(originalEvent.Sequence, originalEvent.Time, originalEvent.Actor, originalEvent.Action, originalEvent.Subject,
                details, originalEvent.Outcome, originalEvent.PreviousHash);
            await Server.WithDbAsync(async db =>
            {
                await db.Evaluations.Where(e => e.Id == recorded.Id).ExecuteUpdateAsync(s => s.SetProperty(e => e.EvidenceSha256, rehash), Ct);
                return await db.AuditEvents.Where(e => e.Sequence == originalEvent.Sequence)
                    .ExecuteUpdateAsync(s => s.SetProperty(e => e.Details, details).SetProperty(e => e.Hash, eventHash), Ct);
            });
            await AssertGateRefusesAsync(api, model, Stages.Evaluated, $"evidence_integrity:evaluation:{recorded.Id}", EvidenceFailures.AuditEventAltered);
            Assert.Equal(EvidenceFailures.AuditEventAltered, (await api.GetEvaluationAsync(model, "1.0.0", recorded.Id, Ct)).Integrity!.Failure);
            Assert.False((await Server.Api().VerifyAuditAsync(Ct)).Valid);
        }
        finally
        {
            await Server.WithDbAsync(async db =>
            {
                await db.Evaluations.Where(e => e.Id == recorded.Id).ExecuteUpdateAsync(s => s
                    .SetProperty(e => e.Result, original.Result).SetProperty(e => e.EvidenceSha256, original.EvidenceSha256), Ct);
                return await db.AuditEvents.Where(e => e.Sequence == originalEvent.Sequence)
                    .ExecuteUpdateAsync(s => s.SetProperty(e => e.Details, originalEvent.Details).SetProperty(e => e.Hash, originalEvent.Hash), Ct);
            });
        }
        await AssertAuditVerifyValidAsync();
    }

    [Fact]
    public async Task Evaluation_WithoutAnEvidenceHash_IsUnverifiable_AndTheGateRefuses()
    {
        var (api, model, suite) = await ModelAsync(EvaluatedPolicy);
        var recorded = await api.StartEvaluationAsync(model, "1.0.0", new StartEvaluationRequest(suite, External: true,
            Metrics: new Dictionary<string, double> { ["roc_auc"] = 0.9 }), Ct);
        var original = await Server.WithDbAsync(db => db.Evaluations.AsNoTracking().SingleAsync(e => e.Id == recorded.Id, Ct));
        try
        {
            // As a record written before evidence hashing.
            await Server.WithDbAsync(db => db.Evaluations.Where(e => e.Id == recorded.Id).ExecuteUpdateAsync(s => s
                .SetProperty(e => e.EvidenceSha256, (string?)null).SetProperty(e => e.EvidenceAuditSequence, (long?)null), Ct));
            await AssertGateRefusesAsync(api, model, Stages.Evaluated, $"evidence_integrity:evaluation:{recorded.Id}", EvidenceFailures.Unhashed);
            Assert.Equal(EvidenceFailures.Unhashed, (await api.GetEvaluationAsync(model, "1.0.0", recorded.Id, Ct)).Integrity!.Failure);
            await AssertAuditVerifyNamesAsync(EvidenceKinds.Evaluation, recorded.Id, EvidenceFailures.Unhashed);
        }
        finally
        {
            await Server.WithDbAsync(db => db.Evaluations.Where(e => e.Id == recorded.Id).ExecuteUpdateAsync(s => s
                .SetProperty(e => e.EvidenceSha256, original.EvidenceSha256).SetProperty(e => e.EvidenceAuditSequence, original.EvidenceAuditSequence), Ct));
        }
        await AssertAuditVerifyValidAsync();
    }

    [Fact]
    public async Task Card_Edited_GateRefuses_ShowAndAuditVerifyNameIt_AlsoWithItsHashRecomputed()
    {
        var (api, model, suite) = await ModelAsync(EvaluatedPolicy);
        await api.StartEvaluationAsync(model, "1.0.0", new StartEvaluationRequest(suite, External: true,
            Metrics: new Dictionary<string, double> { ["roc_auc"] = 0.9 }), Ct);
        await api.TransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Evaluated, "setting up"), Ct);
        await api.PutCardAsync(model, "1.0.0", new ModelCard(IntendedUse: "aggregate statistics", OutOfScopeUse: "decisions about individuals"), Ct);
        var versionId = await Server.WithDbAsync(db => db.ModelVersions.Where(v => v.Model!.Name == model).Select(v => v.Id).SingleAsync(Ct));
        var id = EvidenceHashes.CardId(versionId);
        var check = $"evidence_integrity:card:{model}@1.0.0";
        await AssertGatePassesCheckAsync(api, model, Stages.Registered, check);
        Assert.True((await api.GetCardAsync(model, "1.0.0", Ct)).GetProperty("integrity").GetProperty("verified").GetBoolean());

        var original = await Server.WithDbAsync(db => db.ModelCards.AsNoTracking().SingleAsync(c => c.VersionId == versionId, Ct));
        var edited = original.Card.Replace("decisions about individuals", "none");
        Assert.NotEqual(original.Card, edited);
        try
        {
            await Server.WithDbAsync(db => db.ModelCards.Where(c => c.VersionId == versionId).ExecuteUpdateAsync(s => s.SetProperty(c => c.Card, edited), Ct));
            await AssertGateRefusesAsync(api, model, Stages.Registered, check, EvidenceFailures.ContentChanged);
            var integrity = (await api.GetCardAsync(model, "1.0.0", Ct)).GetProperty("integrity");
            Assert.False(integrity.GetProperty("verified").GetBoolean());
            Assert.Equal(EvidenceFailures.ContentChanged, integrity.GetProperty("failure").GetString());
            await AssertCliShowFailsAsync(["model", "card", "show", $"{model}@1.0.0"], EvidenceFailures.ContentChanged);
            await AssertAuditVerifyNamesAsync(EvidenceKinds.Card, id, EvidenceFailures.ContentChanged);

            var forged = await Server.WithDbAsync(db => db.ModelCards.AsNoTracking().SingleAsync(c => c.VersionId == versionId, Ct));
            var rehash = EvidenceHashes.Card(forged);
            await Server.WithDbAsync(db => db.ModelCards.Where(c => c.VersionId == versionId).ExecuteUpdateAsync(s => s.SetProperty(c => c.EvidenceSha256, rehash), Ct));
            await AssertGateRefusesAsync(api, model, Stages.Registered, check, EvidenceFailures.AuditEventMismatch);
            await AssertAuditVerifyNamesAsync(EvidenceKinds.Card, id, EvidenceFailures.AuditEventMismatch);
        }
        finally
        {
            await Server.WithDbAsync(db => db.ModelCards.Where(c => c.VersionId == versionId).ExecuteUpdateAsync(s => s
                .SetProperty(c => c.Card, original.Card).SetProperty(c => c.EvidenceSha256, original.EvidenceSha256), Ct));
        }
        await AssertGatePassesCheckAsync(api, model, Stages.Registered, check);
        await AssertAuditVerifyValidAsync();
    }

    [Fact]
    public async Task ApprovalAndStagingVerification_Edited_GateRefuses_ShowAndAuditVerifyNameThem_AlsoWithTheirHashesRecomputed()
    {
        var (api, model, suite) = await ModelAsync(ProductionPolicy);
        var run = await api.StartEvaluationAsync(model, "1.0.0", new StartEvaluationRequest(suite), Ct); // its rows are the smoke requests
        await Server.EvaluationFinishedAsync(run.Id);
        await api.TransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Evaluated, "setting up"), Ct);
        await api.TransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Registered, "setting up"), Ct);
        await api.CreateDeploymentAsync(new CreateDeploymentRequest(ServerFixture.UniqueName("evidence-staging"), DeploymentEnvironments.Staging, model,
            new RoutingTable("1.0.0")), Ct);
        await api.TransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Staging, "setting up"), Ct);
        var verification = await api.VerifyStagingAsync(model, "1.0.0", new StagingVerificationRequest(SmokeRows: 5, LoadRequests: 20, Concurrency: 2), Ct);
        Assert.True(verification.Passed, string.Join("; ", verification.Checks.Select(c => $"{c.Check}: {c.Detail}")));
        // An ml-lead who records the approval in their other role: the low tier's ml-lead approval is still missing.
        var approver = Server.Api((await Server.CreateKeyAsync(new CreateKeyRequest(ServerFixture.UniqueName("approver"), [Roles.MlLead, Roles.ProductOwner]))).Key);
        var approval = await approver.ApproveAsync(model, "1.0.0", new ApprovalRequest(ApprovalDecisions.Approve, Roles.ProductOwner, [run.Id, verification.Id],
            "accepted", "alerts", "rollback", DateTime.UtcNow.AddDays(30)), Ct);

        var verificationCheck = $"evidence_integrity:staging_verification:{verification.Id}";
        var approvalCheck = $"evidence_integrity:approval:{approval.Id}";
        await AssertGatePassesCheckAsync(api, model, Stages.Production, verificationCheck);
        await AssertGatePassesCheckAsync(api, model, Stages.Production, approvalCheck);
        Assert.True(Assert.Single(await api.ListApprovalsAsync(model, "1.0.0", Ct)).Integrity!.Verified);
        Assert.True(Assert.Single(await api.ListStagingVerificationsAsync(model, "1.0.0", Ct)).Integrity!.Verified);
        Assert.Equal(ModelGate.Cli.ExitCodes.Ok, (await Server.CliAsync(["approvals", $"{model}@1.0.0"])).Exit);
        Assert.Equal(ModelGate.Cli.ExitCodes.Ok, (await Server.CliAsync(["staging", "show", $"{model}@1.0.0"])).Exit);
        await AssertAuditVerifyValidAsync();

        var originalApproval = await Server.WithDbAsync(db => db.Approvals.AsNoTracking().SingleAsync(a => a.Id == approval.Id, Ct));
        var originalVerification = await Server.WithDbAsync(db => db.StagingVerifications.AsNoTracking().SingleAsync(s => s.Id == verification.Id, Ct));
        try
        {
            // The role is edited to the one the tier needs: the approval check passes, its integrity does not.
            await Server.WithDbAsync(db => db.Approvals.Where(a => a.Id == approval.Id).ExecuteUpdateAsync(s => s.SetProperty(a => a.Role, Roles.MlLead), Ct));
            var dry = await api.DryRunTransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Production, "evidence test"), Ct);
            Assert.True(Assert.Single(dry.Checks, c => c.Check == $"approval:{Roles.MlLead}").Passed);
            await AssertGateRefusesAsync(api, model, Stages.Production, approvalCheck, EvidenceFailures.ContentChanged);
            var shown = Assert.Single(await api.ListApprovalsAsync(model, "1.0.0", Ct));
            Assert.False(shown.Integrity!.Verified);
            Assert.Equal(EvidenceFailures.ContentChanged, shown.Integrity.Failure);
            await AssertCliShowFailsAsync(["approvals", $"{model}@1.0.0"], EvidenceFailures.ContentChanged);
            await AssertAuditVerifyNamesAsync(EvidenceKinds.Approval, approval.Id, EvidenceFailures.ContentChanged);

            var forged = await Server.WithDbAsync(db => db.Approvals.AsNoTracking().SingleAsync(a => a.Id == approval.Id, Ct));
            var rehash = EvidenceHashes.Approval(forged);
            await Server.WithDbAsync(db => db.Approvals.Where(a => a.Id == approval.Id).ExecuteUpdateAsync(s => s.SetProperty(a => a.EvidenceSha256, rehash), Ct));
            await AssertGateRefusesAsync(api, model, Stages.Production, approvalCheck, EvidenceFailures.AuditEventMismatch);
            Assert.Equal(EvidenceFailures.AuditEventMismatch, Assert.Single(await api.ListApprovalsAsync(model, "1.0.0", Ct)).Integrity!.Failure);
            await AssertAuditVerifyNamesAsync(EvidenceKinds.Approval, approval.Id, EvidenceFailures.AuditEventMismatch);

            // The staging verification's outcome flipped.
            await Server.WithDbAsync(db => db.StagingVerifications.Where(s => s.Id == verification.Id).ExecuteUpdateAsync(s => s.SetProperty(v => v.Passed, false), Ct));
            await AssertGateRefusesAsync(api, model, Stages.Production, verificationCheck, EvidenceFailures.ContentChanged);
            var shownVerification = Assert.Single(await api.ListStagingVerificationsAsync(model, "1.0.0", Ct));
            Assert.Equal(EvidenceFailures.ContentChanged, shownVerification.Integrity!.Failure);
            await AssertCliShowFailsAsync(["staging", "show", $"{model}@1.0.0"], EvidenceFailures.ContentChanged);
            await AssertAuditVerifyNamesAsync(EvidenceKinds.StagingVerification, verification.Id, EvidenceFailures.ContentChanged);

            var flipped = await Server.WithDbAsync(db => db.StagingVerifications.AsNoTracking().SingleAsync(s => s.Id == verification.Id, Ct));
            var verificationRehash = EvidenceHashes.StagingVerification(flipped);
            await Server.WithDbAsync(db => db.StagingVerifications.Where(s => s.Id == verification.Id)
                .ExecuteUpdateAsync(s => s.SetProperty(v => v.EvidenceSha256, verificationRehash), Ct));
            await AssertGateRefusesAsync(api, model, Stages.Production, verificationCheck, EvidenceFailures.AuditEventMismatch);
            await AssertAuditVerifyNamesAsync(EvidenceKinds.StagingVerification, verification.Id, EvidenceFailures.AuditEventMismatch);
        }
        finally
        {
            await Server.WithDbAsync(db => db.Approvals.Where(a => a.Id == approval.Id).ExecuteUpdateAsync(s => s
                .SetProperty(a => a.Role, originalApproval.Role).SetProperty(a => a.EvidenceSha256, originalApproval.EvidenceSha256), Ct));
            await Server.WithDbAsync(db => db.StagingVerifications.Where(s => s.Id == verification.Id).ExecuteUpdateAsync(s => s
                .SetProperty(v => v.Passed, originalVerification.Passed).SetProperty(v => v.EvidenceSha256, originalVerification.EvidenceSha256), Ct));
        }
        await AssertGatePassesCheckAsync(api, model, Stages.Production, approvalCheck);
        await AssertGatePassesCheckAsync(api, model, Stages.Production, verificationCheck);
        await AssertAuditVerifyValidAsync();
    }
}

/// <summary>With <c>Audit:AcceptUnhashedEvidence</c> a record written before evidence hashing passes the gate, still shown as unverifiable.</summary>
public abstract class AcceptUnhashedEvidenceTests(ServerFixture fixture) : ProviderTests(fixture)
{
    public static readonly string[] Settings = ["--Audit:AcceptUnhashedEvidence=true"];

    [Fact]
    public async Task Evaluation_WithoutAnEvidenceHash_PassesTheGate_ButShowsUnverifiable()
    {
        var ct = TestContext.Current.CancellationToken;
        var api = Server.Api();
        var model = ServerFixture.UniqueName("unhashed");
        await api.CreateModelAsync(new CreateModelRequest(model, "owners", RiskTiers.Low, "classification"), ct);
        await Server.PutPolicyBelowFloorAsync(model, "evaluated: { requirePlatformRun: false, requireIndependent: false, thresholds: [] }");
        var suite = await Server.UploadAsync("{\"name\":\"external\",\"task\":\"classification\"}"u8.ToArray());
        var sha = await Server.UploadAsync(Fixtures.ModelBytes("v1-logreg"));
        await api.CreateVersionAsync(model, new CreateVersionRequest("1.0.0", [new ArtifactRef(sha, "v1-logreg.onnx")], Fixtures.Attestation()), ct);
        var recorded = await api.StartEvaluationAsync(model, "1.0.0", new StartEvaluationRequest(suite, External: true,
            Metrics: new Dictionary<string, double> { ["roc_auc"] = 0.9 }), ct);
        await Server.WithDbAsync(db => db.Evaluations.Where(e => e.Id == recorded.Id).ExecuteUpdateAsync(s => s
            .SetProperty(e => e.EvidenceSha256, (string?)null).SetProperty(e => e.EvidenceAuditSequence, (long?)null), ct));

        var dry = await api.DryRunTransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Evaluated, "legacy record"), ct);
        var check = Assert.Single(dry.Checks, c => c.Check == $"evidence_integrity:evaluation:{recorded.Id}");
        Assert.True(check.Passed);
        Assert.Contains("AcceptUnhashedEvidence", check.Actual);
        Assert.Equal(EvidenceFailures.Unhashed, (await api.GetEvaluationAsync(model, "1.0.0", recorded.Id, ct)).Integrity!.Failure);
        var verify = await api.VerifyAuditAsync(ct);
        Assert.True(verify.Valid, verify.Reason);
        Assert.Equal(0, verify.Evidence!.Failed);
    }
}

public sealed class AcceptUnhashedSqliteFixture : SqliteServerFixture
{
    protected override Task<IEnumerable<string>> ExtraArgumentsAsync() => Task.FromResult<IEnumerable<string>>(AcceptUnhashedEvidenceTests.Settings);
}

public sealed class AcceptUnhashedPostgresFixture : PostgresServerFixture
{
    protected override Task<IEnumerable<string>> ExtraArgumentsAsync() => Task.FromResult<IEnumerable<string>>(AcceptUnhashedEvidenceTests.Settings);
}

public sealed class AcceptUnhashedEvidenceTests_Sqlite(AcceptUnhashedSqliteFixture fixture) : AcceptUnhashedEvidenceTests(fixture), IClassFixture<AcceptUnhashedSqliteFixture>;

public sealed class AcceptUnhashedEvidenceTests_Postgres(AcceptUnhashedPostgresFixture fixture) : AcceptUnhashedEvidenceTests(fixture), IClassFixture<AcceptUnhashedPostgresFixture>;

public sealed class EvidenceIntegrityTests_Sqlite(SqliteServerFixture fixture) : EvidenceIntegrityTests(fixture), IClassFixture<SqliteServerFixture>;

public sealed class EvidenceIntegrityTests_Postgres(PostgresServerFixture fixture) : EvidenceIntegrityTests(fixture), IClassFixture<PostgresServerFixture>;
