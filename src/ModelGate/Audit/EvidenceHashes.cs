using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using ModelGate.Storage.Evaluation;
using ModelGate.Storage.Lifecycle;

namespace ModelGate.Audit;

/// <summary>The kinds of record a gate reads as evidence; the kind is the first field of each canonical form.</summary>
public static class EvidenceKinds
{
    public const string Evaluation = "evaluation";
    public const string StagingVerification = "staging_verification";
    public const string Approval = "approval";
    public const string Card = "card";
    /// <summary>A stored policy revision a gate applies (not hashed by <see cref="EvidenceHashes"/>: its own <c>DocumentSha256</c> and <c>policy.changed</c> event bind it).</summary>
    public const string Policy = "policy";
    /// <summary>A model's risk tier, bound by its <c>model.created</c>/<c>model.updated</c> events.</summary>
    public const string RiskTier = "risk_tier";
}

/// <summary>
/// What the audit event written with an evidence record carries, as the <c>evidenceHash</c> member of its details: the record's
/// kind, its id (a card's id is its version's row id) and its <see cref="EvidenceHashes"/> hash.
/// </summary>
public sealed record EvidenceStamp(string Kind, string Id, string Sha256);

/// <summary>
/// The evidence hash of each record kind: SHA-256 over a canonical form (a compact JSON array of every content column in a
/// fixed order, led by a version tag and the kind), excluding the two evidence columns themselves. Times are written to the
/// microsecond, the precision every provider stores. The <c>Stamp</c> methods set the record's hash; the caller writes the
/// returned stamp into the audit event of the same transaction and sets <c>EvidenceAuditSequence</c> to that event's sequence.
/// </summary>
public static class EvidenceHashes
{
    private const string Version = "modelgate-evidence/v1";

    public static string Evaluation(EvaluationEntity e) => Hash(EvidenceKinds.Evaluation, w =>
    {
        w.WriteStringValue(e.Id);
        w.WriteNumberValue(e.VersionId);
        w.WriteStringValue(e.Model);
        w.WriteStringValue(e.Version);
        w.WriteStringValue(e.SuiteSha256);
        String(w, e.BaselineVersion);
        String(w, e.DatasetSha256);
        w.WriteStringValue(e.Status);
        w.WriteBooleanValue(e.External);
        w.WriteStringValue(e.Evaluator);
        String(w, e.Trainer);
        w.WriteBooleanValue(e.Independent);
        w.WriteNumberValue(e.RowsTotal);
        w.WriteNumberValue(e.RowsDone);
        w.WriteNumberValue(e.RowsFailed);
        Time(w, e.CreatedAt);
        Time(w, e.StartedAt);
        Time(w, e.FinishedAt);
        String(w, e.Result);
        String(w, e.ResultSha256);
        String(w, e.Error);
    });

    public static string StagingVerification(StagingVerificationEntity s) => Hash(EvidenceKinds.StagingVerification, w =>
    {
        w.WriteStringValue(s.Id);
        w.WriteNumberValue(s.VersionId);
        w.WriteStringValue(s.Deployment);
        w.WriteBooleanValue(s.Passed);
        w.WriteStringValue(s.Checks);
        Time(w, s.CreatedAt);
        w.WriteStringValue(s.CreatedBy);
    });

    public static string Approval(ApprovalEntity a) => Hash(EvidenceKinds.Approval, w =>
    {
        w.WriteStringValue(a.Id);
        w.WriteNumberValue(a.VersionId);
        w.WriteStringValue(a.Decision);
        w.WriteStringValue(a.Approver);
        w.WriteStringValue(a.Role);
        Time(w, a.Time);
        w.WriteStringValue(a.Evidence);
        w.WriteStringValue(a.RisksAccepted);
        w.WriteStringValue(a.MonitoringPlan);
        w.WriteStringValue(a.RollbackPlan);
        Time(w, a.NextReviewAt);
        String(w, a.Comment);
    });

    public static string Card(ModelCardEntity c) => Hash(EvidenceKinds.Card, w =>
    {
        w.WriteNumberValue(c.VersionId);
        w.WriteStringValue(c.Card);
        Time(w, c.UpdatedAt);
        w.WriteStringValue(c.UpdatedBy);
    });

    /// <summary>The id an audit event names a card by: its version's row id (a card has no id of its own).</summary>
    public static string CardId(long versionId) => versionId.ToString(CultureInfo.InvariantCulture);

    public static EvidenceStamp Stamp(EvaluationEntity e) => new(EvidenceKinds.Evaluation, e.Id, e.EvidenceSha256 = Evaluation(e));

    public static EvidenceStamp Stamp(StagingVerificationEntity s) => new(EvidenceKinds.StagingVerification, s.Id, s.EvidenceSha256 = StagingVerification(s));

    public static EvidenceStamp Stamp(ApprovalEntity a) => new(EvidenceKinds.Approval, a.Id, a.EvidenceSha256 = Approval(a));

    public static EvidenceStamp Stamp(ModelCardEntity c) => new(EvidenceKinds.Card, CardId(c.VersionId), c.EvidenceSha256 = Card(c));

    private static string Hash(string kind, Action<Utf8JsonWriter> fields)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartArray();
            writer.WriteStringValue(Version);
            writer.WriteStringValue(kind);
            fields(writer);
            writer.WriteEndArray();
        }
        return Convert.ToHexStringLower(SHA256.HashData(buffer.WrittenSpan));
    }

    private static void String(Utf8JsonWriter w, string? value)
    {
        if (value is null)
        {
            w.WriteNullValue();
        }
        else
        {
            w.WriteStringValue(value);
        }
    }

    /// <summary>UTC (as the store's converter keeps it), truncated to the microsecond, as PostgreSQL stores it.</summary>
    private static void Time(Utf8JsonWriter w, DateTime? value)
    {
        if (value is not { } t)
        {
            w.WriteNullValue();
            return;
        }
        var utc = t.Kind == DateTimeKind.Utc ? t : t.ToUniversalTime();
        w.WriteStringValue(utc.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture));
    }
}
