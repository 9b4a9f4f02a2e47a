namespace ModelGate.Storage.Monitoring;

/// <summary>A version's drift baseline: the profile (JSON) of a reference dataset, e.g. its training data.</summary>
public sealed class DriftBaselineEntity
{
    public long VersionId { get; set; }
    public required string DatasetSha256 { get; set; }
    public required string Profile { get; set; }
    public int Rows { get; set; }
    public DateTime CreatedAt { get; set; }
    public required string CreatedBy { get; set; }
}
