using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Gateway;

/// <summary>An upstream's API key goes only to the URL it was given for (issue 15, item 2).</summary>
public abstract class UpstreamBindingTests(ServerFixture fixture) : ProviderTests(fixture)
{
    /// <summary>A development deployment of a new chat model: 1.0.0 stable and 1.1.0 at weight 0, both at <paramref name="url"/> with key sk-a.</summary>
    private async Task<string> DeployAsync(string url, string apiKey = "sk-a")
    {
        var api = Server.Api();
        var model = await UpstreamModels.RegisterAsync(Server, "bound");
        var name = ServerFixture.UniqueName("bound");
        await api.CreateDeploymentAsync(new CreateDeploymentRequest(name, "development", model, new RoutingTable("1.0.0", [new CandidateRoute("1.1.0", 0)],
            Backend: "upstream", Upstreams: new Dictionary<string, UpstreamBackend>
            {
                ["1.0.0"] = new(url, "m", apiKey, Retries: 0),
                ["1.1.0"] = new(url, "m", apiKey, Retries: 0),
            })));
        return name;
    }

    /// <summary>PUT …/routing with 1.0.0 stable (and 1.1.0 at 0) whose upstream entry for both is <paramref name="upstream"/>, as raw JSON.</summary>
    private Task<HttpResponseMessage> RouteAsync(string deployment, JsonObject upstream) =>
        Server.Client().PutAsync($"/api/v1/deployments/{deployment}/routing", JsonContent.Create(new JsonObject
        {
            ["stable"] = "1.0.0",
            ["candidates"] = new JsonArray(new JsonObject { ["version"] = "1.1.0", ["weight"] = 0 }),
            ["backend"] = "upstream",
            ["upstreams"] = new JsonObject { ["1.0.0"] = upstream.DeepClone(), ["1.1.0"] = upstream.DeepClone() },
        }));

    private static JsonObject Upstream(string url) => new() { ["url"] = url, ["model"] = "m", ["retries"] = 0 };

