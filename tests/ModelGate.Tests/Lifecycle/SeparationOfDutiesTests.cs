using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Lifecycle;

/// <summary>Issue 16, item 1: separation of duties compares principals (people), not keys.</summary>
public abstract class SeparationOfDutiesTests(ServerFixture fixture) : ProviderTests(fixture)
{
    private const string Policy = """
        evaluated: { requirePlatformRun: false, requireIndependent: false, thresholds: [] }
        registered: { cardFields: [], requireLicense: false }
        staging: { requireDeployment: false }
        production: { requireStagingVerification: false }
        """;

    private static ApprovalRequest Approval(string role, string evidence) => new(ApprovalDecisions.Approve, role, [evidence], "accepted", "alerts", "rollback",
        DateTime.UtcNow.AddDays(30));

    private static string Email(string name) => $"{ServerFixture.UniqueName(name)}@example.com";

    /// <summary>A person principal holding the roles, made by an administrator with no hand in the versions.</summary>
    private async Task<PrincipalDto> PersonAsync(string identity, params string[] roles) =>
        await (await Server.PeopleAdminAsync()).CreatePrincipalAsync(new CreatePrincipalRequest(PrincipalKinds.Person, identity, identity, roles));

    private async Task<ModelGateClient> KeyForAsync(PrincipalDto principal, string name, params string[] roles) =>
        Server.Api((await Server.Api().CreateKeyAsync(new CreateKeyRequest(name, roles, Principal: principal.Id))).Key);

    /// <summary>A medium-tier model whose version 1.0.0, registered by <paramref name="registrant"/>, the admin takes to staging.</summary>
    private async Task<(string Model, string Evidence)> StagedAsync(ModelGateClient registrant, string trainer)
    {
        var admin = Server.Api();
        var model = ServerFixture.UniqueName("sod");
        await admin.CreateModelAsync(new CreateModelRequest(model, "owners", RiskTiers.Medium, "classification"));
        await Server.PutPolicyBelowFloorAsync(model, Policy);
        var sha = await Server.UploadAsync(Fixtures.ModelBytes("v1-logreg"));
        await registrant.CreateVersionAsync(model, new CreateVersionRequest("1.0.0", [new ArtifactRef(sha, "v1-logreg.onnx")], Fixtures.Attestation(trainer)));
        var suite = await Server.UploadAsync("{\"name\":\"external\",\"task\":\"classification\"}"u8.ToArray());
        var evaluation = await admin.StartEvaluationAsync(model, "1.0.0", new StartEvaluationRequest(suite, External: true,
            Metrics: new Dictionary<string, double> { ["roc_auc"] = 0.9 }));
        foreach (var stage in new[] { Stages.Evaluated, Stages.Registered, Stages.Staging })
        {
            await admin.TransitionAsync(model, "1.0.0", new TransitionRequest(stage, "setting up"));
        }
        return (model, evaluation.Id);
    }

    private Task<string> AdminPrincipalAsync() =>
        Server.WithDbAsync(db => db.ApiKeys.Where(k => k.CreatedBy == "system" && k.Name == "admin").Select(k => k.PrincipalId).SingleAsync());

    [Fact]
    public async Task Trainer_ApprovingWithAnotherOfHerKeys_IsRefused()
    {
        // Issue 16: alice registers with her trainer key (attestation trainer alice@example.com) and approves as product-owner
        // with a second key; the keys differ, the person does not.
        var identity = Email("alice");
        var alice = await PersonAsync(identity, Roles.Trainer, Roles.ProductOwner);
        var trainerKey = await KeyForAsync(alice, "alice-ci", Roles.Trainer);
        var approverKey = await KeyForAsync(alice, "alice-laptop", Roles.ProductOwner);
        var (model, evidence) = await StagedAsync(trainerKey, identity.ToUpperInvariant());
        Assert.Equal(alice.Id, await Server.WithDbAsync(db => db.ModelVersions.Where(v => v.Model!.Name == model).Select(v => v.TrainerPrincipal).SingleAsync()));

        var refused = await Assert.ThrowsAsync<ModelGateApiException>(() => approverKey.ApproveAsync(model, "1.0.0", Approval(Roles.ProductOwner, evidence)));
        Assert.Equal((HttpStatusCode.Forbidden, "separation_of_duties"), (refused.Status, refused.Code));
        Assert.Contains("trained", refused.Problem!.Detail);
        Assert.Empty(await Server.Api().ListApprovalsAsync(model, "1.0.0"));
        Assert.Equal(1, await Server.WithDbAsync(db => db.AuditEvents.CountAsync(e => e.Action == "version.approval_refused" && e.Actor == alice.Id)));
    }

