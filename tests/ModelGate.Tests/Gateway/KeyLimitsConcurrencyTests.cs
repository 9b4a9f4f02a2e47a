using System.Net;
using System.Net.Http.Json;
using System.Text;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Gateway;

/// <summary>
/// A key's token limit and budget under 32 concurrent clients. The stand-in upstream reports prompt_tokens = len(user)/4
/// and completion_tokens = len(answer)/4, so each call the upstream receives uses a known number of tokens; the clock is
/// frozen, so no tokens come back during the test. A request is let through only while the key's balance, counting what
/// requests in flight reserved, is not used up; with max_tokens honoured, a reservation is never below the real usage, so
/// what the key uses is below its limit plus one request's usage.
/// </summary>
public sealed class KeyLimitsConcurrencyTests(SqliteServerFixture server, ITestOutputHelper output) : IClassFixture<SqliteServerFixture>
{
    private const int Clients = 32;
    private const int MaxTokens = 50;
    /// <summary>199 characters: 49 completion tokens as the stand-in counts them, within max_tokens.</summary>
    private static readonly string Answer = string.Join(' ', Enumerable.Repeat("word", 40));
    private const string Prompt = "hello";
    private const long TokensPerCall = 5 / 4 + 199 / 4; // len("hello")/4 + len(Answer)/4

    private async Task<string> DeployAsync(StubChatUpstream upstream, double pricePer1K)
    {
        var model = ServerFixture.UniqueName("limits");
        var api = server.Api();
        await api.CreateModelAsync(new CreateModelRequest(model, "assistants", "medium", "llm-chat"));
        var config = await server.UploadAsync(Encoding.UTF8.GetBytes($"serving config {model}"));
        await api.CreateVersionAsync(model, new CreateVersionRequest("1.0.0", [new ArtifactRef(config, "serving.json")],
            Fixtures.Attestation() with { Architecture = "upstream", PromptTemplate = new PromptTemplate("You are assistant 1.0.0.") }));
        var name = ServerFixture.UniqueName("limits");
        await api.CreateDeploymentAsync(new CreateDeploymentRequest(name, "development", model, new RoutingTable("1.0.0", Backend: "upstream",
            Upstreams: new Dictionary<string, UpstreamBackend>
            {
                ["1.0.0"] = new(upstream.BaseUrl, "stub", "sk-secret", InputPricePer1K: pricePer1K, OutputPricePer1K: pricePer1K),
            })));
        return name;
    }

    /// <summary>32 clients, each calling until it is refused with 429 (or 20 times); the statuses they got.</summary>
    private async Task<List<HttpStatusCode>> FloodAsync(string deployment, string key)
    {
        using var client = server.Client(key);
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var workers = Enumerable.Range(0, Clients).Select(async _ =>
        {
            await start.Task;
            var statuses = new List<HttpStatusCode>();
            for (var i = 0; i < 20; i++)
            {
                using var response = await client.PostAsJsonAsync("/v1/chat/completions",
                    new { model = deployment, max_tokens = MaxTokens, messages = new[] { new { role = "user", content = Prompt } } });
                statuses.Add(response.StatusCode);
                if (response.StatusCode == HttpStatusCode.TooManyRequests)
                {
                    break;
                }
            }
            return statuses;
        }).ToList();
        start.SetResult();
        return (await Task.WhenAll(workers)).SelectMany(s => s).ToList();
    }

    [Fact]
    public async Task TokenLimit_Under32ConcurrentClients_LetsThroughAtMostTheLimitPlusOneRequest()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        upstream.Answer = (_, _) => Answer;
        var deployment = await DeployAsync(upstream, pricePer1K: 0);
        var key = await server.Api().CreateKeyAsync(new CreateKeyRequest("tpm", ["viewer"], TokensPerMinute: 100));

        var statuses = await FloodAsync(deployment, key.Key!);

        Assert.DoesNotContain(statuses, s => s is not (HttpStatusCode.OK or HttpStatusCode.TooManyRequests));
        Assert.Contains(HttpStatusCode.OK, statuses);
        var used = upstream.Requests.Count * TokensPerCall;
        Assert.Equal(statuses.Count(s => s == HttpStatusCode.OK), upstream.Requests.Count);
        output.WriteLine($"token limit 100/min, {Clients} clients: {upstream.Requests.Count} calls let through, {used} tokens used, bound {100 - 1 + TokensPerCall}");
        // Bound: limit − 1 + one request's usage (the last one let through, when at least one token was left).
        Assert.True(used <= 100 - 1 + TokensPerCall, $"{upstream.Requests.Count} calls used {used} tokens of a limit of 100 a minute");
    }

    [Fact]
    public async Task CostBudget_Under32ConcurrentClients_SpendsAtMostTheBudgetPlusOneRequest()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        upstream.Answer = (_, _) => Answer;
        const double price = 0.1;
        var deployment = await DeployAsync(upstream, pricePer1K: price);
        const double budget = 0.05;
        var key = await server.Api().CreateKeyAsync(new CreateKeyRequest("budget", ["viewer"], CostBudget: budget));

        var statuses = await FloodAsync(deployment, key.Key!);

        Assert.DoesNotContain(statuses, s => s is not (HttpStatusCode.OK or HttpStatusCode.TooManyRequests));
        var costPerCall = TokensPerCall / 1000.0 * price;
        var spent = upstream.Requests.Count * costPerCall;
        output.WriteLine($"budget {budget}, {Clients} clients: {upstream.Requests.Count} calls let through, spent {spent:0.#####}, bound {budget + costPerCall:0.#####}");
        // Bound: the budget plus one request's cost (the last one let through, while something was left).
        Assert.True(spent < budget + costPerCall + 1e-9, $"{upstream.Requests.Count} calls spent {spent} of a budget of {budget}");
        Assert.True(spent >= budget, $"the budget is used up: {spent}");
    }
}
