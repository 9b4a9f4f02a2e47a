namespace ModelGate.Storage.Security;

public sealed class ApiKeyEntity
{
    public required string Id { get; set; }
    public required string Name { get; set; }
    /// <summary>The first characters of the key, shown so that people can tell keys apart.</summary>
    public required string Prefix { get; set; }
    /// <summary>Hex SHA-256 of the whole key; the key itself is never stored.</summary>
    public required string KeyHash { get; set; }
    /// <summary>Space-separated role names.</summary>
    public required string Roles { get; set; }
    public DateTime CreatedAt { get; set; }
    public required string CreatedBy { get; set; }
    public DateTime? ExpiresAt { get; set; }
    public DateTime? RevokedAt { get; set; }
    /// <summary>Space-separated deployment names the key may call on the data plane; null: every deployment.</summary>
    public string? Deployments { get; set; }
    /// <summary>Data-plane requests per minute (token bucket); null: unlimited.</summary>
    public int? RequestsPerMinute { get; set; }
    /// <summary>Whether the key may pin a version (<c>deployment@version</c>) instead of following the routing table.</summary>
    public bool AllowPinning { get; set; } = true;
    /// <summary>Data-plane tokens (prompt + completion) per minute; null: unlimited.</summary>
    public int? TokensPerMinute { get; set; }
    /// <summary>The most this key may spend (in the price tables' currency) over its lifetime; null: unlimited.</summary>
    public double? CostBudget { get; set; }
    public string? RevokedBy { get; set; }
}
