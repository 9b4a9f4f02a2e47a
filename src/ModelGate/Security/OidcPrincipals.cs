using System.Collections.Concurrent;
using System.Security.Claims;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using ModelGate.Client;
using ModelGate.Storage;
using ModelGate.Storage.Security;

namespace ModelGate.Security;

/// <summary>Who a valid token names: the identity (its principal claim), a display name, and the roles its claims map to.</summary>
public sealed record OidcIdentity(string Identity, string? DisplayName, IReadOnlyList<string> Roles);

/// <summary>The principal a token acts as: its id (what actors are recorded as), identity and roles.</summary>
public sealed record OidcPrincipal(string Id, string Identity, IReadOnlyList<string> Roles);

/// <summary>
/// The principal a token acts as, or why it may not act (its principal is disabled, or does not exist and is not made);
/// <paramref name="Cached"/> false for an answer that an administrator's next act (creating the principal) must change at once.
/// </summary>
public sealed record OidcResolution(OidcPrincipal? Principal, string? Refusal, bool Cached = true);

/// <summary>
/// Turns the person a valid token names into their principal: found by identity (case-insensitively), or made as a person
/// principal with source <c>oidc</c>; a disabled one is refused. The token's mapped roles are the principal's: when they differ
/// from the stored ones they are stored and <c>principal.roles_synced</c> is audited (actor <c>oidc</c>), and the key cache is
/// invalidated, so the person's API keys act with the new roles at once. Answers are cached for
/// <see cref="OidcOptions.PrincipalCacheDuration"/> per identity and roles, and dropped whenever the key cache is invalidated
/// (a key revoked, a principal disabled in this process).
/// </summary>
public sealed class OidcPrincipals(IServiceScopeFactory scopes, TimeProvider time, IOptions<OidcOptions> options, ApiKeyService keys)
{
    public const string Actor = "oidc";

    /// <summary>Entries kept at most; past it the cache starts over (identities come from signed tokens only, so this is a backstop).</summary>
    private const int MaxEntries = 100_000;

    private readonly ConcurrentDictionary<string, Entry> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Entry> _byId = new(StringComparer.Ordinal);
    private long _lookups;

    /// <summary>Database lookups made so far (one per identity not answered from the cache).</summary>
    public long Lookups => Interlocked.Read(ref _lookups);

    private sealed record Entry(OidcResolution Result, string Roles, long CachedAt, long Generation);

    /// <summary>
    /// The principal a token whose signature and claims were validated acts as: the person its principal claim (or the fallback
    /// claim) names, with the roles its roles claim maps to. One rule for the bearer scheme and the console's sign-in.
    /// </summary>
    public ValueTask<OidcResolution> ResolveTokenAsync(ClaimsPrincipal token, CancellationToken cancellationToken)
    {
        var oidc = options.Value;
        var claim = token.FindFirst(oidc.PrincipalClaim) is { Value.Length: > 0 } named ? named
            : string.IsNullOrEmpty(oidc.FallbackPrincipalClaim) ? null : token.FindFirst(oidc.FallbackPrincipalClaim);
        if (claim is not { Value.Length: > 0 })
        {
            return ValueTask.FromResult(new OidcResolution(null, $"the token has no '{oidc.PrincipalClaim}' claim" +
                (string.IsNullOrEmpty(oidc.FallbackPrincipalClaim) ? "" : $" and no '{oidc.FallbackPrincipalClaim}' claim") + " to name its principal"));
        }
        if (claim.Type == "email" && string.Equals(token.FindFirst("email_verified")?.Value, "false", StringComparison.OrdinalIgnoreCase))
        {
            return ValueTask.FromResult(new OidcResolution(null, "the token's email is not verified (email_verified is false)"));
        }
        var roles = oidc.MapRoles(token.FindAll(oidc.RolesClaim).Select(c => c.Value));
        return ResolveAsync(new OidcIdentity(claim.Value, token.FindFirst("name")?.Value, roles), IssuerOf(token), cancellationToken);
    }

    /// <summary>The issuer a validated token names (the configured one: validation made sure they are equal).</summary>
    public string IssuerOf(ClaimsPrincipal token) => token.FindFirst("iss")?.Value ?? options.Value.Issuer!;

    /// <summary>
    /// The principal a console session signed in with single sign-on acts as, found again by id on every page (cached like
    /// <see cref="ResolveAsync"/>): its roles as stored now; a principal disabled or deleted since is refused.
    /// </summary>
    public async ValueTask<OidcResolution> FindAsync(string principalId, CancellationToken cancellationToken)
    {
        var generation = keys.Generation;
        if (_byId.TryGetValue(principalId, out var cached) && cached.Generation == generation
            && time.GetElapsedTime(cached.CachedAt) < options.Value.PrincipalCacheDuration)
        {
            return cached.Result;
        }
        var started = time.GetTimestamp();
        Interlocked.Increment(ref _lookups);
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ModelGateDbContext>();
        var found = await db.Principals.AsNoTracking().FirstOrDefaultAsync(p => p.Id == principalId, cancellationToken);
        var result = found is null ? new OidcResolution(null, $"the principal {principalId} no longer exists") : Resolution(found);
        if (_byId.Count >= MaxEntries)
        {
            _byId.Clear();
        }
        _byId[principalId] = new Entry(result, "", started, generation);
        return result;
    }

