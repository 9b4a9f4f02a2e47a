namespace ModelGate.Storage.Evaluation;

/// <summary>
/// One evaluation run of one suite on one version. While it runs only its status and counters change; once it
/// reaches a terminal status (succeeded, failed, cancelled) the record never changes again.
/// </summary>
public sealed class EvaluationEntity
{
    public required string Id { get; set; }
    public long VersionId { get; set; }
    public required string Model { get; set; }
    public required string Version { get; set; }
    public required string SuiteSha256 { get; set; }
    /// <summary>The version compared against on the same rows, if any.</summary>
    public string? BaselineVersion { get; set; }
    public string? DatasetSha256 { get; set; }
    public required string Status { get; set; }
    public bool External { get; set; }
    public required string Evaluator { get; set; }
    public string? Trainer { get; set; }
    public bool Independent { get; set; }
    public long RowsTotal { get; set; }
    public long RowsDone { get; set; }
    public long RowsFailed { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime? StartedAt { get; set; }
    public DateTime? FinishedAt { get; set; }
    /// <summary>Canonical JSON of the result; set once, when the run succeeds.</summary>
    public string? Result { get; set; }
    public string? ResultSha256 { get; set; }
    public string? Error { get; set; }
    /// <summary>SHA-256 (hex) of the record's canonical evidence form, set when the record becomes evidence; re-checked wherever it is used.</summary>
    public string? EvidenceSha256 { get; set; }
    /// <summary>The audit event that recorded <see cref="EvidenceSha256"/> (its details carry the same hash).</summary>
    public long? EvidenceAuditSequence { get; set; }
}
