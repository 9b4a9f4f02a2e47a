using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Gateway;

/// <summary>
/// Several endpoints per upstream version (issue 18, item 9): load shared by weight, a dead endpoint's circuit opening and its
/// traffic moving to the others, fallbacks in order, each endpoint's key kept to its own URL, per-endpoint metrics. The
/// tables are sent as raw JSON, as any client would.
/// </summary>
public abstract class UpstreamEndpointsTests(ServerFixture fixture) : ProviderTests(fixture)
{
    /// <summary>A development deployment of a new chat model: 1.0.0 stable with <paramref name="stable"/>, 1.1.0 at <paramref name="weight"/> with <paramref name="candidate"/>.</summary>
    private async Task<(string Deployment, HttpResponseMessage Response)> CreateAsync(JsonObject stable, JsonObject? candidate = null, double weight = 0)
    {
        var model = await UpstreamModels.RegisterAsync(Server, "endpoints");
        var name = ServerFixture.UniqueName("endpoints");
        var response = await Server.Client().PostAsJsonAsync("/api/v1/deployments", new JsonObject
        {
            ["name"] = name,
            ["environment"] = "development",
            ["model"] = model,
            ["routing"] = Table(stable, candidate, weight),
        });
        return (name, response);
    }

    private async Task<string> DeployAsync(JsonObject stable, JsonObject? candidate = null, double weight = 0)
    {
        var (name, response) = await CreateAsync(stable, candidate, weight);
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        return name;
    }

    private static JsonObject Table(JsonObject stable, JsonObject? candidate, double weight) => new()
    {
        ["stable"] = "1.0.0",
        ["candidates"] = new JsonArray(new JsonObject { ["version"] = "1.1.0", ["weight"] = weight }),
        ["backend"] = "upstream",
        ["upstreams"] = new JsonObject { ["1.0.0"] = stable.DeepClone(), ["1.1.0"] = (candidate ?? stable).DeepClone() },
    };

    private Task<HttpResponseMessage> RouteAsync(string deployment, JsonObject stable, JsonObject? candidate = null, double weight = 0) =>
        Server.Client().PutAsync($"/api/v1/deployments/{deployment}/routing", JsonContent.Create(Table(stable, candidate, weight)));

    private static JsonObject Endpoint(StubChatUpstream stub, string? key = null, double? weight = null, string? model = null)
    {
        var endpoint = new JsonObject { ["url"] = stub.BaseUrl };
        if (key is not null)
        {
            endpoint["apiKey"] = key;
        }
        if (weight is not null)
        {
            endpoint["weight"] = weight;
        }
        if (model is not null)
        {
            endpoint["model"] = model;
        }
        return endpoint;
    }

    private static JsonObject Endpoints(JsonArray endpoints, JsonArray? fallbacks = null, int retries = 1)
    {
        var upstream = new JsonObject { ["model"] = "m", ["retries"] = retries, ["endpoints"] = endpoints };
        if (fallbacks is not null)
        {
            upstream["fallbacks"] = fallbacks;
        }
        return upstream;
    }

    private async Task<(HttpStatusCode Status, string Route, string Body)> ChatAsync(string model)
    {
        using var response = await Server.Client().PostAsJsonAsync("/v1/chat/completions",
            new { model, messages = new[] { new { role = "user", content = "hi" } } });
        var route = response.Headers.TryGetValues("x-modelgate-route", out var routes) ? routes.Single() : "";
        return (response.StatusCode, route, await response.Content.ReadAsStringAsync());
    }

    /// <summary>Version 1.0.0's upstream as <c>GET /api/v1/deployments/{name}</c> shows it.</summary>
    private async Task<JsonObject> UpstreamAsync(string deployment)
    {
        using var shown = await Server.Client().GetAsync($"/api/v1/deployments/{deployment}");
        return JsonNode.Parse(await shown.Content.ReadAsStringAsync())!["routing"]!["upstreams"]!["1.0.0"]!.AsObject();
    }

