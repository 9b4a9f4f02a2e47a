namespace ModelGate.Storage.Security;

public sealed class ApiKeyEntity
{
    public required string Id { get; set; }
    public required string Name { get; set; }
    /// <summary>The principal (person or service) the key acts for; what it does is recorded against the principal.</summary>
    public required string PrincipalId { get; set; }
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

/// <summary>
/// A person or a service: the one the separation-of-duties rules compare. It holds roles and any number of API keys; a key
/// acts with its own roles as far as its principal still holds them. People signed in by OpenID Connect are principals too.
/// </summary>
public sealed class PrincipalEntity
{
    /// <summary><c>prn_</c> and 16 hex digits; a principal made for a key that existed before principals has that key's id.</summary>
    public required string Id { get; set; }
    /// <summary><c>person</c> or <c>service</c>.</summary>
    public required string Kind { get; set; }
    /// <summary>E-mail or subject, as given.</summary>
    public required string Identity { get; set; }
    /// <summary>The identity lower-cased (invariant): unique, and what lookups and comparisons use.</summary>
    public required string IdentityKey { get; set; }
    public string? DisplayName { get; set; }
    /// <summary>Space-separated role names.</summary>
    public required string Roles { get; set; }
    /// <summary>How it came to be: <c>api</c>, <c>oidc</c>, <c>bootstrap</c> or <c>migration</c>.</summary>
    public required string Source { get; set; }
    public DateTime CreatedAt { get; set; }
    public required string CreatedBy { get; set; }
    public DateTime? DisabledAt { get; set; }
    public string? DisabledBy { get; set; }
}