    public async ValueTask<OidcResolution> ResolveAsync(OidcIdentity who, string issuer, CancellationToken cancellationToken)
    {
        var identityKey = PrincipalDirectory.IdentityKey(who.Identity);
        var roles = string.Join(' ', who.Roles.Distinct().Order(StringComparer.Ordinal));
        var generation = keys.Generation;
        if (_cache.TryGetValue(identityKey, out var cached) && cached.Generation == generation
            && time.GetElapsedTime(cached.CachedAt) < options.Value.PrincipalCacheDuration && (cached.Result.Principal is null || cached.Roles == roles))
        {
            return cached.Result;
        }
        var started = time.GetTimestamp();
        OidcResolution result;
        try
        {
            result = await LoadAsync(who, roles, issuer, cancellationToken);
        }
        catch (DbUpdateException)
        {
            // Another replica made the same person's principal at the same moment (the identity is unique): use theirs.
            result = await LoadAsync(who, roles, issuer, cancellationToken);
        }
        if (!result.Cached)
        {
            _cache.TryRemove(identityKey, out _);
            return result;
        }
        if (_cache.Count >= MaxEntries)
        {
            _cache.Clear();
        }
        _cache[identityKey] = new Entry(result, roles, started, keys.Generation);
        return result;
    }

    private async Task<OidcResolution> LoadAsync(OidcIdentity who, string roles, string issuer, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _lookups);
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ModelGateDbContext>();
        var identityKey = PrincipalDirectory.IdentityKey(who.Identity);
        var found = await db.Principals.AsNoTracking().FirstOrDefaultAsync(p => p.IdentityKey == identityKey, cancellationToken);
        if (found is not null && (found.DisabledAt is not null || SameRoles(found.Roles, roles)))
        {
            return Resolution(found);
        }

        await using var tx = await scope.ServiceProvider.GetRequiredService<AuditedWrite>().BeginAsync(cancellationToken);
        var entity = await tx.Db.Principals.FirstOrDefaultAsync(p => p.IdentityKey == identityKey, cancellationToken);
        var synced = false;
        if (entity is null && !options.Value.CreatePrincipals)
        {
            return new OidcResolution(null, $"no principal is named '{who.Identity}', and principals are not made at sign-in here (Oidc:CreatePrincipals is false): an administrator creates it first",
                Cached: false);
        }
        if (entity is null)
        {
            entity = PrincipalDirectory.NewEntity(PrincipalDirectory.NewId(), PrincipalKinds.Person, who.Identity, who.DisplayName,
                Split(roles), PrincipalSources.Oidc, tx.Now, Actor);
            tx.Db.Principals.Add(entity);
            await tx.AppendAsync(Actor, "principal.created", Subject(entity.Id), new
            {
                entity.Identity, entity.Kind, roles = PrincipalDirectory.RolesOf(entity), source = PrincipalSources.Oidc, issuer,
            }, cancellationToken: cancellationToken);
        }
        else if (entity.DisabledAt is null && !SameRoles(entity.Roles, roles))
        {
            var from = PrincipalDirectory.RolesOf(entity);
            entity.Roles = roles;
            await tx.AppendAsync(Actor, "principal.roles_synced", Subject(entity.Id), new
            {
                entity.Identity, from, to = PrincipalDirectory.RolesOf(entity), issuer,
            }, cancellationToken: cancellationToken);
            synced = true;
        }
        await tx.CommitAsync(cancellationToken);
        if (synced)
        {
            keys.Invalidate(); // the person's keys act with the roles their principal holds now
        }
        return Resolution(entity);
    }

    private static string[] Split(string roles) => roles.Split(' ', StringSplitOptions.RemoveEmptyEntries);

    public static string Subject(string principalId) => $"principals/{principalId}";

    private static OidcResolution Resolution(PrincipalEntity p) => p.DisabledAt is not null
        ? new OidcResolution(null, $"the principal '{p.Identity}' ({p.Id}) is disabled")
        : new OidcResolution(new OidcPrincipal(p.Id, p.Identity, PrincipalDirectory.RolesOf(p)), null);

    private static bool SameRoles(string stored, string roles) =>
        Split(stored).ToHashSet(StringComparer.Ordinal)
            .SetEquals(Split(roles));
}
