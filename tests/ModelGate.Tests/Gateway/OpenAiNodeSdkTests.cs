using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Gateway;

/// <summary>
/// JS clients, pinned in <c>tests/node/package.json</c>, unchanged, against the real binary: the official <c>openai</c> package
/// (chat plain and streamed, embeddings, an error, the Responses API plain and streamed), the Vercel AI SDK (<c>ai</c> with
/// <c>@ai-sdk/openai-compatible</c>: text, a stream, a tool call) and LangChain JS (<c>ChatOpenAI</c>: invoke and stream). Each
/// checks what the client got back, and the request log (read once the server has stopped, which flushes it) what was accounted.
/// Needs Node and <c>npm ci</c> in <c>tests/node</c> (which <c>.ci/run</c> does); without them the tests are skipped, except under CI.
/// </summary>
public sealed class OpenAiNodeSdkTests : IDisposable
{
    private const double InputPrice = 1, OutputPrice = 2;
    private readonly string _data = Directory.CreateTempSubdirectory("modelgate-node-").FullName;

    public void Dispose() => Directory.Delete(_data, recursive: true);

    private static string NodeDirectory => typeof(OpenAiNodeSdkTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "NodeSdkDirectory").Value!;

    private static void SkipWithoutPackages(params string[] packages)
    {
        foreach (var package in packages)
        {
            if (!File.Exists(Path.Combine(NodeDirectory, "node_modules", package, "package.json")))
            {
                var reason = $"the {package} npm package is not installed: run 'npm ci' in {NodeDirectory}";
                Assert.False(PostgresServerFixture.Required, reason);
                Assert.Skip(reason);
            }
        }
    }

