using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using ModelGate.Gateway;
using ModelGate.Gateway.Telemetry;
using ModelGate.Storage.Gateway;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Gateway;

/// <summary><see cref="RequestLog.FlushAsync"/>: what a test (or anyone) waits for instead of polling the table.</summary>
public abstract class RequestLogFlushTests(ServerFixture fixture) : ProviderTests(fixture)
{
    private RequestLog Log => Server.App.Services.GetRequiredService<RequestLog>();

    private static RequestLogEntity Record(string deployment, int i) =>
        new() { RequestId = $"{deployment}-{i}", Time = DateTime.UtcNow, Deployment = deployment, Protocol = "oip-v2", Status = 200 };

    private Task<int> CountAsync(string deployment) =>
        Server.WithDbAsync(db => Task.FromResult(db.RequestLogs.Count(r => r.Deployment == deployment)));

    /// <summary>A request log of its own on the fixture's database, for tests that stop it.</summary>
    private RequestLog NewLog()
    {
        var services = Server.App.Services;
        return new RequestLog(services.GetRequiredService<IOptions<GatewayOptions>>(), services.GetRequiredService<IServiceScopeFactory>(),
            services.GetRequiredService<GatewayTelemetry>(), NullLogger<RequestLog>.Instance);
    }

    [Fact]
    public async Task FlushAsync_AfterAdds_EveryRecordIsInTheDatabase()
    {
        var deployment = ServerFixture.UniqueName("flush");
        for (var i = 0; i < 25; i++)
        {
            Log.Add(Record(deployment, i));
        }

        await Log.FlushAsync(TestContext.Current.CancellationToken);

        Assert.Equal(25, await CountAsync(deployment));
    }

    [Fact]
    public async Task FlushAsync_WhileOthersAdd_ReturnsWithEveryRecordAddedBeforeTheCall()
    {
        var deployment = ServerFixture.UniqueName("flush");
        const int writers = 4, each = 2_000;
        var added = new int[writers];
        using var halfway = new CountdownEvent(writers);
        var adding = Enumerable.Range(0, writers).Select(w => Task.Run(() =>
        {
            for (var i = 0; i < each; i++)
            {
                Log.Add(Record(deployment, w * each + i));
                Volatile.Write(ref added[w], i + 1);
                if (i == each / 2)
                {
                    halfway.Signal();
                }
            }
        })).ToList();
        halfway.Wait(TestContext.Current.CancellationToken);

        var before = added.Sum(); // each of these Adds returned before the flush began
        await Log.FlushAsync(TestContext.Current.CancellationToken);
        var seen = await CountAsync(deployment);
        await Task.WhenAll(adding);
        await Log.FlushAsync(TestContext.Current.CancellationToken);

        Assert.InRange(seen, before, writers * each);
        Assert.Equal(writers * each, await CountAsync(deployment));
    }

    [Fact]
    public async Task FlushAsync_OnAnEmptyLog_Returns()
    {
        var log = NewLog();
        await log.StartAsync(TestContext.Current.CancellationToken);

        await log.FlushAsync(TestContext.Current.CancellationToken);
        await log.FlushAsync(TestContext.Current.CancellationToken);

        await log.StopAsync(TestContext.Current.CancellationToken);
        Assert.Equal(0, log.Written);
    }

    [Fact]
    public async Task FlushAsync_AfterShutdown_ReturnsWithWhatTheDrainWrote_AndALaterRecordIsCountedDropped()
    {
        var deployment = ServerFixture.UniqueName("flush");
        var log = NewLog();
        await log.StartAsync(TestContext.Current.CancellationToken);
        await log.FlushAsync(TestContext.Current.CancellationToken); // the writer is idle, its first clean-up done
        for (var i = 0; i < 3; i++)
        {
            log.Add(Record(deployment, i));
        }
        await log.StopAsync(TestContext.Current.CancellationToken);

        await log.FlushAsync(TestContext.Current.CancellationToken);
        log.Add(Record(deployment, 3));
        await log.FlushAsync(TestContext.Current.CancellationToken);

        Assert.Equal(3, await CountAsync(deployment));
        Assert.Equal(1, log.Dropped); // not left in a buffer nobody reads
    }

    [Fact]
    public async Task StopAsync_BeforeTheWriterRan_DrainsTheBuffer_AndAFlushAfterItReturns()
    {
        // A stop right after the start can cancel the writer's loop before it runs at all; this is that case, made certain.
        var deployment = ServerFixture.UniqueName("flush");
        var log = NewLog();
        for (var i = 0; i < 3; i++)
        {
            log.Add(Record(deployment, i));
        }

        await log.StopAsync(TestContext.Current.CancellationToken);
        await log.FlushAsync(TestContext.Current.CancellationToken);

        Assert.Equal(3, await CountAsync(deployment));
    }

    [Fact]
    public async Task FlushAsync_WaitsForARecordBegunBeforeIt_AndNotForOneBegunAfter()
    {
        var deployment = ServerFixture.UniqueName("flush");
        var before = Log.BeginRecording();
        var flush = Log.FlushAsync(TestContext.Current.CancellationToken);
        var after = Log.BeginRecording();

        Assert.False(flush.IsCompleted); // a recording begun before the call is still being made
        Log.Add(Record(deployment, 0));
        Log.EndRecording(before);
        await flush; // while the one begun after it is still in flight

        Assert.Equal(1, await CountAsync(deployment));
        Log.Add(Record(deployment, 1));
        Log.EndRecording(after);
        await Log.FlushAsync(TestContext.Current.CancellationToken);
        Assert.Equal(2, await CountAsync(deployment));
    }

    [Fact]
    public async Task FlushAsync_Cancelled_LeavesTheNextFlushWaitingForWhatItWaitedFor()
    {
        var deployment = ServerFixture.UniqueName("flush");
        var begun = Log.BeginRecording();
        using (var cancel = new CancellationTokenSource())
        {
            var cancelled = Log.FlushAsync(cancel.Token);
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        }

        var flush = Log.FlushAsync(TestContext.Current.CancellationToken);
        Assert.False(flush.IsCompleted);
        Log.Add(Record(deployment, 0));
        Log.EndRecording(begun);
        await flush;

        Assert.Equal(1, await CountAsync(deployment));
    }
}

public sealed class RequestLogFlushTests_Sqlite(SqliteServerFixture fixture) : RequestLogFlushTests(fixture), IClassFixture<SqliteServerFixture>;

public sealed class RequestLogFlushTests_Postgres(PostgresServerFixture fixture) : RequestLogFlushTests(fixture), IClassFixture<PostgresServerFixture>;
