using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using ModelGate.Audit;
using ModelGate.Registry;
using ModelGate.Storage;
using ModelGate.Storage.Audit;
using ModelGate.Storage.Lifecycle;
using ModelGate.Storage.Registry;

namespace ModelGate.Lifecycle;

/// <summary>One stored policy revision a gate applies, re-verified: <see cref="Failure"/> is null when it verified.</summary>
public sealed record PolicyRecordIntegrity(string Scope, int? Revision, string? Failure, string Expected, string Actual)
{
    public bool Verified => Failure is null;
}

/// <summary>
/// What a gate knows of the policy it applies: each stored revision it merged, re-verified; the risk tier as its audit events
/// recorded it (the floors apply to that tier); and the floor approval the latest write of the policy or the tier relied on.
/// </summary>
/// <param name="Tier">The risk tier the model's audit events recorded last (its column when they record none).</param>
/// <param name="TierFailure">Null when the model's column agrees with the recorded tier and the event verifies.</param>
/// <param name="FloorApproval">The audit sequence of the floor approval the latest write of the model's policy or risk tier used; null when it used none.</param>
public sealed record PolicyStanding(IReadOnlyList<PolicyRecordIntegrity> Records, string Tier, string? TierFailure, string TierExpected, string TierActual,
    long? FloorApproval);

/// <summary>
/// Re-verifies the policy a gate applies, as <see cref="EvidenceVerifier"/> does the evidence it reads: a database writer can
/// edit a policy revision, add one, delete the latest, or change a model's risk tier, but cannot write the keyed audit events
/// that would agree. Each stored revision in force must hash to its <c>DocumentSha256</c> and be the revision the latest
/// <c>policy.changed</c> event of its scope records, with that hash, the event verifying under the chain key; the model's risk
/// tier must be the one its latest <c>model.created</c>/<c>model.updated</c> event recorded. One query for those events.
/// </summary>
public sealed class PolicyVerifier(AuditKeys keys)
{
    public async Task<PolicyStanding> VerifyAsync(ModelGateDbContext db, ModelEntity model, PolicyInForce inForce, CancellationToken cancellationToken)
    {
        var own = PoliciesApi.Subject(model.Name);
        var fallback = PoliciesApi.Subject(PoliciesApi.DefaultScope);
        var subject = RegistryMapping.ModelSubject(model.Name);
        var events = await db.AuditEvents.AsNoTracking()
            .Where(e => ((e.Subject == own || e.Subject == fallback) && e.Action == PoliciesApi.PolicyChangedAction) ||
                        (e.Subject == subject && (e.Action == ModelsApi.CreatedAction || e.Action == ModelsApi.UpdatedAction)))
            .OrderBy(e => e.Sequence).ToListAsync(cancellationToken);

        var records = new List<PolicyRecordIntegrity>();
        var ownEvent = events.LastOrDefault(e => e.Subject == own);
        if (await RecordAsync(db, model.Name, inForce.Own, ownEvent, cancellationToken) is { } mine)
        {
            records.Add(mine);
        }
        if (await RecordAsync(db, PoliciesApi.DefaultScope, inForce.Default, events.LastOrDefault(e => e.Subject == fallback), cancellationToken) is { } standard)
        {
            records.Add(standard);
        }

        // The tier: the last event of the model that recorded one (its creation, or an update that changed it).
        AuditEventEntity? tierEvent = null;
        string? recordedTier = null;
        foreach (var e in events.Where(e => e.Subject == subject))
        {
            if (ReadTier(e) is { } tier)
            {
                (tierEvent, recordedTier) = (e, tier);
            }
        }
        string tierUsed, tierExpected, tierActual;
        string? tierFailure = null;
        if (tierEvent is null || recordedTier is null)
        {
            (tierUsed, tierFailure) = (model.RiskTier, EvidenceFailures.AuditEventMissing);
            (tierExpected, tierActual) = ("an audit event recording the model's risk tier", $"none: {model.RiskTier} was written outside ModelGate");
        }
        else if (!await VerifiesAsync(db, tierEvent, cancellationToken))
        {
            (tierUsed, tierFailure) = (recordedTier, EvidenceFailures.AuditEventAltered);
            (tierExpected, tierActual) = ($"audit event {tierEvent.Sequence} verifying under the chain key", "it does not: the event was rewritten");
        }
        else
        {
            tierUsed = recordedTier;
            tierExpected = $"the risk tier as audit event {tierEvent.Sequence} recorded it: {recordedTier}";
            if (recordedTier == model.RiskTier)
            {
                tierActual = model.RiskTier;
            }
            else
            {
                tierFailure = EvidenceFailures.ContentChanged;
                tierActual = $"{model.RiskTier}: the model's risk tier was changed outside ModelGate (the floors of {recordedTier} apply)";
            }
        }

        // The floor approval the state relies on: that of the latest write of the model's policy or of its tier.
        var latestWrite = new[] { inForce.Own is null ? null : ownEvent, tierEvent?.Action == ModelsApi.UpdatedAction ? tierEvent : null }
            .Where(e => e is not null).MaxBy(e => e!.Sequence);
        var approval = latestWrite is null ? null : ReadLong(latestWrite.Details, "floorApproval");
        return new PolicyStanding(records, tierUsed, tierFailure, tierExpected, tierActual, approval);
    }

