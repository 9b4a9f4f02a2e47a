using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Security;

/// <summary>A server with the egress policy's defaults: no <c>Security:AllowedEgress</c>, so loopback is refused.</summary>
public sealed class NoEgressAllowanceFixture : SqliteServerFixture
{
    protected override IEnumerable<string> EgressArguments => [];
}

/// <summary>Upstreams, evaluation upstreams, rollout hooks and webhooks under the egress policy (issue 15, item 3).</summary>
public sealed class EgressTests(NoEgressAllowanceFixture server) : IClassFixture<NoEgressAllowanceFixture>
{
    private Task<string> RegisterAsync(string architecture = "upstream") => UpstreamModels.RegisterAsync(server, "egress", a =>
        a with { Architecture = architecture, PromptTemplate = new PromptTemplate(null, "Q: {{question}}", ["question"]) });

    private Task<HttpResponseMessage> CreateDeploymentAsync(string model, string name, string url) =>
        server.Client().PostAsJsonAsync("/api/v1/deployments", new CreateDeploymentRequest(name, "development", model,
            new RoutingTable("1.0.0", [new CandidateRoute("1.1.0", 0)], Backend: "upstream", Upstreams: new Dictionary<string, UpstreamBackend>
            {
                ["1.0.0"] = new(url, "m", "sk-secret", Retries: 0),
                ["1.1.0"] = new(url, "m", "sk-secret", Retries: 0),
            })), ModelGateJson.Options);

    [Theory]
    [InlineData("http://127.0.0.1:9/v1", "127.0.0.1")]
    [InlineData("http://2130706433:9/v1", "127.0.0.1")]
    [InlineData("http://0x7f000001:9/v1", "127.0.0.1")]
    [InlineData("http://[::1]:9/v1", "::1")]
    [InlineData("http://10.0.0.5/v1", "10.0.0.5")]
    [InlineData("http://169.254.169.254/latest", "169.254.169.254")]
    [InlineData("http://[::ffff:169.254.169.254]/latest", "169.254.169.254")]
    [InlineData("http://metadata.google.internal/v1", "metadata.google.internal")]
    public async Task CreateDeployment_UpstreamAtARefusedAddress_Is422NamingIt(string url, string address)
    {
        var model = await RegisterAsync();
        var name = ServerFixture.UniqueName("egress");
        var audit = await server.AuditCountAsync();
        using var response = await CreateDeploymentAsync(model, name, url);
        var problem = await ProblemAssert.IsProblem(response, HttpStatusCode.UnprocessableEntity, "egress_denied");
        Assert.Contains(address, problem.GetProperty("detail").GetString());
        Assert.Equal(audit, await server.AuditCountAsync());
        Assert.DoesNotContain(await server.Api().ListDeploymentsAsync(), d => d.Name == name);
    }

