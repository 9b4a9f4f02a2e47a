using System.Net;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Registry;

/// <summary>
/// The one version lookup's refusals, as every caller reports them: through a REST handler that maps them itself (a
/// transition) and through a domain service that carries them in its own outcome (an approval) — the same status, code,
/// title and detail either way.
/// </summary>
public sealed class VersionLookupTests(SqliteServerFixture server) : IClassFixture<SqliteServerFixture>
{
    [Fact]
    public async Task ABadNameOrVersion_AnUnknownModelOrVersion_AreRefusedAlikeByATransitionAndAnApproval()
    {
        var api = server.Api();
        var model = ServerFixture.UniqueName("lookup");
        await api.CreateModelAsync(new CreateModelRequest(model, "o", RiskTiers.Low, "classification"));
        var approver = server.Api(await server.CreateKeyAsync(Roles.ProductOwner));
        var approval = new ApprovalRequest("approve", Roles.ProductOwner, ["eval_x"], "none", "dashboards", "roll back", server.Time.GetUtcNow().UtcDateTime.AddDays(30));
        foreach (var (name, version, status, code, detail) in new[]
                 {
                     ("Bad Name!", "1.0.0", HttpStatusCode.BadRequest, "invalid_name", "is not a valid name"),
                     (model, "1.x", HttpStatusCode.BadRequest, "invalid_version", ""),
                     ("no-such-model-" + Guid.NewGuid().ToString("N")[..8], "1.0.0", HttpStatusCode.NotFound, "model_not_found", "there is no model named"),
                     (model, "1.0.0", HttpStatusCode.NotFound, "version_not_found", $"model '{model}' has no version 1.0.0"),
                 })
        {
            var viaTransition = await Assert.ThrowsAsync<ModelGateApiException>(() => api.TransitionAsync(name, version, new TransitionRequest(Stages.Evaluated, "x")));
            var viaApproval = await Assert.ThrowsAsync<ModelGateApiException>(() => approver.ApproveAsync(name, version, approval));
            foreach (var refused in new[] { viaTransition, viaApproval })
            {
                Assert.Equal(status, refused.Status);
                Assert.Equal(code, refused.Code);
                Assert.Contains(detail, refused.Problem!.Detail);
            }
            Assert.Equal(viaTransition.Problem!.Title, viaApproval.Problem!.Title);
            Assert.Equal(viaTransition.Problem.Detail, viaApproval.Problem.Detail);
        }
    }
}
