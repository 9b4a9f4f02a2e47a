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

/// <summary>
/// Issues and checks API keys. Keys are random 256-bit secrets; only their SHA-256 is stored.
/// A validation is cached for <see cref="SecurityOptions.KeyCacheDuration"/>: a key in use is looked up again in the
/// background once four fifths of that time have passed, so that a busy key never waits for the database; an entry
/// older than the duration is never used, so a revocation made elsewhere takes effect within it. Lookups of one key
/// share one query (no stampede when an entry expires) and run on the thread pool, never on the socket thread that
/// received the request. Unknown keys are not cached: the cache holds at most one entry per stored key.
/// </summary>
public sealed class ApiKeyService(IServiceScopeFactory scopes, TimeProvider time, IOptions<SecurityOptions> options)
{
    public const string KeyPrefix = "mg_";
    private const int PrefixShown = 10;
    private readonly ConcurrentDictionary<string, CachedKey> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lazy<Task<CachedKey?>>> _lookups = new(StringComparer.Ordinal);
    private long _generation;

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
    public async ValueTask<AuthenticatedKey?> ValidateAsync(string key, CancellationToken cancellationToken)
    {
        if (!LooksLikeKey(key))
        {
            return null;
        }
        var hash = Hash(key);
        var now = time.GetTimestamp();
        var duration = options.Value.KeyCacheDuration;
        AuthenticatedKey? found;
        if (_cache.TryGetValue(hash, out var cached) && time.GetElapsedTime(cached.CachedAt, now) is var age && age < duration)
        {
            if (age >= duration * 0.8)
            {
                _ = LookUpAsync(hash); // refresh ahead, in the background; this request goes on with the cached answer
            }
            found = cached.Key;
        }
        else
        {
            found = (await LookUpAsync(hash).WaitAsync(cancellationToken))?.Key;
        }
        if (found?.ExpiresAt is { } expires && expires <= time.GetUtcNow().UtcDateTime)
        {
            return null;
        }
        return found;
    }

    /// <summary>Forgets cached validations so that a revocation takes effect at once in this process.</summary>
    public void Invalidate()
    {
        Interlocked.Increment(ref _generation);
        _cache.Clear();
        _lookups.Clear(); // a query that started before the change must not answer requests that come after it
    }

    /// <summary>One query per key at a time, on the thread pool; its answer replaces the cached one unless the cache was invalidated meanwhile.</summary>
    private Task<CachedKey?> LookUpAsync(string hash)
    {
        if (_lookups.TryGetValue(hash, out var running))
        {
            return running.Value;
        }
        var mine = new Lazy<Task<CachedKey?>>(() => Task.Run(() => QueryAsync(hash)));
        var lookup = _lookups.GetOrAdd(hash, mine);
        if (ReferenceEquals(lookup, mine))
        {
            // Forgotten once done (a failure included: the next request asks again); a request waiting for it sees its outcome.
            _ = mine.Value.ContinueWith(_ => _lookups.TryRemove(new KeyValuePair<string, Lazy<Task<CachedKey?>>>(hash, mine)), CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
        return lookup.Value;
    }

    private async Task<CachedKey?> QueryAsync(string hash)
    {
        var generation = Interlocked.Read(ref _generation);
        var started = time.GetTimestamp();
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ModelGateDbContext>();
        var entity = await db.ApiKeys.AsNoTracking().FirstOrDefaultAsync(k => k.KeyHash == hash);
        if (entity is null)
        {
            _cache.TryRemove(hash, out _);
            return null;
        }
        var found = entity.RevokedAt is not null
            ? null
            : new AuthenticatedKey(entity.Id, entity.Name, entity.Roles.Split(' ', StringSplitOptions.RemoveEmptyEntries), entity.ExpiresAt,
                entity.Deployments?.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal),
                entity.RequestsPerMinute, entity.AllowPinning, entity.TokensPerMinute, entity.CostBudget);
        var answer = new CachedKey(found, started);
        if (Interlocked.Read(ref _generation) == generation)
        {
            _cache[hash] = answer;
            if (Interlocked.Read(ref _generation) != generation)
            {
                _cache.TryRemove(new KeyValuePair<string, CachedKey>(hash, answer)); // invalidated while it was being stored
            }
        }
        return answer;
    }

    private sealed record CachedKey(AuthenticatedKey? Key, long CachedAt);

    private static string Base64Url(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
