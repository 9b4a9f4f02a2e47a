using System.Collections.Concurrent;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using ModelGate.Storage;
using ModelGate.Storage.Security;

namespace ModelGate.Security;

public sealed record AuthenticatedKey(string Id, string Name, IReadOnlyList<string> Roles, DateTime? ExpiresAt,
    IReadOnlySet<string>? Deployments = null, int? RequestsPerMinute = null, bool AllowPinning = true, int? TokensPerMinute = null,
    double? CostBudget = null)
{
    /// <summary>The key as the request's user: built once per cached validation, not on every request.</summary>
    public ClaimsPrincipal Principal { get; } = NewPrincipal(Id, Name, Roles);

    private static ClaimsPrincipal NewPrincipal(string id, string name, IReadOnlyList<string> roles)
    {
        var identity = new ClaimsIdentity(ApiKeyAuthenticationHandler.SchemeName, ClaimTypes.NameIdentifier, ClaimTypes.Role);
        identity.AddClaim(new Claim(ClaimTypes.NameIdentifier, id));
        identity.AddClaim(new Claim(ClaimTypes.Name, name));
        foreach (var role in roles)
        {
            identity.AddClaim(new Claim(ClaimTypes.Role, role));
        }
        return new ClaimsPrincipal(identity);
    }
}

/// <summary>Issues and checks API keys. Keys are random 256-bit secrets; only their SHA-256 is stored.</summary>
public sealed class ApiKeyService(IServiceScopeFactory scopes, TimeProvider time, IOptions<SecurityOptions> options)
{
    public const string KeyPrefix = "mg_";
    private const int PrefixShown = 10;
    private readonly ConcurrentDictionary<string, (AuthenticatedKey? Key, long CachedAt)> _cache = new(StringComparer.Ordinal);

    public static string NewSecret() => KeyPrefix + Base64Url(RandomNumberGenerator.GetBytes(32));

    public static string NewId() => "key_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));

    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    public static bool LooksLikeKey(string key) => key.StartsWith(KeyPrefix, StringComparison.Ordinal) && key.Length is >= 32 and <= 256;

    public static ApiKeyEntity NewEntity(string id, string name, string secret, IEnumerable<string> roles, DateTime now, string createdBy, DateTime? expiresAt,
        IEnumerable<string>? deployments = null, int? requestsPerMinute = null, bool allowPinning = true, int? tokensPerMinute = null,
        double? costBudget = null) => new()
    {
        TokensPerMinute = tokensPerMinute,
        CostBudget = costBudget,
        Deployments = deployments is null ? null : string.Join(' ', deployments.Distinct()),
        RequestsPerMinute = requestsPerMinute,
        AllowPinning = allowPinning,
        Id = id,
        Name = name,
        Prefix = secret[..PrefixShown],
        KeyHash = Hash(secret),
        Roles = string.Join(' ', roles.Distinct()),
        CreatedAt = now,
        CreatedBy = createdBy,
        ExpiresAt = expiresAt,
    };

    /// <summary>Returns the key's identity, or null for an unknown, revoked or expired key.</summary>
    public async Task<AuthenticatedKey?> ValidateAsync(string key, CancellationToken cancellationToken)
    {
        if (!LooksLikeKey(key))
        {
            return null;
        }
        var hash = Hash(key);
        var now = time.GetTimestamp();
        AuthenticatedKey? found;
        if (_cache.TryGetValue(hash, out var cached) && time.GetElapsedTime(cached.CachedAt, now) < options.Value.KeyCacheDuration)
        {
            found = cached.Key;
        }
        else
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<ModelGateDbContext>();
            var entity = await db.ApiKeys.AsNoTracking().FirstOrDefaultAsync(k => k.KeyHash == hash, cancellationToken);
            found = entity is null || entity.RevokedAt is not null
                ? null
                : new AuthenticatedKey(entity.Id, entity.Name, entity.Roles.Split(' ', StringSplitOptions.RemoveEmptyEntries), entity.ExpiresAt,
                    entity.Deployments?.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal),
                    entity.RequestsPerMinute, entity.AllowPinning, entity.TokensPerMinute, entity.CostBudget);
            _cache[hash] = (found, now);
        }
        if (found?.ExpiresAt is { } expires && expires <= time.GetUtcNow().UtcDateTime)
        {
            return null;
        }
        return found;
    }

    /// <summary>Forgets cached validations so that a revocation takes effect at once in this process.</summary>
    public void Invalidate() => _cache.Clear();

    private static string Base64Url(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
