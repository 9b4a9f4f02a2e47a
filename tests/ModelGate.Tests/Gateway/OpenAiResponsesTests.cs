using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Gateway;

/// <summary>
/// <c>POST /v1/responses</c> (OpenAI's Responses API) forwarded like chat: routing, keys and their scopes, limits, accounting
/// (the Responses API's usage shape, plain and streamed, or counted) and the request log; the version's prompt first in <c>input</c>.
/// </summary>
public abstract class OpenAiResponsesTests(ServerFixture fixture) : ProviderTests(fixture)
{
    private static readonly PromptTemplate Summariser = new("Summarise support tickets.", "Ticket: {{ticket}}", ["ticket"]);

    /// <summary>
    /// A development deployment: 1.0.0 stable at <paramref name="stable"/> (0.5 per 1K input tokens, 1.5 per 1K output), 1.1.0
    /// at <paramref name="candidate"/> (no retries) as a canary at <paramref name="weight"/> %; each version's attestation from
    /// <paramref name="prompt"/>.
    /// </summary>
    private async Task<string> DeployAsync(StubChatUpstream stable, StubChatUpstream? candidate = null, double weight = 0, PromptTemplate? prompt = null,
        double shadowPercent = 0)
    {
        var model = await UpstreamModels.RegisterAsync(Server, "responses", a => a with { PromptTemplate = prompt });
        var name = ServerFixture.UniqueName("responses");
        var upstreams = new Dictionary<string, UpstreamBackend>
        {
            ["1.0.0"] = new(stable.BaseUrl, "stub-large", "sk-stable", InputPricePer1K: 0.5, OutputPricePer1K: 1.5),
            ["1.1.0"] = new((candidate ?? stable).BaseUrl, "stub-small", "sk-candidate", Retries: 0),
        };
        await Server.Api().CreateDeploymentAsync(new CreateDeploymentRequest(name, "development", model, shadowPercent > 0
            ? new RoutingTable("1.0.0", Backend: "upstream", Upstreams: upstreams, Shadow: new ShadowRoute("1.1.0", shadowPercent))
            : new RoutingTable("1.0.0", [new CandidateRoute("1.1.0", weight)], Backend: "upstream", Upstreams: upstreams)));
        return name;
    }

    private Task<HttpResponseMessage> PostAsync(object body, string? key = ServerFixture.AdminKey) =>
        Server.Client(key).PostAsJsonAsync("/v1/responses", body);

    private async Task<List<ModelGate.Storage.Gateway.RequestLogEntity>> LogAsync(string deployment, int count)
    {
        await Server.FlushRequestLogAsync();
        var rows = await Server.WithDbAsync(db => Task.FromResult(db.RequestLogs.Where(r => r.Deployment == deployment).ToList()));
        Assert.Equal(count, rows.Count);
        return rows;
    }

    /// <summary>The text of a streamed answer: its <c>response.output_text.delta</c> events' deltas.</summary>
    private static string StreamedText(string events) => string.Concat(events.Split('\n')
        .Where(l => l.StartsWith("data: ", StringComparison.Ordinal))
        .Select(l => JsonNode.Parse(l[6..])!.AsObject())
        .Where(e => (string?)e["type"] == "response.output_text.delta")
        .Select(e => (string?)e["delta"]));

    [Fact]
    public async Task Responses_PlainAndStreamed_AreForwardedWithTheUpstreamModel_AndAccountedFromTheirUsage()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        upstream.Answer = (_, user) => $"you said {user}";
        var deployment = await DeployAsync(upstream);

        using (var plain = await PostAsync(new { model = deployment, input = "hello there friend", instructions = "Be kind.", store = false }))
        {
            Assert.Equal(HttpStatusCode.OK, plain.StatusCode);
            Assert.Equal("1.0.0", plain.Headers.GetValues("x-modelgate-version").Single());
            var body = (await plain.Content.ReadFromJsonAsync<JsonObject>())!;
            Assert.Equal("you said hello there friend", (string?)body["output"]![0]!["content"]![0]!["text"]);
        }
        var sent = upstream.Requests.Last();
        Assert.Equal("stub-large", (string?)sent["model"]);
        Assert.Equal("hello there friend", (string?)sent["input"]);
        Assert.Equal("Be kind.", (string?)sent["instructions"]);
        Assert.False((bool)sent["store"]!);
        Assert.Equal("Bearer sk-stable", upstream.Authorizations.Last());

