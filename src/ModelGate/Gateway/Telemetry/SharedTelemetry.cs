using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.Options;
using ModelGate.Client;
using ModelGate.Hosting;
using ModelGate.Storage;
using ModelGate.Storage.Cluster;

namespace ModelGate.Gateway.Telemetry;

/// <summary>What one flush wrote: slot rows upserted (and how many series they came from), sampled input rows appended.</summary>
public readonly record struct SharedFlush(int SlotRows, int Series, int SampleRows);

/// <summary>
/// Writes this replica's recent telemetry to the store, so that the canary judge (<c>StoredRolloutEvidence</c>) and drift
/// (<see cref="SharedSamples"/>) on whichever process decides read every replica's traffic. Every
/// <see cref="ClusterOptions.TelemetryFlushInterval"/>, on every replica whose rows another process reads (<see cref="ReadElsewhere"/>): the 10-second slots of each deployment × version ×
/// served-or-shadow series that may have changed since the last flush (the slots since the previous flush's — all those kept at
/// the first — and the past slots feedback changed) are upserted into <c>telemetry_slots</c> under <see cref="ServerOptions.Replica"/>, a slot
/// whose payload is the one last written being skipped; the sampled input rows added to each ring since the last flush
/// are appended to <c>input_samples</c>, at most <see cref="MaxSampleRowsPerFlush"/> a ring. Everything is read from the
/// in-memory slots and rings under their own short locks. Stopping flushes once more. A process whose rows nobody reads
/// (the all-in-one or control process on SQLite) writes none. While this process leads, rows past
/// <see cref="ClusterOptions.SharedTelemetryRetention"/> are deleted, whether it writes or not.
/// </summary>
public sealed partial class SharedTelemetry(GatewayTelemetry telemetry, InputSamples samples, IServiceScopeFactory scopes, ILeadership leadership,
    IOptions<ClusterOptions> cluster, IOptions<ServerOptions> server, IOptions<DatabaseOptions> database, TimeProvider time, ILogger<SharedTelemetry> logger)
    : BackgroundService
{
    /// <summary>Sampled rows appended per ring and flush; a ring that gained more since the last flush has its most recent ones written.</summary>
    public const int MaxSampleRowsPerFlush = 5_000;

    /// <summary>How often the leader deletes expired rows (at most; and at its first flush).</summary>
    public static readonly TimeSpan CleanupInterval = TimeSpan.FromHours(1);

    private static readonly TimeSpan StopFlushTimeout = TimeSpan.FromSeconds(10);

    private readonly SemaphoreSlim _one = new(1, 1);
    private long? _flushedTo;
    private readonly Dictionary<SlotKey, string> _written = [];
    private readonly HashSet<SlotKey> _late = [];
    private readonly Dictionary<(string Deployment, string Version), (long Ring, long Position)> _positions = [];
    private DateTime _nextCleanup = DateTime.MinValue;
    private BulkInsert<TelemetrySlotEntity>? _upsert;
    private BulkInsert<InputSampleEntity>? _insert;

    private readonly record struct SlotKey(string Deployment, string Version, bool Shadow, long Slot);

    /// <summary>
    /// Whether another process reads this process's telemetry from the store, so that it must write it: always on PostgreSQL
    /// (a standby that takes the lease judges from the leader's rows too); on SQLite only a gateway replica's, read by the
    /// control (or all-in-one) process. That process leads without a lease, as the only one on its store
    /// (<see cref="LeaderLease"/>), and reads its own memory plus the other replicas' rows: its own rows nobody reads.
    /// </summary>
    public bool ReadElsewhere { get; } = database.Value.Provider == "postgres" || !server.Value.ServesControlPlane;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(cluster.Value.TelemetryFlushInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await FlushAsync(stoppingToken);
                    if (time.GetUtcNow().UtcDateTime >= _nextCleanup && leadership.IsLeader)
                    {
                        await DeleteExpiredAsync(stoppingToken);
                        _nextCleanup = time.GetUtcNow().UtcDateTime + CleanupInterval;
                    }
                }
                catch (ObjectDisposedException)
                {
                    return; // the host is being torn down (a failed start): there is nothing left to write with
                }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                {
                    // The store unreachable: what was not written is written by the next flush (the slots are upserted again,
                    // the rings' positions did not move).
                    LogFlushFailed(logger, e);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Flushes once more after the loop ended, so that a replica stopped in order leaves its last counts in the store.</summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        using var timeout = new CancellationTokenSource(StopFlushTimeout);
        try
        {
            await FlushAsync(timeout.Token);
        }
        catch (ObjectDisposedException)
        {
            // Stopped after the services were disposed (a host that failed to start): nothing was served, nothing to write.
        }
        catch (Exception e)
        {
            LogFlushFailed(logger, e);
        }
    }

    /// <summary>
    /// Writes what changed since the last flush (see the class); the loop calls it, and tests to wait for the fact. Nothing,
    /// and no rows counted, where no other process reads them (<see cref="ReadElsewhere"/>).
    /// </summary>
    public async Task<SharedFlush> FlushAsync(CancellationToken cancellationToken)
    {
        if (!ReadElsewhere)
        {
            return default;
        }
        await _one.WaitAsync(cancellationToken);
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<ModelGateDbContext>();
            var (slotRows, series) = await FlushSlotsAsync(db, cancellationToken);
            var sampleRows = await FlushSamplesAsync(db, cancellationToken);
            return new SharedFlush(slotRows, series, sampleRows);
        }
        finally
        {
            _one.Release();
        }
    }

    private async Task<(int Rows, int Series)> FlushSlotsAsync(ModelGateDbContext db, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var nowSlot = GatewayTelemetry.SlotOf(now);
        var oldest = nowSlot - GatewayTelemetry.SlotCount + 1;
        // The first flush reads every slot kept (a process that served before its first flush, or whose flushes failed).
        var first = Math.Max(_flushedTo is { } flushed ? flushed - 1 : oldest, oldest);

        // Each stored series merges the routes of a version that served (or, shadow, only its mirrored route), as the judge reads it.
        var bySeries = new Dictionary<(string Deployment, string Version, bool Shadow), List<TelemetrySeries>>();
        var late = new List<long>();
        foreach (var s in telemetry.Series)
        {
            if (s.Deployment == GatewayTelemetry.Unrouted || s.Version == GatewayTelemetry.Unrouted)
            {
                continue; // no rollout judges requests that named no deployment or version
            }
            var key = (s.Deployment, s.Version, s.Route == RouteKinds.Shadow);
            if (!bySeries.TryGetValue(key, out var list))
            {
                bySeries[key] = list = [];
            }
            list.Add(s);
            late.Clear();
            s.TakeLateSlots(late);
            foreach (var slot in late)
            {
                _late.Add(new SlotKey(key.Deployment, key.Version, key.Item3, slot));
            }
        }
        var parts = new Dictionary<SlotKey, List<SlotAggregate>>();
        var collected = new List<SlotAggregate>();
        void Collect((string Deployment, string Version, bool Shadow) key, long from, long to)
        {
            if (!bySeries.TryGetValue(key, out var list))
            {
                return;
            }
            foreach (var s in list)
            {
                collected.Clear();
                s.CollectSlots(from, to, collected);
                foreach (var aggregate in collected)
                {
                    var slotKey = new SlotKey(key.Deployment, key.Version, key.Shadow, aggregate.Slot);
                    if (!parts.TryGetValue(slotKey, out var merged))
                    {
                        parts[slotKey] = merged = [];
                    }
                    merged.Add(aggregate);
                }
            }
        }
        foreach (var key in bySeries.Keys)
        {
            Collect(key, first, nowSlot);
        }
        var lateNow = _late.Where(k => k.Slot >= oldest && k.Slot < first).ToList();
        foreach (var k in lateNow)
        {
            if (!parts.ContainsKey(k))
            {
                Collect((k.Deployment, k.Version, k.Shadow), k.Slot, k.Slot);
            }
        }

        var rows = new List<TelemetrySlotEntity>();
        var payloads = new List<(SlotKey Key, string Payload)>();
        foreach (var (key, aggregates) in parts)
        {
            var payload = SlotPayload.Write(SlotAggregate.Merge(key.Slot, aggregates));
            if (_written.TryGetValue(key, out var last) && last == payload)
            {
                continue;
            }
            payloads.Add((key, payload));
            rows.Add(new TelemetrySlotEntity
            {
                Deployment = key.Deployment, Version = key.Version, Shadow = key.Shadow, Slot = key.Slot, Replica = server.Value.Replica,
                Payload = payload, UpdatedAt = now,
            });
        }
        _upsert ??= new BulkInsert<TelemetrySlotEntity>(db, upsert: true);
        await _upsert.InsertAsync(db, rows, cancellationToken);

        // Written: remember the payloads of the slots a later flush reads again (from the previous one on), forget the rest.
        foreach (var (key, payload) in payloads)
        {
            _written[key] = payload;
        }
        foreach (var key in _written.Keys.Where(k => k.Slot < nowSlot - 1).ToList())
        {
            _written.Remove(key);
        }
        _late.Clear(); // written now (with the slots since the previous flush, or alone), or past the slots kept
        _flushedTo = nowSlot;
        return (rows.Count, rows.Select(r => (r.Deployment, r.Version, r.Shadow)).Distinct().Count());
    }

    private async Task<int> FlushSamplesAsync(ModelGateDbContext db, CancellationToken cancellationToken)
    {
        var rows = new List<InputSampleEntity>();
        var moved = new List<((string, string) Version, long Ring, long End)>();
        foreach (var version in samples.Versions.ToList())
        {
            var (ring, position) = _positions.GetValueOrDefault(version);
            var read = samples.ReadAfter(version.Deployment, version.Version, ring, position, MaxSampleRowsPerFlush);
            if (read.Ring == 0 || (read.Ring == ring && read.End == position))
            {
                continue;
            }
            moved.Add((version, read.Ring, read.End));
            var columns = SharedSamples.ColumnsJson(read.Columns);
            foreach (var row in read.Rows)
            {
                rows.Add(new InputSampleEntity
                {
                    Replica = server.Value.Replica, Deployment = version.Deployment, Version = version.Version, Time = row.Time,
                    Columns = columns, Values = row.Values,
                });
            }
        }
        _insert ??= new BulkInsert<InputSampleEntity>(db);
        await _insert.InsertAsync(db, rows, cancellationToken);
        foreach (var (version, ring, end) in moved)
        {
            _positions[version] = (ring, end);
        }
        return rows.Count;
    }

    /// <summary>
    /// Deletes the slots and sampled rows older than <see cref="ClusterOptions.SharedTelemetryRetention"/>, when this process
    /// leads (one process does it for all); null when it does not.
    /// </summary>
    public async Task<(int Slots, int Samples)?> DeleteExpiredAsync(CancellationToken cancellationToken)
    {
        if (!leadership.IsLeader)
        {
            return null;
        }
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ModelGateDbContext>();
        var cutoff = time.GetUtcNow().UtcDateTime - cluster.Value.SharedTelemetryRetention;
        var slots = await db.TelemetrySlots.Where(s => s.UpdatedAt < cutoff).ExecuteDeleteAsync(cancellationToken);
        var sampled = await db.InputSamples.Where(s => s.Time < cutoff).ExecuteDeleteAsync(cancellationToken);
        return (slots, sampled);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Writing this replica's telemetry to the store failed; the next flush writes it")]
    private static partial void LogFlushFailed(ILogger logger, Exception exception);
}

public static class SharedTelemetryServiceCollectionExtensions
{
    /// <summary>The shared store's flusher (every replica) and the cross-replica reader of sampled inputs.</summary>
    public static IServiceCollection AddModelGateSharedTelemetry(this IServiceCollection services)
    {
        services.AddSingleton<SharedTelemetry>();
        services.AddHostedService(sp => sp.GetRequiredService<SharedTelemetry>());
        services.AddSingleton<SharedSamples>();
        return services;
    }
}