    [Fact]
    public async Task SetRouting_UpstreamMovedToARefusedAddress_Is422()
    {
        var model = await RegisterAsync();
        var name = ServerFixture.UniqueName("egress");
        using (var created = await CreateDeploymentAsync(model, name, "https://llm.example.com/v1"))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }
        var table = new RoutingTable("1.0.0", Backend: "upstream", Upstreams: new Dictionary<string, UpstreamBackend>
        {
            ["1.0.0"] = new("http://0177.0.0.1:9/v1", "m", "sk-new"),
        });
        using var response = await server.Client().PutAsJsonAsync($"/api/v1/deployments/{name}/routing", table, ModelGateJson.Options);
        var problem = await ProblemAssert.IsProblem(response, HttpStatusCode.UnprocessableEntity, "egress_denied");
        Assert.Contains("127.0.0.1", problem.GetProperty("detail").GetString());
        Assert.Equal(1, (await server.Api().GetDeploymentAsync(name)).Revision);
    }

    [Fact]
    public async Task Chat_UpstreamNameResolvingToLoopback_Is502EgressDenied_AndNothingReachesIt()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        var model = await RegisterAsync();
        var name = ServerFixture.UniqueName("egress");
        // localhost is a name, so it passes the check when set; it resolves to loopback, which is refused when connecting.
        using (var created = await CreateDeploymentAsync(model, name, upstream.BaseUrl.Replace("127.0.0.1", "localhost")))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }
        using var response = await server.Client().PostAsJsonAsync("/v1/chat/completions",
            new { model = name, messages = new[] { new { role = "user", content = "hi" } }, prompt_variables = new { question = "hi" } });
        await ProblemAssert.IsProblem(response, HttpStatusCode.BadGateway, "egress_denied");
        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task StartRollout_HookAtARefusedAddress_Is422()
    {
        var model = await RegisterAsync();
        var name = ServerFixture.UniqueName("egress");
        using (var created = await CreateDeploymentAsync(model, name, "https://llm.example.com/v1"))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }
        using var response = await server.Client().PostAsJsonAsync($"/api/v1/deployments/{name}/rollouts",
            new StartRolloutRequest("1.1.0", IntervalSeconds: 120, Hooks: new RolloutHooks(Event: "http://169.254.169.254/latest/meta-data/")), ModelGateJson.Options);
        var problem = await ProblemAssert.IsProblem(response, HttpStatusCode.UnprocessableEntity, "egress_denied");
        Assert.Contains("169.254.169.254", problem.GetProperty("detail").GetString());
        Assert.Empty(await server.Api().ListRolloutsAsync(name));
    }

    [Fact]
    public async Task StartEvaluation_UpstreamAtARefusedAddress_Is422()
    {
        var model = await RegisterAsync("upstream-llm");
        var dataset = await server.UploadAsync(Encoding.UTF8.GetBytes("{\"variables\": {\"question\": \"a\"}, \"reference\": \"b\"}\n"));
        var suite = await server.UploadAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { name = "qa", task = "llm-chat", dataset = new { sha256 = dataset, format = "jsonl" } })));
        using var response = await server.Client().PostAsJsonAsync($"/api/v1/models/{model}/versions/1.0.0/evaluations",
            new { suite, upstream = new { url = "http://127.1:9/v1", model = "m", apiKey = "sk-eval" } });
        var problem = await ProblemAssert.IsProblem(response, HttpStatusCode.UnprocessableEntity, "egress_denied");
        Assert.Contains("127.0.0.1", problem.GetProperty("detail").GetString());
        Assert.Empty(await server.Api().ListEvaluationsAsync(model, "1.0.0"));
    }

    [Fact]
    public async Task Start_AlertWebhookAtAMetadataAddress_FailsNamingIt()
    {
        var fixture = new RefusedWebhookFixture();
        try
        {
            var e = await Assert.ThrowsAnyAsync<Exception>(() => fixture.InitializeAsync().AsTask());
            Assert.Contains("169.254.169.254", e.Message);
            Assert.Contains("Alerts:Webhooks:0", e.Message);
        }
        finally
        {
            await fixture.DisposeAsync();
        }
    }

    private sealed class RefusedWebhookFixture : SqliteServerFixture
    {
        protected override Task<IEnumerable<string>> ExtraArgumentsAsync() =>
            Task.FromResult<IEnumerable<string>>(["--Alerts:Webhooks:0=http://169.254.169.254/latest/meta-data/"]);
    }
}

/// <summary>A server without egress allowance whose alert webhook is a receiver on loopback, named <c>localhost</c>.</summary>
public sealed class NoEgressAlertingFixture : SqliteServerFixture
{
    public WebhookReceiver Receiver { get; private set; } = null!;

    protected override IEnumerable<string> EgressArguments => [];

    protected override async Task<IEnumerable<string>> ExtraArgumentsAsync()
    {
        Receiver = await WebhookReceiver.StartAsync();
        return [$"--Alerts:Webhooks:0={Receiver.Url.Replace("127.0.0.1", "localhost", StringComparison.Ordinal)}", "--Alerts:DeliveryRetries=1"];
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await Receiver.DisposeAsync();
    }
}

public sealed class EgressWebhookTests(NoEgressAlertingFixture server) : IClassFixture<NoEgressAlertingFixture>
{
    [Fact]
    public async Task AlertDelivery_WebhookNameResolvingToLoopback_IsRefusedWhenConnecting()
    {
        var alerts = server.App.Services.GetRequiredService<ModelGate.Monitoring.AlertManager>();
        var key = ServerFixture.UniqueName("egress");
        await alerts.RaiseAsync(key, key, AlertKinds.ErrorSpike, "ticket", "egress test", new { }, TestContext.Current.CancellationToken);
        await server.FlushAlertDeliveriesAsync();
        var alert = (await server.Api().ListAlertsAsync(group: key)).Single();
        Assert.Equal("failed", alert!.Delivery);
        Assert.Empty(server.Receiver.Requests);
    }
}