        using (var streamed = await PostAsync(new { model = deployment, input = "stream this please", stream = true }))
        {
            Assert.Equal(HttpStatusCode.OK, streamed.StatusCode);
            Assert.StartsWith("text/event-stream", streamed.Content.Headers.ContentType!.ToString());
            Assert.Equal("you said stream this please", StreamedText(await streamed.Content.ReadAsStringAsync()));
        }
        // The Responses API has no stream_options: none is added (an upstream may refuse an unknown member).
        Assert.Null(upstream.Requests.Last()["stream_options"]);
        Assert.Equal(true, (bool?)upstream.Requests.Last()["stream"]);

        // The stand-in reports input_tokens = len(input)/4 and output_tokens = len(answer)/4 when plain; 3 and one per word
        // (in response.completed) when streamed.
        var rows = await LogAsync(deployment, 2);
        Assert.All(rows, r =>
        {
            Assert.Equal(200, r.Status);
            Assert.Equal("1.0.0", r.Version);
            Assert.Equal("stable", r.Route);
            Assert.Equal("openai", r.Protocol);
            Assert.Equal("upstream", r.UsageSource);
        });
        var plainRow = Assert.Single(rows, r => r.PromptTokens == "hello there friend".Length / 4);
        Assert.Equal("you said hello there friend".Length / 4, plainRow.CompletionTokens);
        Assert.Equal(4 / 1000.0 * 0.5 + 6 / 1000.0 * 1.5, plainRow.Cost!.Value, 12);
        var streamedRow = Assert.Single(rows, r => r.PromptTokens == 3);
        Assert.Equal(5, streamedRow.CompletionTokens);
        Assert.Equal(3 / 1000.0 * 0.5 + 5 / 1000.0 * 1.5, streamedRow.Cost!.Value, 12);
    }

    [Fact]
    public async Task Responses_WithoutUpstreamUsage_AreCountedWithTheTokenizer_PlainAndStreamed()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        upstream.ReportsUsage = false;
        upstream.Answer = (_, user) => $"you said {user}";
        var deployment = await DeployAsync(upstream);

        using (var plain = await PostAsync(new { model = deployment, input = "hello world" }))
        {
            Assert.Equal(HttpStatusCode.OK, plain.StatusCode);
        }
        using (var streamed = await PostAsync(new { model = deployment, input = new[] { new { role = "user", content = "hello world" } }, stream = true }))
        {
            Assert.Equal("you said hello world", StreamedText(await streamed.Content.ReadAsStringAsync()));
        }

        // Counted as chat is (o200k_base, OpenAI cookbook framing): the input, a string or one user item, is one user message,
        // 3 + (3 + 1 + 2) = 9; the answer "you said hello world" is 4 tokens.
        var rows = await LogAsync(deployment, 2);
        Assert.All(rows, r =>
        {
            Assert.Equal("tokenizer", r.UsageSource);
            Assert.Equal(9, r.PromptTokens);
            Assert.Equal(4, r.CompletionTokens);
            Assert.Equal(9 / 1000.0 * 0.5 + 4 / 1000.0 * 1.5, r.Cost!.Value, 12);
        });
    }

    [Fact]
    public async Task Responses_WithAFunctionCall_CountTheCallsNameAndArguments_WithoutUpstreamUsage()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        upstream.RawAnswer = _ => """
            {"id":"resp_1","object":"response","status":"completed","model":"m","output":[{"type":"function_call","id":"fc_1","call_id":"call_1","name":"get_weather","arguments":"{\"city\":\"Paris\"}","status":"completed"}]}
            """;
        var deployment = await DeployAsync(upstream);
        using var response = await PostAsync(new
        {
            model = deployment,
            input = "weather in Paris?",
            tools = new[] { new { type = "function", name = "get_weather", parameters = new { type = "object", properties = new { city = new { type = "string" } } } } },
        });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("get_weather", (string?)upstream.Requests.Last()["tools"]![0]!["name"]);
        var row = Assert.Single(await LogAsync(deployment, 1));
        Assert.Equal("tokenizer", row.UsageSource);
        // "get_weather" and {"city":"Paris"} in o200k_base.
        Assert.Equal(ModelGate.Gateway.TokenCounter.Count("get_weather") + ModelGate.Gateway.TokenCounter.Count("{\"city\":\"Paris\"}"), row.CompletionTokens);
        Assert.True(row.CompletionTokens > 0);
    }

    [Fact]
    public async Task Responses_WithAPromptTemplate_PutTheRenderedMessagesFirstInInput_ByteIdenticalToChat()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        upstream.Answer = (system, user) => $"[{system}] {user}";
        var deployment = await DeployAsync(upstream, prompt: Summariser);
        var variables = new Dictionary<string, string> { ["ticket"] = "Écran noir « urgent »" };

        using (var chat = await Server.Client().PostAsJsonAsync("/v1/chat/completions", new { model = deployment, messages = new[] { new { role = "user", content = "and?" } }, prompt_variables = variables }))
        {
            Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
        }
        var chatBody = Encoding.UTF8.GetString(upstream.RawBodies.Last());
        using (var asString = await PostAsync(new { model = deployment, input = "and?", prompt_variables = variables }))
        {
            Assert.Equal(HttpStatusCode.OK, asString.StatusCode);
        }
        var stringBody = Encoding.UTF8.GetString(upstream.RawBodies.Last());
        using (var asItems = await PostAsync(new { model = deployment, input = new[] { new { role = "user", content = "and?" } }, prompt_variables = variables, stream = true }))
        {
            Assert.Equal(HttpStatusCode.OK, asItems.StatusCode);
            Assert.Equal("[Summarise support tickets.] and?", StreamedText(await asItems.Content.ReadAsStringAsync()));
        }
        var itemsBody = Encoding.UTF8.GetString(upstream.RawBodies.Last());
        using (var without = await PostAsync(new { model = deployment, prompt_variables = variables }))
        {
            Assert.Equal(HttpStatusCode.OK, without.StatusCode);
        }
        var withoutBody = Encoding.UTF8.GetString(upstream.RawBodies.Last());

        // The one renderer's bytes, as chat sends them in messages, lead the input: a string input becomes the last user item.
        var clientMessage = """,{"role":"user","content":"and?"}]""";
        var messagesAt = chatBody.IndexOf("\"messages\":[", StringComparison.Ordinal) + "\"messages\":[".Length;
        var rendered = chatBody[messagesAt..chatBody.IndexOf(clientMessage, messagesAt, StringComparison.Ordinal)];
        Assert.StartsWith("""{"role":"system","content":"Summarise support tickets."},{"role":"user","content":"Ticket: """, rendered);
        Assert.Contains("\"input\":[" + rendered + ",{\"role\":\"user\",\"content\":\"and?\"}]", stringBody);
        Assert.Contains("\"input\":[" + rendered + ",{", itemsBody);
        Assert.Contains("\"input\":[" + rendered + "]", withoutBody);
        Assert.All([stringBody, itemsBody, withoutBody], b => Assert.DoesNotContain("prompt_variables", b));

        using var missing = await PostAsync(new { model = deployment, input = "and?" });
        var problem = await ProblemAssert.IsProblem(missing, HttpStatusCode.BadRequest, "invalid_prompt_variables");
        Assert.Contains("ticket", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Responses_FollowTheRouting_FallBackToStable_AndPinning()
    {
        await using var stable = await StubChatUpstream.StartAsync();
        await using var candidate = await StubChatUpstream.StartAsync();
        stable.Answer = (_, _) => "from stable";
        candidate.Answer = (_, _) => "from candidate";
        var deployment = await DeployAsync(stable, candidate, weight: 100);

        async Task<(string Route, string Version, string Body)> Call(string model)
        {
            using var response = await PostAsync(new { model, input = "hi" });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return (response.Headers.GetValues("x-modelgate-route").Single(), response.Headers.GetValues("x-modelgate-version").Single(),
                await response.Content.ReadAsStringAsync());
        }

        var canary = await Call(deployment);
        Assert.Equal(("canary", "1.1.0"), (canary.Route, canary.Version));
        Assert.Contains("from candidate", canary.Body);
        Assert.Equal("stub-small", (string?)candidate.Requests.Last()["model"]);
        var pinned = await Call($"{deployment}@1.0.0");
        Assert.Equal(("pinned", "1.0.0"), (pinned.Route, pinned.Version));
        candidate.Broken = true;
        var fallback = await Call(deployment);
        Assert.Equal(("fallback", "1.0.0"), (fallback.Route, fallback.Version));
        Assert.Contains("from stable", fallback.Body);

        var rows = await LogAsync(deployment, 4);
        Assert.Equal(["canary", "failed_attempt", "fallback", "pinned"], rows.Select(r => r.Route!).Order(StringComparer.Ordinal));
        Assert.Equal("1.1.0", Assert.Single(rows, r => r.Route == "failed_attempt").Version);
    }

    [Fact]
    public async Task Responses_MirroredToAShadow_AreRecordedWithTheShadowsUsage()
    {
        await using var stable = await StubChatUpstream.StartAsync();
        await using var shadow = await StubChatUpstream.StartAsync();
        stable.Answer = (_, _) => "from stable";
        shadow.Answer = (_, _) => "the shadow answers at length";
        var deployment = await DeployAsync(stable, shadow, shadowPercent: 100);
        using (var response = await PostAsync(new { model = deployment, input = "hello there friend", stream = true }))
        {
            Assert.Equal("from stable", StreamedText(await response.Content.ReadAsStringAsync()));
        }
        var rows = await LogAsync(deployment, 2);
        var mirrored = Assert.Single(rows, r => r.Route == "shadow");
        Assert.Equal(("1.1.0", 200), (mirrored.Version, mirrored.Status));
        // The shadow's stream reports 3 input tokens and one output token per word in response.completed.
        Assert.Equal((3L, 5L, "upstream"), (mirrored.PromptTokens!.Value, mirrored.CompletionTokens!.Value, mirrored.UsageSource));
        Assert.Null(shadow.Requests.Single()["stream_options"]);
        Assert.Equal("stub-small", (string?)shadow.Requests.Single()["model"]);
    }

    [Fact]
    public async Task Responses_KeepKeyScopes_AndTokenLimits()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        upstream.Answer = (_, _) => "one two three four";
        var deployment = await DeployAsync(upstream);
        var other = await DeployAsync(upstream);
        var scoped = await Server.Api().CreateKeyAsync(new CreateKeyRequest("scoped", ["viewer"], Deployments: [deployment]));
        using (var refused = await PostAsync(new { model = other, input = "hi" }, scoped.Key))
        {
            await ProblemAssert.IsProblem(refused, HttpStatusCode.Forbidden, "forbidden");
        }
        using (var allowed = await PostAsync(new { model = deployment, input = "hi" }, scoped.Key))
        {
            Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        }

        // The stand-in reports input_tokens = 33/4 = 8 and output_tokens = 18/4 = 4: 12 tokens, past a 10-token minute.
        const string prompt = "hello there my friend how are you";
        var limited = await Server.Api().CreateKeyAsync(new CreateKeyRequest("tpm", ["viewer"], TokensPerMinute: 10));
        using (var first = await PostAsync(new { model = deployment, input = prompt, max_output_tokens = 4 }, limited.Key))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }
        using (var second = await PostAsync(new { model = deployment, input = prompt, max_output_tokens = 4 }, limited.Key))
        {
            await ProblemAssert.IsProblem(second, HttpStatusCode.TooManyRequests, "rate_limited");
        }
        var rows = await LogAsync(deployment, 3);
        Assert.Contains(rows, r => r.KeyId == limited.Id && r.Status == 200 && r.PromptTokens == 8 && r.CompletionTokens == 4);
        Assert.Contains(rows, r => r.KeyId == limited.Id && r.Status == 429);
    }

    [Fact]
    public async Task Responses_OnAnOnnxDeployment_AreRefusedWithWrongProtocol()
    {
        var api = Server.Api();
        var model = ServerFixture.UniqueName("onnx");
        await api.CreateModelAsync(new CreateModelRequest(model, "apps", "low", "classification"));
        var sha = await Server.UploadAsync(Fixtures.ModelBytes("v1-logreg"));
        await api.CreateVersionAsync(model, new CreateVersionRequest("1.0.0", [new ArtifactRef(sha, "v1-logreg.onnx")], Fixtures.Attestation()));
        var deployment = ServerFixture.UniqueName("onnx");
        await api.CreateDeploymentAsync(new CreateDeploymentRequest(deployment, "development", model, new RoutingTable("1.0.0")));

        using var response = await PostAsync(new { model = deployment, input = "hi" });
        var problem = await ProblemAssert.IsProblem(response, HttpStatusCode.BadRequest, "wrong_protocol");
        Assert.Contains($"/v2/models/{deployment}/infer", problem.GetProperty("detail").GetString());
    }
}

public sealed class OpenAiResponsesTests_Sqlite(SqliteServerFixture fixture) : OpenAiResponsesTests(fixture), IClassFixture<SqliteServerFixture>;

public sealed class OpenAiResponsesTests_Postgres(PostgresServerFixture fixture) : OpenAiResponsesTests(fixture), IClassFixture<PostgresServerFixture>;
