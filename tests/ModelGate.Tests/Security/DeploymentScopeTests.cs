using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Storage.Gateway;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Security;

/// <summary>A key scoped to deployments (<c>deployments: [...]</c>) on the control plane: its deployments only, and nothing that spans them all.</summary>
public abstract class DeploymentScopeTests(ServerFixture fixture) : ProviderTests(fixture)
{
    /// <summary>Two upstream-served deployments of one model (no upstream is ever called) and a key scoped to the first.</summary>
    private async Task<(string Own, string Other, string Key)> TwoDeploymentsAsync(params string[] roles)
    {
        var api = Server.Api();
        var model = await UpstreamModels.RegisterAsync(Server, "scoped");
        var own = ServerFixture.UniqueName("own");
        var other = ServerFixture.UniqueName("other");
        foreach (var name in new[] { own, other })
        {
            await api.CreateDeploymentAsync(new CreateDeploymentRequest(name, "development", model, Routing("1.0.0")));
        }
        var key = await api.CreateKeyAsync(new CreateKeyRequest("scoped", roles.Length == 0 ? ["deployer"] : roles, Deployments: [own]));
        return (own, other, key.Key!);
    }

    private static RoutingTable Routing(string stable) => new(stable, Backend: "upstream", Upstreams: new Dictionary<string, UpstreamBackend>
    {
        ["1.0.0"] = new("http://127.0.0.1:9/v1", "stub", "sk-scope-test"),
        ["1.1.0"] = new("http://127.0.0.1:9/v1", "stub", "sk-scope-test"),
    });

    [Fact]
    public async Task ScopedDeployer_ChangingAnotherDeploymentsRouting_Answers403_AndChangesNothing()
    {
        var (own, other, key) = await TwoDeploymentsAsync("deployer");
        var audited = await Server.AuditCountAsync();

        using var refused = await Server.Client(key).PutAsJsonAsync($"/api/v1/deployments/{other}/routing", Routing("1.1.0"), ModelGateJson.Options);
        await ProblemAssert.IsProblem(refused, HttpStatusCode.Forbidden, "forbidden");
        var unchanged = await Server.Api().GetDeploymentAsync(other);
        Assert.Equal(1, unchanged.Revision);
        Assert.Equal("1.0.0", unchanged.Routing.Stable);
        Assert.Equal(audited, await Server.AuditCountAsync());

        using var allowed = await Server.Client(key).PutAsJsonAsync($"/api/v1/deployments/{own}/routing", Routing("1.1.0"), ModelGateJson.Options);
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        Assert.Equal(2, (await Server.Api().GetDeploymentAsync(own)).Revision);
    }