    /// <summary>
    /// For <c>audit verify</c>: every model's policy in force and risk tier, re-verified as its gates would (the default's
    /// revision once); what does not verify, as integrity failures of kind <c>policy</c> (id <c>scope rN</c>) or
    /// <c>risk_tier</c> (id: the model). Three queries per model.
    /// </summary>
    public async Task<(long Checked, IReadOnlyList<EvidenceIntegrity> Failed)> VerifyAllAsync(ModelGateDbContext db, CancellationToken cancellationToken)
    {
        var failed = new List<EvidenceIntegrity>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        long checkedCount = 0;
        foreach (var model in await db.Models.AsNoTracking().OrderBy(m => m.Id).ToListAsync(cancellationToken))
        {
            var standing = await VerifyAsync(db, model, await PoliciesApi.InForceAsync(db, model.Name, cancellationToken), cancellationToken);
            foreach (var record in standing.Records)
            {
                var id = record.Revision is { } r ? $"{record.Scope} r{r}" : record.Scope;
                if (!seen.Add(id))
                {
                    continue;
                }
                checkedCount++;
                if (!record.Verified)
                {
                    failed.Add(new EvidenceIntegrity(EvidenceKinds.Policy, id, record.Failure, record.Expected, record.Actual));
                }
            }
            checkedCount++;
            if (standing.TierFailure is { } tierFailure)
            {
                failed.Add(new EvidenceIntegrity(EvidenceKinds.RiskTier, model.Name, tierFailure, standing.TierExpected, standing.TierActual));
            }
        }
        return (checkedCount, failed);
    }

