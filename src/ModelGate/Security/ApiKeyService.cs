using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.Globalization;
using System.Net;
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
    double? CostBudget = null, string? PrincipalId = null, string? PrincipalIdentity = null)
{
    /// <summary>
    /// The request's user: the key's principal (what actors are recorded as) with the key's roles as far as the principal
    /// still holds them. Built once per cached validation, not on every request.
    /// </summary>
    /// The name of a key that is its own principal is the key's name.
    public ClaimsPrincipal Principal { get; } = ModelGateClaims.Create(ApiKeyAuthenticationHandler.SchemeName, PrincipalId ?? Id,
        PrincipalId is null || PrincipalId == Id ? Name : PrincipalIdentity ?? Name, Roles, Id, Name);
}

/// <summary>
/// Issues and checks API keys. Keys are random 256-bit secrets; only their SHA-256 is stored.
/// A validation is cached for <see cref="SecurityOptions.KeyCacheDuration"/>: a key in use is looked up again in the
/// background once four fifths of that time have passed, so that a busy key never waits for the database; an entry
/// older than the duration is never used, so a revocation made elsewhere takes effect within it. Lookups of one key
/// share one query (no stampede when an entry expires) and run on the thread pool, never on the socket thread that
/// received the request. The cache holds at most one entry per stored key. A key the database does not know is refused
/// without asking it again for <see cref="SecurityOptions.UnknownKeyCacheDuration"/>, in a table of fixed size indexed by
/// the key's hash (a flood of made-up keys overwrites its slots instead of growing it); refusals are logged at most once
/// per <see cref="SecurityOptions.RefusedKeyLogInterval"/>, counted, with the client address that sent the most.
/// </summary>
public sealed partial class ApiKeyService(IServiceScopeFactory scopes, TimeProvider time, IOptions<SecurityOptions> options, ILogger<ApiKeyService> logger,
    Redis.ClusterPush? push = null)
{
    public const string KeyPrefix = "mg_";
    private const int PrefixShown = 10;
    private readonly ConcurrentDictionary<string, CachedKey> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lazy<Task<CachedKey?>>> _lookups = new(StringComparer.Ordinal);
    private long _generation;
    // Allocated at the first refusal (a 64K-slot table is 512 KiB of long-lived heap, which the GC's gen0 budget then grows by
    // half again): a server no one sends unknown keys to never holds it.
    private readonly int _refusalSlots = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)options.Value.UnknownKeyCacheSize);
    private Refusal?[]? _refusals;
    private readonly Source?[] _sources = new Source?[SourceCounters];

    /// <summary>How many addresses' refusals are counted apart; addresses in the same counter replace each other.</summary>
    internal const int SourceCounters = 64;
    private long _refusedSinceLog;
    private long _nextLogAt = long.MinValue;
    private long _lookupCount;
    private KnownKeys? _known;
    private long _missesSinceLoad;
    private int _loadingKnown;

    /// <summary>Unknown keys looked up one by one before the hashes of all stored keys are loaded to refuse the rest from memory.</summary>
    private const int MissesBeforeLoadingAllKeys = 16;

    /// <summary>Changes with every <see cref="Invalidate"/> and <see cref="Created"/>: caches built on principals compare it to drop what they hold.</summary>
    public long Generation => Interlocked.Read(ref _generation);

    /// <summary>Database lookups made so far (one per key not answered from memory).</summary>
    public long Lookups => Interlocked.Read(ref _lookupCount);

    public static string NewSecret() => KeyPrefix + Base64Url(RandomNumberGenerator.GetBytes(32));

    public static string NewId() => "key_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));

    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    public static bool LooksLikeKey(string key) => key.StartsWith(KeyPrefix, StringComparison.Ordinal) && key.Length is >= 32 and <= 256;

    public static ApiKeyEntity NewEntity(string id, string principalId, string name, string secret, IEnumerable<string> roles, DateTime now, string createdBy, DateTime? expiresAt,
        IEnumerable<string>? deployments = null, int? requestsPerMinute = null, bool allowPinning = true, int? tokensPerMinute = null,
        double? costBudget = null) => new()
    {
        TokensPerMinute = tokensPerMinute,
        CostBudget = costBudget,
        Deployments = deployments is null ? null : string.Join(' ', deployments.Distinct()),
        RequestsPerMinute = requestsPerMinute,
        AllowPinning = allowPinning,
        Id = id,
        PrincipalId = principalId,
        Name = name,
        Prefix = secret[..PrefixShown],
        KeyHash = Hash(secret),
        Roles = string.Join(' ', roles.Distinct()),
        CreatedAt = now,
        CreatedBy = createdBy,
        ExpiresAt = expiresAt,
    };

    /// <summary>Returns the key's identity, or null for an unknown, revoked or expired key.</summary>
    public ValueTask<AuthenticatedKey?> ValidateAsync(string key, CancellationToken cancellationToken) =>
        LooksLikeKey(key) ? ValidateHashAsync(Hash(key), cancellationToken) : ValueTask.FromResult<AuthenticatedKey?>(null);

    /// <summary>
    /// The key whose SHA-256 is <paramref name="hash"/>, as <see cref="ValidateAsync"/> finds it (cached, revocation and
    /// expiry honoured): how a console session, which keeps the hash and never the key, is checked on every page.
    /// </summary>
    public async ValueTask<AuthenticatedKey?> ValidateHashAsync(string hash, CancellationToken cancellationToken)
    {
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
        else if (SlotOf(hash, out var prefix) is var slot && Volatile.Read(ref _refusals) is { } refusals
            && refusals[slot] is { } refusal && refusal.Hash == prefix && now < refusal.Until)
        {
            return null;
        }
        else if (Volatile.Read(ref _known) is { } known && now < known.Until && !known.Hashes.Contains(prefix))
        {
            return null; // a flood of distinct made-up keys: none is stored, as all stored keys were read less than the lifetime ago
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

    /// <summary>
    /// Forgets cached validations so that a revocation takes effect at once in this process, and (with Redis) in the other
    /// replicas: <paramref name="subject"/> (a key id, or <c>principals/{id}</c>) is what changed. Called after the commit.
    /// </summary>
    public void Invalidate(string? subject = null)
    {
        InvalidateHere();
        push?.KeysChanged(subject);
    }

    /// <summary>Forgets cached validations in this process only (another replica said a key changed).</summary>
    public void InvalidateHere()
    {
        Interlocked.Increment(ref _generation);
        _cache.Clear();
        _lookups.Clear(); // a query that started before the change must not answer requests that come after it
    }

    /// <summary>
    /// Forgets that a key was refused, so that a key just created (with a secret that may have been tried before, such as
    /// a configured one) works at once in this process.
    /// </summary>
    public void Created(string keyHash)
    {
        Interlocked.Increment(ref _generation); // a lookup that started before the key existed must not refuse it afterwards
        Volatile.Write(ref _known, null);
        _lookups.Clear();
        if (Volatile.Read(ref _refusals) is { } refusals)
        {
            Volatile.Write(ref refusals[SlotOf(keyHash, out _)], null);
        }
    }

    /// <summary>
    /// Counts a refused key and the address that sent it; at most once per interval, the count since the last line is
    /// logged with the address that sent the most (approximately: addresses share 64 counters).
    /// </summary>
    public void NoteRefused(IPAddress? address)
    {
        Interlocked.Increment(ref _refusedSinceLog);
        if (address is not null)
        {
            ref var slot = ref _sources[CounterOf(address)];
            var source = Volatile.Read(ref slot);
            if (source is not null && source.Address.Equals(address))
            {
                Interlocked.Increment(ref source.Count);
            }
            else
            {
                Volatile.Write(ref slot, new Source(address) { Count = 1 });
            }
        }
        var now = time.GetTimestamp();
        var next = Interlocked.Read(ref _nextLogAt);
        var interval = (long)(options.Value.RefusedKeyLogInterval.TotalSeconds * time.TimestampFrequency);
        if (now < next || Interlocked.CompareExchange(ref _nextLogAt, now + interval, next) != next)
        {
            return;
        }
        Source? top = null;
        for (var i = 0; i < _sources.Length; i++)
        {
            if (Interlocked.Exchange(ref _sources[i], null) is { } s && (top is null || s.Count > top.Count))
            {
                top = s;
            }
        }
        LogRefused(logger, Interlocked.Exchange(ref _refusedSinceLog, 0), options.Value.RefusedKeyLogInterval.TotalSeconds,
            top?.Address.ToString() ?? "unknown", top?.Count ?? 0);
    }

    /// <summary>The counter an address's refusals go to (the address's hash is randomised per process).</summary>
    internal static int CounterOf(IPAddress address) => (address.GetHashCode() & int.MaxValue) % SourceCounters;

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Refused {Count} requests with an unknown, revoked or expired API key (at most one such line every {Seconds} s); most came from {Address} ({AddressCount})")]
    private static partial void LogRefused(ILogger logger, long count, double seconds, string address, int addressCount);

    private sealed class Source(IPAddress address)
    {
        public readonly IPAddress Address = address;
        public int Count;
    }

    /// <summary>The first 64 bits of the hashes of all stored keys, read at one time, trusted until <c>Until</c>.</summary>
    private sealed record KnownKeys(System.Collections.Frozen.FrozenSet<ulong> Hashes, long Until);

    /// <summary>
    /// Reads the hashes of all stored keys (once at a time, on the thread pool), so that while they are fresh a key that is
    /// none of them is refused without a query of its own. Their memory is that of the stored keys, not of the flood.
    /// </summary>
    private void LoadKnownKeys()
    {
        if (Interlocked.CompareExchange(ref _loadingKnown, 1, 0) != 0)
        {
            return;
        }
        _ = Task.Run(async () =>
        {
            try
            {
                var generation = Interlocked.Read(ref _generation);
                var started = time.GetTimestamp();
                Interlocked.Increment(ref _lookupCount);
                await using var scope = scopes.CreateAsyncScope();
                var db = scope.ServiceProvider.GetRequiredService<ModelGateDbContext>();
                var hashes = await db.ApiKeys.AsNoTracking().Select(k => k.KeyHash).ToListAsync();
                var known = new KnownKeys(hashes.Select(h => ulong.Parse(h.AsSpan(0, 16), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture))
                    .ToFrozenSet(), started + (long)(options.Value.UnknownKeyCacheDuration.TotalSeconds * time.TimestampFrequency));
                if (Interlocked.Read(ref _generation) == generation)
                {
                    Volatile.Write(ref _known, known);
                    Interlocked.Exchange(ref _missesSinceLoad, 0);
                }
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // Keys go on being looked up one by one; the next misses try again.
            }
            finally
            {
                Volatile.Write(ref _loadingKnown, 0);
            }
        });
    }

    /// <summary>A refused key: the first 64 bits of its hash, and until when it is refused without asking the database.</summary>
    private sealed record Refusal(ulong Hash, long Until);

    private int SlotOf(string hash, out ulong prefix)
    {
        prefix = ulong.Parse(hash.AsSpan(0, 16), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
        return (int)(prefix & (ulong)(_refusalSlots - 1));
    }

    /// <summary>The refusal table, allocated on first use.</summary>
    private Refusal?[] Refusals() =>
        Volatile.Read(ref _refusals) ?? Interlocked.CompareExchange(ref _refusals, new Refusal?[_refusalSlots], null) ?? _refusals!;

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
        Interlocked.Increment(ref _lookupCount);
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ModelGateDbContext>();
        var row = await db.ApiKeys.AsNoTracking().Where(k => k.KeyHash == hash)
            .Select(k => new { Key = k, Principal = db.Principals.FirstOrDefault(p => p.Id == k.PrincipalId) }).FirstOrDefaultAsync();
        var entity = row?.Key;
        if (entity is null)
        {
            _cache.TryRemove(hash, out _);
            var slot = SlotOf(hash, out var prefix);
            var refusal = new Refusal(prefix, started + (long)(options.Value.UnknownKeyCacheDuration.TotalSeconds * time.TimestampFrequency));
            if (Interlocked.Read(ref _generation) == generation)
            {
                var refusals = Refusals();
                Volatile.Write(ref refusals[slot], refusal);
                if (Interlocked.Read(ref _generation) != generation)
                {
                    Interlocked.CompareExchange(ref refusals[slot], null, refusal); // a key was created meanwhile
                }
            }
            if (Interlocked.Increment(ref _missesSinceLoad) >= MissesBeforeLoadingAllKeys
                && (Volatile.Read(ref _known) is not { } known || time.GetTimestamp() >= known.Until))
            {
                LoadKnownKeys();
            }
            return null;
        }
        // A key acts for its principal: not at all once the principal is disabled (or gone), and only with the roles it still holds.
        var principal = row!.Principal;
        var found = entity.RevokedAt is not null || principal is null || principal.DisabledAt is not null
            ? null
            : new AuthenticatedKey(entity.Id, entity.Name, EffectiveRoles(entity.Roles, principal.Roles), entity.ExpiresAt,
                entity.Deployments?.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal),
                entity.RequestsPerMinute, entity.AllowPinning, entity.TokensPerMinute, entity.CostBudget, principal.Id, principal.Identity);
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

    /// <summary>A key's roles that its principal holds (every role includes viewer's reading).</summary>
    public static string[] EffectiveRoles(string keyRoles, string principalRoles)
    {
        var held = principalRoles.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return [.. keyRoles.Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(r => held.Contains(r) || (r == Client.Roles.Viewer && held.Length > 0))];
    }

    private sealed record CachedKey(AuthenticatedKey? Key, long CachedAt);

    private static string Base64Url(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
