using System.Globalization;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using ModelGate.Client;
using ModelGate.Registry;
using ModelGate.Storage;
using ModelGate.Storage.Audit;
using ModelGate.Storage.Evaluation;
using ModelGate.Storage.Lifecycle;
using ModelGate.Storage.Registry;

namespace ModelGate.Audit;

/// <summary>Why an evidence record does not verify (the <c>failure</c> of its integrity).</summary>
public static class EvidenceFailures
{
    /// <summary>The record carries no evidence hash: it was written before evidence hashing, or its hash was removed.</summary>
    public const string Unhashed = "unhashed";
    /// <summary>The record's content no longer hashes to its stored evidence hash: a column was edited.</summary>
    public const string ContentChanged = "content_changed";
    /// <summary>The audit event the record names is not in the store.</summary>
    public const string AuditEventMissing = "audit_event_missing";
    /// <summary>The audit event the record names does not verify under the chain key: it was rewritten.</summary>
    public const string AuditEventAltered = "audit_event_altered";
    /// <summary>The audit event verifies but names another record, or another hash: the record (and its hash) were rewritten.</summary>
    public const string AuditEventMismatch = "audit_event_mismatch";
    /// <summary>The event after the record's audit event does not link to it.</summary>
    public const string ChainBroken = "chain_broken";
    /// <summary>A keyed audit event records the record as evidence, but the record is no longer in its table (or no longer of that version).</summary>
    public const string RecordMissing = "record_missing";
}

/// <summary>One evidence record as stored: its kind and id, the hash it carries, the audit event it names, and its content's hash now.</summary>
public sealed record EvidenceRecord(string Kind, string Id, string? StoredSha256, long? AuditSequence, string ComputedSha256)
{
    public static EvidenceRecord Of(EvaluationEntity e) =>
        new(EvidenceKinds.Evaluation, e.Id, e.EvidenceSha256, e.EvidenceAuditSequence, EvidenceHashes.Evaluation(e));

    public static EvidenceRecord Of(StagingVerificationEntity s) =>
        new(EvidenceKinds.StagingVerification, s.Id, s.EvidenceSha256, s.EvidenceAuditSequence, EvidenceHashes.StagingVerification(s));

    public static EvidenceRecord Of(ApprovalEntity a) =>
        new(EvidenceKinds.Approval, a.Id, a.EvidenceSha256, a.EvidenceAuditSequence, EvidenceHashes.Approval(a));

    public static EvidenceRecord Of(ModelCardEntity c) =>
        new(EvidenceKinds.Card, EvidenceHashes.CardId(c.VersionId), c.EvidenceSha256, c.EvidenceAuditSequence, EvidenceHashes.Card(c));
}

/// <summary>The outcome of re-verifying one evidence record; <see cref="Failure"/> is null when it verified.</summary>
/// <param name="Accepted">True when the record did not verify only because it carries no hash, and <c>Audit:AcceptUnhashedEvidence</c> accepts that.</param>
public sealed record EvidenceIntegrity(string Kind, string Id, string? Failure, string? Expected, string? Actual, bool Accepted = false)
{
    public bool Verified => Failure is null;

    /// <summary>Whether a gate may rely on the record: verified, or unhashed and accepted by configuration.</summary>
    public bool Holds => Failure is null || Accepted;

    public EvidenceIntegrityDto ToDto() => new(Kind, Id, Verified, Failure, Expected, Actual);
}

/// <summary>
/// Re-verifies evidence records where they are used (gates, show endpoints, audit verify): the record's content still hashes to
/// its stored hash; the audit event it names exists, verifies under the chain key, names this record and carries the same hash;
/// and the next event links to that event (or it is the newest). A database writer without the chain key can change a record,
/// or its hash, but cannot write an audit event that agrees.
/// </summary>
public sealed class EvidenceVerifier(AuditKeys keys, IOptions<AuditOptions> options)
{
    /// <summary>How a stamp appears in an audit event's details (compact JSON): the store filters on it, <see cref="ReadStamp"/> decides.</summary>
    private const string StampMarker = "\"evidenceHash\":{";
    private const string SqliteProvider = "Microsoft.EntityFrameworkCore.Sqlite";
    private const string PostgresProvider = "Npgsql.EntityFrameworkCore.PostgreSQL";

    /// <summary>Whether the store orders text by code point (asked once: one store per process).</summary>
    private bool? _codePointOrder;

    public async Task<EvidenceIntegrity> VerifyAsync(ModelGateDbContext db, EvidenceRecord record, CancellationToken cancellationToken) =>
        (await VerifyAsync(db, [record], cancellationToken).ConfigureAwait(false))[0];

