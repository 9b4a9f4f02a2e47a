namespace ModelGate.Storage.Audit;

/// <summary>
/// The audit chain's high-water mark: the newest sequence ever written and its hash, in one row beside the events.
/// Deleting the newest events leaves it where it was, so the next event never reuses a deleted sequence.
/// </summary>
public sealed class AuditChainHeadEntity
{
    public const int SingletonId = 1;

    public int Id { get; set; } = SingletonId;
    public long Sequence { get; set; }
    public required string Hash { get; set; }
}
