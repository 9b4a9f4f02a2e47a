namespace ModelGate.Storage.Monitoring;

/// <summary>
/// One alert, de-duplicated by <see cref="Key"/>: while it fires, repeats only bump <see cref="Occurrences"/> and
/// <see cref="LastSeenAt"/>; once resolved, the next firing is a new alert.
/// </summary>
public sealed class AlertEntity
{
    public long Id { get; set; }
    public required string Key { get; set; }
    /// <summary>What alerts are grouped by (a deployment or model name).</summary>
    public required string Group { get; set; }
    public required string Kind { get; set; }
    public required string Severity { get; set; }
    public required string Status { get; set; }
    public required string Summary { get; set; }
    /// <summary>JSON with the figures that raised it.</summary>
    public required string Details { get; set; }
    public DateTime FiredAt { get; set; }
    public DateTime LastSeenAt { get; set; }
    public DateTime? ResolvedAt { get; set; }
    public int Occurrences { get; set; }
    public bool Silenced { get; set; }
    /// <summary>none, pending, delivered or failed.</summary>
    public required string Delivery { get; set; }
    public int DeliveryAttempts { get; set; }
}

/// <summary>Mutes alerts whose key starts with <see cref="KeyPrefix"/> until <see cref="Until"/>.</summary>
public sealed class SilenceEntity
{
    public long Id { get; set; }
    public required string KeyPrefix { get; set; }
    public DateTime Until { get; set; }
    public required string Reason { get; set; }
    public DateTime CreatedAt { get; set; }
    public required string CreatedBy { get; set; }
}
