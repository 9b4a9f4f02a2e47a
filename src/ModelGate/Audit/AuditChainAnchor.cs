using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using ModelGate.Hosting;
using ModelGate.Security;
using ModelGate.Storage;

namespace ModelGate.Audit;

/// <summary>
/// Re-anchors, once, a store whose chain was written before it was keyed: the unkeyed chain is verified, then a keyed
/// <see cref="AuditChain.ChainKeyedAction"/> event links to its head and records the result, and a checkpoint signs it.
/// Runs at start, after the migrations and before anything else writes.
/// </summary>
internal sealed partial class AuditChainAnchor(IServiceProvider services, IOptions<ServerOptions> server, AuditKeys keys,
    AuditCheckpoints checkpoints, ILogger<AuditChainAnchor> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!server.Value.ServesControlPlane)
        {
            return;
        }
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ModelGateDbContext>();
        var head = await db.AuditEvents.AsNoTracking().OrderByDescending(e => e.Sequence).FirstOrDefaultAsync(cancellationToken);
        if (head is null || AuditChain.ComputeKeyedHash(keys.ChainKey, head) == head.Hash)
        {
            return; // empty, or keyed already
        }
        if (await db.AuditEvents.AnyAsync(e => e.Action == AuditChain.ChainKeyedAction, cancellationToken))
        {
            LogHeadNotKeyed(logger, head.Sequence);
            return;
        }
        if (await checkpoints.LastAsync(cancellationToken) is { } checkpoint)
        {
            // A store with signed checkpoints was keyed before: an unkeyed chain now means it was recomputed without the key.
            LogRefused(logger, checkpoint.Sequence, checkpoints.FilePath);
            return;
        }

        var legacy = await AuditVerifier.VerifyUnkeyedAsync(db, cancellationToken);
        var write = scope.ServiceProvider.GetRequiredService<AuditedWrite>();
        Storage.Audit.AuditEventEntity anchor;
        await using (var tx = await write.BeginAsync(cancellationToken))
        {
            anchor = await tx.AppendAsync(AdminKeyBootstrapper.SystemActor, AuditChain.ChainKeyedAction, "audit", new
            {
                algorithm = "hmac-sha256",
                previousHead = new { sequence = legacy.HeadSequence ?? head.Sequence, hash = head.Hash },
                unkeyedChain = new { valid = legacy.Valid, verified = legacy.Checked, firstBrokenSequence = legacy.BrokenAt, reason = legacy.Reason },
                checkpointKey = keys.PublicKey,
            }, cancellationToken: cancellationToken);
            await tx.CommitAsync(cancellationToken);
        }
        await checkpoints.WriteAsync(anchor.Sequence, anchor.Hash, force: false, cancellationToken);
        if (legacy.Valid)
        {
            LogAnchored(logger, head.Sequence, anchor.Sequence);
        }
        else
        {
            LogAnchoredBroken(logger, head.Sequence, anchor.Sequence, legacy.BrokenAt, legacy.Reason);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Information, Message = "Audit chain keyed: {Count} older events verified, re-anchored at sequence {Anchor}")]
    private static partial void LogAnchored(ILogger logger, long count, long anchor);

    [LoggerMessage(Level = LogLevel.Error, Message = "Audit chain keyed at sequence {Anchor} over {Count} older events, but the older chain does not verify at sequence {Broken}: {Reason}")]
    private static partial void LogAnchoredBroken(ILogger logger, long count, long anchor, long? broken, string? reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "The newest audit event ({Sequence}) does not verify under the chain key although the chain was keyed: run `modelgate audit verify`")]
    private static partial void LogHeadNotKeyed(ILogger logger, long sequence);

    [LoggerMessage(Level = LogLevel.Error, Message = "The audit chain is unkeyed although signed checkpoints exist (up to sequence {Sequence} in {File}): not re-anchoring a chain that was recomputed without the key; run `modelgate audit verify`")]
    private static partial void LogRefused(ILogger logger, long sequence, string file);
}
