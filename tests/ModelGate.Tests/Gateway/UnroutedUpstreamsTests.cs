using System.Net;
using System.Net.Http.Json;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Gateway;

/// <summary>The upstream of a version that takes no traffic is kept (issue 17, routing bug A).</summary>
public abstract class UnroutedUpstreamsTests(ServerFixture fixture) : ProviderTests(fixture)
{
    private static Dictionary<string, UpstreamBackend> Both(string a, string b) => new()
    {
        ["1.0.0"] = new(a, "m", "sk-a", Retries: 0),
        ["1.1.0"] = new(b, "m", "sk-b", Retries: 0),
    };

    [Fact]
    public async Task CreateAndSetRouting_UpstreamOfAnUnroutedVersion_IsKept_AndARolloutOfItStarts()
    {
        await using var a = await StubChatUpstream.StartAsync();
        await using var b = await StubChatUpstream.StartAsync();
        var api = Server.Api();
        var model = await UpstreamModels.RegisterAsync(Server, "unrouted");
        var name = ServerFixture.UniqueName("unrouted");

        var created = await api.CreateDeploymentAsync(new CreateDeploymentRequest(name, "development", model,
            new RoutingTable("1.0.0", Backend: "upstream", Upstreams: Both(a.BaseUrl, b.BaseUrl))));
        Assert.Equal(b.BaseUrl, created.Routing.Upstreams!["1.1.0"].Url);
        Assert.True(created.Routing.Upstreams["1.1.0"].HasApiKey);

        // A routing change that does not route 1.1.0 keeps its upstream (and its stored key) too.
        var changed = await api.SetRoutingAsync(name, new RoutingTable("1.0.0", Backend: "upstream", Upstreams: new Dictionary<string, UpstreamBackend>
        {
            ["1.0.0"] = new(a.BaseUrl, "m", Retries: 0),
            ["1.1.0"] = new(b.BaseUrl, "m", Retries: 0),
        }));
        Assert.Equal(b.BaseUrl, changed.Routing.Upstreams!["1.1.0"].Url);
        Assert.True(changed.Routing.Upstreams["1.1.0"].HasApiKey);

        var rollout = await api.StartRolloutAsync(name, new StartRolloutRequest("1.1.0", Steps: [50]));
        Assert.Equal(RolloutStatuses.Running, rollout.Status);
        using var chat = await Server.Client().PostAsJsonAsync("/v1/chat/completions",
            new { model = name + "@1.1.0", messages = new[] { new { role = "user", content = "hi" } } });
        Assert.True(chat.StatusCode == HttpStatusCode.OK, await chat.Content.ReadAsStringAsync());
        Assert.Equal("Bearer sk-b", b.Authorizations.Single());
    }

    [Fact]
    public async Task Create_UpstreamOfAVersionTheModelDoesNotHave_Is400()
    {
        await using var a = await StubChatUpstream.StartAsync();
        var model = await UpstreamModels.RegisterAsync(Server, "unrouted");
        using var response = await Server.Client().PostAsJsonAsync("/api/v1/deployments", new CreateDeploymentRequest(ServerFixture.UniqueName("unrouted"),
            "development", model, new RoutingTable("1.0.0", Backend: "upstream", Upstreams: new Dictionary<string, UpstreamBackend>
            {
                ["1.0.0"] = new(a.BaseUrl, "m"),
                ["9.9.9"] = new(a.BaseUrl, "m"),
            })), ModelGateJson.Options);
        var problem = await ProblemAssert.IsProblem(response, HttpStatusCode.BadRequest, "validation_failed");
        Assert.True(problem.GetProperty("errors").TryGetProperty("routing.upstreams.9.9.9", out _), problem.ToString());
    }
}

public sealed class UnroutedUpstreamsTests_Sqlite(SqliteServerFixture fixture) : UnroutedUpstreamsTests(fixture), IClassFixture<SqliteServerFixture>;

public sealed class UnroutedUpstreamsTests_Postgres(PostgresServerFixture fixture) : UnroutedUpstreamsTests(fixture), IClassFixture<PostgresServerFixture>;
