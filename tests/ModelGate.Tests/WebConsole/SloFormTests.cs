using System.Net;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

using static ModelGate.Tests.WebConsole.ConsoleHttp;

namespace ModelGate.Tests.WebConsole;

/// <summary>
/// Setting a deployment's SLO from its page: the form only for keys that may deploy, a forged post refused (403), a post
/// without the token refused (400), bad figures refused (400) — each changing nothing — and a good post set and audited as
/// the REST API's <c>PUT …/slo</c> is.
/// </summary>
public sealed class SloFormTests(SqliteServerFixture server) : IClassFixture<SqliteServerFixture>
{
    private HttpClient Browser() => ConsoleHttp.Browser(server);

    private async Task<(string Cookie, string Principal)> SignInAsync(HttpClient browser, string role)
    {
        var key = await server.CreateKeyAsync(new CreateKeyRequest(ServerFixture.UniqueName("slo"), [role]));
        return (await ConsoleHttp.SignInAsync(browser, key.Key!), key.Principal!);
    }

    private static Task<ConsoleAnswer> SendAsync(HttpClient browser, HttpMethod method, string path, string cookie, params (string, string)[] fields) =>
        method == HttpMethod.Post ? PostAsync(browser, path, cookie, fields) : GetAsync(browser, path, cookie);

    [Fact]
    public async Task SetSlo_FromTheDeploymentPage_NeedsTheRoleAndTheToken_RefusesBadFigures_AndIsAuditedAsTheRestApisPut()
    {
        var api = server.Api();
        var model = ServerFixture.UniqueName("slo-model");
        var deployment = ServerFixture.UniqueName("slo-dep");
        await api.CreateModelAsync(new CreateModelRequest(model, "o", RiskTiers.Low, "classification"));
        var sha = await server.UploadAsync(Fixtures.ModelBytes("v1-logreg"));
        await api.CreateVersionAsync(model, new CreateVersionRequest("1.0.0", [new ArtifactRef(sha, "m.onnx")], Fixtures.Attestation()));
        await api.CreateDeploymentAsync(new CreateDeploymentRequest(deployment, DeploymentEnvironments.Development, model, new RoutingTable("1.0.0")));
        var path = $"/console/deployments/{deployment}";
        var browser = Browser();
        var (viewer, _) = await SignInAsync(browser, Roles.Viewer);
        var (deployer, deployerPrincipal) = await SignInAsync(browser, Roles.Deployer);

        var viewerPage = await SendAsync(browser, HttpMethod.Get, path, viewer);
        Assert.DoesNotContain("id=\"slo-form\"", viewerPage.Body);
        var page = await SendAsync(browser, HttpMethod.Get, path, deployer);
        Assert.Contains($"<form id=\"slo-form\" class=\"action\" method=\"post\" action=\"{path}/slo\">", page.Body);
        Assert.Contains("<label for=\"slo-availability\">", page.Body);
        (string, string)[] good = [("availability", "0.995"), ("latencyObjective", "0.9"), ("latencyThresholdMs", "250"), ("periodDays", "7")];

        var forged = await SendAsync(browser, HttpMethod.Post, $"{path}/slo", viewer, [("_csrf", Csrf(viewerPage.Body)), .. good]);
        Assert.Equal(HttpStatusCode.Forbidden, forged.Status);
        var noToken = await SendAsync(browser, HttpMethod.Post, $"{path}/slo", deployer, good);
        Assert.Equal(HttpStatusCode.BadRequest, noToken.Status);
        var token = Csrf(page.Body);
        var outOfRange = await SendAsync(browser, HttpMethod.Post, $"{path}/slo", deployer, [("_csrf", token), ("availability", "1.5"), .. good.Skip(1)]);
        Assert.Equal(HttpStatusCode.BadRequest, outOfRange.Status);
        Assert.Contains("role=\"alert\"", outOfRange.Body);
        Assert.Contains("availability", outOfRange.Body);
        var notANumber = await SendAsync(browser, HttpMethod.Post, $"{path}/slo", deployer, [("_csrf", token), ("periodDays", "a week"), .. good.Where(f => f.Item1 != "periodDays")]);
        Assert.Equal(HttpStatusCode.BadRequest, notANumber.Status);
        var problem = await Assert.ThrowsAsync<ModelGateApiException>(() => api.GetSloAsync(deployment));
        Assert.Equal("slo_not_found", problem.Code);

        var set = await SendAsync(browser, HttpMethod.Post, $"{path}/slo", deployer, [("_csrf", token), .. good]);
        Assert.Equal(HttpStatusCode.Redirect, set.Status);
        Assert.Equal(new SloSpec(0.995, 0.9, 250, 7), (await api.GetSloAsync(deployment)).Spec);
        var events = (await api.ListAuditAsync(subject: $"deployments/{deployment}", limit: 50)).Items.Where(e => e.Action == "deployment.slo_changed").ToList();
        var audited = Assert.Single(events);
        Assert.Equal(deployerPrincipal, audited.Actor);
        Assert.Equal(0.995, audited.Details.GetProperty("availability").GetDouble());
        Assert.Equal(7, audited.Details.GetProperty("periodDays").GetInt32());

        // The page now shows the SLO in force, in the table and in the form.
        var after = await SendAsync(browser, HttpMethod.Get, $"{path}?done=slo-set", deployer);
        Assert.Contains("id=\"slo-set\"", after.Body);
        Assert.Contains("Over 7 days: availability (no 5xx), latency under 250 ms", after.Body);
        Assert.Contains("name=\"availability\" inputmode=\"decimal\" required value=\"0.995\"", after.Body);
    }
}
