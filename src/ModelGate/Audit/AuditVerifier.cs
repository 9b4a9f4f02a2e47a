using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Storage;
using ModelGate.Storage.Audit;

namespace ModelGate.Audit;

/// <summary>
/// Verifies the audit chain: every link and hash in sequence order (plain SHA-256 before the re-anchor event, HMAC with the
/// chain key from it on), the events at signed checkpoints, and that the store still reaches its newest checkpoint and its
/// high-water mark (truncation).
/// </summary>
public sealed class AuditVerifier(ModelGateDbContext db, AuditKeys keys, AuditCheckpoints checkpoints, EvidenceVerifier evidence,
    Lifecycle.PolicyVerifier policies)
{
    private const int Batch = 2000;
    private const int MaxEvidenceReported = 100;

    /// <param name="checkpointLines">Checkpoint lines to check against; null: the server's own checkpoint file.</param>
    public async Task<AuditVerifyDto> VerifyAsync(IReadOnlyList<string>? checkpointLines, CancellationToken cancellationToken)
    {
        AuditCheckpointReportDto? report = null;
        var atSequence = new Dictionary<long, string>();
        string? checkpointConflict = null;
        if (checkpointLines is not null || File.Exists(checkpoints.FilePath))
        {
            report = AuditCheckpoints.Check(checkpointLines is null ? checkpoints.FilePath : "request",
                checkpointLines ?? checkpoints.ReadLines(), keys.PublicKey, out var valid);
            foreach (var c in valid)
            {
                if (atSequence.TryGetValue(c.Sequence, out var other) && other != c.Hash)
                {
                    checkpointConflict ??= $"two signed checkpoints disagree on the hash of event {c.Sequence}";
                }
                atSequence[c.Sequence] = c.Hash;
            }
        }

        var walk = await WalkAsync(db, keys.ChainKey, atSequence, cancellationToken).ConfigureAwait(false);
        var highWater = await db.AuditChainHeads.AsNoTracking().Where(h => h.Id == AuditChainHeadEntity.SingletonId)
            .Select(h => (long?)h.Sequence).FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false);
        var head = walk.HeadSequence ?? 0;
        var sweep = await evidence.VerifyAllAsync(db, MaxEvidenceReported, cancellationToken).ConfigureAwait(false);
        // The policies and risk tiers the gates apply are records the gates read too.
        var (policiesChecked, policiesFailed) = await policies.VerifyAllAsync(db, cancellationToken).ConfigureAwait(false);
        sweep = new EvidenceSweep(sweep.Checked + policiesChecked, sweep.Failed + policiesFailed.Count,
            [.. sweep.Reported, .. policiesFailed.Take(Math.Max(0, MaxEvidenceReported - sweep.Reported.Count))]);
        var evidenceReport = new AuditEvidenceReportDto(sweep.Checked, sweep.Failed, sweep.Reported.Select(r => r.ToDto()).ToList());

        AuditVerifyDto Result(bool valid, long? broken, string? reason) =>
            new(valid, walk.Checked, broken, reason, walk.HeadHash, walk.HeadSequence, highWater, walk.KeyedFrom, report, keys.PublicKey, evidenceReport);

        if (!walk.Valid)
        {
            return Result(false, walk.BrokenAt, walk.Reason);
        }
        if (walk.HeadSequence is not null && walk.KeyedFrom is null)
        {
            return Result(false, walk.FirstSequence,
                "no event is keyed: the chain was never re-anchored, or it was recomputed without the chain key");
        }
        if (report?.Last is { } last && last.Sequence > head)
        {
            return Result(false, head + 1,
                $"the store ends at event {head} but a signed checkpoint of {last.Time:u} reaches event {last.Sequence}: newer events were deleted");
        }
        if (highWater is { } mark && mark > head)
        {
            return Result(false, head + 1, $"the store ends at event {head} but events up to {mark} were written: newer events were deleted");
        }
        if (checkpointConflict is not null)
        {
            return Result(false, null, checkpointConflict);
        }
        if (report is { BadLines.Count: > 0 })
        {
            return Result(false, null,
                $"checkpoint line(s) {string.Join(", ", report.BadLines.Take(10))} do not verify under the server's checkpoint key: forged or altered");
        }
        if (sweep.Failed > 0)
        {
            return Result(false, null, $"{sweep.Failed} evidence record(s) do not verify against their audit events: " +
                string.Join(", ", sweep.Reported.Take(10).Select(r => $"{r.Kind} {r.Id} ({r.Failure})")) + (sweep.Failed > 10 ? ", …" : ""));
        }
        return Result(true, null, null);
    }

    /// <summary>Verifies the chain as written before keying (plain SHA-256 throughout); used once, before re-anchoring.</summary>
    public static Task<ChainWalk> VerifyUnkeyedAsync(ModelGateDbContext db, CancellationToken cancellationToken) =>
        WalkAsync(db, null, new Dictionary<long, string>(), cancellationToken);

    public sealed record ChainWalk(bool Valid, long Checked, long? BrokenAt, string? Reason, long? FirstSequence, long? HeadSequence,
        string HeadHash, long? KeyedFrom);

    /// <param name="chainKey">
    /// Null: every event is checked as unkeyed. Otherwise an event is keyed from the first event on if that one verifies under the
    /// key (a store created keyed), else from the re-anchor event on; a keyed event is never followed by an unkeyed one.
    /// </param>
    private static async Task<ChainWalk> WalkAsync(ModelGateDbContext db, byte[]? chainKey, IReadOnlyDictionary<long, string> checkpointHashes,
        CancellationToken cancellationToken)
    {
        long expected = 1, checkedCount = 0;
        long? keyedFrom = null, first = null, head = null;
        var previousHash = AuditChain.GenesisHash;
        ChainWalk Broken(long sequence, string reason) => new(false, checkedCount, sequence, reason, first, head, previousHash, keyedFrom);
        while (true)
        {
            var from = expected;
            var events = await db.AuditEvents.AsNoTracking().Where(e => e.Sequence >= from)
                .OrderBy(e => e.Sequence).Take(Batch).ToListAsync(cancellationToken).ConfigureAwait(false);
            foreach (var e in events)
            {
                first ??= e.Sequence;
                if (e.Sequence != expected)
                {
                    return Broken(expected, $"event {expected} is missing (next is {e.Sequence})");
                }
                if (e.PreviousHash != previousHash)
                {
                    return Broken(e.Sequence, "its previous-hash does not match the hash of the event before it");
                }
                if (chainKey is not null && keyedFrom is null &&
                    (e.Action == AuditChain.ChainKeyedAction || (checkedCount == 0 && AuditChain.ComputeKeyedHash(chainKey, e) == e.Hash)))
                {
                    keyedFrom = e.Sequence;
                }
                var hash = keyedFrom is not null ? AuditChain.ComputeKeyedHash(chainKey!, e) : AuditChain.ComputeHash(e);
                if (hash != e.Hash)
                {
                    return Broken(e.Sequence, keyedFrom is not null
                        ? "its hash does not verify under the chain key: the event was altered (or its hash recomputed without the key)"
                        : "its content does not match its hash: the event was altered");
                }
                if (checkpointHashes.TryGetValue(e.Sequence, out var signed) && signed != e.Hash)
                {
                    return Broken(e.Sequence, "its hash differs from the signed checkpoint of this sequence: the event was rewritten");
                }
                previousHash = e.Hash;
                head = e.Sequence;
                expected++;
                checkedCount++;
            }
            if (events.Count < Batch)
            {
                return new ChainWalk(true, checkedCount, null, null, first, head, previousHash, keyedFrom);
            }
        }
    }
}
