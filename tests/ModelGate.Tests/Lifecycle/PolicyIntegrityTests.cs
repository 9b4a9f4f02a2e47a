using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using ModelGate.Client;
using ModelGate.Lifecycle;
using ModelGate.Storage;
using ModelGate.Storage.Lifecycle;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Lifecycle;

/// <summary>
/// The gate re-verifies the policy it applies and the risk tier it applies it for, and holds the tier's floor itself: a
/// weakening written around the API (or stored before floors existed), an edited or deleted policy revision and an edited risk
/// tier refuse, while a weakening the tier's authority approved passes.
/// </summary>
public abstract class PolicyIntegrityTests(ServerFixture server)
{
    private const string Weakened = PolicyFloorTests.Weakened;

    /// <summary>A high-tier model whose version 1.0.0 has an external evaluation by the one ml-lead who registered it (the walk).</summary>
    private async Task<(ModelGateClient Lead, string Model)> SoloWalkAsync()
    {
        server.SkipIfUnavailable();
        var key = await server.CreateKeyAsync(new CreateKeyRequest(ServerFixture.UniqueName("solo-lead"), [Roles.MlLead]));
        var lead = server.Api(key.Key);
        var bytes = Fixtures.ModelBytes("v4-broken");
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        await lead.PushArtifactAsync(new MemoryStream(bytes), sha);
        var model = ServerFixture.UniqueName("solo-high");
        await lead.CreateModelAsync(new CreateModelRequest(model, "risk", RiskTiers.High, "classification"));
        await lead.CreateVersionAsync(model, new CreateVersionRequest("1.0.0", [new ArtifactRef(sha, "v4-broken.onnx")], Fixtures.Attestation("mallory")));
        var suite = "{\"name\":\"one-line\",\"task\":\"classification\"}"u8.ToArray();
        var suiteSha = Convert.ToHexStringLower(SHA256.HashData(suite));
        await lead.PushArtifactAsync(new MemoryStream(suite), suiteSha);
        await lead.StartEvaluationAsync(model, "1.0.0", new StartEvaluationRequest(suiteSha, External: true,
            Metrics: new Dictionary<string, double> { ["accuracy"] = 0.99 }));
        return (lead, model);
    }

    /// <summary>Writes a policy revision straight into the store, as an edit around the API (or a store written before floors) would.</summary>
    private Task StoreAsync(string scope, string json) => server.WithDbAsync(async db =>
    {
        var document = JsonSerializer.Serialize(JsonSerializer.Deserialize<PolicyDocument>(json, ModelGateJson.Options), ModelGateJson.Options);
        var revision = (await db.Policies.Where(p => p.Scope == scope).MaxAsync(p => (int?)p.Revision) ?? 0) + 1;
        db.Policies.Add(new PolicyEntity
        {
            Scope = scope, Revision = revision, Document = document, DocumentSha256 = PoliciesApi.DocumentSha256(document),
            CreatedAt = DateTime.UtcNow, CreatedBy = "someone",
        });
        return await db.SaveChangesAsync();
    });

    private static GateCheck Check(GateReport report, string name) => Assert.Single(report.Checks, c => c.Check == name);

