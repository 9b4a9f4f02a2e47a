using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Lifecycle;

/// <summary>
/// Staging verification of an upstream-served (LLM) version: smoke prompts from its evaluation's dataset through the staging
/// deployment's chat completions, latency against the policy, request log and telemetry, and the rollback drill to the version
/// the deployment served before.
/// </summary>
public sealed class UpstreamStagingTests(SqliteServerFixture server) : IClassFixture<SqliteServerFixture>
{
    private static readonly Dictionary<string, string> Tickets = new()
    {
        ["t1"] = "Printer offline", ["t2"] = "Password reset loops", ["t3"] = "Invoice shows « 0 € »",
    };

    /// <summary>Prompt 1.0.0 was served by the staging deployment first; 1.0.1 (a new template) is stable now and evaluated.</summary>
    private async Task<(string Model, string Deployment)> StagedAsync(StubChatUpstream upstream, StubChatUpstream? second = null)
    {
        var api = server.Api();
        var model = ServerFixture.UniqueName("tickets");
        await api.CreateModelAsync(new CreateModelRequest(model, "support", "medium", "llm-chat"));
        await api.CreateVersionAsync(model, new CreateVersionRequest("1.0.0", [], Fixtures.Attestation() with
        {
            Architecture = "upstream", PromptTemplate = new PromptTemplate("You summarise tickets.", "v1 {{ticket}}", ["ticket"]),
        }));
        await api.CreateVersionAsync(model, new CreateVersionRequest("1.0.1", [], Fixtures.Attestation() with
        {
            Architecture = "upstream", PromptTemplate = new PromptTemplate("You summarise tickets briefly.", "v2 {{ticket}}", ["ticket"]),
        }));
        var dataset = await server.UploadAsync(Encoding.UTF8.GetBytes(string.Join('\n', Tickets.Select(t =>
            JsonSerializer.Serialize(new { id = t.Key, variables = new { ticket = t.Value }, reference = t.Value })))));
        var suite = await server.UploadAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new
        {
            name = "tickets", task = "llm-chat", dataset = new { sha256 = dataset, format = "jsonl" }, bootstrap = new { resamples = 0 }, maxTokens = 64,
        })));
        var run = await api.StartEvaluationAsync(model, "1.0.1", new StartEvaluationRequest(suite, Upstream: new UpstreamTarget(upstream.BaseUrl, "stub-chat")));
        await server.EvaluationFinishedAsync(run.Id);
        Assert.Equal(EvaluationStatuses.Succeeded, (await api.GetEvaluationAsync(model, "1.0.1", run.Id)).Status);

        // Walking the gates is the walk-through's job; here the stages are set directly: 1.0.0 went on to production, 1.0.1 is in staging.
        foreach (var (version, stage) in new[] { ("1.0.0", Stages.Production), ("1.0.1", Stages.Staging) })
        {
            await server.WithDbAsync(db => db.ModelVersions.Where(v => v.Model!.Name == model && v.Version == version)
                .ExecuteUpdateAsync(u => u.SetProperty(v => v.Stage, stage)));
        }
        var deployment = ServerFixture.UniqueName("tickets-staging");
        var upstreams = new Dictionary<string, UpstreamBackend>
        {
            ["1.0.0"] = new(upstream.BaseUrl, "stub-chat-v1"),
            // With a second stand-in, 1.0.1 is served by both, as two endpoints sharing its load.
            ["1.0.1"] = second is null
                ? new(upstream.BaseUrl, "stub-chat-v2")
                : new(null, "stub-chat-v2", Endpoints: [new UpstreamEndpoint(upstream.BaseUrl), new UpstreamEndpoint(second.BaseUrl)]),
        };
        await api.CreateDeploymentAsync(new CreateDeploymentRequest(deployment, DeploymentEnvironments.Staging, model,
            new RoutingTable("1.0.0", Backend: "upstream", Upstreams: upstreams)));
        await api.SetRoutingAsync(deployment, new RoutingTable("1.0.1", Backend: "upstream", Upstreams: upstreams));
        return (model, deployment);
    }

    [Fact]
    public async Task AnUpstreamServedVersion_IsVerified_SmokePromptsLatencyLogTelemetryAndTheRollbackDrill()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        upstream.Answer = (_, user) => "summary of " + user;
        var (model, deployment) = await StagedAsync(upstream);
        var before = upstream.Requests.Count;

        var verification = await server.Api().VerifyStagingAsync(model, "1.0.1", new StagingVerificationRequest(SmokeRows: 3, LoadRequests: 12, Concurrency: 2));

        Assert.True(verification.Passed, string.Join("; ", verification.Checks.Select(c => $"{c.Check}: {c.Passed} {c.Detail}")));
        Assert.Equal(["upstream", "smoke", "latency_throughput", "request_log", "telemetry", "rollback_drill"], verification.Checks.Select(c => c.Check));
        Assert.Contains("3 rows", verification.Checks.Single(c => c.Check == "smoke").Detail);
        Assert.Contains("3 of 3 smoke requests in the request log", verification.Checks.Single(c => c.Check == "request_log").Detail);
        var drill = verification.Checks.Single(c => c.Check == "rollback_drill");
        Assert.Equal("1.0.0", drill.Figures!.Value.GetProperty("answeredAfterRollback").GetString());
        Assert.Equal("1.0.1", drill.Figures!.Value.GetProperty("answeredAfterRestore").GetString());

        // What reached the upstream: 1.0.1's rendered prompt for smoke, load and the restored leg, 1.0.0's for the rolled-back leg.
        var sent = upstream.Requests.Skip(before).ToList();
        // Each drill leg sends the smoke rows again (at most five; three here).
        Assert.Equal(3 + 12 + 3 + 3, sent.Count);
        Assert.Equal(3, sent.Count(r => (string?)r["model"] == "stub-chat-v1" && ((string?)r["messages"]![1]!["content"])!.StartsWith("v1 ", StringComparison.Ordinal)));
        Assert.All(sent.Where(r => (string?)r["model"] == "stub-chat-v2"), r => Assert.StartsWith("v2 ", (string?)r["messages"]![1]!["content"]));
        Assert.All(sent, r => Assert.Null(r["prompt_variables"]));
        Assert.Equal("1.0.1", (await server.Api().GetDeploymentAsync(deployment)).Routing.Stable);
    }

    [Fact]
    public async Task AVersionWithSeveralEndpoints_IsVerifiedThroughTheSameEndpointChoice()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        await using var second = await StubChatUpstream.StartAsync();
        upstream.Answer = second.Answer = (_, user) => "summary of " + user;
        var (model, _) = await StagedAsync(upstream, second);
        var (beforeFirst, beforeSecond) = (upstream.Requests.Count, second.Requests.Count);

        var verification = await server.Api().VerifyStagingAsync(model, "1.0.1", new StagingVerificationRequest(SmokeRows: 3, LoadRequests: 12, Concurrency: 1));

        Assert.True(verification.Passed, string.Join("; ", verification.Checks.Select(c => $"{c.Check}: {c.Passed} {c.Detail}")));
        var check = verification.Checks.Single(c => c.Check == "upstream");
        Assert.Contains("2 endpoints", check.Detail);
        Assert.Contains(second.BaseUrl, check.Detail);
        // 1.0.1's smoke, load and restored-leg requests (3 + 12 + 3) go to both endpoints in turn, as served traffic does.
        int V2(StubChatUpstream stub, int before) => stub.Requests.Skip(before).Count(r => (string?)r["model"] == "stub-chat-v2");
        Assert.Equal(18, V2(upstream, beforeFirst) + V2(second, beforeSecond));
        Assert.InRange(V2(second, beforeSecond), 6, 12);
    }

    [Fact]
    public async Task ABrokenUpstream_FailsTheSmokeAndTheDrill_AndTheVerificationIsRecordedFailed()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        var (model, deployment) = await StagedAsync(upstream);
        upstream.Broken = true;

        var verification = await server.Api().VerifyStagingAsync(model, "1.0.1", new StagingVerificationRequest(SmokeRows: 2, LoadRequests: 4, Concurrency: 1));

        Assert.False(verification.Passed);
        Assert.False(verification.Checks.Single(c => c.Check == "smoke").Passed);
        Assert.False(verification.Checks.Single(c => c.Check == "latency_throughput").Passed);
        Assert.False(verification.Checks.Single(c => c.Check == "rollback_drill").Passed);
        Assert.Single(await server.Api().ListStagingVerificationsAsync(model, "1.0.1"), v => v.Id == verification.Id && !v.Passed);
        Assert.Equal("1.0.1", (await server.Api().GetDeploymentAsync(deployment)).Routing.Stable);
    }

    [Fact]
    public async Task AVersionWithoutAnEvaluation_IsVerifiedWithTheSmokeSetGiven_OrItsOwnSmokeJsonl_AndABadSmokeSetIsRefused()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        upstream.Answer = (_, user) => "summary of " + user;
        var api = server.Api();
        var model = ServerFixture.UniqueName("smoke");
        await api.CreateModelAsync(new CreateModelRequest(model, "support", "medium", "llm-chat"));
        var template = new PromptTemplate("You summarise tickets.", "smoke {{ticket}}", ["ticket"]);
        var ownSet = Encoding.UTF8.GetBytes("""{"id": "o1", "variables": {"ticket": "from the version's own set"}}""" + "\n");
        var ownSha = await server.UploadAsync(ownSet);
        await api.CreateVersionAsync(model, new CreateVersionRequest("1.0.0", [], Fixtures.Attestation() with { Architecture = "upstream", PromptTemplate = template }));
        var promptSha = (await api.GetVersionAsync(model, "1.0.0")).Artifacts.Single().Sha256;
        await api.CreateVersionAsync(model, new CreateVersionRequest("1.0.1", [new ArtifactRef(promptSha, "prompt-template.json"), new ArtifactRef(ownSha, "smoke.jsonl")],
            Fixtures.Attestation() with { Architecture = "upstream", PromptTemplate = template }));
        foreach (var version in new[] { "1.0.0", "1.0.1" })
        {
            await server.WithDbAsync(db => db.ModelVersions.Where(v => v.Model!.Name == model && v.Version == version)
                .ExecuteUpdateAsync(u => u.SetProperty(v => v.Stage, Stages.Staging)));
        }
        var deployment = ServerFixture.UniqueName("smoke-staging");
        await api.CreateDeploymentAsync(new CreateDeploymentRequest(deployment, DeploymentEnvironments.Staging, model,
            new RoutingTable("1.0.0", Backend: "upstream", Upstreams: new Dictionary<string, UpstreamBackend>
            {
                ["1.0.0"] = new(upstream.BaseUrl, "stub-chat"), ["1.0.1"] = new(upstream.BaseUrl, "stub-chat"),
            })));

        // No evaluation and no smoke set: nothing to send, said so.
        var none = await Assert.ThrowsAsync<ModelGateApiException>(() => api.VerifyStagingAsync(model, "1.0.0", new StagingVerificationRequest(LoadRequests: 2, Concurrency: 1)));
        Assert.Equal(("no_smoke_data", true), (none.Code, none.Problem!.Detail!.Contains("smokeDataset", StringComparison.Ordinal)));

        // A smoke set given with the request: its rows are the smoke prompts, rendered with the version's template.
        var given = await server.UploadAsync(Encoding.UTF8.GetBytes(string.Join('\n', new[] { "printer offline", "invoice wrong" }.Select(t =>
            JsonSerializer.Serialize(new { variables = new { ticket = t } })))));
        var before = upstream.Requests.Count;
        var verified = await api.VerifyStagingAsync(model, "1.0.0", new StagingVerificationRequest(SmokeRows: 2, LoadRequests: 2, Concurrency: 1, SmokeDataset: given));
        Assert.True(verified.Passed, string.Join("; ", verified.Checks.Select(c => $"{c.Check}: {c.Passed} {c.Detail}")));
        var smoke = upstream.Requests.Skip(before).Take(2).Select(r => (string?)r["messages"]![1]!["content"]).ToList();
        Assert.Equal(["smoke printer offline", "smoke invoice wrong"], smoke);

        // 1.0.1 carries its own smoke.jsonl.
        await api.SetRoutingAsync(deployment, new RoutingTable("1.0.1", Backend: "upstream", Upstreams: new Dictionary<string, UpstreamBackend>
        {
            ["1.0.0"] = new(upstream.BaseUrl, "stub-chat"), ["1.0.1"] = new(upstream.BaseUrl, "stub-chat"),
        }));
        before = upstream.Requests.Count;
        var own = await api.VerifyStagingAsync(model, "1.0.1", new StagingVerificationRequest(SmokeRows: 5, LoadRequests: 2, Concurrency: 1));
        Assert.True(own.Passed, string.Join("; ", own.Checks.Select(c => $"{c.Check}: {c.Passed} {c.Detail}")));
        Assert.Equal("smoke from the version's own set", (string?)upstream.Requests.Skip(before).First()["messages"]![1]!["content"]);

        // A smoke set that is not JSONL, or not a digest at all, is refused with nothing recorded.
        var broken = await server.UploadAsync(Encoding.UTF8.GetBytes("{\"variables\": {\"ticket\": \"ok\"}}\nnot json\n"));
        var bad = await Assert.ThrowsAsync<ModelGateApiException>(() => api.VerifyStagingAsync(model, "1.0.1", new StagingVerificationRequest(LoadRequests: 2, SmokeDataset: broken)));
        Assert.Equal(("invalid_smoke_data", true), (bad.Code, bad.Problem!.Detail!.Contains("line 2", StringComparison.Ordinal)));
        var notDigest = await Assert.ThrowsAsync<ModelGateApiException>(() => api.VerifyStagingAsync(model, "1.0.1", new StagingVerificationRequest(SmokeDataset: "../etc/passwd")));
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, notDigest.Status);
        Assert.Single(await api.ListStagingVerificationsAsync(model, "1.0.1"));
    }
}
