using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using ModelGate.Client;
using ModelGate.Monitoring;
using ModelGate.Tests.Infrastructure;
using OpenAI;
using OpenAI.Chat;
using System.ClientModel;
using System.ClientModel.Primitives;

namespace ModelGate.Tests.Monitoring;

/// <summary>SLO burn-rate alerts (Google SRE workbook windows) fired and resolved on a fake clock, delivered to a webhook with retries and a signature.</summary>
public sealed class BurnRateAlertTests(AlertingServerFixture server) : IClassFixture<AlertingServerFixture>
{
    private async Task<string> ChatDeploymentAsync(StubChatUpstream upstream)
    {
        var model = ServerFixture.UniqueName("slo");
        var api = server.Api();
        await api.CreateModelAsync(new CreateModelRequest(model, "sre", "low", "llm-chat"));
        var config = await server.UploadAsync(Encoding.UTF8.GetBytes($"serving {model}"));
        await api.CreateVersionAsync(model, new CreateVersionRequest("1.0.0", [new ArtifactRef(config, "serving.json")], Fixtures.Attestation() with { Architecture = "upstream" }));
        var name = ServerFixture.UniqueName("slo");
        await api.CreateDeploymentAsync(new CreateDeploymentRequest(name, "development", model, new RoutingTable("1.0.0", Backend: "upstream",
            Upstreams: new Dictionary<string, UpstreamBackend> { ["1.0.0"] = new(upstream.BaseUrl, "m", "sk", Retries: 0) })));
        return name;
    }

    private async Task SendAsync(string deployment, int count)
    {
        var chat = new OpenAIClient(new ApiKeyCredential(ServerFixture.AdminKey), new OpenAIClientOptions
        {
            Endpoint = new Uri("http://localhost/v1"), Transport = new HttpClientPipelineTransport(new HttpClient(server.Handler())), RetryPolicy = new ClientRetryPolicy(0),
        }).GetChatClient(deployment);
        for (var i = 0; i < count; i++)
        {
            try
            {
                await chat.CompleteChatAsync([new UserChatMessage("ping")]);
            }
            catch (ClientResultException)
            {
                // the broken upstream: a 502 the SLO counts
            }
        }
    }

    private async Task WaitForLogAsync(string deployment, int count)
    {
        await server.FlushRequestLogAsync();
        if (await server.WithDbAsync(db => Task.FromResult(db.RequestLogs.Count(r => r.Deployment == deployment))) < count)
        {
            Assert.Fail($"the request log did not reach {count} records");
        }
    }

    [Fact]
    public async Task BurnRate_PagesOnFastBurn_ResolvesWhenTheShortWindowIsClean_AndDeliversSignedWithRetries()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        var deployment = await ChatDeploymentAsync(upstream);
        var api = server.Api();
        var status = await api.SetSloAsync(deployment, new SloSpec(Availability: 0.99));
        Assert.All(status.Objectives.Single().BurnRates.Values, Assert.Null); // no traffic yet
        await api.SilenceAsync(new SilenceRequest($"slo:{deployment}:availability:medium", "1h", "known noisy during the test"));
        server.Receiver.FailNext(1);

        await SendAsync(deployment, 60);
        upstream.Broken = true;
        await SendAsync(deployment, 40);
        upstream.Broken = false;
        await WaitForLogAsync(deployment, 100);

        var monitors = server.App.Services.GetRequiredService<Monitors>();
        await monitors.EvaluateAsync(CancellationToken.None);
        await monitors.EvaluateAsync(CancellationToken.None);
        // 40 of 100 failed: burn = 0.4 / 0.01 = 40 in every window, so all three rules fire.
        var slo = await api.GetSloAsync(deployment);
        Assert.Equal(40, slo.Objectives.Single().BurnRates["1h"]!.Value, 9);
        Assert.Equal(1 - 0.4 / 0.01, slo.Objectives.Single().BudgetRemaining, 9);
        var firing = (await api.ListAlertsAsync("firing", deployment)).Where(a => a.Kind == AlertKinds.BurnRate).ToDictionary(a => a.Key);
        Assert.Equal(AlertSeverities.Page, firing[$"slo:{deployment}:availability:fast"].Severity);
        Assert.Equal(AlertSeverities.Ticket, firing[$"slo:{deployment}:availability:slow"].Severity);
        Assert.Equal(2, firing[$"slo:{deployment}:availability:fast"].Occurrences); // de-duplicated: one alert, seen twice
        Assert.True(firing[$"slo:{deployment}:availability:medium"].Silenced);
        Assert.Equal(3, firing.Count);