    /// <summary>One scope's stored revision in force against the latest <c>policy.changed</c> event of that scope; null when neither exists.</summary>
    private async Task<PolicyRecordIntegrity?> RecordAsync(ModelGateDbContext db, string scope, PolicyEntity? stored, AuditEventEntity? latest,
        CancellationToken cancellationToken)
    {
        if (stored is null && latest is null)
        {
            return null; // nothing written, nothing recorded: the model has no policy of its own, or the default is the built-in one
        }
        var recordedRevision = latest is null ? null : ReadLong(latest.Details, "revision");
        PolicyRecordIntegrity Fail(string failure, string expected, string actual) => new(scope, stored?.Revision, failure, expected, actual);
        if (stored is null)
        {
            return Fail(EvidenceFailures.RecordMissing, $"policy {scope} r{recordedRevision} as audit event {latest!.Sequence} records it",
                "no policy stored: it was deleted");
        }
        if (PoliciesApi.DocumentSha256(stored.Document) != stored.DocumentSha256)
        {
            return Fail(EvidenceFailures.ContentChanged, $"policy {scope} r{stored.Revision} hashing to {stored.DocumentSha256} (its stored hash)",
                $"it hashes to {PoliciesApi.DocumentSha256(stored.Document)}: the policy was changed after it was written");
        }
        if (latest is null)
        {
            return Fail(EvidenceFailures.AuditEventMissing, $"an audit event recording policy {scope} r{stored.Revision}",
                "none: the policy was written outside ModelGate");
        }
        if (!await VerifiesAsync(db, latest, cancellationToken))
        {
            return Fail(EvidenceFailures.AuditEventAltered, $"audit event {latest.Sequence} verifying under the chain key", "it does not: the event was rewritten");
        }
        if (recordedRevision != stored.Revision)
        {
            return recordedRevision < stored.Revision
                ? Fail(EvidenceFailures.AuditEventMissing, $"policy {scope} r{recordedRevision}, the latest revision audit event {latest.Sequence} records",
                    $"r{stored.Revision} stored: written outside ModelGate")
                : Fail(EvidenceFailures.RecordMissing, $"policy {scope} r{recordedRevision} as audit event {latest.Sequence} records it",
                    $"r{stored.Revision} is the latest stored: later revisions were deleted");
        }
        var recordedHash = ReadString(latest.Details, "sha256");
        if (recordedHash != stored.DocumentSha256)
        {
            return Fail(EvidenceFailures.AuditEventMismatch, $"policy {scope} r{stored.Revision} with hash {recordedHash} (audit event {latest.Sequence})",
                $"hash {stored.DocumentSha256}: the policy and its hash were rewritten");
        }
        return new PolicyRecordIntegrity(scope, stored.Revision, null, $"policy {scope} r{stored.Revision} as audit event {latest.Sequence} records it",
            $"verified (r{stored.Revision})");
    }

    /// <summary>
    /// Whether an event verifies under the chain key; an event of a store whose older events were chained with plain SHA-256
    /// verifies by that hash when the chain was keyed after it (<see cref="AuditChain.ChainKeyedAction"/>).
    /// </summary>
    private async Task<bool> VerifiesAsync(ModelGateDbContext db, AuditEventEntity e, CancellationToken cancellationToken) =>
        keys.Verifies(e) ||
        (AuditChain.ComputeHash(e) == e.Hash &&
         await db.AuditEvents.AnyAsync(k => k.Action == AuditChain.ChainKeyedAction && k.Sequence > e.Sequence, cancellationToken));

    private static string? ReadTier(AuditEventEntity e)
    {
        try
        {
            using var doc = JsonDocument.Parse(e.Details);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return null;
            }
            if (e.Action == ModelsApi.CreatedAction)
            {
                return root.TryGetProperty("riskTier", out var tier) && tier.ValueKind == JsonValueKind.String ? tier.GetString() : null;
            }
            return root.TryGetProperty("changes", out var changes) && changes.ValueKind == JsonValueKind.Object &&
                   changes.TryGetProperty("riskTier", out var change) && change.ValueKind == JsonValueKind.Object &&
                   change.TryGetProperty("to", out var to) && to.ValueKind == JsonValueKind.String
                ? to.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static long? ReadLong(string details, string name) =>
        Member(details, name) is { ValueKind: JsonValueKind.Number } value && value.TryGetInt64(out var number) ? number : null;

    private static string? ReadString(string details, string name) =>
        Member(details, name) is { ValueKind: JsonValueKind.String } value ? value.GetString() : null;

    /// <summary>A top-level member of an event's details, or null when the details are not an object holding it.</summary>
    private static JsonElement? Member(string details, string name)
    {
        try
        {
            using var doc = JsonDocument.Parse(details);
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty(name, out var value) ? value.Clone() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
