using Microsoft.EntityFrameworkCore;
using ModelGate.Audit;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Audit;

/// <summary>
/// A database writer deletes an evidence record whose deletion flips a gate (the newer, failing run of a suite; a rejection; the
/// card): the keyed audit event written with the record still names it, so the gate refuses with the record's evidence_integrity
/// check (record_missing) and audit verify names it. A rewritten event that names a record that never existed is reported as a
/// rewritten event, not as a deleted record.
/// </summary>
public abstract partial class EvidenceIntegrityTests
{
    private const string Deleted = "no such record: it was deleted";

    /// <summary>The gate's refusal names the deleted record, with the audit event that recorded it.</summary>
    private async Task AssertGateNamesDeletedAsync(ModelGateClient api, string model, string to, string check, string kind, string id, long sequence)
    {
        await AssertGateRefusesAsync(api, model, to, check, EvidenceFailures.RecordMissing);
        var named = Assert.Single((await api.DryRunTransitionAsync(model, "1.0.0", new TransitionRequest(to, "evidence test"), Ct)).Checks, c => c.Check == check);
        Assert.Equal($"the {kind} {id} recorded by audit event {sequence}", named.Expected);
        Assert.Equal($"{EvidenceFailures.RecordMissing}: {Deleted}", named.Actual);
    }

