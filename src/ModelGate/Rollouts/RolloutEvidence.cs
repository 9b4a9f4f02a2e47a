using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using ModelGate.Gateway.Telemetry;
using ModelGate.Hosting;
using ModelGate.Storage;

namespace ModelGate.Rollouts;

/// <summary>
/// The canary judge's one input: what a version of a deployment did, per 10-second slot, since a moment — its served
/// routes merged, or only its mirrored (shadow) traffic. Everything the analysis compares is read through here, so that
/// moving the judge's data from one process's memory to storage shared by replicas changes this seam only.
/// </summary>
public interface IRolloutEvidence
{
    Task<IReadOnlyList<SlotAggregate>> SlotsAsync(string deployment, string version, DateTime from, bool shadow, CancellationToken cancellationToken);
}

/// <summary>The evidence of this process alone: the gateway's in-memory telemetry (right when one process serves all the traffic).</summary>
public sealed class TelemetryRolloutEvidence(GatewayTelemetry telemetry) : IRolloutEvidence
{
    public Task<IReadOnlyList<SlotAggregate>> SlotsAsync(string deployment, string version, DateTime from, bool shadow, CancellationToken cancellationToken) =>
        Task.FromResult(telemetry.Slots(deployment, version, from, shadow));
}

/// <summary>
/// The evidence of every replica: per slot, this process's live in-memory slots merged with the slots the other replicas
/// wrote to <c>telemetry_slots</c> (<see cref="SharedTelemetry"/>; this replica's own rows are skipped, its memory is
/// newer). One process serving everything gets exactly the in-memory figures; a split deployment the combined counts, as
/// of the other replicas' last flush (<see cref="ClusterOptions.TelemetryFlushInterval"/>). A stored row that cannot be
/// read (a payload of another release) is left out and logged.
/// </summary>
public sealed partial class StoredRolloutEvidence(GatewayTelemetry telemetry, IServiceScopeFactory scopes, IOptions<ServerOptions> server, TimeProvider time,
    ILogger<StoredRolloutEvidence> logger) : IRolloutEvidence
{
    public async Task<IReadOnlyList<SlotAggregate>> SlotsAsync(string deployment, string version, DateTime from, bool shadow, CancellationToken cancellationToken)
    {
        var live = telemetry.Slots(deployment, version, from, shadow);
        // The slots the in-memory read covers: the same bounds for the stored ones.
        var now = GatewayTelemetry.SlotOf(time.GetUtcNow().UtcDateTime);
        var first = Math.Max(GatewayTelemetry.SlotOf(from), now - GatewayTelemetry.SlotCount + 1);
        var replica = server.Value.Replica;
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ModelGateDbContext>();
        var rows = await db.TelemetrySlots.AsNoTracking()
            .Where(s => s.Deployment == deployment && s.Version == version && s.Shadow == shadow && s.Slot >= first && s.Slot <= now && s.Replica != replica)
            .Select(s => new { s.Slot, s.Replica, s.Payload })
            .ToListAsync(cancellationToken);
        if (rows.Count == 0)
        {
            return live;
        }
        var stored = new List<SlotAggregate>(rows.Count);
        foreach (var row in rows)
        {
            try
            {
                stored.Add(SlotPayload.Read(row.Slot, row.Payload));
            }
            catch (FormatException e)
            {
                LogUnreadable(logger, e, deployment, version, row.Slot, row.Replica);
            }
        }
        return live.Concat(stored).GroupBy(a => a.Slot).Select(g => SlotAggregate.Merge(g.Key, g)).OrderBy(a => a.Slot).ToList();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The stored telemetry slot {Slot} of {Deployment}@{Version} written by replica {Replica} cannot be read; it is left out")]
    private static partial void LogUnreadable(ILogger logger, Exception exception, string deployment, string version, long slot, string replica);
}