        // Two hours of clean traffic later: the 1 h / 5 min page resolves; the 3 d / 6 h ticket still fires.
        server.Time.Advance(TimeSpan.FromHours(2));
        await SendAsync(deployment, 100);
        await WaitForLogAsync(deployment, 200);
        await monitors.EvaluateAsync(CancellationToken.None);
        var after = (await api.ListAlertsAsync(group: deployment)).ToDictionary(a => a.Key);
        Assert.Equal("resolved", after[$"slo:{deployment}:availability:fast"].Status);
        Assert.Equal("resolved", after[$"slo:{deployment}:availability:medium"].Status);
        Assert.Equal("firing", after[$"slo:{deployment}:availability:slow"].Status);

        // Delivery: the first attempt met a 503 and was retried; every body is signed; the silenced alert was never sent.
        await server.FlushAlertDeliveriesAsync();
        var fast = (await api.ListAlertsAsync(group: deployment)).Single(a => a.Key == $"slo:{deployment}:availability:fast");
        Assert.Equal("delivered", fast!.Delivery);
        var received = server.Receiver.Requests.ToList();
        Assert.All(received, r => Assert.Equal(AlertManager.Sign(AlertingServerFixture.Secret, r.Body), r.Headers["x-modelgate-signature"]));
        var bodies = received.Select(r => JsonDocument.Parse(r.Body).RootElement).ToList();
        Assert.True(received.Count(r => JsonDocument.Parse(r.Body).RootElement.GetProperty("key").GetString() == $"slo:{deployment}:availability:fast") >= 2);
        Assert.Contains(received, r => r.Headers["x-modelgate-event"] == "alert.resolved");
        Assert.DoesNotContain(bodies, b => b.GetProperty("key").GetString() == $"slo:{deployment}:availability:medium");
    }

    [Fact]
    public async Task ASilenceMadeWhileAnAlertFires_MutesItAtOnce_ItsResolutionIsNotSent_AndAnotherSentOnceItsSilenceEnds()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        var deployment = await ChatDeploymentAsync(upstream);
        var api = server.Api();
        await api.SetSloAsync(deployment, new SloSpec(Availability: 0.99));
        // A second deployment's alert under a silence made before it fires, which ends while it still fires.
        var other = await ChatDeploymentAsync(upstream);
        await api.SetSloAsync(other, new SloSpec(Availability: 0.99));
        await api.SilenceAsync(new SilenceRequest($"slo:{other}:availability:slow", "1h", "maintenance"));
        await SendAsync(deployment, 60);
        await SendAsync(other, 60);
        upstream.Broken = true;
        await SendAsync(deployment, 40);
        await SendAsync(other, 40);
        upstream.Broken = false;
        await WaitForLogAsync(deployment, 100);
        var monitors = server.App.Services.GetRequiredService<Monitors>();
        await monitors.EvaluateAsync(CancellationToken.None);
        var fast = $"slo:{deployment}:availability:fast";
        Assert.False((await api.ListAlertsAsync("firing", deployment)).Single(a => a.Key == fast).Silenced);

        await api.SilenceAsync(new SilenceRequest(fast, "4h", "we know: the upstream is being replaced"));
        Assert.True((await api.ListAlertsAsync("firing", deployment)).Single(a => a.Key == fast).Silenced); // at once, not at its next firing
        Assert.False((await api.ListAlertsAsync("firing", deployment)).Single(a => a.Key == $"slo:{deployment}:availability:slow").Silenced);
        await server.FlushAlertDeliveriesAsync();
        var before = server.Receiver.Requests.Count;

        // Two clean hours: the fast page resolves under its silence (not sent); the other deployment's slow ticket still
        // fires, its silence has ended, and it is sent now.
        server.Time.Advance(TimeSpan.FromHours(2));
        await SendAsync(deployment, 100);
        await SendAsync(other, 100);
        await WaitForLogAsync(deployment, 200);
        await monitors.EvaluateAsync(CancellationToken.None);
        await server.FlushAlertDeliveriesAsync();
        Assert.Equal("resolved", (await api.ListAlertsAsync(group: deployment)).Single(a => a.Key == fast).Status);
        var sent = server.Receiver.Requests.Skip(before).Select(r => (Event: r.Headers["x-modelgate-event"], Key: JsonDocument.Parse(r.Body).RootElement.GetProperty("key").GetString())).ToList();
        Assert.DoesNotContain(sent, r => r.Key == fast);
        var slow = (await api.ListAlertsAsync("firing", other)).Single(a => a.Key == $"slo:{other}:availability:slow");
        Assert.False(slow.Silenced);
        Assert.Contains(sent, r => r.Key == slow.Key && r.Event == "alert.firing");
    }

    [Fact]
    public async Task ErrorSpike_Pages_AndACostPerTokenSpike_RaisesATicket()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        upstream.Answer = (_, user) => "a fairly long answer with several words in it";
        var deployment = await ChatDeploymentAsync(upstream);
        var api = server.Api();
        var monitors = server.App.Services.GetRequiredService<Monitors>();
        // A price table, then a day of normal traffic.
        var routing = (await api.GetDeploymentAsync(deployment)).Routing;
        UpstreamBackend Priced(double input, double output) => routing.Upstreams!["1.0.0"] with { ApiKey = null, InputPricePer1K = input, OutputPricePer1K = output };
        await api.SetRoutingAsync(deployment, routing with { Upstreams = new Dictionary<string, UpstreamBackend> { ["1.0.0"] = Priced(1, 2) } });
        await SendAsync(deployment, 100);
        await WaitForLogAsync(deployment, 100);
        server.Time.Advance(TimeSpan.FromMinutes(30));

        // Errors: 30 % of the next 50 fail, where none did before.
        await SendAsync(deployment, 35);
        upstream.Broken = true;
        await SendAsync(deployment, 15);
        upstream.Broken = false;
        await WaitForLogAsync(deployment, 150);
        await monitors.EvaluateAsync(CancellationToken.None);
        var spike = Assert.Single(await api.ListAlertsAsync("firing", deployment), a => a.Kind == AlertKinds.ErrorSpike);
        Assert.Equal(AlertSeverities.Page, spike.Severity);
        Assert.Equal(0.3, spike.Details.GetProperty("recentRate").GetDouble(), 9);
        Assert.DoesNotContain(await api.ListAlertsAsync("firing", deployment), a => a.Kind == AlertKinds.CostSpike);

        // Prices triple: cost per token triples against the previous day.
        server.Time.Advance(TimeSpan.FromMinutes(30));
        await api.SetRoutingAsync(deployment, routing with { Upstreams = new Dictionary<string, UpstreamBackend> { ["1.0.0"] = Priced(3, 6) } });
        await SendAsync(deployment, 100);
        await WaitForLogAsync(deployment, 250);
        await monitors.EvaluateAsync(CancellationToken.None);
        var alerts = await api.ListAlertsAsync(group: deployment);
        var cost = Assert.Single(alerts, a => a.Kind == AlertKinds.CostSpike && a.Status == "firing");
        Assert.Equal(AlertSeverities.Ticket, cost.Severity);
        Assert.Equal(3, cost.Details.GetProperty("perToken").GetDouble() / cost.Details.GetProperty("usual").GetDouble(), 6);
        Assert.Equal("resolved", alerts.Single(a => a.Kind == AlertKinds.ErrorSpike).Status); // the clean traffic since cleared the spike
    }
}