    [Fact]
    public async Task Endpoints_WeightedThreeToOne_ShareTheLoadExactly_EachWithItsOwnKeyAndModel()
    {
        await using var a = await StubChatUpstream.StartAsync();
        await using var b = await StubChatUpstream.StartAsync();
        a.Answer = (_, _) => "from a";
        b.Answer = (_, _) => "from b";
        var deployment = await DeployAsync(Endpoints([Endpoint(a, "sk-a", weight: 3), Endpoint(b, "sk-b", weight: 1, model: "m-b")], retries: 0));

        for (var i = 0; i < 40; i++)
        {
            var (status, _, body) = await ChatAsync(deployment + "@1.0.0");
            Assert.True(status == HttpStatusCode.OK, body);
        }
        // A smooth weighted rotation: every run of four requests sends three to a and one to b.
        Assert.Equal(30, a.Requests.Count);
        Assert.Equal(10, b.Requests.Count);
        Assert.All(a.Authorizations, h => Assert.Equal("Bearer sk-a", h));
        Assert.All(b.Authorizations, h => Assert.Equal("Bearer sk-b", h));
        Assert.All(a.Requests, r => Assert.Equal("m", (string?)r["model"]));
        Assert.All(b.Requests, r => Assert.Equal("m-b", (string?)r["model"]));
    }

    [Fact]
    public async Task DeadEndpoint_ItsCircuitOpens_AndItsTrafficMovesToTheOthers_OnMetricsToo()
    {
        await using var a = await StubChatUpstream.StartAsync();
        await using var b = await StubChatUpstream.StartAsync();
        a.Answer = (_, _) => "from a";
        b.Answer = (_, _) => "from b";
        var deployment = await DeployAsync(Endpoints([Endpoint(a, "sk-a"), Endpoint(b, "sk-b")], retries: 1));
        b.Broken = true;

        for (var i = 0; i < 30; i++)
        {
            var (status, route, body) = await ChatAsync(deployment + "@1.0.0");
            Assert.True(status == HttpStatusCode.OK, body);
            Assert.Contains("from a", body);
            Assert.Equal("pinned", route); // answered inside the version: no fallback to another version
        }
        // Five failures open b's circuit; from then on its turns go to a without trying b.
        Assert.Equal(ModelGate.Gateway.CircuitBreakers.FailureThreshold, b.Requests.Count);
        Assert.Equal(30, a.Requests.Count);

        using (var scrape = await Server.Client().GetAsync("/metrics"))
        {
            var text = await scrape.Content.ReadAsStringAsync();
            var hostA = new Uri(a.BaseUrl).Authority;
            var hostB = new Uri(b.BaseUrl).Authority;
            string Labels(int index, string host) =>
                $"deployment=\"{deployment}\",version=\"1.0.0\",list=\"endpoints\",endpoint=\"{index}\",host=\"{host}\"";
            Assert.Contains($"modelgate_gateway_upstream_attempts_total{{{Labels(0, hostA)}}} 30\n", text);
            Assert.Contains($"modelgate_gateway_upstream_failures_total{{{Labels(0, hostA)}}} 0\n", text);
            Assert.Contains($"modelgate_gateway_upstream_attempts_total{{{Labels(1, hostB)}}} 5\n", text);
            Assert.Contains($"modelgate_gateway_upstream_failures_total{{{Labels(1, hostB)}}} 5\n", text);
            Assert.Contains($"modelgate_gateway_upstream_circuit_open{{{Labels(1, hostB)}}} 1\n", text);
            Assert.Contains($"modelgate_gateway_upstream_circuit_open{{{Labels(0, hostA)}}} 0\n", text);
            Assert.DoesNotContain("sk-a", text);
            Assert.DoesNotContain("sk-b", text);
        }

        // After the cool-down, b is tried again; back on its feet, it takes its share again.
        b.Broken = false;
        Server.Time.Advance(ModelGate.Gateway.CircuitBreakers.OpenFor + TimeSpan.FromSeconds(1));
        var answeredByB = 0;
        for (var i = 0; i < 10; i++)
        {
            var (status, _, body) = await ChatAsync(deployment + "@1.0.0");
            Assert.Equal(HttpStatusCode.OK, status);
            answeredByB += body.Contains("from b", StringComparison.Ordinal) ? 1 : 0;
        }
        Assert.Equal(5, answeredByB);
    }