    /// <summary>A model <paramref name="name"/> with version 1.0.0 (with <paramref name="prompt"/>), deployed as <c>NAME-dev</c> on <paramref name="upstream"/>.</summary>
    private static async Task<string> DeployAsync(ModelGateClient api, string name, StubChatUpstream upstream, PromptTemplate? prompt, CancellationToken ct)
    {
        await api.CreateModelAsync(new CreateModelRequest(name, "apps", "low", "llm-chat"), ct);
        var config = Encoding.UTF8.GetBytes($"serving config for {name}");
        var sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(config));
        await api.PushArtifactAsync(new MemoryStream(config), sha, ct: ct);
        await api.CreateVersionAsync(name, new CreateVersionRequest("1.0.0", [new ArtifactRef(sha, "serving.json")],
            Fixtures.Attestation() with { Architecture = "upstream", PromptTemplate = prompt }), ct);
        var deployment = name + "-dev";
        await api.CreateDeploymentAsync(new CreateDeploymentRequest(deployment, "development", name, new RoutingTable("1.0.0", Backend: "upstream",
            Upstreams: new Dictionary<string, UpstreamBackend>
            {
                ["1.0.0"] = new(upstream.BaseUrl, "stub-model", "sk-upstream", InputPricePer1K: InputPrice, OutputPricePer1K: OutputPrice),
            })), ct);
        return deployment;
    }

    [Fact(Timeout = 180_000)]
    public async Task NodeSdk_ChatPlainAndStreaming_AndEmbeddings_AndResponses_WorkUnchanged()
    {
        var ct = TestContext.Current.CancellationToken;
        SkipWithoutPackages("openai");
        await using var upstream = await StubChatUpstream.StartAsync();
        upstream.Answer = (system, user) => $"[{system}] you said {user}";
        var server = await ServerProcess.StartAsync(_data);
        await using var stopped = server;
        var api = ModelGateClient.Create(server.BaseAddress, server.AdminKey!);
        var deployment = await DeployAsync(api, "assistant", upstream, new PromptTemplate("Be brief."), ct);
        var dataPlaneKey = await api.CreateKeyAsync(new CreateKeyRequest("node-app", ["viewer"], Deployments: [deployment]), ct);

        var root = await RunNodeAsync("sdk-check.mjs", server.BaseAddress + "v1", dataPlaneKey.Key!, deployment, ct);
        Assert.Equal("[Be brief.] you said hello from node", root.GetProperty("plain").GetProperty("content").GetString());
        Assert.Equal("hello from node".Length / 4, root.GetProperty("plain").GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        var deltas = root.GetProperty("stream").GetProperty("deltas").EnumerateArray().Select(d => d.GetString()).ToList();
        Assert.True(deltas.Count > 3, "the stream arrived in several deltas");
        Assert.Equal("[Be brief.] you said stream from node", root.GetProperty("stream").GetProperty("content").GetString());
        Assert.Equal(deltas.Count, root.GetProperty("stream").GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal([6f, 2f], root.GetProperty("embedding").EnumerateArray().Select(e => e.GetSingle())); // "vowels": 6 letters, 2 vowels
        var refused = root.GetProperty("refused");
        Assert.Equal(403, refused.GetProperty("status").GetInt32()); // the key is scoped to assistant-dev
        Assert.Equal("PermissionDeniedError", refused.GetProperty("name").GetString());
        // The SDK reads the problem's OpenAI-shaped `error` member: our detail becomes its message, our code its code.
        Assert.Equal("403 this key may not call deployment 'no-such-deployment'", refused.GetProperty("message").GetString());
        Assert.Equal("forbidden", refused.GetProperty("code").GetString());
        Assert.Equal("permission_error", refused.GetProperty("type").GetString());
        Assert.Equal("1.0.0", root.GetProperty("headers").GetProperty("version").GetString());
        Assert.Equal("stable", root.GetProperty("headers").GetProperty("route").GetString());
        Assert.Equal("sk-upstream", upstream.Authorizations.Last()?.Replace("Bearer ", "", StringComparison.Ordinal));

        // The Responses API: the SDK's output_text and usage (input/output tokens); in a stream, the deltas and response.completed.
        // The client's instructions stay; the version's system prompt leads the input (the stand-in answers to instructions first).
        var responses = root.GetProperty("responses");
        const string answered = "[Answer plainly.] you said respond from node", streamedAnswer = "[Be brief.] you said respond in a stream";
        Assert.Equal(answered, responses.GetProperty("plain").GetProperty("text").GetString());
        Assert.Equal("respond from node".Length / 4, responses.GetProperty("plain").GetProperty("usage").GetProperty("input_tokens").GetInt32());
        Assert.Equal(answered.Length / 4, responses.GetProperty("plain").GetProperty("usage").GetProperty("output_tokens").GetInt32());
        Assert.True(responses.GetProperty("stream").GetProperty("deltas").GetArrayLength() > 3, "the response stream arrived in several deltas");
        Assert.Equal(streamedAnswer, responses.GetProperty("stream").GetProperty("text").GetString());
        Assert.Equal("completed", responses.GetProperty("stream").GetProperty("status").GetString());
        Assert.Equal(8, responses.GetProperty("stream").GetProperty("usage").GetProperty("output_tokens").GetInt32());
        var sentResponse = upstream.Requests.Single(r => r["input"] is JsonArray { Count: 2 } items && (string?)items[1]!["content"] == "respond from node");
        Assert.Equal("stub-model", (string?)sentResponse["model"]);
        Assert.Equal("Be brief.", (string?)sentResponse["input"]![0]!["content"]);

        var rows = await StopAndReadLogAsync(server, ct);
        // Each call the key made, with the usage the stand-in reported (plain: a quarter of the characters; streamed: 3 and a
        // token per word), priced at 1 and 2 per 1K tokens.
        Expect(rows, deployment, [
            ("hello from node".Length / 4, "[Be brief.] you said hello from node".Length / 4),
            (3, 7),
            (1, 0), // the embedding: prompt_tokens 1, total_tokens 1
            ("headers".Length / 4, "[Be brief.] you said headers".Length / 4),
            ("respond from node".Length / 4, answered.Length / 4),
            (3, 8),
        ]);
        Assert.Contains(rows, r => r.Deployment == "no-such-deployment" && r.Status == 403);
    }

    [Fact(Timeout = 180_000)]
    public async Task NodeClients_VercelAiSdkAndLangChain_WorkUnchanged_AndAreAccounted()
    {
        var ct = TestContext.Current.CancellationToken;
        SkipWithoutPackages("ai", "@ai-sdk/openai-compatible", "@langchain/openai", "@langchain/core");
        await using var upstream = await StubChatUpstream.StartAsync();
        upstream.Answer = (_, user) => $"you said {user}";
        // A request offering tools is answered with a call of the first one (and its usage), as a model deciding to call it would.
        upstream.RawAnswer = body => body["tools"] is JsonArray { Count: > 0 } tools
            ? new JsonObject
            {
                ["id"] = "chatcmpl-tool", ["object"] = "chat.completion", ["created"] = 1, ["model"] = (string?)body["model"],
                ["choices"] = new JsonArray(new JsonObject
                {
                    ["index"] = 0, ["finish_reason"] = "tool_calls",
                    ["message"] = new JsonObject
                    {
                        ["role"] = "assistant", ["content"] = null,
                        ["tool_calls"] = new JsonArray(new JsonObject
                        {
                            ["id"] = "call_1", ["type"] = "function",
                            ["function"] = new JsonObject { ["name"] = (string?)tools[0]!["function"]!["name"], ["arguments"] = """{"city":"Paris"}""" },
                        }),
                    },
                }),
                ["usage"] = new JsonObject { ["prompt_tokens"] = 20, ["completion_tokens"] = 9, ["total_tokens"] = 29 },
            }.ToJsonString()
            : null;
        var server = await ServerProcess.StartAsync(_data);
        await using var stopped = server;
        var api = ModelGateClient.Create(server.BaseAddress, server.AdminKey!);
        var vercel = await DeployAsync(api, "vercel", upstream, null, ct);
        var langchain = await DeployAsync(api, "langchain", upstream, null, ct);
        var key = (await api.CreateKeyAsync(new CreateKeyRequest("js-apps", ["viewer"], Deployments: [vercel, langchain]), ct)).Key!;

        var ai = await RunNodeAsync("vercel-check.mjs", server.BaseAddress + "v1", key, vercel, ct);
        Assert.Equal("you said hello from vercel", ai.GetProperty("plain").GetProperty("text").GetString());
        Assert.Equal("hello from vercel".Length / 4, ai.GetProperty("plain").GetProperty("usage").GetProperty("inputTokens").GetInt32());
        Assert.Equal("you said hello from vercel".Length / 4, ai.GetProperty("plain").GetProperty("usage").GetProperty("outputTokens").GetInt32());
        Assert.True(ai.GetProperty("stream").GetProperty("deltas").GetArrayLength() > 3, "the stream arrived in several deltas");
        Assert.Equal("you said stream from vercel", ai.GetProperty("stream").GetProperty("text").GetString());
        Assert.Equal(5, ai.GetProperty("stream").GetProperty("usage").GetProperty("outputTokens").GetInt32());
        var call = Assert.Single(ai.GetProperty("tool").GetProperty("calls").EnumerateArray());
        Assert.Equal("get_weather", call.GetProperty("name").GetString());
        Assert.Equal("Paris", call.GetProperty("input").GetProperty("city").GetString());
        Assert.Equal("tool-calls", ai.GetProperty("tool").GetProperty("finishReason").GetString());
        Assert.Equal(20, ai.GetProperty("tool").GetProperty("usage").GetProperty("inputTokens").GetInt32());
        var offered = upstream.Requests.Single(r => r["tools"] is not null);
        Assert.Equal("get_weather", (string?)offered["tools"]![0]!["function"]!["name"]);
        Assert.Equal("stub-model", (string?)offered["model"]);

        var lc = await RunNodeAsync("langchain-check.mjs", server.BaseAddress + "v1", key, langchain, ct);
        Assert.Equal("you said hello from langchain", lc.GetProperty("plain").GetProperty("content").GetString());
        Assert.Equal("hello from langchain".Length / 4, lc.GetProperty("plain").GetProperty("usage").GetProperty("input_tokens").GetInt32());
        Assert.Equal("you said hello from langchain".Length / 4, lc.GetProperty("plain").GetProperty("usage").GetProperty("output_tokens").GetInt32());
        Assert.True(lc.GetProperty("stream").GetProperty("deltas").GetArrayLength() > 3, "the stream arrived in several deltas");
        Assert.Equal("you said stream from langchain", lc.GetProperty("stream").GetProperty("content").GetString());
        Assert.Equal(5, lc.GetProperty("stream").GetProperty("usage").GetProperty("output_tokens").GetInt32());

        var rows = await StopAndReadLogAsync(server, ct);
        Expect(rows, vercel, [("hello from vercel".Length / 4, "you said hello from vercel".Length / 4), (3, 5), (20, 9)]);
        Expect(rows, langchain, [("hello from langchain".Length / 4, "you said hello from langchain".Length / 4), (3, 5)]);
    }

    private sealed record LogRow(string Deployment, string? Version, string? Route, int Status, long? PromptTokens, long? CompletionTokens, double? Cost,
        string? UsageSource);

    /// <summary>The deployment's records: one answered by 1.0.0 (stable) per call, each with its tokens from the upstream and their cost.</summary>
    private static void Expect(List<LogRow> rows, string deployment, (long Prompt, long Completion)[] calls)
    {
        var own = rows.Where(r => r.Deployment == deployment).ToList();
        Assert.Equal(calls.Length, own.Count);
        Assert.All(own, r =>
        {
            Assert.Equal(200, r.Status);
            Assert.Equal("1.0.0", r.Version);
            Assert.Equal("stable", r.Route);
            Assert.Equal("upstream", r.UsageSource);
        });
        Assert.Equal(calls.Order(), own.Select(r => (r.PromptTokens ?? -1, r.CompletionTokens ?? -1)).Order());
        Assert.All(own, r => Assert.Equal(r.PromptTokens!.Value / 1000.0 * InputPrice + r.CompletionTokens!.Value / 1000.0 * OutputPrice, r.Cost!.Value, 12));
    }

    /// <summary>Stops the server (which flushes its request log) and reads the log from its SQLite database.</summary>
    private async Task<List<LogRow>> StopAndReadLogAsync(ServerProcess server, CancellationToken ct)
    {
        server.Terminate();
        await server.WaitForExitAsync(ct).WaitAsync(TimeSpan.FromSeconds(60), ct);
        Assert.Equal(0, server.ExitCode);
        await using var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(_data, "modelgate.db")};Pooling=False");
        await db.OpenAsync(ct);
        await using var query = db.CreateCommand();
        query.CommandText = "SELECT Deployment, Version, Route, Status, PromptTokens, CompletionTokens, Cost, UsageSource FROM request_logs";
        await using var reader = await query.ExecuteReaderAsync(ct);
        var rows = new List<LogRow>();
        while (await reader.ReadAsync(ct))
        {
            T? Get<T>(int i) => reader.IsDBNull(i) ? default : (T)Convert.ChangeType(reader.GetValue(i), Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T), CultureInfo.InvariantCulture);
            rows.Add(new LogRow(reader.GetString(0), Get<string>(1), Get<string>(2), reader.GetInt32(3), Get<long?>(4), Get<long?>(5), Get<double?>(6), Get<string>(7)));
        }
        return rows;
    }

    private static async Task<JsonElement> RunNodeAsync(string script, string baseUrl, string key, string deployment, CancellationToken ct)
    {
        var start = new ProcessStartInfo("node", script)
        {
            WorkingDirectory = NodeDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["MODELGATE_BASE_URL"] = baseUrl;
        start.Environment["MODELGATE_KEY"] = key;
        start.Environment["MODELGATE_DEPLOYMENT"] = deployment;
        using var node = Process.Start(start)!;
        var stdout = node.StandardOutput.ReadToEndAsync(ct);
        var stderr = node.StandardError.ReadToEndAsync(ct);
        await node.WaitForExitAsync(ct).WaitAsync(TimeSpan.FromSeconds(90), ct);
        Assert.True(node.ExitCode == 0, $"{script}: node exited with {node.ExitCode}:\n{await stderr}\n{await stdout}");
        using var output = JsonDocument.Parse((await stdout).Trim());
        return output.RootElement.Clone();
    }
}