    [Fact]
    public async Task ScopedDeployer_AnotherDeployment_IsNotFoundToReads_AndForbiddenToActs_AsAnUnknownName()
    {
        var (own, other, key) = await TwoDeploymentsAsync("deployer");
        var client = Server.Client(key);
        var audited = await Server.AuditCountAsync();
        var rollout = new { candidate = "1.1.0", steps = new[] { new { weight = 10, pause = "1m" } } };
        foreach (var deployment in new[] { other, "no-such-deployment" })
        {
            foreach (var (method, path, body) in new (string, string, object?)[]
            {
                ("GET", $"/api/v1/deployments/{deployment}", null),
                ("GET", $"/api/v1/deployments/{deployment}/metrics", null),
                ("GET", $"/api/v1/deployments/{deployment}/slo", null),
                ("GET", $"/api/v1/deployments/{deployment}/drift", null),
                ("GET", $"/api/v1/deployments/{deployment}/rollouts", null),
                ("POST", $"/api/v1/deployments/{deployment}/rollouts", rollout),
                ("POST", $"/api/v1/deployments/{deployment}/rollback", new { reason = "scope" }),
                ("PUT", $"/api/v1/deployments/{deployment}/slo", new { availability = 0.99 }),
                ("GET", $"/v2/models/{deployment}", null),
                ("GET", $"/v2/models/{deployment}/ready", null),
                ("GET", $"/v2/models/{deployment}/versions/1.0.0", null),
            })
            {
                using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = body is null ? null : JsonContent.Create(body) };
                using var response = await client.SendAsync(request);
                // The same answer whether the deployment exists or not: a scoped key learns nothing about others.
                if (method == "GET")
                {
                    var hidden = await ProblemAssert.IsProblem(response, HttpStatusCode.NotFound, "deployment_not_found");
                    Assert.Equal($"there is no deployment named '{deployment}'", hidden.GetProperty("detail").GetString());
                    continue;
                }
                var problem = await ProblemAssert.IsProblem(response, HttpStatusCode.Forbidden, "forbidden");
                Assert.Equal($"this key may not call deployment '{deployment}'", problem.GetProperty("detail").GetString());
            }
        }
        Assert.Equal(audited, await Server.AuditCountAsync());
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/api/v1/deployments/{own}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/api/v1/deployments/{own}/rollouts")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/api/v1/deployments/{own}/metrics")).StatusCode);
    }

    [Fact]
    public async Task ScopedKey_ListsOnlyItsDeployments_OnBothPlanes()
    {
        var (own, other, key) = await TwoDeploymentsAsync("viewer");

        var listed = await Server.Client(key).GetFromJsonAsync<List<DeploymentDto>>("/api/v1/deployments", ModelGateJson.Options);
        Assert.Equal([own], listed!.Select(d => d.Name));
        var all = await Server.Api().ListDeploymentsAsync();
        Assert.Contains(all, d => d.Name == other);

        using var models = JsonDocument.Parse(await Server.Client(key).GetStringAsync("/v1/models"));
        Assert.Equal([own], models.RootElement.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()));
        using var allModels = JsonDocument.Parse(await Server.Client().GetStringAsync("/v1/models"));
        Assert.Contains(allModels.RootElement.GetProperty("data").EnumerateArray(), m => m.GetProperty("id").GetString() == other);
    }

    [Fact]
    public async Task ScopedKey_UsageAndFeedback_SeeOnlyItsDeployments()
    {
        var (own, other, key) = await TwoDeploymentsAsync("viewer");
        var keyId = (await Server.Api().ListKeysAsync()).Single(k => k.Prefix == key[..10]).Id;
        var now = Server.Time.GetUtcNow().UtcDateTime;
        var otherRequest = Guid.NewGuid().ToString("N");
        await Server.WithDbAsync(async db =>
        {
            foreach (var (deployment, requestId) in new[] { (own, Guid.NewGuid().ToString("N")), (other, otherRequest), (other, Guid.NewGuid().ToString("N")) })
            {
                db.RequestLogs.Add(new RequestLogEntity
                {
                    RequestId = requestId, Time = now, KeyId = keyId, Deployment = deployment, Version = "1.0.0", Route = "stable", Protocol = "openai", Status = 200,
                    LatencyMs = 1,
                });
            }
            return await db.SaveChangesAsync();
        });

        var usage = await Server.Client(key).GetFromJsonAsync<UsageDto>("/api/v1/usage?groupBy=deployment", ModelGateJson.Options);
        var row = Assert.Single(usage!.Rows, r => r.Deployment == own || r.Deployment == other);
        Assert.Equal(own, row.Deployment);
        Assert.DoesNotContain(usage.Rows, r => r.Deployment != own);
        var asked = await Server.Client(key).GetFromJsonAsync<UsageDto>($"/api/v1/usage?deployment={other}", ModelGateJson.Options);
        Assert.Empty(asked!.Rows);
        var unscoped = await Server.Client().GetFromJsonAsync<UsageDto>($"/api/v1/usage?deployment={other}", ModelGateJson.Options);
        Assert.Equal(2, unscoped!.Rows.Sum(r => r.Requests));

        // Another deployment's request is answered as an unknown one, and no feedback is stored.
        using var feedback = await Server.Client(key).PostAsJsonAsync("/api/v1/feedback", new FeedbackRequest(otherRequest, Score: 1), ModelGateJson.Options);
        await ProblemAssert.IsProblem(feedback, HttpStatusCode.NotFound, "request_not_found");
        Assert.False(await Server.WithDbAsync(db => db.Feedback.AnyAsync(f => f.RequestId == otherRequest)));
    }

    [Fact]
    public async Task ScopedKey_EndpointsSpanningDeployments_NeedAnUnscopedKey()
    {
        var (_, _, key) = await TwoDeploymentsAsync("admin");
        var client = Server.Client(key);
        var sha = await Server.UploadAsync(Encoding.UTF8.GetBytes("an artifact a scoped key may not download"));
        var audited = await Server.AuditCountAsync();
        foreach (var (method, path) in new[]
        {
            ("GET", "/api/v1/audit"), ("GET", "/api/v1/audit/verify"), ("GET", $"/api/v1/artifacts/{sha}"), ("HEAD", $"/api/v1/artifacts/{sha}"),
            ("GET", "/api/v1/keys"), ("POST", "/api/v1/keys"), ("PUT", "/api/v1/policies/default"), ("GET", "/api/v1/alerts"), ("POST", "/api/v1/deployments"),
            ("GET", "/metrics"),
        })
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = method is "POST" or "PUT" ? JsonContent.Create(new { }) : null };
            using var response = await client.SendAsync(request);
            Assert.True(response.StatusCode == HttpStatusCode.Forbidden, $"{method} {path}: {(int)response.StatusCode}");
            if (method != "HEAD")
            {
                var problem = await ProblemAssert.IsProblem(response, HttpStatusCode.Forbidden, "forbidden");
                Assert.Equal("this needs a key that is not scoped to deployments", problem.GetProperty("detail").GetString());
            }
        }
        Assert.Equal(audited, await Server.AuditCountAsync());
        // Reading the registry is not about any one deployment.
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/v1/models")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/v1/policies/default")).StatusCode);
    }
}

public sealed class DeploymentScopeTests_Sqlite(SqliteServerFixture fixture) : DeploymentScopeTests(fixture), IClassFixture<SqliteServerFixture>;

public sealed class DeploymentScopeTests_Postgres(PostgresServerFixture fixture) : DeploymentScopeTests(fixture), IClassFixture<PostgresServerFixture>;
