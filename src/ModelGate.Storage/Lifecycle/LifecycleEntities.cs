namespace ModelGate.Storage.Lifecycle;

/// <summary>One version of a gate policy: <see cref="Scope"/> is <c>default</c> or a model name. The highest revision is in force.</summary>
public sealed class PolicyEntity
{
    public long Id { get; set; }
    public required string Scope { get; set; }
    public int Revision { get; set; }
    /// <summary>Canonical JSON of the policy document.</summary>
    public required string Document { get; set; }
    public required string DocumentSha256 { get; set; }
    public DateTime CreatedAt { get; set; }
    public required string CreatedBy { get; set; }
}

/// <summary>One stage change of a version, as it happened.</summary>
public sealed class TransitionEntity
{
    public long Id { get; set; }
    public long VersionId { get; set; }
    public required string From { get; set; }
    public required string To { get; set; }
    public required string Reason { get; set; }
    public string? Trigger { get; set; }
    /// <summary>JSON of the gate report that let it through.</summary>
    public required string Report { get; set; }
    public DateTime Time { get; set; }
    public required string Actor { get; set; }
}

/// <summary>One approver's recorded decision on a version's move to production.</summary>
public sealed class ApprovalEntity
{
    public required string Id { get; set; }
    public long VersionId { get; set; }
    public required string Decision { get; set; }
    public required string Approver { get; set; }
    public required string Role { get; set; }
    public DateTime Time { get; set; }
    /// <summary>JSON array of the evaluation and staging-verification ids reviewed.</summary>
    public required string Evidence { get; set; }
    public required string RisksAccepted { get; set; }
    public required string MonitoringPlan { get; set; }
    public required string RollbackPlan { get; set; }
    public DateTime NextReviewAt { get; set; }
    public string? Comment { get; set; }
    /// <summary>SHA-256 (hex) of the record's canonical evidence form, set when the record becomes evidence; re-checked wherever it is used.</summary>
    public string? EvidenceSha256 { get; set; }
    /// <summary>The audit event that recorded <see cref="EvidenceSha256"/> (its details carry the same hash).</summary>
    public long? EvidenceAuditSequence { get; set; }
}

/// <summary>A staging verification run by ModelGate: every check with its measured figures (JSON), kept as evidence.</summary>
public sealed class StagingVerificationEntity
{
    public required string Id { get; set; }
    public long VersionId { get; set; }
    public required string Deployment { get; set; }
    public bool Passed { get; set; }
    public required string Checks { get; set; }
    public DateTime CreatedAt { get; set; }
    public required string CreatedBy { get; set; }
    /// <summary>SHA-256 (hex) of the record's canonical evidence form, set when the record becomes evidence; re-checked wherever it is used.</summary>
    public string? EvidenceSha256 { get; set; }
    /// <summary>The audit event that recorded <see cref="EvidenceSha256"/> (its details carry the same hash).</summary>
    public long? EvidenceAuditSequence { get; set; }
}

/// <summary>A version's model card (structured fields and markdown, JSON), editable until the version is registered.</summary>
public sealed class ModelCardEntity
{
    public long VersionId { get; set; }
    public required string Card { get; set; }
    public DateTime UpdatedAt { get; set; }
    public required string UpdatedBy { get; set; }
    /// <summary>SHA-256 (hex) of the record's canonical evidence form, set when the record becomes evidence; re-checked wherever it is used.</summary>
    public string? EvidenceSha256 { get; set; }
    /// <summary>The audit event that recorded <see cref="EvidenceSha256"/> (its details carry the same hash).</summary>
    public long? EvidenceAuditSequence { get; set; }
}
