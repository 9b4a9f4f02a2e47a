namespace ModelGate.Storage.Registry;

/// <summary>
/// One immutable version of a model. Only the lifecycle columns (stage, review date, retirement) change after creation;
/// everything else (attestation, artifacts, lineage columns) is written once.
/// </summary>
public sealed class ModelVersionEntity
{
    public long Id { get; set; }
    public long ModelId { get; set; }
    public ModelEntity? Model { get; set; }
    public required string Version { get; set; }
    public int Major { get; set; }
    public int Minor { get; set; }
    public int Patch { get; set; }
    public string? Prerelease { get; set; }
    public required string Stage { get; set; }
    public DateTime StageChangedAt { get; set; }
    /// <summary>The attestation exactly as accepted (canonical JSON).</summary>
    public required string Attestation { get; set; }
    public required string AttestationSha256 { get; set; }
    public string? Trainer { get; set; }
    /// <summary>The principal the attestation's trainer names (by identity), when it names one at registration.</summary>
    public string? TrainerPrincipal { get; set; }
    public string? CodeRepo { get; set; }
    public string? CodeCommit { get; set; }
    public string? BaseModel { get; set; }
    public string? Architecture { get; set; }
    public string? Description { get; set; }
    /// <summary>When the approvals of its production release ask for the next review (the earliest of them).</summary>
    public DateTime? NextReviewAt { get; set; }
    /// <summary>Why it was retired: replaced, discontinued, vulnerability, regulation or degraded.</summary>
    public string? RetirementTrigger { get; set; }
    /// <summary>The SHA-256 of its retirement archive, an artifact in the blob store.</summary>
    public string? ArchiveSha256 { get; set; }
    public DateTime CreatedAt { get; set; }
    public required string CreatedBy { get; set; }

    public List<VersionArtifactEntity> Artifacts { get; set; } = [];
    public List<VersionDatasetEntity> Datasets { get; set; } = [];
}

public sealed class VersionArtifactEntity
{
    public long Id { get; set; }
    public long VersionId { get; set; }
    public required string Sha256 { get; set; }
    public required string FileName { get; set; }
    public required string MediaType { get; set; }
    public long Size { get; set; }
}

/// <summary>A dataset named by a version's attestation, kept as rows so that lineage queries by digest use an index.</summary>
public sealed class VersionDatasetEntity
{
    public long Id { get; set; }
    public long VersionId { get; set; }
    public required string Name { get; set; }
    public string? Uri { get; set; }
    public required string Sha256 { get; set; }
}

public sealed class ArtifactEntity
{
    public required string Sha256 { get; set; }
    public long Size { get; set; }
    public DateTime CreatedAt { get; set; }
    public required string CreatedBy { get; set; }
}
