using System.Net;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using ModelGate.Client;
using ModelGate.Gateway;
using ModelGate.Gateway.Telemetry;
using ModelGate.Hosting;
using ModelGate.Rollouts;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Hosting;

/// <summary>
/// The shared telemetry in the real split composition (a control process and a gateway replica on one SQLite store): the
/// gateway's own flusher, run by its timer, writes what it served, and the control process's judge reads it.
/// </summary>
public sealed class SharedTelemetrySplitTests(SplitRolesFixture split) : IClassFixture<SplitRolesFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task GatewayReplica_FlushesOnItsTimer_AndTheControlProcessJudgesItsTraffic()
    {
        var model = await AdultServing.RegisterAsync(split.Control);
        var deployment = await AdultServing.DeployAsync(split.Control, model, new { stable = "1.0.0", candidates = new[] { new { version = "1.1.0", weight = 50 } } });
        await split.Gateway.App.Services.GetRequiredService<RoutingSnapshots>().ReloadAsync(Ct);
        var served = new Dictionary<string, int> { ["1.0.0"] = 0, ["1.1.0"] = 0 };
        var client = split.Gateway.Client();
        for (var i = 0; i < 40; i++)
        {
            using var response = await client.PostAsync($"/v2/models/{deployment}/infer",
                new StringContent(AdultServing.Request(i, 1).ToJsonString(), Encoding.UTF8, "application/json"), Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            served[response.Headers.GetValues("x-modelgate-version").Single()]++;
        }
        await split.Gateway.FlushRequestLogAsync();
        Assert.True(served.Values.All(n => n > 0));
        var evidence = split.Control.App.Services.GetRequiredService<IRolloutEvidence>();
        var from = split.Control.Time.GetUtcNow().UtcDateTime.AddMinutes(-1);
        Assert.Empty(await evidence.SlotsAsync(deployment, "1.0.0", from, false, Ct)); // nothing flushed yet: the control process served nothing

        // One flush interval on both clocks: the gateway's timer fires and its flusher writes the slots (waited for in the store).
        var interval = split.Gateway.App.Services.GetRequiredService<IOptions<ClusterOptions>>().Value.TelemetryFlushInterval;
        split.Gateway.Time.Advance(interval);
        split.Control.Time.Advance(interval);
        var replica = split.Gateway.App.Services.GetRequiredService<IOptions<ServerOptions>>().Value.Replica;
        var rows = 0;
        await ProcessCluster.WaitForAsync(async () =>
                (rows = await split.Control.WithDbAsync(db => db.TelemetrySlots.CountAsync(s => s.Deployment == deployment && s.Replica == replica, Ct))) >= 2,
            TimeSpan.FromSeconds(30), "the gateway's flusher to write its slots");
        Assert.Equal(2, rows); // stable and candidate, one slot each

        foreach (var (version, count) in served)
        {
            var slots = await evidence.SlotsAsync(deployment, version, from, false, Ct);
            Assert.Equal(count, slots.Sum(s => s.Requests));
            Assert.Equal(count, slots.Sum(s => s.Predictions)); // one row a request, each scored
        }
    }

    /// <summary>
    /// On SQLite the control process is the only one that judges and checks drift, from its own memory plus the gateways' rows:
    /// the gateway writes what it served, the control process (feedback counted in its memory) writes nothing nobody would read.
    /// </summary>
    [Fact]
    public async Task Flush_OnSqlite_TheGatewayWritesWhatItServed_TheControlProcessWritesNothing()
    {
        const int requests = 6, rowsPerRequest = 3;
        var model = await AdultServing.RegisterAsync(split.Control);
        var deployment = await AdultServing.DeployAsync(split.Control, model, new { stable = "1.0.0" });
        await split.Gateway.App.Services.GetRequiredService<RoutingSnapshots>().ReloadAsync(Ct);
        await split.Control.App.Services.GetRequiredService<RoutingSnapshots>().ReloadAsync(Ct);
        var client = split.Gateway.Client();
        for (var i = 0; i < requests; i++)
        {
            using var response = await client.PostAsync($"/v2/models/{deployment}/infer",
                new StringContent(AdultServing.Request(i * rowsPerRequest, rowsPerRequest).ToJsonString(), Encoding.UTF8, "application/json"), Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        await split.Gateway.FlushRequestLogAsync();
        var served = split.Gateway.Time.GetUtcNow().UtcDateTime;
        split.Control.App.Services.GetRequiredService<GatewayTelemetry>().RecordFeedback(deployment, "1.0.0", RouteKinds.Stable, served, 1);
        Assert.Equal(1, split.Control.App.Services.GetRequiredService<GatewayTelemetry>().Slots(deployment, "1.0.0", served.AddMinutes(-1)).Sum(s => s.FeedbackCount));

        var gateway = await split.Gateway.App.Services.GetRequiredService<SharedTelemetry>().FlushAsync(Ct);
        var control = await split.Control.App.Services.GetRequiredService<SharedTelemetry>().FlushAsync(Ct);
        Assert.Equal(new SharedFlush(1, 1, requests * rowsPerRequest), gateway);
        Assert.Equal(new SharedFlush(0, 0, 0), control);
        string Replica(RoleServerFixture server) => server.App.Services.GetRequiredService<IOptions<ServerOptions>>().Value.Replica;
        var rows = await split.Control.WithDbAsync(async db => (
            Slots: await db.TelemetrySlots.Where(s => s.Deployment == deployment).GroupBy(s => s.Replica).Select(g => new { g.Key, Count = g.Count() }).ToListAsync(Ct),
            Samples: await db.InputSamples.Where(s => s.Deployment == deployment).GroupBy(s => s.Replica).Select(g => new { g.Key, Count = g.Count() }).ToListAsync(Ct)));
        Assert.Equal((Replica(split.Gateway), 1), (Assert.Single(rows.Slots).Key, Assert.Single(rows.Slots).Count));
        Assert.Equal((Replica(split.Gateway), requests * rowsPerRequest), (Assert.Single(rows.Samples).Key, Assert.Single(rows.Samples).Count));
    }
}