    [Fact]
    public async Task Evaluation_NewerFailingRunDeleted_GateRefusesRecordMissing_AuditVerifyNamesIt()
    {
        var (api, model, suite) = await ModelAsync(EvaluatedPolicy);
        var older = await api.StartEvaluationAsync(model, "1.0.0", new StartEvaluationRequest(suite, External: true,
            Metrics: new Dictionary<string, double> { ["roc_auc"] = 0.9 }), Ct);
        var newer = await api.StartEvaluationAsync(model, "1.0.0", new StartEvaluationRequest(suite, External: true,
            Metrics: new Dictionary<string, double> { ["roc_auc"] = 0.7 }), Ct);
        // The newer run of the suite is the one that counts: the gate refuses on its figure.
        var dry = await api.DryRunTransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Evaluated, "evidence test"), Ct);
        Assert.False(dry.Passed);
        Assert.Equal("0.7", Assert.Single(dry.Checks, c => c.Check == "metric:roc_auc").Actual);
        await AssertAuditVerifyValidAsync();

        var original = await Server.WithDbAsync(db => db.Evaluations.AsNoTracking().SingleAsync(e => e.Id == newer.Id, Ct));
        try
        {
            await Server.WithDbAsync(db => db.Evaluations.Where(e => e.Id == newer.Id).ExecuteDeleteAsync(Ct));
            // Without the newer run the older, passing one counts: only the deleted record's check stands in the way.
            dry = await api.DryRunTransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Evaluated, "evidence test"), Ct);
            Assert.Equal("0.9", Assert.Single(dry.Checks, c => c.Check == "metric:roc_auc").Actual);
            Assert.Equal("verified", Assert.Single(dry.Checks, c => c.Check == $"evidence_integrity:evaluation:{older.Id}").Actual);
            await AssertGateNamesDeletedAsync(api, model, Stages.Evaluated, $"evidence_integrity:evaluation:{newer.Id}", EvidenceKinds.Evaluation, newer.Id,
                original.EvidenceAuditSequence!.Value);
            Assert.Equal([$"evidence_integrity:evaluation:{newer.Id}"], dry.Checks.Where(c => !c.Passed).Select(c => c.Check));
            await AssertAuditVerifyNamesAsync(EvidenceKinds.Evaluation, newer.Id, EvidenceFailures.RecordMissing);
        }
        finally
        {
            await RestoreAsync(original);
        }
        await AssertAuditVerifyValidAsync();
        dry = await api.DryRunTransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Evaluated, "evidence test"), Ct);
        Assert.Equal("verified", Assert.Single(dry.Checks, c => c.Check == $"evidence_integrity:evaluation:{newer.Id}").Actual);
    }

    [Fact]
    public async Task Approval_RejectionDeleted_ProductionGateRefusesRecordMissing_AuditVerifyNamesIt()
    {
        var (api, model, suite) = await ModelAsync(ProductionPolicy);
        var run = await api.StartEvaluationAsync(model, "1.0.0", new StartEvaluationRequest(suite), Ct); // its rows are the smoke requests
        await Server.EvaluationFinishedAsync(run.Id);
        await api.TransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Evaluated, "setting up"), Ct);
        await api.TransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Registered, "setting up"), Ct);
        await api.CreateDeploymentAsync(new CreateDeploymentRequest(ServerFixture.UniqueName("deletion-staging"), DeploymentEnvironments.Staging, model,
            new RoutingTable("1.0.0")), Ct);
        await api.TransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Staging, "setting up"), Ct);
        var verification = await api.VerifyStagingAsync(model, "1.0.0", new StagingVerificationRequest(SmokeRows: 5, LoadRequests: 20, Concurrency: 2), Ct);
        Assert.True(verification.Passed, string.Join("; ", verification.Checks.Select(c => $"{c.Check}: {c.Detail}")));
        // The low tier's ml-lead approves; a product owner then rejects the version.
        var lead = Server.Api((await Server.CreateKeyAsync(new CreateKeyRequest(ServerFixture.UniqueName("lead"), [Roles.MlLead]))).Key);
        await lead.ApproveAsync(model, "1.0.0", new ApprovalRequest(ApprovalDecisions.Approve, Roles.MlLead, [run.Id, verification.Id],
            "accepted", "alerts", "rollback", DateTime.UtcNow.AddDays(30)), Ct);
        var owner = Server.Api((await Server.CreateKeyAsync(new CreateKeyRequest(ServerFixture.UniqueName("owner"), [Roles.ProductOwner]))).Key);
        var rejection = await owner.ApproveAsync(model, "1.0.0", new ApprovalRequest(ApprovalDecisions.Reject, Roles.ProductOwner, [run.Id],
            "not accepted", "alerts", "rollback", DateTime.UtcNow.AddDays(30), "the drift plan is missing"), Ct);
        var dry = await api.DryRunTransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Production, "evidence test"), Ct);
        Assert.Equal(["no_rejection"], dry.Checks.Where(c => !c.Passed).Select(c => c.Check));
        await AssertAuditVerifyValidAsync();

        var original = await Server.WithDbAsync(db => db.Approvals.AsNoTracking().SingleAsync(a => a.Id == rejection.Id, Ct));
        var check = $"evidence_integrity:approval:{rejection.Id}";
        try
        {
            await Server.WithDbAsync(db => db.Approvals.Where(a => a.Id == rejection.Id).ExecuteDeleteAsync(Ct));
            dry = await api.DryRunTransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Production, "evidence test"), Ct);
            Assert.True(Assert.Single(dry.Checks, c => c.Check == "no_rejection").Passed);
            Assert.Equal([check], dry.Checks.Where(c => !c.Passed).Select(c => c.Check));
            await AssertGateNamesDeletedAsync(api, model, Stages.Production, check, EvidenceKinds.Approval, rejection.Id, original.EvidenceAuditSequence!.Value);
            await AssertAuditVerifyNamesAsync(EvidenceKinds.Approval, rejection.Id, EvidenceFailures.RecordMissing);
        }
        finally
        {
            await RestoreAsync(original);
        }
        await AssertAuditVerifyValidAsync();
        dry = await api.DryRunTransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Production, "evidence test"), Ct);
        Assert.Equal(["no_rejection"], dry.Checks.Where(c => !c.Passed).Select(c => c.Check));

        // Moved rather than deleted: the rejection's version column points at another version of the model.
        var sha = await Server.UploadAsync(Fixtures.ModelBytes("v2-mlp"));
        await api.CreateVersionAsync(model, new CreateVersionRequest("2.0.0", [new ArtifactRef(sha, "v2-mlp.onnx")], Fixtures.Attestation()), Ct);
        var other = await Server.WithDbAsync(db => db.ModelVersions.Where(v => v.Model!.Name == model && v.Version == "2.0.0").Select(v => v.Id).SingleAsync(Ct));
        try
        {
            await Server.WithDbAsync(db => db.Approvals.Where(a => a.Id == rejection.Id).ExecuteUpdateAsync(s => s.SetProperty(a => a.VersionId, other), Ct));
            await AssertGateRefusesAsync(api, model, Stages.Production, check, EvidenceFailures.RecordMissing);
            dry = await api.DryRunTransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Production, "evidence test"), Ct);
            Assert.Equal($"{EvidenceFailures.RecordMissing}: no such record of this version: its version was changed",
                Assert.Single(dry.Checks, c => c.Check == check).Actual);
            // Wherever it is read now, its content no longer matches its hash.
            await AssertAuditVerifyNamesAsync(EvidenceKinds.Approval, rejection.Id, EvidenceFailures.ContentChanged);
        }
        finally
        {
            await Server.WithDbAsync(db => db.Approvals.Where(a => a.Id == rejection.Id).ExecuteUpdateAsync(s => s.SetProperty(a => a.VersionId, original.VersionId), Ct));
        }
        await AssertAuditVerifyValidAsync();
    }

    [Fact]
    public async Task Card_Deleted_RegisteredGateRefusesRecordMissing_OnceForItsSeveralEvents()
    {
        var (api, model, suite) = await ModelAsync(EvaluatedPolicy);
        await api.StartEvaluationAsync(model, "1.0.0", new StartEvaluationRequest(suite, External: true,
            Metrics: new Dictionary<string, double> { ["roc_auc"] = 0.9 }), Ct);
        await api.TransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Evaluated, "setting up"), Ct);
        await api.PutCardAsync(model, "1.0.0", new ModelCard(IntendedUse: "aggregate statistics"), Ct);
        await api.PutCardAsync(model, "1.0.0", new ModelCard(IntendedUse: "aggregate statistics", OutOfScopeUse: "decisions about individuals"), Ct);
        var versionId = await Server.WithDbAsync(db => db.ModelVersions.Where(v => v.Model!.Name == model).Select(v => v.Id).SingleAsync(Ct));
        var original = await Server.WithDbAsync(db => db.ModelCards.AsNoTracking().SingleAsync(c => c.VersionId == versionId, Ct));
        var check = $"evidence_integrity:card:{model}@1.0.0";
        await AssertGatePassesCheckAsync(api, model, Stages.Registered, check);
        try
        {
            await Server.WithDbAsync(db => db.ModelCards.Where(c => c.VersionId == versionId).ExecuteDeleteAsync(Ct));
            // The policy asks for no card field: without the card the registered gate would pass.
            await AssertGateNamesDeletedAsync(api, model, Stages.Registered, check, EvidenceKinds.Card, EvidenceHashes.CardId(versionId),
                original.EvidenceAuditSequence!.Value);
            var dry = await api.DryRunTransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Registered, "evidence test"), Ct);
            Assert.Equal([check], dry.Checks.Where(c => !c.Passed).Select(c => c.Check));
            await AssertAuditVerifyNamesAsync(EvidenceKinds.Card, EvidenceHashes.CardId(versionId), EvidenceFailures.RecordMissing);
        }
        finally
        {
            await RestoreAsync(original);
        }
        await AssertGatePassesCheckAsync(api, model, Stages.Registered, check);
        await AssertAuditVerifyValidAsync();
    }

    [Fact]
    public async Task Evaluation_EventRewrittenToNameANonexistentRecord_IsReportedAsARewrittenEvent_NotADeletedRecord()
    {
        var (api, model, suite) = await ModelAsync(EvaluatedPolicy);
        var recorded = await api.StartEvaluationAsync(model, "1.0.0", new StartEvaluationRequest(suite, External: true,
            Metrics: new Dictionary<string, double> { ["roc_auc"] = 0.9 }), Ct);
        var evaluation = await Server.WithDbAsync(db => db.Evaluations.AsNoTracking().SingleAsync(e => e.Id == recorded.Id, Ct));
        var originalEvent = await Server.WithDbAsync(db => db.AuditEvents.AsNoTracking().SingleAsync(e => e.Sequence == evaluation.EvidenceAuditSequence, Ct));
        // Another write after it, so that the refused transitions below link to that one, not to the event this test rewrites.
        await api.CreateModelAsync(new CreateModelRequest(ServerFixture.UniqueName("after"), "owners", RiskTiers.Low, "classification"), Ct);
        const string invented = "eval_00000000000000000000000000000000";
        var details = originalEvent.Details.Replace($"\"id\":\"{recorded.Id}\"", $"\"id\":\"{invented}\"");
        Assert.NotEqual(originalEvent.Details, details);
        try
        {
            // Without the chain key the writer can only recompute the event's hash with plain SHA-256.
            var hash = AuditChain.ComputeHash(originalEvent.Sequence, originalEvent.Time, originalEvent.Actor, originalEvent.Action, originalEvent.Subject,
                details, originalEvent.Outcome, originalEvent.PreviousHash);
            await Server.WithDbAsync(db => db.AuditEvents.Where(e => e.Sequence == originalEvent.Sequence)
                .ExecuteUpdateAsync(s => s.SetProperty(e => e.Details, details).SetProperty(e => e.Hash, hash), Ct));
            var dry = await api.DryRunTransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Evaluated, "evidence test"), Ct);
            var named = Assert.Single(dry.Checks, c => c.Check == $"evidence_integrity:evaluation:{invented}");
            Assert.False(named.Passed);
            Assert.StartsWith(EvidenceFailures.AuditEventAltered + ":", named.Actual);
            Assert.DoesNotContain(dry.Checks, c => c.Actual.StartsWith(EvidenceFailures.RecordMissing, StringComparison.Ordinal));
            // The real record's own event no longer verifies either.
            Assert.StartsWith(EvidenceFailures.AuditEventAltered + ":",
                Assert.Single(dry.Checks, c => c.Check == $"evidence_integrity:evaluation:{recorded.Id}").Actual);
        }
        finally
        {
            await Server.WithDbAsync(db => db.AuditEvents.Where(e => e.Sequence == originalEvent.Sequence)
                .ExecuteUpdateAsync(s => s.SetProperty(e => e.Details, originalEvent.Details).SetProperty(e => e.Hash, originalEvent.Hash), Ct));
        }
        await AssertAuditVerifyValidAsync();
    }

    private Task RestoreAsync<T>(T original) where T : class => Server.WithDbAsync(async db =>
    {
        db.Add(original);
        return await db.SaveChangesAsync(Ct);
    });
}