    [Fact]
    public async Task Trainer_WhosePrincipalIsMadeAfterRegistration_IsStillRefused()
    {
        var identity = Email("late");
        var (model, evidence) = await StagedAsync(Server.Api(), identity);
        Assert.Null(await Server.WithDbAsync(db => db.ModelVersions.Where(v => v.Model!.Name == model).Select(v => v.TrainerPrincipal).SingleAsync()));
        var late = await KeyForAsync(await PersonAsync(identity, Roles.ProductOwner), "late", Roles.ProductOwner);
        var refused = await Assert.ThrowsAsync<ModelGateApiException>(() => late.ApproveAsync(model, "1.0.0", Approval(Roles.ProductOwner, evidence)));
        Assert.Equal("separation_of_duties", refused.Code);
        Assert.Contains("trained", refused.Problem!.Detail);
    }

    [Fact]
    public async Task Approver_WhoseRoleTheRegistrantGranted_IsRefused_NamingTheGranter()
    {
        // carol administers and registers; she makes bob a product-owner; bob's approval of carol's version is hers by proxy.
        var carolIdentity = Email("carol");
        var carol = await PersonAsync(carolIdentity, Roles.Admin);
        var carolKey = await KeyForAsync(carol, "carol", Roles.Admin);
        var (model, evidence) = await StagedAsync(carolKey, "someone else");
        var bob = await carolKey.CreatePrincipalAsync(new CreatePrincipalRequest(PrincipalKinds.Person, Email("bob"), "Bob", [Roles.ProductOwner]));
        var bobKey = Server.Api((await carolKey.CreateKeyAsync(new CreateKeyRequest("bob", [Roles.ProductOwner], Principal: bob.Id))).Key);

        var refused = await Assert.ThrowsAsync<ModelGateApiException>(() => bobKey.ApproveAsync(model, "1.0.0", Approval(Roles.ProductOwner, evidence)));
        Assert.Equal("separation_of_duties", refused.Code);
        Assert.Contains($"granted by {carolIdentity}", refused.Problem!.Detail);
        Assert.Contains("registered", refused.Problem!.Detail);

        // The same role granted by someone with no hand in the version counts.
        var dana = await KeyForAsync(await PersonAsync(Email("dana"), Roles.ProductOwner), "dana", Roles.ProductOwner);
        Assert.Equal(Roles.ProductOwner, (await dana.ApproveAsync(model, "1.0.0", Approval(Roles.ProductOwner, evidence))).Role);
    }

    [Fact]
    public async Task OnePerson_FillsOneApprovingRole_AcrossTheirKeys()
    {
        var (model, evidence) = await StagedAsync(Server.Api(), "nobody");
        var max = await PersonAsync(Email("max"), Roles.MlLead, Roles.ProductOwner);
        await (await KeyForAsync(max, "max-1", Roles.MlLead)).ApproveAsync(model, "1.0.0", Approval(Roles.MlLead, evidence));
        var twice = await Assert.ThrowsAsync<ModelGateApiException>(async () =>
            await (await KeyForAsync(max, "max-2", Roles.ProductOwner)).ApproveAsync(model, "1.0.0", Approval(Roles.ProductOwner, evidence)));
        Assert.Equal("separation_of_duties", twice.Code);
        Assert.Contains("one person fills one role", twice.Problem!.Detail);
    }

