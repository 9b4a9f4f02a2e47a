using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Gateway;

/// <summary>
/// One renderer for a version's prompt: evaluation and the gateway send the upstream the same bytes for the same variables,
/// and the gateway refuses variables that do not fit the template.
/// </summary>
public sealed class PromptRenderingTests(SqliteServerFixture server) : IClassFixture<SqliteServerFixture>
{
    private static readonly PromptTemplate Summariser = new("Tu résumes des tickets de support. Sois \"bref\".",
        "Résume ce ticket :\n{{ticket}}\nNiveau client : {{tier}}", ["ticket", "tier"]);

    private static readonly Dictionary<string, string> Row = new()
    {
        ["ticket"] = "Écran noir après la mise à jour <v2.3> — « urgent » \\ tab\there",
        ["tier"] = "gold",
    };

    private async Task<(string Model, string Deployment)> DeployAsync(StubChatUpstream upstream)
    {
        var api = server.Api();
        var model = ServerFixture.UniqueName("tickets");
        await api.CreateModelAsync(new CreateModelRequest(model, "support", "medium", "llm-chat"));
        await api.CreateVersionAsync(model, new CreateVersionRequest("1.0.0", [], Fixtures.Attestation() with { Architecture = "upstream", PromptTemplate = Summariser }));
        var deployment = ServerFixture.UniqueName("tickets");
        await api.CreateDeploymentAsync(new CreateDeploymentRequest(deployment, "development", model, new RoutingTable("1.0.0", Backend: "upstream",
            Upstreams: new Dictionary<string, UpstreamBackend> { ["1.0.0"] = new(upstream.BaseUrl, "stub-chat") })));
        return (model, deployment);
    }

