using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using ModelGate.Client;
using ModelGate.Gateway;
using ModelGate.Gateway.Telemetry;
using ModelGate.Storage.Gateway;
using ModelGate.Tests.Infrastructure;
using ModelGate.Tests.Rollouts;

namespace ModelGate.Tests.Gateway;

/// <summary>
/// What one flush of a writing replica (a gateway) costs at the benchmark's chat rate: ~1,700 sampled rows a second, i.e.
/// 3,400 rows per 2-second flush, plus the slots of the served series. Prints wall time, this process's CPU time and the
/// bytes allocated per flush (whole-process figures: run this class alone, with -c Release); asserts only what was written.
/// </summary>
public abstract class SharedTelemetryFlushCostTests(ServerFixture fixture) : ProviderTests(fixture)
{
    private const int RowsPerFlush = 3_400;
    private const int Flushes = 20;
    private const int Versions = 4;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Flush_ChatTrafficOfTheBenchmark_WritesEveryRow_AndPrintsItsCost()
    {
        var model = await AdultServing.RegisterAsync(Server);
        var deployment = await AdultServing.DeployAsync(Server, model, new { stable = "1.0.0", candidates = new[] { new { version = "1.1.0", weight = 50 } } });
        await Server.App.Services.GetRequiredService<RoutingSnapshots>().ReloadAsync(Ct);
        var gateway = new TelemetryReplica(Server, "gateway-cost", "gateway");
        var rng = new Random(16);
        var costs = new List<(double WallMs, double CpuMs, long Bytes)>();
        var written = 0;
        for (var f = 0; f < Flushes + 2; f++)
        {
            Server.Time.Advance(TimeSpan.FromSeconds(2));
            var now = Server.Time.GetUtcNow().UtcDateTime;
            for (var i = 0; i < RowsPerFlush; i++)
            {
                var version = i % 2 == 0 ? "1.0.0" : "1.1.0";
                gateway.Telemetry.Record(new RequestLogEntity
                {
                    RequestId = "r", Time = now, Deployment = deployment, Version = version, Route = i % 2 == 0 ? RouteKinds.Stable : RouteKinds.Canary,
                    Protocol = "openai", Status = 200, LatencyMs = rng.Next(1, 400), PromptTokens = rng.Next(10, 900), CompletionTokens = rng.Next(1, 500), Cost = 0.001,
                });
                gateway.Samples.AddChat(deployment, $"{i % Versions}", now, rng.Next(20, 4_000), rng.Next(1, 2_000), rng.Next(10, 900), rng.Next(1, 500));
            }
            var process = Process.GetCurrentProcess();
            var (cpu, bytes, clock) = (process.TotalProcessorTime, GC.GetTotalAllocatedBytes(precise: true), Stopwatch.StartNew());
            var flush = await gateway.FlushAsync();
            clock.Stop();
            process.Refresh();
            Assert.Equal(RowsPerFlush, flush.SampleRows);
            written += flush.SampleRows;
            if (f >= 2) // the first flushes warm up the writers (prepared statements, JIT)
            {
                costs.Add((clock.Elapsed.TotalMilliseconds, (process.TotalProcessorTime - cpu).TotalMilliseconds, GC.GetTotalAllocatedBytes(precise: true) - bytes));
            }
        }
        Assert.Equal(written, await Server.WithDbAsync(db => db.InputSamples.CountAsync(s => s.Deployment == deployment && s.Replica == "gateway-cost", Ct)));

        static double Median(IEnumerable<double> values) => values.Order().ElementAt(Flushes / 2);
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"{Server.Provider}: a flush of {RowsPerFlush} sampled chat rows ({Versions} rings) and 2 series, median of {Flushes}: " +
            $"wall {Median(costs.Select(c => c.WallMs)):F1} ms, process CPU {Median(costs.Select(c => c.CpuMs)):F1} ms, " +
            $"allocated {Median(costs.Select(c => (double)c.Bytes)) / 1024:F0} KiB");
    }
}

[Collection(nameof(SharedTelemetryFlushCostTests))] // one provider at a time: the figures are the whole process's
public sealed class SharedTelemetryFlushCostTests_Sqlite(SqliteServerFixture fixture) : SharedTelemetryFlushCostTests(fixture), IClassFixture<SqliteServerFixture>;

[Collection(nameof(SharedTelemetryFlushCostTests))] // one provider at a time: the figures are the whole process's
public sealed class SharedTelemetryFlushCostTests_Postgres(PostgresServerFixture fixture) : SharedTelemetryFlushCostTests(fixture), IClassFixture<PostgresServerFixture>;
