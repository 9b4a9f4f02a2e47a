using System.Net;
using System.Net.Http.Json;
using System.Text;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Lifecycle;

/// <summary>Retiring a version with a replacement on an upstream (LLM) deployment (issue 17, routing bug B).</summary>
public abstract class RetirementRoutingTests(ServerFixture fixture) : ProviderTests(fixture)
{
    private async Task<string> DeployAsync(string model, Dictionary<string, UpstreamBackend> upstreams)
    {
        var name = ServerFixture.UniqueName("retiring");
        await Server.Api().CreateDeploymentAsync(new CreateDeploymentRequest(name, "development", model,
            new RoutingTable("1.0.0", Backend: "upstream", Upstreams: upstreams)));
        return name;
    }

    private async Task<HttpResponseMessage> ChatAsync(string deployment) =>
        await Server.Client().PostAsJsonAsync("/v1/chat/completions", new { model = deployment, messages = new[] { new { role = "user", content = "hi" } } });

    [Fact]
    public async Task RetireWithReplacement_UpstreamDeployment_RoutesTheReplacementWithItsOwnUpstream()
    {
        await using var a = await StubChatUpstream.StartAsync();
        await using var b = await StubChatUpstream.StartAsync();
        var api = Server.Api();
        var model = await UpstreamModels.RegisterAsync(Server, "retiring");
        var deployment = await DeployAsync(model, new()
        {
            ["1.0.0"] = new(a.BaseUrl, "m", Retries: 0),
            ["1.1.0"] = new(b.BaseUrl, "m", "sk-b", Retries: 0),
        });
        using (var before = await ChatAsync(deployment))
        {
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        }

        await api.TransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Retired, "replaced", RetirementTriggers.Replaced, "1.1.0"));

        var routing = (await api.GetDeploymentAsync(deployment)).Routing;
        Assert.Equal("1.1.0", routing.Stable);
        Assert.Equal(b.BaseUrl, routing.Upstreams!["1.1.0"].Url);
        Assert.False(routing.Upstreams.ContainsKey("1.0.0"));
        for (var i = 0; i < 3; i++)
        {
            using var chat = await ChatAsync(deployment);
            Assert.True(chat.StatusCode == HttpStatusCode.OK, await chat.Content.ReadAsStringAsync());
            Assert.Equal("1.1.0", chat.Headers.GetValues("x-modelgate-version").Single());
        }
        Assert.Equal(3, b.Requests.Count);
        Assert.All(b.Authorizations, h => Assert.Equal("Bearer sk-b", h));
    }

    [Fact]
    public async Task RetireWithReplacement_ReplacementHasNoUpstream_IsRefusedByTheGate_AndTrafficKeepsFlowing()
    {
        await using var a = await StubChatUpstream.StartAsync();
        var api = Server.Api();
        var model = await UpstreamModels.RegisterAsync(Server, "retiring");
        var deployment = await DeployAsync(model, new() { ["1.0.0"] = new(a.BaseUrl, "m", Retries: 0) });
        var revision = (await api.GetDeploymentAsync(deployment)).Revision;

        var request = new TransitionRequest(Stages.Retired, "replaced", RetirementTriggers.Replaced, "1.1.0");
        var dry = await api.DryRunTransitionAsync(model, "1.0.0", request);
        Assert.False(dry.Passed);
        var refused = await Assert.ThrowsAsync<ModelGateApiException>(() => api.TransitionAsync(model, "1.0.0", request));
        Assert.Equal("gate_refused", refused.Code);
        var check = Assert.Single(refused.Problem!.Checks!);
        Assert.Equal("replacement_routing", check.Check);
        Assert.Contains(deployment, check.Actual);
        Assert.Contains("routing.upstreams.1.1.0", check.Actual);

        Assert.Equal(Stages.Trained, (await api.GetVersionAsync(model, "1.0.0")).Stage);
        Assert.Equal(revision, (await api.GetDeploymentAsync(deployment)).Revision);
        using var chat = await ChatAsync(deployment);
        Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
        Assert.Equal("1.0.0", chat.Headers.GetValues("x-modelgate-version").Single());
    }
    [Fact]
    public async Task RetireWithReplacement_UnderTrafficFromTheOpenAiSdk_EveryRequestIsAnswered_AndTheArchiveHoldsTheRetiredVersionsRequests()
    {
        await using var a = await StubChatUpstream.StartAsync();
        await using var b = await StubChatUpstream.StartAsync();
        a.Answer = (_, _) => "from a";
        b.Answer = (_, _) => "from b";
        var api = Server.Api();
        var model = await UpstreamModels.RegisterAsync(Server, "retiring");
        var deployment = await DeployAsync(model, new() { ["1.0.0"] = new(a.BaseUrl, "m"), ["1.1.0"] = new(b.BaseUrl, "m") });
        var chat = new OpenAI.OpenAIClient(new System.ClientModel.ApiKeyCredential(ServerFixture.AdminKey), new OpenAI.OpenAIClientOptions
        {
            Endpoint = new Uri("http://localhost/v1"),
            Transport = new System.ClientModel.Primitives.HttpClientPipelineTransport(new HttpClient(Server.Handler())),
        }).GetChatClient(deployment);

        // Two clients keep asking while the version is retired; they stop once 1.1.0 has answered each of them three times.
        var answers = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var retiredAt = new TaskCompletionSource();
        async Task ClientAsync()
        {
            var afterRetirement = 0;
            while (afterRetirement < 3)
            {
                try
                {
                    OpenAI.Chat.ChatCompletion completion = await chat.CompleteChatAsync([new OpenAI.Chat.UserChatMessage("hi")]);
                    answers.Enqueue(completion.Content[0].Text);
                }
                catch (System.ClientModel.ClientResultException e)
                {
                    failures.Enqueue($"{e.Status}: {e.Message}");
                }
                if (retiredAt.Task.IsCompleted)
                {
                    afterRetirement++;
                }
            }
        }
        var clients = new[] { Task.Run(ClientAsync), Task.Run(ClientAsync) };
        await a.Received.WaitForAsync(4); // traffic is flowing to 1.0.0
        var retired = await api.TransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Retired, "replaced", RetirementTriggers.Replaced, "1.1.0"));
        retiredAt.SetResult();
        await Task.WhenAll(clients);

        Assert.Empty(failures);
        Assert.Contains("from a", answers);
        Assert.Contains("from b", answers);
        Assert.Equal("1.1.0", (await api.GetDeploymentAsync(deployment)).Routing.Stable);

        // The archive holds the requests 1.0.0 answered before its retirement (the request log is flushed first).
        using var archive = new MemoryStream();
        await api.PullArtifactAsync(retired.ArchiveSha256!, archive);
        var logs = Encoding.UTF8.GetString(ArchiveEntry(archive.ToArray(), "request-logs.jsonl"));
        var archived = logs.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement).ToList();
        Assert.True(archived.Count >= 4, $"{archived.Count} records archived");
        Assert.All(archived, r => Assert.Equal("1.0.0", r.GetProperty("version").GetString()));
    }

    /// <summary>One entry of a retirement archive (a gzipped tar).</summary>
    private static byte[] ArchiveEntry(byte[] archive, string path)
    {
        using var gzip = new System.IO.Compression.GZipStream(new MemoryStream(archive), System.IO.Compression.CompressionMode.Decompress);
        using var tar = new System.Formats.Tar.TarReader(gzip);
        while (tar.GetNextEntry() is { } entry)
        {
            if (entry.Name == path && entry.DataStream is { } data)
            {
                using var copy = new MemoryStream();
                data.CopyTo(copy);
                return copy.ToArray();
            }
        }
        throw new InvalidOperationException($"{path} is not in the archive");
    }
}

public sealed class RetirementRoutingTests_Sqlite(SqliteServerFixture fixture) : RetirementRoutingTests(fixture), IClassFixture<SqliteServerFixture>;

public sealed class RetirementRoutingTests_Postgres(PostgresServerFixture fixture) : RetirementRoutingTests(fixture), IClassFixture<PostgresServerFixture>;