    /// <summary>The raw bytes of the body's <c>messages</c> value.</summary>
    private static byte[] MessagesOf(byte[] body)
    {
        var reader = new Utf8JsonReader(body);
        reader.Read();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isMessages = reader.ValueTextEquals("messages"u8);
            reader.Read();
            var start = (int)reader.TokenStartIndex;
            reader.Skip();
            if (isMessages)
            {
                return body[start..(int)reader.BytesConsumed];
            }
        }
        throw new InvalidOperationException("no messages in " + Encoding.UTF8.GetString(body));
    }

    [Fact]
    public async Task ForTheSameRow_TheUpstreamReceivesByteIdenticalMessages_FromAnEvaluationAndFromServing()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        upstream.Answer = (_, _) => "Écran noir : à corriger.";
        var (model, deployment) = await DeployAsync(upstream);

        var dataset = await server.UploadAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { id = "t1", variables = Row, reference = "Écran noir : à corriger." })));
        var suite = await server.UploadAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new
        {
            name = "tickets", task = "llm-chat", dataset = new { sha256 = dataset, format = "jsonl" }, bootstrap = new { resamples = 0 },
        })));
        var api = server.Api();
        var started = await api.StartEvaluationAsync(model, "1.0.0", new StartEvaluationRequest(suite, Upstream: new UpstreamTarget(upstream.BaseUrl, "stub-chat")));
        await server.EvaluationFinishedAsync(started.Id);
        Assert.Equal(EvaluationStatuses.Succeeded, (await api.GetEvaluationAsync(model, "1.0.0", started.Id)).Status);
        var evaluated = MessagesOf(Assert.Single(upstream.RawBodies));

        using var served = await server.Client().PostAsJsonAsync("/v1/chat/completions",
            new { model = deployment, messages = Array.Empty<object>(), prompt_variables = Row });
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        var body = upstream.RawBodies.Last();
        Assert.Equal(Encoding.UTF8.GetString(evaluated), Encoding.UTF8.GetString(MessagesOf(body)));
        Assert.Equal(evaluated, MessagesOf(body));

        // What was sent: the system prompt and the rendered template, and no prompt_variables.
        var sent = JsonNode.Parse(body)!.AsObject();
        Assert.False(sent.ContainsKey("prompt_variables"));
        Assert.Equal(Summariser.System, (string?)sent["messages"]![0]!["content"]);
        Assert.Equal($"Résume ce ticket :\n{Row["ticket"]}\nNiveau client : gold", (string?)sent["messages"]![1]!["content"]);
        Assert.Equal("stub-chat", (string?)sent["model"]);
    }

    [Fact]
    public async Task TheClientsOwnMessages_FollowTheRenderedPrompt_AndABodyWithoutMessagesGetsThem()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        var (_, deployment) = await DeployAsync(upstream);

        using var followUp = await server.Client().PostAsJsonAsync("/v1/chat/completions", new
        {
            prompt_variables = Row, model = deployment, temperature = 0.5,
            messages = new[] { new { role = "assistant", content = "Résumé." }, new { role = "user", content = "Plus court." } },
        });
        Assert.Equal(HttpStatusCode.OK, followUp.StatusCode);
        var sent = upstream.Requests.Last();
        Assert.Equal(["system", "user", "assistant", "user"], sent["messages"]!.AsArray().Select(m => (string?)m!["role"]));
        Assert.Equal("Plus court.", (string?)sent["messages"]![3]!["content"]);
        Assert.Equal(0.5, (double)sent["temperature"]!);
        Assert.False(sent.ContainsKey("prompt_variables"));

        using var bare = await server.Client().PostAsJsonAsync("/v1/chat/completions", new { model = deployment, prompt_variables = Row });
        Assert.Equal(HttpStatusCode.OK, bare.StatusCode);
        Assert.Equal(["system", "user"], upstream.Requests.Last()["messages"]!.AsArray().Select(m => (string?)m!["role"]));
    }

    [Fact]
    public async Task MissingUnknownOrMalformedVariables_Are400NamingThem_AndNothingIsForwarded()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        var (_, deployment) = await DeployAsync(upstream);

        using var missing = await server.Client().PostAsJsonAsync("/v1/chat/completions",
            new { model = deployment, messages = Array.Empty<object>(), prompt_variables = new { ticket = "x" } });
        var problem = await ProblemAssert.IsProblem(missing, HttpStatusCode.BadRequest, "invalid_prompt_variables");
        Assert.Contains("needs tier", problem.GetProperty("detail").GetString());
        Assert.Equal(["tier"], problem.GetProperty("missing").EnumerateArray().Select(e => e.GetString()));

        using var none = await server.Client().PostAsJsonAsync("/v1/chat/completions", new { model = deployment, messages = Array.Empty<object>() });
        Assert.Equal(["ticket", "tier"],
            (await ProblemAssert.IsProblem(none, HttpStatusCode.BadRequest, "invalid_prompt_variables")).GetProperty("missing").EnumerateArray().Select(e => e.GetString()));

        using var unknown = await server.Client().PostAsJsonAsync("/v1/chat/completions",
            new { model = deployment, messages = Array.Empty<object>(), prompt_variables = new { ticket = "x", tier = "gold", colour = "blue" } });
        problem = await ProblemAssert.IsProblem(unknown, HttpStatusCode.BadRequest, "invalid_prompt_variables");
        Assert.Equal(["colour"], problem.GetProperty("unknown").EnumerateArray().Select(e => e.GetString()));

        using var notString = await server.Client().PostAsync("/v1/chat/completions", new StringContent(
            $$$"""{"model":"{{{deployment}}}","messages":[],"prompt_variables":{"ticket":"x","tier":3}}""", Encoding.UTF8, "application/json"));
        Assert.Contains("prompt_variables.tier", (await ProblemAssert.IsProblem(notString, HttpStatusCode.BadRequest, "validation_failed")).GetRawText());

        using var notObject = await server.Client().PostAsync("/v1/chat/completions", new StringContent(
            $$"""{"model":"{{deployment}}","messages":[],"prompt_variables":["x"]}""", Encoding.UTF8, "application/json"));
        await ProblemAssert.IsProblem(notObject, HttpStatusCode.BadRequest, "validation_failed");

        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task AVersionWithoutVariables_RefusesPromptVariables_AndServesAsBefore()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        var api = server.Api();
        var model = ServerFixture.UniqueName("plain");
        await api.CreateModelAsync(new CreateModelRequest(model, "support", "medium", "llm-chat"));
        await api.CreateVersionAsync(model, new CreateVersionRequest("1.0.0", [], Fixtures.Attestation() with { Architecture = "upstream", PromptTemplate = new PromptTemplate("Be kind.") }));
        var deployment = ServerFixture.UniqueName("plain");
        await api.CreateDeploymentAsync(new CreateDeploymentRequest(deployment, "development", model, new RoutingTable("1.0.0", Backend: "upstream",
            Upstreams: new Dictionary<string, UpstreamBackend> { ["1.0.0"] = new(upstream.BaseUrl, "stub-chat") })));

        using var refused = await server.Client().PostAsJsonAsync("/v1/chat/completions",
            new { model = deployment, messages = new[] { new { role = "user", content = "hi" } }, prompt_variables = new { x = "1" } });
        await ProblemAssert.IsProblem(refused, HttpStatusCode.BadRequest, "invalid_prompt_variables");
        using var served = await server.Client().PostAsJsonAsync("/v1/chat/completions",
            new { model = deployment, messages = new[] { new { role = "user", content = "hi" } } });
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        Assert.Equal("""[{"role":"system","content":"Be kind."},{"role":"user","content":"hi"}]""", Encoding.UTF8.GetString(MessagesOf(upstream.RawBodies.Last())));
    }
}