    /// <summary>Verifies the records with one query (their audit events with the events after them), and one more when one of them is the newest.</summary>
    public async Task<IReadOnlyList<EvidenceIntegrity>> VerifyAsync(ModelGateDbContext db, IReadOnlyList<EvidenceRecord> records,
        CancellationToken cancellationToken)
    {
        if (records.Count == 0)
        {
            return [];
        }
        var wanted = new HashSet<long>();
        foreach (var r in records)
        {
            if (r.AuditSequence is { } s)
            {
                wanted.Add(s);
                wanted.Add(s + 1);
            }
        }
        var events = new Dictionary<long, AuditEventEntity>();
        long newest = 0;
        if (wanted.Count > 0)
        {
            foreach (var chunk in wanted.Chunk(500))
            {
                foreach (var e in await db.AuditEvents.AsNoTracking().Where(e => chunk.Contains(e.Sequence)).ToListAsync(cancellationToken).ConfigureAwait(false))
                {
                    events[e.Sequence] = e;
                }
            }
            // Only an event without a successor needs the newest sequence (it must be the head); usually every one has one.
            if (records.Any(r => r.AuditSequence is { } s && events.ContainsKey(s) && !events.ContainsKey(s + 1)))
            {
                newest = await db.AuditEvents.MaxAsync(e => (long?)e.Sequence, cancellationToken).ConfigureAwait(false) ?? 0;
            }
        }
        var results = new List<EvidenceIntegrity>(records.Count);
        foreach (var r in records)
        {
            results.Add(Check(r, events, newest));
        }
        return results;
    }

    private EvidenceIntegrity Check(EvidenceRecord r, Dictionary<long, AuditEventEntity> events, long newest)
    {
        EvidenceIntegrity Fail(string failure, string expected, string actual, bool accepted = false) => new(r.Kind, r.Id, failure, expected, actual, accepted);

        if (r.StoredSha256 is null)
        {
            return Fail(EvidenceFailures.Unhashed, "an evidence hash recorded when the record was written", "none: the record cannot be verified",
                options.Value.AcceptUnhashedEvidence);
        }
        if (r.ComputedSha256 != r.StoredSha256)
        {
            return Fail(EvidenceFailures.ContentChanged, $"content hashing to {r.StoredSha256} (its stored evidence hash)",
                $"content hashing to {r.ComputedSha256}: the record was changed after it was written");
        }
        if (r.AuditSequence is not { } sequence || !events.TryGetValue(sequence, out var e))
        {
            return Fail(EvidenceFailures.AuditEventMissing, $"audit event {r.AuditSequence?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "(none)"} recording the hash",
                "no such event");
        }
        if (!keys.Verifies(e))
        {
            return Fail(EvidenceFailures.AuditEventAltered, $"audit event {sequence} verifying under the chain key",
                "it does not: the event was rewritten");
        }
        var stamp = ReadStamp(e.Details);
        if (stamp is null || stamp.Kind != r.Kind || stamp.Id != r.Id || stamp.Sha256 != r.StoredSha256)
        {
            return Fail(EvidenceFailures.AuditEventMismatch,
                stamp is null ? $"audit event {sequence} recording {r.Kind} {r.Id}" : $"{stamp.Kind} {stamp.Id} with hash {stamp.Sha256} (audit event {sequence})",
                $"{r.Kind} {r.Id} with hash {r.StoredSha256}: the record and its hash were rewritten");
        }
        if (events.TryGetValue(sequence + 1, out var next) ? next.PreviousHash != e.Hash : newest > sequence)
        {
            return Fail(EvidenceFailures.ChainBroken, $"audit event {sequence + 1} linking to event {sequence}",
                next is null ? "it is missing" : "its previous-hash differs: the chain was rewritten around the event");
        }
        return new EvidenceIntegrity(r.Kind, r.Id, null, null, null);
    }

