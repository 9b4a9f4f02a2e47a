using System.Security.Claims;
using System.Security.Cryptography;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Storage;
using ModelGate.Storage.Security;

namespace ModelGate.Security;

public static class PrincipalSources
{
    public const string Api = "api";
    public const string Oidc = "oidc";
    public const string Bootstrap = "bootstrap";
    public const string Migration = "migration";
}

/// <summary>
/// The claims every authenticated request carries, whatever proved it (API key or OpenID Connect token): the principal's id
/// (<see cref="ClaimTypes.NameIdentifier"/>, what actors are recorded as), its identity (<see cref="ClaimTypes.Name"/>), its
/// roles, and for a key the key's id and name.
/// </summary>
public static class ModelGateClaims
{
    public const string KeyId = "modelgate:key_id";
    public const string KeyName = "modelgate:key_name";

    public static ClaimsPrincipal Create(string scheme, string principalId, string identity, IEnumerable<string> roles, string? keyId = null,
        string? keyName = null)
    {
        var claims = new ClaimsIdentity(scheme, ClaimTypes.Name, ClaimTypes.Role);
        claims.AddClaim(new Claim(ClaimTypes.NameIdentifier, principalId));
        claims.AddClaim(new Claim(ClaimTypes.Name, identity));
        if (keyId is not null)
        {
            claims.AddClaim(new Claim(KeyId, keyId));
        }
        if (keyName is not null)
        {
            claims.AddClaim(new Claim(KeyName, keyName));
        }
        foreach (var role in roles)
        {
            claims.AddClaim(new Claim(ClaimTypes.Role, role));
        }
        return new ClaimsPrincipal(claims);
    }

    /// <summary>The key the request was made with, if it was made with one.</summary>
    public static string? KeyIdOf(this ClaimsPrincipal user) => user.FindFirst(KeyId)?.Value;

    /// <summary>The key's name, if the request was made with a key.</summary>
    public static string? KeyNameOf(this ClaimsPrincipal user) => user.FindFirst(KeyName)?.Value;
}

/// <summary>Where principals are made and found: the rules for ids, identities and the built-in ones.</summary>
public static class PrincipalDirectory
{
    /// <summary>The service principal the server's own short-lived keys (staging verification's smoke traffic) belong to.</summary>
    public const string SystemId = "system";

    public static string NewId() => "prn_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    public static string IdentityKey(string identity) => identity.Trim().ToLowerInvariant();

    public static string[] RolesOf(PrincipalEntity p) => p.Roles.Split(' ', StringSplitOptions.RemoveEmptyEntries);

    public static PrincipalEntity NewEntity(string id, string kind, string identity, string? displayName, IEnumerable<string> roles, string source,
        DateTime now, string createdBy) => new()
    {
        Id = id,
        Kind = kind,
        Identity = identity.Trim(),
        IdentityKey = IdentityKey(identity),
        DisplayName = displayName,
        Roles = string.Join(' ', roles.Distinct()),
        Source = source,
        CreatedAt = now,
        CreatedBy = createdBy,
    };

    public static Task<PrincipalEntity?> FindByIdentityAsync(ModelGateDbContext db, string identity, CancellationToken cancellationToken)
    {
        var key = IdentityKey(identity);
        return db.Principals.FirstOrDefaultAsync(p => p.IdentityKey == key, cancellationToken);
    }

    /// <summary>By id, or else by identity (what people type: <c>alice@example.com</c>).</summary>
    public static async Task<PrincipalEntity?> FindAsync(ModelGateDbContext db, string idOrIdentity, CancellationToken cancellationToken) =>
        await db.Principals.FirstOrDefaultAsync(p => p.Id == idOrIdentity, cancellationToken)
        ?? await FindByIdentityAsync(db, idOrIdentity, cancellationToken);

    /// <summary>The <see cref="SystemId"/> principal, made on first use (viewer only).</summary>
    public static async Task<PrincipalEntity> SystemAsync(ModelGateDbContext db, DateTime now, CancellationToken cancellationToken)
    {
        if (await db.Principals.FirstOrDefaultAsync(p => p.Id == SystemId, cancellationToken) is { } found)
        {
            return found;
        }
        var entity = NewEntity(SystemId, PrincipalKinds.Service, "system", "ModelGate", [Roles.Viewer], PrincipalSources.Bootstrap, now,
            AdminKeyBootstrapper.SystemActor);
        db.Principals.Add(entity);
        return entity;
    }
}