    [Fact]
    public async Task Fallbacks_AreTriedInOrder_ThenTheStableVersion()
    {
        await using var stable = await StubChatUpstream.StartAsync();
        await using var a = await StubChatUpstream.StartAsync();
        await using var b = await StubChatUpstream.StartAsync();
        await using var c = await StubChatUpstream.StartAsync();
        var order = new ConcurrentQueue<string>();
        var cAnswers = true;
        stable.Answer = (_, _) => "from stable";
        a.Answer = (_, _) => { order.Enqueue("a"); return null; };
        b.Answer = (_, _) => { order.Enqueue("b"); return null; };
        c.Answer = (_, _) => { order.Enqueue("c"); return cAnswers ? "from c" : null; };
        var deployment = await DeployAsync(new JsonObject { ["url"] = stable.BaseUrl, ["model"] = "m", ["retries"] = 0 },
            Endpoints([Endpoint(a)], fallbacks: [Endpoint(b), Endpoint(c)], retries: 0), weight: 100);

        var (status, route, body) = await ChatAsync(deployment);
        Assert.True(status == HttpStatusCode.OK, body);
        Assert.Contains("from c", body);
        Assert.Equal("canary", route);
        Assert.Equal(new[] { "a", "b", "c" }, order);

        cAnswers = false;
        order.Clear();
        (status, route, body) = await ChatAsync(deployment);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Contains("from stable", body);
        Assert.Equal("fallback", route);
        Assert.Equal(new[] { "a", "b", "c" }, order);
    }