    /// <summary>
    /// The records of <paramref name="kinds"/> that the keyed audit events of one version (on the version's subject, and for
    /// evaluations on the subjects under it) record as evidence but that are no longer in their tables as records of that version:
    /// each a <see cref="EvidenceFailures.RecordMissing"/>. One indexed query for the events, and one per kind for the records
    /// they name that the caller did not read (none when nothing was deleted and the gate read every record of its kinds). A record
    /// named only by events that do not verify under the chain key is reported as <see cref="EvidenceFailures.AuditEventAltered"/>:
    /// a writer without the key can forge such an event, and it neither proves that the record existed nor is ignored.
    /// </summary>
    /// <param name="read">Records of this version the caller has just read from their tables: present, not looked up again.</param>
    public async Task<IReadOnlyList<EvidenceIntegrity>> FindDeletedAsync(ModelGateDbContext db, string model, ModelVersionEntity version,
        IReadOnlyCollection<string> kinds, IReadOnlyCollection<EvidenceRecord> read, CancellationToken cancellationToken)
    {
        if (kinds.Count == 0)
        {
            return [];
        }
        var subject = RegistryMapping.VersionSubject(model, version.Version);
        var events = new List<AuditEventEntity>();
        if (kinds.Any(k => k != EvidenceKinds.Evaluation))
        {
            events.AddRange(await db.AuditEvents.AsNoTracking().Where(e => e.Subject == subject && e.Details.Contains(StampMarker))
                .ToListAsync(cancellationToken).ConfigureAwait(false));
        }
        if (kinds.Contains(EvidenceKinds.Evaluation))
        {
            events.AddRange(await SubjectsUnderAsync(db, subject + "/evaluations/", cancellationToken).ConfigureAwait(false));
        }
        var naming = Naming(events, kinds);
        var known = read.Select(r => (r.Kind, r.Id)).ToHashSet();
        var present = await PresentAsync(db, naming.Keys.Where(r => !known.Contains(r)), cancellationToken).ConfigureAwait(false);
        foreach (var r in known)
        {
            present[r] = version.Id;
        }
        var results = new List<EvidenceIntegrity>();
        foreach (var ((kind, id), named) in naming.OrderBy(n => n.Value.Max(e => e.Sequence)))
        {
            if (present.TryGetValue((kind, id), out var versionId) && versionId == version.Id)
            {
                continue;
            }
            results.Add(Missing(kind, id, named, present.ContainsKey((kind, id))
                ? "no such record of this version: its version was changed"
                : "no such record: it was deleted"));
        }
        return results;
    }

    /// <summary>The stamped records of <paramref name="kinds"/> (null: every kind) the events name, each with the events that name it.</summary>
    private static Dictionary<(string Kind, string Id), List<AuditEventEntity>> Naming(IEnumerable<AuditEventEntity> events, IReadOnlyCollection<string>? kinds)
    {
        var naming = new Dictionary<(string, string), List<AuditEventEntity>>();
        foreach (var e in events)
        {
            if (ReadStamp(e.Details) is { Kind: { } kind, Id: { } id } && (kinds?.Contains(kind) ?? IsKind(kind)))
            {
                if (!naming.TryGetValue((kind, id), out var list))
                {
                    naming[(kind, id)] = list = [];
                }
                list.Add(e);
            }
        }
        return naming;
    }

    private static bool IsKind(string kind) =>
        kind is EvidenceKinds.Evaluation or EvidenceKinds.StagingVerification or EvidenceKinds.Approval or EvidenceKinds.Card;

    /// <summary>The failure of a record the store no longer holds: missing when a keyed event records it, else the event is forged.</summary>
    private EvidenceIntegrity Missing(string kind, string id, IReadOnlyList<AuditEventEntity> naming, string actual)
    {
        var keyed = naming.Where(keys.Verifies).MaxBy(e => e.Sequence);
        if (keyed is not null)
        {
            return new EvidenceIntegrity(kind, id, EvidenceFailures.RecordMissing, $"the {kind} {id} recorded by audit event {keyed.Sequence}", actual);
        }
        var newest = naming.MaxBy(e => e.Sequence)!;
        return new EvidenceIntegrity(kind, id, EvidenceFailures.AuditEventAltered, $"audit event {newest.Sequence} (naming the {kind} {id}) verifying under the chain key",
            "it does not: the event was forged or rewritten, and the record it names is not in the store");
    }

