namespace ModelGate.Storage.Audit;

public sealed class AuditEventEntity
{
    public long Sequence { get; set; }
    public DateTime Time { get; set; }
    public required string Actor { get; set; }
    public required string Action { get; set; }
    public required string Subject { get; set; }
    /// <summary>Canonical JSON object, hashed exactly as stored.</summary>
    public required string Details { get; set; }
    public required string Outcome { get; set; }
    public required string PreviousHash { get; set; }
    public required string Hash { get; set; }
}
