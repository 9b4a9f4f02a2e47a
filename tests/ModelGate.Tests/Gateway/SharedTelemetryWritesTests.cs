using System.Net;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using ModelGate.Gateway;
using ModelGate.Gateway.Telemetry;
using ModelGate.Hosting;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Gateway;

/// <summary>
/// Who writes shared telemetry: a process whose rows another process reads. The all-in-one process on SQLite judges and checks
/// drift from its own memory and is the only leader on its store, so nobody reads its rows: it writes none. On PostgreSQL a
/// standby may take the lease and read them: every process writes.
/// </summary>
public abstract class SharedTelemetryWritesTests(ServerFixture fixture) : ProviderTests(fixture)
{
    private const int Requests = 12;
    private const int RowsPerRequest = 2;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Flush_AllInOneProcess_WritesRowsOnlyWhereAnotherProcessReadsThem()
    {
        var model = await AdultServing.RegisterAsync(Server);
        var deployment = await AdultServing.DeployAsync(Server, model, new { stable = "1.0.0" });
        await Server.App.Services.GetRequiredService<RoutingSnapshots>().ReloadAsync(Ct);
        var client = Server.Client();
        for (var i = 0; i < Requests; i++)
        {
            using var response = await client.PostAsync($"/v2/models/{deployment}/infer",
                new StringContent(AdultServing.Request(i * RowsPerRequest, RowsPerRequest).ToJsonString(), Encoding.UTF8, "application/json"), Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        await Server.FlushRequestLogAsync();
        // What this process holds in memory, which a flush that writes would write: one slot of one series, every row sampled.
        Assert.Equal(Requests, Server.App.Services.GetRequiredService<GatewayTelemetry>().Slots(deployment, "1.0.0", DateTime.MinValue).Sum(s => s.Requests));
        Assert.Equal(Requests * RowsPerRequest, Server.App.Services.GetRequiredService<InputSamples>().Read(deployment, "1.0.0", DateTime.MinValue).Rows.Count);

        var flush = await Server.App.Services.GetRequiredService<SharedTelemetry>().FlushAsync(Ct);
        var replica = Server.App.Services.GetRequiredService<IOptions<ServerOptions>>().Value.Replica;
        var stored = (Slots: await Server.WithDbAsync(db => db.TelemetrySlots.CountAsync(s => s.Deployment == deployment && s.Replica == replica, Ct)),
            Samples: await Server.WithDbAsync(db => db.InputSamples.CountAsync(s => s.Deployment == deployment && s.Replica == replica, Ct)));
        if (Server.Provider == "postgres")
        {
            Assert.Equal(new SharedFlush(1, 1, Requests * RowsPerRequest), flush);
            Assert.Equal((1, Requests * RowsPerRequest), stored);
        }
        else
        {
            Assert.Equal(new SharedFlush(0, 0, 0), flush);
            Assert.Equal((0, 0), stored);
        }
    }
}

public sealed class SharedTelemetryWritesTests_Sqlite(SqliteServerFixture fixture) : SharedTelemetryWritesTests(fixture), IClassFixture<SqliteServerFixture>;

public sealed class SharedTelemetryWritesTests_Postgres(PostgresServerFixture fixture) : SharedTelemetryWritesTests(fixture), IClassFixture<PostgresServerFixture>;