    [Fact]
    public async Task MigratedApproverKey_ItsOwnServicePrincipal_CannotApprove()
    {
        // What the Principals migration made of an ml-lead key that existed before: its own service principal holding ml-lead.
        var (model, evidence) = await StagedAsync(Server.Api(), "nobody");
        var legacy = await Server.Api().CreateKeyAsync(new CreateKeyRequest("legacy lead", [Roles.Viewer]));
        await Server.WithDbAsync(async db =>
        {
            var principal = await db.Principals.SingleAsync(p => p.Id == legacy.Principal);
            var key = await db.ApiKeys.SingleAsync(k => k.Id == legacy.Id);
            (principal.Roles, principal.Source, key.Roles) = (Roles.MlLead, "migration", Roles.MlLead);
            return await db.SaveChangesAsync();
        });
        Server.App.Services.GetRequiredService<ModelGate.Security.ApiKeyService>().Invalidate();
        var refused = await Assert.ThrowsAsync<ModelGateApiException>(() => Server.Api(legacy.Key).ApproveAsync(model, "1.0.0", Approval(Roles.MlLead, evidence)));
        Assert.Equal("separation_of_duties", refused.Code);
        Assert.Contains("approvals are made by people", refused.Problem!.Detail);
    }

    [Fact]
    public async Task Admin_CannotMintItselfAnApproverKey_NorGrantItselfAnApprovingRole()
    {
        var admin = Server.Api();
        var adminId = await AdminPrincipalAsync();
        // A key without a principal is its own service principal: no approving role.
        var bare = await Assert.ThrowsAsync<ModelGateApiException>(() => admin.CreateKeyAsync(new CreateKeyRequest("me", [Roles.ProductOwner])));
        Assert.Equal((HttpStatusCode.UnprocessableEntity, "approval_role_needs_person"), (bare.Status, bare.Code));
        // A key for its own principal carries only roles that principal holds.
        var mine = await Assert.ThrowsAsync<ModelGateApiException>(() =>
            admin.CreateKeyAsync(new CreateKeyRequest("me", [Roles.ProductOwner], Principal: adminId)));
        Assert.Equal("roles_not_held", mine.Code);
        var self = await Assert.ThrowsAsync<ModelGateApiException>(async () =>
            await admin.UpdatePrincipalAsync(adminId, new UpdatePrincipalRequest(Grant: [Roles.ProductOwner])));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, self.Status);

        // A person administrator granting themselves an approving role: refused, and the refusal audited.
        var root = await PersonAsync(Email("root"), Roles.Admin);
        var rootKey = await KeyForAsync(root, "root", Roles.Admin);
        var refused = await Assert.ThrowsAsync<ModelGateApiException>(() => rootKey.UpdatePrincipalAsync(root.Id, new UpdatePrincipalRequest(Grant: [Roles.ProductOwner])));
        Assert.Equal((HttpStatusCode.Forbidden, "separation_of_duties"), (refused.Status, refused.Code));
        Assert.DoesNotContain(Roles.ProductOwner, (await admin.GetPrincipalAsync(root.Id)).Roles);
        var audited = await Server.WithDbAsync(db => db.AuditEvents.SingleAsync(e => e.Subject == $"principals/{root.Id}" && e.Action == "principal.role_granted" &&
                                                                                   e.Outcome == "refused"));
        Assert.Equal(root.Id, audited.Actor);
        Assert.Contains("\"role\":\"product-owner\"", audited.Details);
    }

    [Fact]
    public async Task GrantingARole_IsAudited_WithActorAndGrantee()
    {
        var admin = Server.Api();
        var erin = await PersonAsync(Email("erin"), Roles.Viewer);
        var granted = await admin.UpdatePrincipalAsync(erin.Identity.ToUpperInvariant(), new UpdatePrincipalRequest(Grant: [Roles.RiskCommittee]));
        Assert.Contains(Roles.RiskCommittee, granted.Roles);
        var adminId = await AdminPrincipalAsync();
        var events = await Server.WithDbAsync(db => db.AuditEvents.Where(e => e.Subject == $"principals/{erin.Id}").OrderBy(e => e.Sequence).ToListAsync());
        Assert.Equal(["principal.created", "principal.role_granted", "principal.role_granted"], events.Select(e => e.Action));
        var grant = events[^1];
        Assert.Equal(("success", adminId), (grant.Outcome, grant.Actor));
        Assert.Contains(erin.Id, grant.Details);
        Assert.Contains("\"role\":\"risk-committee\"", grant.Details);
    }
}

public sealed class SeparationOfDutiesTests_Sqlite(SqliteServerFixture fixture) : SeparationOfDutiesTests(fixture), IClassFixture<SqliteServerFixture>;

public sealed class SeparationOfDutiesTests_Postgres(PostgresServerFixture fixture) : SeparationOfDutiesTests(fixture), IClassFixture<PostgresServerFixture>;
