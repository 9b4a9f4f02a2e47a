using System.Net;
using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Gateway;
using ModelGate.Storage;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Gateway;

/// <summary>The one routing service (issue 17, item 7), driven directly with a transaction of the test's own.</summary>
public abstract class DeploymentRoutingTests(ServerFixture fixture) : ProviderTests(fixture)
{
    private const string Actor = "test-routing";

    /// <summary>An upstream deployment of a new chat model: 1.0.0 stable at <paramref name="a"/> (key sk-a), 1.1.0 configured at <paramref name="b"/> but not routed.</summary>
    private async Task<string> DeployAsync(string a, string b)
    {
        var model = await UpstreamModels.RegisterAsync(Server, "routing");
        var name = ServerFixture.UniqueName("routing");
        await Server.Api().CreateDeploymentAsync(new CreateDeploymentRequest(name, "development", model, new RoutingTable("1.0.0", Backend: "upstream",
            Upstreams: new Dictionary<string, UpstreamBackend> { ["1.0.0"] = new(a, "m", "sk-a", Retries: 0), ["1.1.0"] = new(b, "m", Retries: 0) })));
        return name;
    }

    /// <summary>Runs <paramref name="change"/> in a write of its own, committed when <paramref name="commit"/> and the result is a change.</summary>
    private async Task<RoutingResult> ChangeAsync(string deployment, RoutingChange change, bool commit = true)
    {
        await using var scope = Server.App.Services.CreateAsyncScope();
        await using var tx = await scope.ServiceProvider.GetRequiredService<AuditedWrite>().BeginAsync(default);
        var result = await Server.App.Services.GetRequiredService<DeploymentRouting>().ChangeAsync(tx, deployment, change, default);
        if (commit && result.IsChanged)
        {
            await tx.CommitAsync(default);
        }
        return result;
    }

    private static RoutingChange Promote(string version, string? notGood = null) =>
        new(Actor, RoutingChange.Changed, table => table with { Stable = version, Candidates = [] }, "a test", notGood);

    [Fact]
    public async Task ChangeAsync_ValidChange_StoresTheTable_BumpsTheRevision_KeepsLastKnownGood_AuditsAndReloads()
    {
        await using var a = await StubChatUpstream.StartAsync();
        await using var b = await StubChatUpstream.StartAsync();
        var deployment = await DeployAsync(a.BaseUrl, b.BaseUrl);

        var result = await ChangeAsync(deployment, Promote("1.1.0"));

        Assert.Equal(RoutingOutcome.Changed, result.Outcome);
        Assert.Equal("1.0.0", result.Previous!.Stable);
        Assert.Equal("1.1.0", result.Routing!.Stable);
        Assert.Equal(2, result.Deployment!.Revision);
        Assert.Equal("1.0.0", result.Deployment.LastKnownGood);
        Assert.True(result.Routing.Upstreams!["1.0.0"].HasApiKey); // the stored key stays with its URL
        var stored = await Server.Api().GetDeploymentAsync(deployment);
        Assert.Equal(2, stored.Revision);
        Assert.Equal(Actor, stored.UpdatedBy);
        var audit = (await Server.Api().ListAuditAsync(subject: $"deployments/{deployment}")).Items;
        var changed = Assert.Single(audit, e => e.Action == RoutingChange.Changed);
        Assert.Equal("a test", changed.Details.GetProperty("reason").GetString());
        Assert.Equal("1.1.0", changed.Details.GetProperty("routing").GetProperty("stable").GetString());
        Assert.DoesNotContain("sk-a", changed.Details.ToString());

        // The data plane reloaded once the write committed: the next chat goes to 1.1.0.
        using var chat = await Server.Client().PostAsJsonAsync("/v1/chat/completions", new { model = deployment, messages = new[] { new { role = "user", content = "hi" } } });
        Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
        Assert.Equal("1.1.0", chat.Headers.GetValues("x-modelgate-version").Single());

        // Back again: the version left becomes last-known-good, unless the change says it is not good.
        Assert.Equal("1.1.0", (await ChangeAsync(deployment, Promote("1.0.0"))).Deployment!.LastKnownGood);
        Assert.Null((await ChangeAsync(deployment, Promote("1.1.0", notGood: "1.0.0"))).Deployment!.LastKnownGood);
    }

    [Fact]
    public async Task ChangeAsync_CallerDoesNotCommit_NothingIsWritten()
    {
        var deployment = await DeployAsync("http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1");
        var before = await Server.Api().GetDeploymentAsync(deployment);
        var audit = await Server.AuditCountAsync();

        Assert.Equal(RoutingOutcome.Changed, (await ChangeAsync(deployment, Promote("1.1.0"), commit: false)).Outcome);

        var after = await Server.Api().GetDeploymentAsync(deployment);
        Assert.Equal(before.Revision, after.Revision);
        Assert.Equal("1.0.0", after.Routing.Stable);
        Assert.Equal(audit, await Server.AuditCountAsync());
    }