    [Fact]
    public async Task AWeakeningWrittenAroundTheApi_IsRefusedAtTheGate_NamingThePolicyAndTheFloor()
    {
        var (lead, model) = await SoloWalkAsync();
        await StoreAsync(model, Weakened);

        var gate = await Assert.ThrowsAsync<ModelGateApiException>(() => lead.TransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Evaluated, "ship it")));
        var failed = gate.Problem!.Checks!.Where(c => !c.Passed).ToList();
        // The weakened policy switched every other check off: only the policy's own checks stand in the way.
        Assert.Equal([$"policy_integrity:{model}", "policy_floor"], failed.Select(c => c.Check));
        Assert.StartsWith("audit_event_missing: none: the policy was written outside ModelGate", failed[0].Actual, StringComparison.Ordinal);
        Assert.StartsWith("below it without an approval: evaluated.requireIndependent: false", failed[1].Actual, StringComparison.Ordinal);
        Assert.Contains("production.approvals.high: no approvals", failed[1].Actual, StringComparison.Ordinal);
        Assert.Equal($"the {RiskTiers.High} tier's floor, or a weakening approved by {Roles.RiskCommittee}", failed[1].Expected);
        Assert.Equal(Stages.Trained, (await lead.GetVersionAsync(model, "1.0.0")).Stage);
    }

    [Fact]
    public async Task AWeakeningTheAuthorityApproved_PassesTheFloor_SayingSo()
    {
        var (lead, model) = await SoloWalkAsync();
        await server.PutPolicyBelowFloorAsync(model, Weakened);

        var report = await lead.DryRunTransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Evaluated, "ship it"));
        Assert.True(report.Passed, string.Join("; ", report.Checks.Where(c => !c.Passed).Select(c => $"{c.Check}: {c.Actual}")));
        Assert.Equal("verified (r1)", Check(report, $"policy_integrity:{model}").Actual);
        Assert.Equal(RiskTiers.High, Check(report, "risk_tier_integrity").Actual);
        var floor = Check(report, "policy_floor");
        Assert.StartsWith("below it, approved (floor approval at audit event ", floor.Actual, StringComparison.Ordinal);
        // The approval it names is the risk committee's approval of this change.
        var sequence = long.Parse(floor.Actual.Split("audit event ")[1].Split(')')[0], System.Globalization.CultureInfo.InvariantCulture);
        var approval = await server.WithDbAsync(db => db.AuditEvents.SingleAsync(e => e.Sequence == sequence));
        Assert.Equal($"models/{model}", approval.Subject);
        Assert.Equal(FloorApprovals.Approved, approval.Action);
    }

    [Fact]
    public async Task AnApprovedPolicy_EditedInTheStore_IsRefused_WithOrWithoutItsHashRewritten()
    {
        var (lead, model) = await SoloWalkAsync();
        await server.PutPolicyBelowFloorAsync(model, Weakened);
        // Any change of the stored document (here one field of the approved policy) after its audit event recorded it.
        await server.WithDbAsync(async db =>
        {
            var stored = await db.Policies.SingleAsync(p => p.Scope == model);
            stored.Document = stored.Document.Replace("\"requireOwner\":false", "\"requireOwner\":true", StringComparison.Ordinal);
            return await db.SaveChangesAsync();
        });
        var edited = Check(await lead.DryRunTransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Evaluated, "ship it")), $"policy_integrity:{model}");
        Assert.False(edited.Passed);
        Assert.StartsWith("content_changed: it hashes to ", edited.Actual, StringComparison.Ordinal);
        // audit verify re-checks what the gates apply too.
        var verified = await server.Api().VerifyAuditAsync();
        Assert.False(verified.Valid);
        var reported = Assert.Single(verified.Evidence!.Records, r => r.Kind == "policy" && r.Id == $"{model} r1");
        Assert.Equal("content_changed", reported.Failure);
        Assert.Contains($"policy {model} r1 (content_changed)", verified.Reason, StringComparison.Ordinal);

        await server.WithDbAsync(async db =>
        {
            var stored = await db.Policies.SingleAsync(p => p.Scope == model);
            stored.DocumentSha256 = PoliciesApi.DocumentSha256(stored.Document);
            return await db.SaveChangesAsync();
        });
        var rehashed = Check(await lead.DryRunTransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Evaluated, "ship it")), $"policy_integrity:{model}");
        Assert.False(rehashed.Passed);
        Assert.StartsWith("audit_event_mismatch: hash ", rehashed.Actual, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ModelGateApiException>(() => lead.TransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Evaluated, "ship it")));
    }

    [Fact]
    public async Task TheLatestRevision_DeletedFromTheStore_IsRefused()
    {
        var (lead, model) = await SoloWalkAsync();
        await server.PutPolicyBelowFloorAsync(model, Weakened);
        await server.PutPolicyBelowFloorAsync(model, Weakened.Replace("\"requireLicense\":false", "\"requireLicense\":true", StringComparison.Ordinal));
        await server.WithDbAsync(db => db.Policies.Where(p => p.Scope == model && p.Revision == 2).ExecuteDeleteAsync());

        var check = Check(await lead.DryRunTransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Evaluated, "ship it")), $"policy_integrity:{model}");
        Assert.False(check.Passed);
        Assert.Equal($"record_missing: r1 is the latest stored: later revisions were deleted", check.Actual);

        await server.WithDbAsync(db => db.Policies.Where(p => p.Scope == model).ExecuteDeleteAsync());
        var gone = Check(await lead.DryRunTransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Evaluated, "ship it")), $"policy_integrity:{model}");
        Assert.Equal("record_missing: no policy stored: it was deleted", gone.Actual);
    }

    [Fact]
    public async Task ARiskTierLoweredInTheStore_IsRefused_AndTheRecordedTiersFloorApplies()
    {
        var (lead, model) = await SoloWalkAsync();
        await server.WithDbAsync(async db =>
        {
            var entity = await db.Models.SingleAsync(m => m.Name == model);
            entity.RiskTier = RiskTiers.Low;
            return await db.SaveChangesAsync();
        });
        var report = await lead.DryRunTransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Evaluated, "ship it"));
        var tier = Check(report, "risk_tier_integrity");
        Assert.False(tier.Passed);
        Assert.Equal($"content_changed: low: the model's risk tier was changed outside ModelGate (the floors of high apply)", tier.Actual);
        Assert.Contains(": high", tier.Expected, StringComparison.Ordinal);
        Assert.Equal($"the {RiskTiers.High} tier's floor, or a weakening approved by {Roles.RiskCommittee}", Check(report, "policy_floor").Expected);
        Assert.False(report.Passed);
        var verified = await server.Api().VerifyAuditAsync();
        Assert.False(verified.Valid);
        Assert.Equal("content_changed", Assert.Single(verified.Evidence!.Records, r => r.Kind == "risk_tier" && r.Id == model).Failure);

        // A tier changed through the API is the recorded one.
        await server.WithDbAsync(async db =>
        {
            var entity = await db.Models.SingleAsync(m => m.Name == model);
            entity.RiskTier = RiskTiers.High;
            return await db.SaveChangesAsync();
        });
        await server.Api().UpdateModelAsync(model, new UpdateModelRequest(Owner: "risk-team"));
        Assert.True(Check(await lead.DryRunTransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Evaluated, "ship it")), "risk_tier_integrity").Passed);
    }

    [Fact]
    public async Task ADefaultPolicyBelowAFloor_StoredBeforeFloorsExisted_RefusesAtTheGate()
    {
        var (lead, model) = await SoloWalkAsync();
        var builtin = JsonSerializer.Serialize(PoliciesApi.Builtin, ModelGateJson.Options);
        var weak = builtin.Replace("\"risk-committee\"", "", StringComparison.Ordinal);
        // Written and audited as the policy API wrote it before floors existed: a genuine policy.changed event, no floor approval.
        await using (var scope = server.App.Services.CreateAsyncScope())
        {
            var write = scope.ServiceProvider.GetRequiredService<AuditedWrite>();
            await using var tx = await write.BeginAsync(TestContext.Current.CancellationToken);
            var document = JsonSerializer.Serialize(JsonSerializer.Deserialize<PolicyDocument>(weak, ModelGateJson.Options), ModelGateJson.Options);
            var revision = (await tx.Db.Policies.Where(p => p.Scope == PoliciesApi.DefaultScope).MaxAsync(p => (int?)p.Revision) ?? 0) + 1;
            var entity = new PolicyEntity
            {
                Scope = PoliciesApi.DefaultScope, Revision = revision, Document = document, DocumentSha256 = PoliciesApi.DocumentSha256(document),
                CreatedAt = tx.Now, CreatedBy = "admin",
            };
            tx.Db.Policies.Add(entity);
            await tx.AppendAsync("admin", PoliciesApi.PolicyChangedAction, PoliciesApi.Subject(PoliciesApi.DefaultScope),
                new { revision, sha256 = entity.DocumentSha256 }, cancellationToken: TestContext.Current.CancellationToken);
            await tx.CommitAsync(TestContext.Current.CancellationToken);
        }
        try
        {
            var report = await lead.DryRunTransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Evaluated, "ship it"));
            Assert.True(Check(report, $"policy_integrity:{PoliciesApi.DefaultScope}").Passed);
            var floor = Check(report, "policy_floor");
            Assert.False(floor.Passed);
            Assert.Equal("below it without an approval: production.approvals.high: no approvals (floor: includes risk-committee)", floor.Actual);
        }
        finally
        {
            // The fixture's store is shared by the class: the default goes back to one that meets every floor, through the API.
            await server.Api().PutPolicyAsync(PoliciesApi.DefaultScope, builtin);
        }
    }
}

public sealed class SqlitePolicyIntegrityTests(SqliteServerFixture fixture) : PolicyIntegrityTests(fixture), IClassFixture<SqliteServerFixture>;

public sealed class PostgresPolicyIntegrityTests(PostgresServerFixture fixture) : PolicyIntegrityTests(fixture), IClassFixture<PostgresServerFixture>;