    /// <summary>Which of the named records the store holds, with their version's row id; one query per kind (in chunks).</summary>
    private static async Task<Dictionary<(string Kind, string Id), long>> PresentAsync(ModelGateDbContext db, IEnumerable<(string Kind, string Id)> records,
        CancellationToken cancellationToken)
    {
        var present = new Dictionary<(string, string), long>();
        foreach (var kind in records.GroupBy(r => r.Kind))
        {
            foreach (var chunk in kind.Select(r => r.Id).Chunk(500))
            {
                var found = kind.Key switch
                {
                    EvidenceKinds.Evaluation => Pairs(await db.Evaluations.AsNoTracking().Where(e => chunk.Contains(e.Id))
                        .Select(e => new { e.Id, e.VersionId }).ToListAsync(cancellationToken).ConfigureAwait(false), r => (r.Id, r.VersionId)),
                    EvidenceKinds.StagingVerification => Pairs(await db.StagingVerifications.AsNoTracking().Where(s => chunk.Contains(s.Id))
                        .Select(s => new { s.Id, s.VersionId }).ToListAsync(cancellationToken).ConfigureAwait(false), r => (r.Id, r.VersionId)),
                    EvidenceKinds.Approval => Pairs(await db.Approvals.AsNoTracking().Where(a => chunk.Contains(a.Id))
                        .Select(a => new { a.Id, a.VersionId }).ToListAsync(cancellationToken).ConfigureAwait(false), r => (r.Id, r.VersionId)),
                    _ => await CardsAsync(chunk).ConfigureAwait(false),
                };
                foreach (var r in found)
                {
                    present[(kind.Key, r.Id)] = r.VersionId;
                }
            }
        }
        return present;

        static List<(string Id, long VersionId)> Pairs<T>(List<T> rows, Func<T, (string, long)> pair) => rows.Select(pair).ToList();

        async Task<List<(string Id, long VersionId)>> CardsAsync(string[] ids)
        {
            var versionIds = ids.Select(id => long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : -1).Where(v => v >= 0).ToList();
            var cards = await db.ModelCards.AsNoTracking().Where(c => versionIds.Contains(c.VersionId)).Select(c => c.VersionId)
                .ToListAsync(cancellationToken).ConfigureAwait(false);
            return cards.Select(v => (EvidenceHashes.CardId(v), v)).ToList();
        }
    }

    /// <summary>
    /// The stamped audit events whose subject starts with <paramref name="prefix"/> (which ends with '/'). Where the store orders text
    /// by code point (SQLite's BINARY collation, PostgreSQL's C collations) that is the index range [prefix, prefix with '/' → '0');
    /// under a linguistic collation that range may leave some out, and the store matches the prefix with LIKE, reading the table.
    /// </summary>
    private async Task<List<AuditEventEntity>> SubjectsUnderAsync(ModelGateDbContext db, string prefix, CancellationToken cancellationToken)
    {
        var query = db.AuditEvents.AsNoTracking();
        if (await OrdersByCodePointAsync(db, cancellationToken).ConfigureAwait(false))
        {
            var above = prefix[..^1] + (char)(prefix[^1] + 1);
            query = query.Where(e => string.Compare(e.Subject, prefix) >= 0 && string.Compare(e.Subject, above) < 0);
        }
        else
        {
            query = query.Where(e => e.Subject.StartsWith(prefix));
        }
        var events = await query.Where(e => e.Details.Contains(StampMarker)).ToListAsync(cancellationToken).ConfigureAwait(false);
        return events.Where(e => e.Subject.StartsWith(prefix, StringComparison.Ordinal)).ToList();
    }

    private async Task<bool> OrdersByCodePointAsync(ModelGateDbContext db, CancellationToken cancellationToken)
    {
        if (_codePointOrder is { } known)
        {
            return known;
        }
        var byCodePoint = db.Database.ProviderName switch
        {
            SqliteProvider => true,
            // The database's collation provider (libc before PostgreSQL 15, which has no such column) and libc collation: libc C or
            // POSIX (or C.UTF-8), or the builtin provider (PostgreSQL 17), order by code point; ICU does not, whatever datcollate says.
            PostgresProvider => await db.Database
                .SqlQueryRaw<string>("SELECT coalesce(to_jsonb(d) ->> 'datlocprovider', 'c') || ':' || d.datcollate AS \"Value\" " +
                                     "FROM pg_database d WHERE d.datname = current_database()")
                .SingleAsync(cancellationToken).ConfigureAwait(false) is "c:C" or "c:POSIX" or "c:C.UTF-8" or "c:C.utf8" or ['b', ':', ..],
            _ => false,
        };
        _codePointOrder = byCodePoint;
        return byCodePoint;
    }

