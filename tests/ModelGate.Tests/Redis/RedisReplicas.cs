using Microsoft.Extensions.DependencyInjection;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.RegularExpressions;
using ModelGate.Client;
using ModelGate.Redis;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Redis;

/// <summary>One replica of <see cref="RedisReplicas"/>: a role on the shared data directory, with Redis configured.</summary>
public sealed class RedisReplica : SqliteServerFixture
{
    private readonly Func<IEnumerable<string>> _arguments;

    public RedisReplica(string role, string dataDirectory, Func<IEnumerable<string>> arguments)
    {
        Role = role;
        DataDirectory = dataDirectory;
        _arguments = arguments;
    }

    public string Role { get; }

    protected override Task<IEnumerable<string>> ExtraArgumentsAsync() =>
        Task.FromResult<IEnumerable<string>>([$"--Server:Role={Role}", .. _arguments()]);

    /// <summary>True while this replica's Redis connection is up.</summary>
    public bool RedisConnected => App.Services.GetRequiredService<RedisConnection>().Multiplexer?.IsConnected == true;

    /// <summary><c>modelgate_redis_failures_total</c> for <paramref name="operation"/>, as /metrics exports it.</summary>
    public async Task<long> RedisFailuresAsync(string operation)
    {
        var text = await Client().GetStringAsync("/metrics");
        var match = Regex.Match(text, $"^modelgate_redis_failures_total\\{{operation=\"{operation}\"\\}} (\\d+)$", RegexOptions.Multiline);
        Assert.True(match.Success, $"/metrics has no modelgate_redis_failures_total for {operation}:\n{text}");
        return long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
    }
}

/// <summary>
/// DESIGN.md's scale topology sharing one Redis: a control process and a gateway replica on one SQLite store, both serving
/// the data plane, with the key cache and the routing poll set to an hour, so that only a push explains a change that
/// arrives at once. The control process (first) creates the store.
/// </summary>
public abstract class RedisReplicas : IAsyncLifetime
{
    protected RedisReplicas(string failureMode)
    {
        var shared = Path.Combine(Path.GetTempPath(), "modelgate-tests", Guid.NewGuid().ToString("N"));
        string[] Arguments() =>
        [
            // The client's own command timeout (5 s by default) far off: only Redis:Timeout bounds a request's wait.
            $"--Redis:Configuration={Redis.Configuration},asyncTimeout=60000",
            $"--Redis:FailureMode={failureMode}",
            "--Security:KeyCacheDuration=01:00:00",
            "--Gateway:RoutingPollInterval=01:00:00",
        ];
        Control = new RedisReplica("control", shared, Arguments);
        Gateway = new RedisReplica("gateway", shared, Arguments);
    }

    public RedisServer Redis { get; } = new();

    public RedisReplica Control { get; }

    public RedisReplica Gateway { get; }

    public IReadOnlyList<RedisReplica> Both => [Control, Gateway];

    public void SkipIfUnavailable() => Redis.SkipIfUnavailable();

    public async ValueTask InitializeAsync()
    {
        await Redis.InitializeAsync();
        if (Redis.SkipReason is not null)
        {
            return;
        }
        await Control.InitializeAsync();
        await Gateway.InitializeAsync();
        await UntilAsync(() => Task.FromResult(Control.RedisConnected && Gateway.RedisConnected), "both replicas connect to Redis");
        await UntilSubscribedAsync();
    }

    /// <summary>Waits until both replicas listen on both channels (Redis counts the subscribers).</summary>
    private async Task UntilSubscribedAsync()
    {
        await using var probe = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(Redis.Configuration);
        var connection = Control.App.Services.GetRequiredService<RedisConnection>();
        await UntilAsync(async () =>
            await probe.GetServers()[0].SubscriptionSubscriberCountAsync(connection.Channel(ClusterPush.KeysChannel)) == 2
            && await probe.GetServers()[0].SubscriptionSubscriberCountAsync(connection.Channel(ClusterPush.RoutingChannel)) == 2,
            "both replicas subscribe to the keys and routing channels");
    }

    public async ValueTask DisposeAsync()
    {
        if (Redis.SkipReason is null)
        {
            await Gateway.DisposeAsync();
            await Control.DisposeAsync();
        }
        await Redis.DisposeAsync();
    }

    /// <summary>Restarts Redis (empty) and waits until both replicas are connected again.</summary>
    public async Task RestartRedisAsync()
    {
        await Redis.StartAsync();
        await UntilAsync(() => Task.FromResult(Control.RedisConnected && Gateway.RedisConnected), "both replicas reconnect to Redis");
        await UntilSubscribedAsync();
    }

    /// <summary>A deployment on a stand-in chat upstream (two versions, 1.0.0 stable), priced per 1K tokens.</summary>
    public async Task<string> DeployAsync(StubChatUpstream upstream, double pricePer1K = 0)
    {
        var model = ServerFixture.UniqueName("shared");
        var api = Control.Api();
        await api.CreateModelAsync(new CreateModelRequest(model, "assistants", "medium", "llm-chat"));
        var config = await Control.UploadAsync(Encoding.UTF8.GetBytes($"serving config {model}"));
        foreach (var version in (string[])["1.0.0", "1.1.0"])
        {
            await api.CreateVersionAsync(model, new CreateVersionRequest(version, [new ArtifactRef(config, "serving.json")],
                Fixtures.Attestation() with { Architecture = "upstream", PromptTemplate = new PromptTemplate($"You are assistant {version}.") }));
        }
        var name = ServerFixture.UniqueName("shared");
        var backend = new UpstreamBackend(upstream.BaseUrl, "stub", "sk-secret", InputPricePer1K: pricePer1K, OutputPricePer1K: pricePer1K);
        await api.CreateDeploymentAsync(new CreateDeploymentRequest(name, "development", model, new RoutingTable("1.0.0", Backend: "upstream",
            Upstreams: new Dictionary<string, UpstreamBackend> { ["1.0.0"] = backend, ["1.1.0"] = backend })));
        // The gateway's routing poll is an hour away: the deployment reaches it by the push that its creation published.
        await UntilAsync(async () => (await ChatAsync(Gateway, ServerFixture.AdminKey, name)).StatusCode == System.Net.HttpStatusCode.OK,
            $"the gateway routes '{name}'");
        return name;
    }

    public static Task<HttpResponseMessage> ChatAsync(RedisReplica replica, string key, string deployment, int maxTokens = 50) =>
        replica.Client(key).PostAsJsonAsync("/v1/chat/completions",
            new { model = deployment, max_tokens = maxTokens, messages = new[] { new { role = "user", content = "hello" } } });

    /// <summary>Polls <paramref name="condition"/> (a fact, not a time) for up to a minute.</summary>
    public static Task UntilAsync(Func<Task<bool>> condition, string what) =>
        Hosting.ProcessCluster.WaitForAsync(condition, TimeSpan.FromMinutes(1), what);
}

public sealed class OpenRedisReplicas() : RedisReplicas(FailureModes.Open);

public sealed class ClosedRedisReplicas() : RedisReplicas(FailureModes.Closed);