    private async Task ChatAsync(string deployment, HttpStatusCode expected = HttpStatusCode.OK)
    {
        using var response = await Server.Client().PostAsJsonAsync("/v1/chat/completions",
            new { model = deployment + "@1.0.0", messages = new[] { new { role = "user", content = "hi" } } });
        Assert.True(expected == response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task SetRouting_UrlMovedWithoutKey_Is422_AndTheKeyNeverReachesTheNewHost()
    {
        await using var a = await StubChatUpstream.StartAsync();
        await using var b = await StubChatUpstream.StartAsync();
        var deployment = await DeployAsync(a.BaseUrl);
        var revision = (await Server.Api().GetDeploymentAsync(deployment)).Revision;

        using (var moved = await RouteAsync(deployment, Upstream(b.BaseUrl)))
        {
            var problem = await ProblemAssert.IsProblem(moved, HttpStatusCode.UnprocessableEntity, "upstream_key_required");
            Assert.Contains("apiKey", problem.GetProperty("detail").GetString());
        }
        Assert.Equal(revision, (await Server.Api().GetDeploymentAsync(deployment)).Revision);
        await ChatAsync(deployment);
        Assert.Empty(b.Authorizations);
        Assert.Equal("Bearer sk-a", a.Authorizations.Last());

        // Each part of the target counts: another port, path or scheme is another target.
        foreach (var url in new[] { a.BaseUrl.Replace("/v1", "/v2"), a.BaseUrl.Replace("http://", "https://"), a.BaseUrl.Replace("127.0.0.1", "[::1]") })
        {
            using var response = await RouteAsync(deployment, Upstream(url));
            await ProblemAssert.IsProblem(response, HttpStatusCode.UnprocessableEntity, "upstream_key_required");
        }
    }

    [Fact]
    public async Task SetRouting_UrlMovedWithNullKey_DropsIt_WithNewKey_SendsOnlyThatOne()
    {
        await using var a = await StubChatUpstream.StartAsync();
        await using var b = await StubChatUpstream.StartAsync();
        var deployment = await DeployAsync(a.BaseUrl);

        var dropped = Upstream(b.BaseUrl);
        dropped["apiKey"] = null;
        using (var response = await RouteAsync(deployment, dropped))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var dto = (await response.Content.ReadFromJsonAsync<DeploymentDto>(ModelGateJson.Options))!;
            Assert.False(dto.Routing.Upstreams!["1.0.0"].HasApiKey);
        }
        await ChatAsync(deployment);
        Assert.Null(b.Authorizations.Single());

        await using var c = await StubChatUpstream.StartAsync();
        var rekeyed = Upstream(c.BaseUrl);
        rekeyed["apiKey"] = "sk-c";
        using (var response = await RouteAsync(deployment, rekeyed))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        await ChatAsync(deployment);
        Assert.Equal("Bearer sk-c", c.Authorizations.Single());
    }

    [Fact]
    public async Task SetRouting_SameUrlWithoutKey_KeepsTheKey()
    {
        await using var a = await StubChatUpstream.StartAsync();
        var deployment = await DeployAsync(a.BaseUrl);
        var same = Upstream(a.BaseUrl.TrimEnd('/') + "/");
        same["model"] = "other-model";
        using (var response = await RouteAsync(deployment, same))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        await ChatAsync(deployment);
        Assert.Equal("Bearer sk-a", a.Authorizations.Single());
        Assert.Equal("other-model", (string?)a.Requests.Single()["model"]);
    }

    [Fact]
    public async Task Rollout_OnAnUpstreamDeployment_KeepsSendingTheStoredKey()
    {
        await using var a = await StubChatUpstream.StartAsync();
        var deployment = await DeployAsync(a.BaseUrl);
        await Server.Api().StartRolloutAsync(deployment, new StartRolloutRequest("1.1.0", IntervalSeconds: 120));
        await ChatAsync(deployment);
        Assert.Equal("Bearer sk-a", a.Authorizations.Single());
    }

    [Fact]
    public async Task SetRouting_UrlWithUserInfo_Is400()
    {
        await using var a = await StubChatUpstream.StartAsync();
        var deployment = await DeployAsync(a.BaseUrl);
        var withCredentials = Upstream(a.BaseUrl.Replace("http://", "http://user:sk-pass@"));
        withCredentials["apiKey"] = "sk-a";
        using var response = await RouteAsync(deployment, withCredentials);
        var problem = await ProblemAssert.IsProblem(response, HttpStatusCode.BadRequest, "validation_failed");
        Assert.True(problem.GetProperty("errors").TryGetProperty("routing.upstreams.1.0.0.url", out _), problem.ToString());
        Assert.DoesNotContain("sk-pass", problem.ToString());
    }

    [Fact]
    public async Task GetDeployment_NonAdmin_SeesNoCredentialInTheUpstreamUrl()
    {
        await using var a = await StubChatUpstream.StartAsync();
        var url = a.BaseUrl + "?api-version=2024-06-01&api_key=sk-in-query";
        var deployment = await DeployAsync(url);
        var viewer = await Server.CreateKeyAsync("viewer");

        var shown = (await Server.Api(viewer).GetDeploymentAsync(deployment)).Routing.Upstreams!["1.0.0"].Url;
        Assert.DoesNotContain("sk-in-query", shown);
        Assert.Contains("api-version=2024-06-01", shown);
        using var list = await Server.Client(viewer).GetAsync("/api/v1/deployments");
        Assert.DoesNotContain("sk-in-query", await list.Content.ReadAsStringAsync());

        Assert.Equal(url, (await Server.Api().GetDeploymentAsync(deployment)).Routing.Upstreams!["1.0.0"].Url);
    }
}

public sealed class UpstreamBindingTests_Sqlite(SqliteServerFixture fixture) : UpstreamBindingTests(fixture), IClassFixture<SqliteServerFixture>;

public sealed class UpstreamBindingTests_Postgres(PostgresServerFixture fixture) : UpstreamBindingTests(fixture), IClassFixture<PostgresServerFixture>;
