using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using ModelGate.Client;
using ModelGate.Gateway;
using ModelGate.Gateway.Telemetry;
using ModelGate.Hosting;
using ModelGate.Monitoring;
using ModelGate.Tests.Infrastructure;
using ModelGate.Tests.Rollouts;

namespace ModelGate.Tests.Monitoring;

/// <summary>A server whose rings keep 300 sampled rows a version, so that the rows of two replicas overflow one ring.</summary>
public sealed class SmallRingSqliteFixture : SqliteServerFixture
{
    protected override Task<IEnumerable<string>> ExtraArgumentsAsync() => Task.FromResult<IEnumerable<string>>(["--Gateway:InputSampleCapacity=300"]);
}

public sealed class SmallRingPostgresFixture : PostgresServerFixture
{
    protected override Task<IEnumerable<string>> ExtraArgumentsAsync() => Task.FromResult<IEnumerable<string>>(["--Gateway:InputSampleCapacity=300"]);
}

/// <summary>
/// Drift on every replica's sampled inputs: this process's ring and the rows another replica wrote to <c>input_samples</c>
/// give the report one ring holding the same rows would.
/// </summary>
public abstract class SharedDriftTests(ServerFixture fixture) : ProviderTests(fixture)
{
    private static readonly string[] Inputs = AdultServing.TestSet.Value.ColumnNames.Where(c => c != "income").ToArray();
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Rows [first, first + count) of test.csv as the gateway samples them: one array per input, typed as served.</summary>
    private static Dictionary<string, Array> Columns(int first, int count)
    {
        var table = AdultServing.TestSet.Value;
        return Inputs.ToDictionary(c => c, c => AdultServing.Numeric.Contains(c)
            ? (Array)table.Strings(c).Skip(first).Take(count).Select(v => float.Parse(v!, System.Globalization.CultureInfo.InvariantCulture)).ToArray()
            : table.Strings(c).Skip(first).Take(count).Select(v => v ?? "").ToArray());
    }

    [Fact]
    public async Task Drift_SamplesSplitOverTwoReplicas_EqualsDriftOverTheSameRowsInOneRing()
    {
        var model = await AdultServing.RegisterAsync(Server);
        var train = await Server.UploadAsync(await File.ReadAllBytesAsync(Path.Combine(AppContext.BaseDirectory, "fixtures", "datasets", "adult", "train.csv"), Ct));
        using (var set = await Server.Client().PutAsJsonAsync($"/api/v1/models/{model}/versions/1.0.0/drift-baseline", new { dataset = train, columns = Inputs }, Ct))
        {
            Assert.True(set.IsSuccessStatusCode, await set.Content.ReadAsStringAsync(Ct));
        }
        var deployment = await AdultServing.DeployAsync(Server, model, new { stable = "1.0.0" });
        var options = Server.App.Services.GetRequiredService<IOptions<GatewayOptions>>();
        Assert.Equal(300, options.Value.InputSampleCapacity);
        var here = Server.App.Services.GetRequiredService<InputSamples>();
        var other = new TelemetryReplica(Server, "gateway-b", "gateway");
        var one = new InputSamples(options); // the same rows, sampled by one process

        // 80 requests of 5 rows, a second apart, served in turn by this process and gateway-b: 400 rows, more than a ring keeps.
        var t0 = Server.Time.GetUtcNow().UtcDateTime.AddMinutes(-30);
        for (var r = 0; r < 80; r++)
        {
            var time = t0.AddSeconds(r);
            (r % 2 == 0 ? here : other.Samples).AddTensorRows(deployment, "1.0.0", time, Columns(r * 5, 5), 5);
            one.AddTensorRows(deployment, "1.0.0", time, Columns(r * 5, 5), 5);
        }
        Assert.Equal(200, (await other.FlushAsync()).SampleRows);
        // This process's own rows in the store too (as its flusher writes them): read from its ring, not twice.
        await Server.App.Services.GetRequiredService<SharedTelemetry>().FlushAsync(Ct);

        var since = Server.Time.GetUtcNow().UtcDateTime.AddHours(-1);
        var merged = await Server.WithDbAsync(db => Server.App.Services.GetRequiredService<SharedSamples>().ReadAsync(db, deployment, "1.0.0", since, Ct));
        var (columns, rows) = one.Read(deployment, "1.0.0", since);
        Assert.Equal(300, rows.Count);
        Assert.Equal(columns, merged.Columns);
        Assert.Equal(rows.Select(r => (r.Time, string.Join('|', r.Values))), merged.Rows.Select(r => (r.Time, string.Join('|', r.Values))));

        var report = await Server.Client().GetFromJsonAsync<JsonElement>($"/api/v1/deployments/{deployment}/drift?window=1h", Ct);
        Assert.Equal(300, report.GetProperty("report").GetProperty("windowRows").GetInt32());
        var entity = await Server.WithDbAsync(db => db.Deployments.AsNoTracking().SingleAsync(d => d.Name == deployment, Ct));
        var split = await Server.WithDbAsync(db => Server.App.Services.GetRequiredService<DriftChecker>().CheckAsync(db, entity, "1.0.0", TimeSpan.FromHours(1), Ct));

        // One ring holding every row, and no stored rows: the report of one process.
        await Server.WithDbAsync(db => db.InputSamples.Where(s => s.Deployment == deployment).ExecuteDeleteAsync(Ct));
        var single = new DriftChecker(new SharedSamples(one, Options.Create(new ServerOptions { Replica = "one" }), options), Server.Time);
        var expected = await Server.WithDbAsync(db => single.CheckAsync(db, entity, "1.0.0", TimeSpan.FromHours(1), Ct));
        Assert.NotNull(expected.Check);
        Assert.Equal(JsonSerializer.Serialize(expected.Check, ModelGateJson.Options), JsonSerializer.Serialize(split.Check, ModelGateJson.Options));
    }
}

public sealed class SharedDriftTests_Sqlite(SmallRingSqliteFixture fixture) : SharedDriftTests(fixture), IClassFixture<SmallRingSqliteFixture>;

public sealed class SharedDriftTests_Postgres(SmallRingPostgresFixture fixture) : SharedDriftTests(fixture), IClassFixture<SmallRingPostgresFixture>;
