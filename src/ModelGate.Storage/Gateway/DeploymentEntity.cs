namespace ModelGate.Storage.Gateway;

/// <summary>A named endpoint in an environment that serves versions of one model through its routing table.</summary>
public sealed class DeploymentEntity
{
    public long Id { get; set; }
    public required string Name { get; set; }
    public required string Environment { get; set; }
    public long ModelId { get; set; }
    public required string Model { get; set; }
    /// <summary>The routing table as canonical JSON; every change is a new revision and an audit event.</summary>
    public required string Routing { get; set; }
    public int Revision { get; set; }
    /// <summary>The stable version before the current one: where <c>rollback</c> sends traffic.</summary>
    public string? LastKnownGood { get; set; }
    /// <summary>The service-level objectives (JSON), or null for none.</summary>
    public string? Slo { get; set; }
    public DateTime CreatedAt { get; set; }
    public required string CreatedBy { get; set; }
    public DateTime UpdatedAt { get; set; }
    public required string UpdatedBy { get; set; }
}
