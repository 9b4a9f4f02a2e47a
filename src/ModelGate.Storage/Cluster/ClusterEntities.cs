namespace ModelGate.Storage.Cluster;

/// <summary>
/// A lease that one process holds at a time (<c>workers</c>: the background workers' leader). <see cref="Token"/> is the
/// fencing token: it grows by one at every change of holder, and a write done on the lease's behalf checks it in its own
/// transaction, so a process that lost the lease without noticing cannot write.
/// </summary>
public sealed class LeaseEntity
{
    public const int NameLength = 64;
    public const int HolderLength = 128;

    public required string Name { get; set; }
    public required string Holder { get; set; }
    public long Token { get; set; }
    public DateTime AcquiredAt { get; set; }
    public DateTime ExpiresAt { get; set; }
}

/// <summary>
/// One replica's telemetry of one version of a deployment for one 10-second slot (served routes merged, or its mirrored
/// shadow traffic), written by that replica as the slot fills: the canary judge merges the slots of every replica.
/// <see cref="Payload"/> is the slot's aggregate as JSON.
/// </summary>
public sealed class TelemetrySlotEntity
{
    public const int ReplicaLength = 64;

    public required string Deployment { get; set; }
    public required string Version { get; set; }
    public bool Shadow { get; set; }
    public long Slot { get; set; }
    public required string Replica { get; set; }
    public required string Payload { get; set; }
    public DateTime UpdatedAt { get; set; }
}

/// <summary>Sampled input rows of one version, written by the replica that served them (the drift monitor reads every replica's).</summary>
public sealed class InputSampleEntity
{
    public long Id { get; set; }
    public required string Replica { get; set; }
    public required string Deployment { get; set; }
    public required string Version { get; set; }
    public DateTime Time { get; set; }
    /// <summary>The column names, as a JSON array of strings.</summary>
    public required string Columns { get; set; }
    /// <summary>The row's values as text ("" for missing), a JSON array in <see cref="Columns"/>' order.</summary>
    public required string Values { get; set; }
}
