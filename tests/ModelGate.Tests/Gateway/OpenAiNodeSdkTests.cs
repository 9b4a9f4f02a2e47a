using System.Diagnostics;
using System.Reflection;
using System.Text;
using System.Text.Json;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Gateway;

/// <summary>
/// The official <c>openai</c> npm package (pinned in <c>tests/node/package.json</c>), unchanged, against the real binary:
/// chat plain and streamed, embeddings, and an error. Needs Node and <c>npm ci</c> in <c>tests/node</c> (which
/// <c>.ci/run</c> does); without them the test is skipped, except under CI.
/// </summary>
public sealed class OpenAiNodeSdkTests : IDisposable
{
    private readonly string _data = Directory.CreateTempSubdirectory("modelgate-node-").FullName;

    public void Dispose() => Directory.Delete(_data, recursive: true);

    private static string NodeDirectory => typeof(OpenAiNodeSdkTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "NodeSdkDirectory").Value!;

    [Fact(Timeout = 180_000)]
    public async Task NodeSdk_ChatPlainAndStreaming_AndEmbeddings_WorkUnchanged()
    {
        var ct = TestContext.Current.CancellationToken;
        if (!File.Exists(Path.Combine(NodeDirectory, "node_modules", "openai", "package.json")))
        {
            var reason = $"the openai npm package is not installed: run 'npm ci' in {NodeDirectory}";
            Assert.False(PostgresServerFixture.Required, reason);
            Assert.Skip(reason);
        }
        await using var upstream = await StubChatUpstream.StartAsync();
        upstream.Answer = (system, user) => $"[{system}] you said {user}";
        await using var server = await ServerProcess.StartAsync(_data);
        var key = server.AdminKey!;
        var api = ModelGateClient.Create(server.BaseAddress, key);
        await api.CreateModelAsync(new CreateModelRequest("assistant", "apps", "low", "llm-chat"), ct);
        var config = Encoding.UTF8.GetBytes("serving config for node");
        var sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(config));
        await api.PushArtifactAsync(new MemoryStream(config), sha, ct: ct);
        await api.CreateVersionAsync("assistant", new CreateVersionRequest("1.0.0", [new ArtifactRef(sha, "serving.json")],
            Fixtures.Attestation() with { Architecture = "upstream", PromptTemplate = new PromptTemplate("Be brief.") }), ct);
        await api.CreateDeploymentAsync(new CreateDeploymentRequest("assistant-dev", "development", "assistant", new RoutingTable("1.0.0", Backend: "upstream",
            Upstreams: new Dictionary<string, UpstreamBackend> { ["1.0.0"] = new(upstream.BaseUrl, "stub-model", "sk-upstream") })), ct);
        var dataPlaneKey = await api.CreateKeyAsync(new CreateKeyRequest("node-app", ["viewer"], Deployments: ["assistant-dev"]), ct);

        var output = await RunNodeAsync(server.BaseAddress + "v1", dataPlaneKey.Key!, "assistant-dev", ct);
        using var result = JsonDocument.Parse(output);
        var root = result.RootElement;
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
    }

    private static async Task<string> RunNodeAsync(string baseUrl, string key, string deployment, CancellationToken ct)
    {
        var start = new ProcessStartInfo("node", "sdk-check.mjs")
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
        Assert.True(node.ExitCode == 0, $"node exited with {node.ExitCode}:\n{await stderr}\n{await stdout}");
        return (await stdout).Trim();
    }
}