    [Fact]
    public async Task EndpointKeys_FollowTheirUrls_AndAMovedEndpointNeedsAKeyDecision()
    {
        await using var a = await StubChatUpstream.StartAsync();
        await using var b = await StubChatUpstream.StartAsync();
        await using var c = await StubChatUpstream.StartAsync();
        // Created as a single URL (as before endpoints existed), with a key.
        var deployment = await DeployAsync(new JsonObject { ["url"] = a.BaseUrl, ["model"] = "m", ["apiKey"] = "sk-a", ["retries"] = 0 });

        // Becomes two endpoints: a keeps its key, b (new, given no key) gets none — never a's.
        using (var changed = await RouteAsync(deployment, Endpoints([Endpoint(a), Endpoint(b)], retries: 0)))
        {
            Assert.True(changed.IsSuccessStatusCode, await changed.Content.ReadAsStringAsync());
        }
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await ChatAsync(deployment + "@1.0.0")).Status);
        }
        Assert.Equal(2, a.Requests.Count);
        Assert.Equal(2, b.Requests.Count);
        Assert.All(a.Authorizations, h => Assert.Equal("Bearer sk-a", h));
        Assert.All(b.Authorizations, h => Assert.True(string.IsNullOrEmpty(h), h));

        // Given keys, then reordered without them: each key stays with its URL.
        using (var keyed = await RouteAsync(deployment, Endpoints([Endpoint(a, "sk-a2"), Endpoint(b, "sk-b")], retries: 0)))
        {
            Assert.True(keyed.IsSuccessStatusCode, await keyed.Content.ReadAsStringAsync());
        }
        using (var reordered = await RouteAsync(deployment, Endpoints([Endpoint(b), Endpoint(a)], retries: 0)))
        {
            Assert.True(reordered.IsSuccessStatusCode, await reordered.Content.ReadAsStringAsync());
        }
        var (sentA, sentB) = (a.Authorizations.Count, b.Authorizations.Count);
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await ChatAsync(deployment + "@1.0.0")).Status);
        }
        Assert.All(a.Authorizations.Skip(sentA), h => Assert.Equal("Bearer sk-a2", h));
        Assert.All(b.Authorizations.Skip(sentB), h => Assert.Equal("Bearer sk-b", h));
        Assert.Equal(sentA + 2, a.Authorizations.Count);

        // c takes b's place without a key decision: refused, nothing changes, and c never sees a key.
        var revision = (await Server.Api().GetDeploymentAsync(deployment)).Revision;
        using (var moved = await RouteAsync(deployment, Endpoints([Endpoint(c), Endpoint(a)], retries: 0)))
        {
            var problem = await ProblemAssert.IsProblem(moved, HttpStatusCode.UnprocessableEntity, "upstream_key_required");
            Assert.Contains("endpoints[0]", problem.GetProperty("detail").GetString());
        }
        Assert.Equal(revision, (await Server.Api().GetDeploymentAsync(deployment)).Revision);
        Assert.Empty(c.Requests);

        // The table shown never carries a key, and says which endpoints have one.
        using var shown = await Server.Client().GetAsync($"/api/v1/deployments/{deployment}");
        var text = await shown.Content.ReadAsStringAsync();
        Assert.DoesNotContain("sk-", text);
        var endpoints = JsonNode.Parse(text)!["routing"]!["upstreams"]!["1.0.0"]!["endpoints"]!.AsArray();
        Assert.All(endpoints, e => Assert.True((bool)e!["hasApiKey"]!));
    }

    [Fact]
    public async Task BadEndpoints_AreRefusedWith400NamingTheField_AndNothingIsStored()
    {
        await using var a = await StubChatUpstream.StartAsync();
        await using var b = await StubChatUpstream.StartAsync();
        var good = Endpoints([Endpoint(a, "sk-a"), Endpoint(b, "sk-b")]);
        var deployment = await DeployAsync(good);
        var before = (await Server.Api().GetDeploymentAsync(deployment)).Revision;
        var tooMany = new JsonArray();
        for (var i = 0; i < 9; i++)
        {
            tooMany.Add(new JsonObject { ["url"] = $"http://127.0.0.1:{9000 + i}/v1" });
        }
        var cases = new (JsonObject Upstream, string Field)[]
        {
            (Endpoints([Endpoint(a, weight: 0)]), "routing.upstreams.1.0.0.endpoints[0].weight"),
            (Endpoints([Endpoint(a), Endpoint(b, weight: -1)]), "routing.upstreams.1.0.0.endpoints[1].weight"),
            (Endpoints([Endpoint(a, weight: 1e9)]), "routing.upstreams.1.0.0.endpoints[0].weight"),
            (Endpoints([]), "routing.upstreams.1.0.0.endpoints"),
            (Endpoints(tooMany), "routing.upstreams.1.0.0.endpoints"),
            (Endpoints([Endpoint(a), new JsonObject { ["url"] = a.BaseUrl + "/" }]), "routing.upstreams.1.0.0.endpoints[1].url"),
            (Endpoints([Endpoint(a)], fallbacks: [Endpoint(a)]), "routing.upstreams.1.0.0.fallbacks[0].url"),
            (Endpoints([Endpoint(a)], fallbacks: [Endpoint(b, weight: 2)]), "routing.upstreams.1.0.0.fallbacks[0].weight"),
            (Endpoints([new JsonObject { ["url"] = "ftp://example.com/v1" }]), "routing.upstreams.1.0.0.endpoints[0].url"),
            (Endpoints([new JsonObject { ["url"] = a.BaseUrl, ["model"] = " " }]), "routing.upstreams.1.0.0.endpoints[0].model"),
            (new JsonObject { ["url"] = a.BaseUrl, ["model"] = "m", ["endpoints"] = new JsonArray(Endpoint(b)) }, "routing.upstreams.1.0.0.url"),
            (new JsonObject { ["model"] = "m", ["apiKey"] = "sk-top", ["endpoints"] = new JsonArray(Endpoint(b)) }, "routing.upstreams.1.0.0.apiKey"),
        };
        foreach (var (upstream, field) in cases)
        {
            using var response = await RouteAsync(deployment, upstream, good);
            var problem = await ProblemAssert.IsProblem(response, HttpStatusCode.BadRequest, "validation_failed");
            Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), $"{field} not named: {problem}");

            var (name, created) = await CreateAsync(upstream);
            await ProblemAssert.IsProblem(created, HttpStatusCode.BadRequest, "validation_failed");
            using var missing = await Server.Client().GetAsync($"/api/v1/deployments/{name}");
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        }
        // A weight that is not a number is refused as well.
        var nan = Endpoints([Endpoint(a)]);
        nan["endpoints"]![0]!["weight"] = "NaN";
        using (var response = await RouteAsync(deployment, nan, good))
        {
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        }
        Assert.Equal(before, (await Server.Api().GetDeploymentAsync(deployment)).Revision);
        Assert.Equal(2, (await UpstreamAsync(deployment))["endpoints"]!.AsArray().Count);
    }

    [Fact]
    public async Task EndpointUrls_ShownToReaders_WithoutKeysAndWithQueryCredentialsRedacted()
    {
        await using var a = await StubChatUpstream.StartAsync();
        await using var b = await StubChatUpstream.StartAsync();
        var deployment = await DeployAsync(Endpoints([Endpoint(a, "sk-a"), new JsonObject { ["url"] = b.BaseUrl + "?api-key=sk-in-query&region=eu" }],
            fallbacks: [new JsonObject { ["url"] = a.BaseUrl.Replace("127.0.0.1", "localhost") + "?token=sk-fallback-query" }]));
        var viewer = await Server.CreateKeyAsync("viewer");

        using var shown = await Server.Client(viewer).GetAsync($"/api/v1/deployments/{deployment}");
        var text = await shown.Content.ReadAsStringAsync();
        Assert.True(shown.IsSuccessStatusCode, text);
        Assert.DoesNotContain("sk-", text);
        Assert.Contains("region=eu", text);
        var events = await Server.Api().ListAuditAsync(subject: $"deployments/{deployment}");
        Assert.DoesNotContain("sk-", System.Text.Json.JsonSerializer.Serialize(events));
    }

    [Fact]
    public async Task SingleUrlUpstream_StoredAsBefore_IsStillServedAndStoredUnchanged()
    {
        await using var a = await StubChatUpstream.StartAsync();
        a.Answer = (_, _) => "from a";
        var deployment = await DeployAsync(new JsonObject { ["url"] = a.BaseUrl, ["model"] = "m", ["retries"] = 0 });
        // The routing column as the gateway stored it before endpoints existed.
        var stored = Table(new JsonObject
        {
            ["url"] = a.BaseUrl, ["model"] = "m", ["hasApiKey"] = false, ["firstByteTimeoutSeconds"] = 60, ["idleTimeoutSeconds"] = 60,
            ["retries"] = 0, ["inputPricePer1K"] = null, ["outputPricePer1K"] = null,
        }, null, 0);
        stored["stickiness"] = null;
        stored["shadow"] = null;
        await Server.WithDbAsync(async db =>
        {
            var entity = db.Deployments.Single(d => d.Name == deployment);
            entity.Routing = stored.ToJsonString();
            entity.Revision++;
            entity.UpdatedAt = entity.UpdatedAt.AddMilliseconds(1);
            return await db.SaveChangesAsync(TestContext.Current.CancellationToken);
        });
        await Server.App.Services.GetRequiredService<ModelGate.Gateway.RoutingSnapshots>().ReloadAsync(TestContext.Current.CancellationToken);

        var (status, _, body) = await ChatAsync(deployment + "@1.0.0");
        Assert.True(status == HttpStatusCode.OK, body);
        Assert.Contains("from a", body);
        var shown = await UpstreamAsync(deployment);
        Assert.Equal(a.BaseUrl, (string?)shown["url"]);
        Assert.False(shown.ContainsKey("endpoints"));

        // A change through the API stores the single-URL form as it was: no endpoints, no fallbacks.
        using (var changed = await RouteAsync(deployment, new JsonObject { ["url"] = a.BaseUrl, ["model"] = "m", ["retries"] = 0 }))
        {
            Assert.True(changed.IsSuccessStatusCode, await changed.Content.ReadAsStringAsync());
        }
        var routing = await Server.WithDbAsync(db => Task.FromResult(db.Deployments.Single(d => d.Name == deployment).Routing));
        Assert.DoesNotContain("endpoints", routing);
        Assert.DoesNotContain("fallbacks", routing);
        Assert.Contains($"\"url\":\"{a.BaseUrl}\"", routing);
    }
}

public sealed class UpstreamEndpointsTests_Sqlite(SqliteServerFixture fixture) : UpstreamEndpointsTests(fixture), IClassFixture<SqliteServerFixture>;

public sealed class UpstreamEndpointsTests_Postgres(PostgresServerFixture fixture) : UpstreamEndpointsTests(fixture), IClassFixture<PostgresServerFixture>;