    [Fact]
    public async Task ChangeAsync_NoSuchDeployment_IsNotFound()
    {
        Assert.Equal(RoutingOutcome.NotFound, (await ChangeAsync(ServerFixture.UniqueName("missing"), Promote("1.1.0"))).Outcome);
    }

    [Fact]
    public async Task ChangeAsync_InvalidTable_IsInvalidWithFieldErrors_AndWritesNothing()
    {
        var deployment = await DeployAsync("http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1");
        var audit = await Server.AuditCountAsync();

        var unknown = await ChangeAsync(deployment, Promote("9.9.9"));
        Assert.Equal(RoutingOutcome.Invalid, unknown.Outcome);
        Assert.Contains("routing.stable", unknown.Errors!.Keys);

        var noUpstream = await ChangeAsync(deployment, new RoutingChange(Actor, RoutingChange.Changed,
            table => table with { Stable = "1.1.0", Upstreams = table.Upstreams!.Where(u => u.Key == "1.0.0").ToDictionary() }));
        Assert.Equal(RoutingOutcome.Invalid, noUpstream.Outcome);
        Assert.Contains("routing.upstreams.1.1.0", noUpstream.Errors!.Keys);
        Assert.Contains("routing.upstreams.1.1.0", noUpstream.Explain());

        Assert.Equal(1, (await Server.Api().GetDeploymentAsync(deployment)).Revision);
        Assert.Equal(audit, await Server.AuditCountAsync());
    }

    [Fact]
    public async Task ChangeAsync_UrlMovedWithoutAKeyDecision_IsRefused()
    {
        var deployment = await DeployAsync("http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1");

        var moved = await ChangeAsync(deployment, new RoutingChange(Actor, RoutingChange.Changed,
            table => table with { Upstreams = table.Upstreams!.ToDictionary(u => u.Key, u => u.Key == "1.0.0" ? u.Value with { Url = "http://127.0.0.2:9/v1" } : u.Value) }));

        Assert.Equal(RoutingOutcome.Refused, moved.Outcome);
        Assert.Equal(ProblemCodes.UpstreamKeyRequired, moved.Code);
        Assert.Equal("routing.upstreams.1.0.0", moved.Field);
        Assert.Equal(1, (await Server.Api().GetDeploymentAsync(deployment)).Revision);
    }

    [Fact]
    public async Task CreateAsync_GoesThroughTheSameValidation()
    {
        var model = await UpstreamModels.RegisterAsync(Server, "routing");
        var modelId = await Server.WithDbAsync(db => Task.FromResult(db.Models.Single(m => m.Name == model).Id));
        var routing = Server.App.Services.GetRequiredService<DeploymentRouting>();
        await using var scope = Server.App.Services.CreateAsyncScope();
        await using var tx = await scope.ServiceProvider.GetRequiredService<AuditedWrite>().BeginAsync(default);

        var invalid = await routing.CreateAsync(tx, ServerFixture.UniqueName("routing"), "development", modelId, model,
            new RoutingTable("1.0.0", Backend: "upstream", Upstreams: new Dictionary<string, UpstreamBackend> { ["1.0.0"] = new("http://127.0.0.1:9/v1", "m"), ["2.0.0"] = new("http://127.0.0.1:9/v1", "m") }),
            Actor, default);
        Assert.Equal(RoutingOutcome.Invalid, invalid.Outcome);
        Assert.Contains("routing.upstreams.2.0.0", invalid.Errors!.Keys);

        var name = ServerFixture.UniqueName("routing");
        var created = await routing.CreateAsync(tx, name, "development", modelId, model,
            new RoutingTable("1.0.0", Backend: "upstream", Upstreams: new Dictionary<string, UpstreamBackend> { ["1.0.0"] = new("http://127.0.0.1:9/v1", "m") }), Actor, default);
        Assert.Equal(RoutingOutcome.Changed, created.Outcome);
        Assert.Equal(1, created.Deployment!.Revision);
        await tx.CommitAsync(default);
        Assert.Equal("1.0.0", (await Server.Api().GetDeploymentAsync(name)).Routing.Stable);
        Assert.Contains((await Server.Api().ListAuditAsync(subject: $"deployments/{name}")).Items, e => e.Action == DeploymentRouting.Created);
    }
}

public sealed class DeploymentRoutingTests_Sqlite(SqliteServerFixture fixture) : DeploymentRoutingTests(fixture), IClassFixture<SqliteServerFixture>;

public sealed class DeploymentRoutingTests_Postgres(PostgresServerFixture fixture) : DeploymentRoutingTests(fixture), IClassFixture<PostgresServerFixture>;
