using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Lifecycle;

/// <summary>Policy floors per risk tier: a model's policy may tighten the default, not drop below its tier's floor without the tier's authority.</summary>
public abstract class PolicyFloorTests(ServerFixture server)
{
    /// <summary>Everything off: the policy the solo ml-lead wrote in issue 16.</summary>
    internal const string Weakened = """
        {"evaluated":{"requireIndependent":false,"requirePlatformRun":false,"thresholds":[],"regressionTolerance":null},
         "registered":{"cardFields":[],"requireLicense":false,"requireOwner":false},
         "staging":{"requireDeployment":false},
         "production":{"requireStagingVerification":false,"approvals":{"low":[],"medium":[],"high":[]}}}
        """;

    private async Task<(ModelGateClient Api, HttpClient Http, string Actor)> PersonAsync(string name, params string[] roles)
    {
        server.SkipIfUnavailable();
        var key = await server.CreateKeyAsync(new CreateKeyRequest(name, roles));
        return (server.Api(key.Key), server.Client(key.Key), key.Principal!);
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    [Fact]
    public async Task SoloMlLead_WeakeningAHighTierPolicy_IsRefusedAtThePut_AndTheWalkStopsAtTheGate()
    {
        var (lead, leadHttp, _) = await PersonAsync("solo-lead", Roles.MlLead);
        var bytes = Fixtures.ModelBytes("v4-broken");
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        await lead.PushArtifactAsync(new MemoryStream(bytes), sha);
        var model = ServerFixture.UniqueName("solo-high");
        await lead.CreateModelAsync(new CreateModelRequest(model, "risk", RiskTiers.High, "classification"));
        await lead.CreateVersionAsync(model, new CreateVersionRequest("1.0.0", [new ArtifactRef(sha, "v4-broken.onnx")], Fixtures.Attestation("mallory")));
        var audit = await server.AuditCountAsync();

        var refused = await ProblemAssert.IsProblem(await leadHttp.PutAsync($"/api/v1/policies/{model}", Json(Weakened)),
            HttpStatusCode.UnprocessableEntity, ProblemCodes.PolicyBelowFloor);
        var fields = refused.GetProperty("errors").EnumerateObject().Select(p => p.Name).ToList();
        Assert.Equal(["evaluated.requireIndependent", "evaluated.requirePlatformRun", "evaluated.regressionTolerance",
            "production.requireStagingVerification", "production.approvals.high"], fields);
        Assert.Equal(Roles.RiskCommittee, refused.GetProperty("authority").GetString());
        Assert.Equal(64, refused.GetProperty("change").GetString()!.Length);
        // The stored policy is unchanged (there is none of the model's own), and the request is on the record.
        Assert.Equal("policy_not_found", (await Assert.ThrowsAsync<ModelGateApiException>(() => lead.GetPolicyAsync(model))).Code);
        Assert.Equal(audit + 1, await server.AuditCountAsync());

        var suite = Convert.ToHexStringLower(SHA256.HashData("{\"name\":\"one-line\",\"task\":\"classification\"}"u8));
        await lead.PushArtifactAsync(new MemoryStream("{\"name\":\"one-line\",\"task\":\"classification\"}"u8.ToArray()), suite);
        await lead.StartEvaluationAsync(model, "1.0.0", new StartEvaluationRequest(suite, External: true,
            Metrics: new Dictionary<string, double> { ["accuracy"] = 0.99 }));
        var gate = await Assert.ThrowsAsync<ModelGateApiException>(() => lead.TransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Evaluated, "ship it")));
        var failed = gate.Problem!.Checks!.Where(c => !c.Passed).Select(c => c.Check).ToList();
        // External evaluations never satisfy the platform-run requirement; the ml-lead who registered the version is not independent.
        Assert.Contains(failed, c => c.StartsWith("platform_run:", StringComparison.Ordinal));
        Assert.Contains(failed, c => c.StartsWith("independent_evaluator:", StringComparison.Ordinal));
        Assert.Equal(Stages.Trained, (await lead.GetVersionAsync(model, "1.0.0")).Stage);
    }

    [Fact]
    public async Task DefaultPolicy_EmptyOrBelowAFloor_IsRefused_AndTheDefaultIsUnchanged()
    {
        server.SkipIfUnavailable();
        var http = server.Client();
        var before = await server.Api().GetPolicyAsync("default");
        var empty = await ProblemAssert.IsProblem(await http.PutAsync("/api/v1/policies/default", Json("{}")),
            HttpStatusCode.BadRequest, ProblemCodes.PolicyIncomplete);
        Assert.Equal(["evaluated", "registered", "staging", "production"], empty.GetProperty("errors").EnumerateObject().Select(p => p.Name));
        var builtin = JsonSerializer.Serialize(ModelGate.Lifecycle.PoliciesApi.Builtin, ModelGateJson.Options);
        var weak = builtin.Replace("\"risk-committee\"", "").Replace("\"requirePlatformRun\":true", "\"requirePlatformRun\":false");
        var below = await ProblemAssert.IsProblem(await http.PutAsync("/api/v1/policies/default", Json(weak)),
            HttpStatusCode.UnprocessableEntity, ProblemCodes.PolicyBelowFloor);
        Assert.Equal(["evaluated.requirePlatformRun", "production.approvals.high"], below.GetProperty("errors").EnumerateObject().Select(p => p.Name));
        Assert.False(below.TryGetProperty("change", out _)); // no approval lowers the default
        var after = await server.Api().GetPolicyAsync("default");
        Assert.Equal((before.Revision, before.DocumentSha256), (after.Revision, after.DocumentSha256));
    }

    [Fact]
    public async Task Tightening_NeedsNoApproval()
    {
        server.SkipIfUnavailable();
        var model = ServerFixture.UniqueName("tight");
        await server.Api().CreateModelAsync(new CreateModelRequest(model, "risk", RiskTiers.High, "classification"));
        var policy = await server.Api().PutPolicyAsync(model, """
            evaluated: { thresholds: [ { metric: roc_auc, min: 0.9 } ], regressionTolerance: 0.005 }
            production: { approvals: { high: [risk-committee, product-owner], low: [] } }
            """);
        Assert.Equal(1, policy.Revision);
    }

    [Fact]
    public async Task Weakening_ApprovedByTheTierAuthority_AnotherActor_TakesEffectOnce()
    {
        var (lead, leadHttp, leadId) = await PersonAsync("lead", Roles.MlLead, Roles.RiskCommittee);
        var (_, ritaHttp, _) = await PersonAsync("rita", Roles.RiskCommittee);
        var (_, poHttp, _) = await PersonAsync("pat", Roles.ProductOwner);
        var model = ServerFixture.UniqueName("waiver");
        await lead.CreateModelAsync(new CreateModelRequest(model, "risk", RiskTiers.High, "classification"));
        const string waiver = """{"staging":{"requireDeployment":false},"production":{"requireStagingVerification":false}}""";

        var refused = await ProblemAssert.IsProblem(await leadHttp.PutAsync($"/api/v1/policies/{model}", Json(waiver)),
            HttpStatusCode.UnprocessableEntity, ProblemCodes.PolicyBelowFloor);
        var change = refused.GetProperty("change").GetString()!;
        var approval = Json($$"""{"change":"{{change}}","reason":"no staging environment for this batch model"}""");

        // The requester cannot approve their own weakening, even holding the authority's role; nor can another role.
        await ProblemAssert.IsProblem(await leadHttp.PostAsync($"/api/v1/models/{model}/floor-approvals", approval),
            HttpStatusCode.Forbidden, ProblemCodes.FloorApprovalRefused);
        await ProblemAssert.IsProblem(await poHttp.PostAsync($"/api/v1/models/{model}/floor-approvals", approval),
            HttpStatusCode.Forbidden, ProblemCodes.FloorApprovalRefused);
        await ProblemAssert.IsProblem(await ritaHttp.PostAsync($"/api/v1/models/{model}/floor-approvals",
            Json($$"""{"change":"{{new string('a', 64)}}","reason":"x"}""")), HttpStatusCode.NotFound, ProblemCodes.FloorChangeNotFound);

        var approved = await ritaHttp.PostAsync($"/api/v1/models/{model}/floor-approvals", approval);
        Assert.Equal(HttpStatusCode.Created, approved.StatusCode);
        var record = await approved.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(leadId, record.GetProperty("requestedBy").GetString());
        Assert.Equal(["production.requireStagingVerification"], record.GetProperty("fields").EnumerateArray().Select(f => f.GetString()));

        var put = await leadHttp.PutAsync($"/api/v1/policies/{model}", Json(waiver));
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.False((await lead.GetPolicyAsync(model)).Document.Production!.RequireStagingVerification);
        // The approval is spent: writing the same weakening again needs a new one.
        await lead.PutPolicyAsync(model, "{}");
        await ProblemAssert.IsProblem(await leadHttp.PutAsync($"/api/v1/policies/{model}", Json(waiver)),
            HttpStatusCode.UnprocessableEntity, ProblemCodes.PolicyBelowFloor);
    }

    [Fact]
    public async Task PatchModel_ChangesOwner_AndLoweringTheTierNeedsTheAuthority()
    {
        var (lead, leadHttp, _) = await PersonAsync("lead", Roles.MlLead);
        var (_, ritaHttp, _) = await PersonAsync("rita", Roles.RiskCommittee);
        var model = ServerFixture.UniqueName("tier");
        await lead.CreateModelAsync(new CreateModelRequest(model, "risk", RiskTiers.High, "classification"));

        var owner = await leadHttp.PatchAsync($"/api/v1/models/{model}", Json("""{"owner":"fraud-team"}"""));
        Assert.Equal(HttpStatusCode.OK, owner.StatusCode);
        Assert.Equal("fraud-team", (await lead.GetModelAsync(model)).Owner);

        var refused = await ProblemAssert.IsProblem(await leadHttp.PatchAsync($"/api/v1/models/{model}", Json("""{"riskTier":"low"}""")),
            HttpStatusCode.UnprocessableEntity, ProblemCodes.PolicyBelowFloor);
        Assert.True(refused.GetProperty("errors").TryGetProperty("riskTier", out _));
        Assert.Equal(RiskTiers.High, (await lead.GetModelAsync(model)).RiskTier);
        await ProblemAssert.IsProblem(await leadHttp.PatchAsync($"/api/v1/models/{model}", Json("""{"riskTier":"extreme"}""")),
            HttpStatusCode.BadRequest, ProblemCodes.Validation);

        var change = refused.GetProperty("change").GetString()!;
        Assert.Equal(HttpStatusCode.Created, (await ritaHttp.PostAsync($"/api/v1/models/{model}/floor-approvals",
            Json($$"""{"change":"{{change}}","reason":"reclassified by the risk review"}"""))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await leadHttp.PatchAsync($"/api/v1/models/{model}", Json("""{"riskTier":"low"}"""))).StatusCode);
        Assert.Equal(RiskTiers.Low, (await lead.GetModelAsync(model)).RiskTier);
        // Raising it again is a tightening.
        Assert.Equal(HttpStatusCode.OK, (await leadHttp.PatchAsync($"/api/v1/models/{model}", Json("""{"riskTier":"medium"}"""))).StatusCode);
    }
}

public sealed class SqlitePolicyFloorTests(SqliteServerFixture fixture) : PolicyFloorTests(fixture), IClassFixture<SqliteServerFixture>;

public sealed class PostgresPolicyFloorTests(PostgresServerFixture fixture) : PolicyFloorTests(fixture), IClassFixture<PostgresServerFixture>;