    private static EvidenceStamp? ReadStamp(string details)
    {
        try
        {
            using var doc = JsonDocument.Parse(details);
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("evidenceHash", out var evidence) &&
                   evidence.ValueKind == JsonValueKind.Object
                ? evidence.Deserialize<EvidenceStamp>(ModelGateJson.Options)
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// Every evidence record in the store, in batches: evaluations that reached a terminal status, verifications, approvals, cards;
    /// then every record a stamped audit event names that the store no longer holds (<see cref="EvidenceFailures.RecordMissing"/>).
    /// </summary>
    public async Task<EvidenceSweep> VerifyAllAsync(ModelGateDbContext db, int maxReported, CancellationToken cancellationToken)
    {
        const int Batch = 500;
        long checkedCount = 0, failedCount = 0;
        var reported = new List<EvidenceIntegrity>();
        async Task Run(IReadOnlyList<EvidenceRecord> records)
        {
            foreach (var result in await VerifyAsync(db, records, cancellationToken).ConfigureAwait(false))
            {
                checkedCount++;
                if (!result.Holds)
                {
                    failedCount++;
                    if (reported.Count < maxReported)
                    {
                        reported.Add(result);
                    }
                }
            }
        }

        string? afterId = null;
        while (true)
        {
            var from = afterId;
            var page = await db.Evaluations.AsNoTracking()
                .Where(e => (from == null || string.Compare(e.Id, from) > 0) &&
                            (e.Status == EvaluationStatuses.Succeeded || e.Status == EvaluationStatuses.Failed || e.Status == EvaluationStatuses.Cancelled))
                .OrderBy(e => e.Id).Take(Batch).ToListAsync(cancellationToken).ConfigureAwait(false);
            await Run(page.Select(EvidenceRecord.Of).ToList()).ConfigureAwait(false);
            if (page.Count < Batch)
            {
                break;
            }
            afterId = page[^1].Id;
        }
        afterId = null;
        while (true)
        {
            var from = afterId;
            var page = await db.StagingVerifications.AsNoTracking().Where(s => from == null || string.Compare(s.Id, from) > 0)
                .OrderBy(s => s.Id).Take(Batch).ToListAsync(cancellationToken).ConfigureAwait(false);
            await Run(page.Select(EvidenceRecord.Of).ToList()).ConfigureAwait(false);
            if (page.Count < Batch)
            {
                break;
            }
            afterId = page[^1].Id;
        }
        afterId = null;
        while (true)
        {
            var from = afterId;
            var page = await db.Approvals.AsNoTracking().Where(a => from == null || string.Compare(a.Id, from) > 0)
                .OrderBy(a => a.Id).Take(Batch).ToListAsync(cancellationToken).ConfigureAwait(false);
            await Run(page.Select(EvidenceRecord.Of).ToList()).ConfigureAwait(false);
            if (page.Count < Batch)
            {
                break;
            }
            afterId = page[^1].Id;
        }
        long afterVersion = 0;
        while (true)
        {
            var from = afterVersion;
            var page = await db.ModelCards.AsNoTracking().Where(c => c.VersionId > from)
                .OrderBy(c => c.VersionId).Take(Batch).ToListAsync(cancellationToken).ConfigureAwait(false);
            await Run(page.Select(EvidenceRecord.Of).ToList()).ConfigureAwait(false);
            if (page.Count < Batch)
            {
                break;
            }
            afterVersion = page[^1].VersionId;
        }
        // Records that stamped events name but the store no longer holds: the events in batches by sequence, their records looked up per batch.
        var missing = new Dictionary<(string Kind, string Id), List<AuditEventEntity>>();
        long afterSequence = 0;
        while (true)
        {
            var from = afterSequence;
            var page = await db.AuditEvents.AsNoTracking().Where(e => e.Sequence > from && e.Details.Contains(StampMarker))
                .OrderBy(e => e.Sequence).Take(Batch).ToListAsync(cancellationToken).ConfigureAwait(false);
            var naming = Naming(page, null);
            var present = await PresentAsync(db, naming.Keys, cancellationToken).ConfigureAwait(false);
            foreach (var (record, named) in naming.Where(n => !present.ContainsKey(n.Key)))
            {
                if (!missing.TryGetValue(record, out var list))
                {
                    missing[record] = list = [];
                }
                list.AddRange(named);
            }
            if (page.Count < Batch)
            {
                break;
            }
            afterSequence = page[^1].Sequence;
        }
        foreach (var ((kind, id), named) in missing.OrderBy(m => m.Value.Max(e => e.Sequence)))
        {
            checkedCount++;
            failedCount++;
            if (reported.Count < maxReported)
            {
                reported.Add(Missing(kind, id, named, "no such record: it was deleted"));
            }
        }
        return new EvidenceSweep(checkedCount, failedCount, reported);
    }
}

/// <param name="Failed">Records that do not verify (unhashed ones accepted by configuration not counted).</param>
/// <param name="Reported">The first of them, at most the number asked for.</param>
public sealed record EvidenceSweep(long Checked, long Failed, IReadOnlyList<EvidenceIntegrity> Reported);
