namespace ModelGate.Storage.Registry;

public sealed class ModelEntity
{
    public long Id { get; set; }
    public required string Name { get; set; }
    public required string Owner { get; set; }
    public required string RiskTier { get; set; }
    public required string Task { get; set; }
    public string? License { get; set; }
    public string? Description { get; set; }
    /// <summary>JSON array of strings.</summary>
    public string Tags { get; set; } = "[]";
    public DateTime CreatedAt { get; set; }
    public required string CreatedBy { get; set; }
    public DateTime UpdatedAt { get; set; }

    public List<ModelVersionEntity> Versions { get; set; } = [];
}
