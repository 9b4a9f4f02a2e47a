using System.Security.Claims;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Storage;

namespace ModelGate.Security;

/// <summary><c>GET /api/v1/me</c>: who the caller is, whichever way they proved it (API key or single sign-on).</summary>
public static class MeApi
{
    public static IEndpointRouteBuilder MapMeApi(this IEndpointRouteBuilder app)
    {
        // Any authenticated caller, a scoped key and a person without roles included: it shows only the caller's own record.
        app.MapGet("/api/v1/me", GetMe).WithName(nameof(GetMe)).WithTags("Keys").RequireAuthorization().AllowScopedKeys();
        return app;
    }

    public static async Task<MeDto> GetMe(ClaimsPrincipal user, ModelGateDbContext db, CancellationToken cancellationToken)
    {
        var id = user.ActorId();
        var principal = await db.Principals.AsNoTracking().Where(p => p.Id == id)
            .Select(p => new { p.Kind, p.Identity, p.DisplayName }).FirstOrDefaultAsync(cancellationToken);
        var roles = user.FindAll(ClaimTypes.Role).Select(c => c.Value).ToList();
        var oidc = user.Identity?.AuthenticationType == OidcAuthentication.SchemeName;
        return new MeDto(id, principal?.Kind ?? PrincipalKinds.Service, principal?.Identity ?? user.Identity?.Name ?? id, principal?.DisplayName, roles,
            oidc ? MeDto.ByOidc : MeDto.ByApiKey, user.KeyIdOf(), user.KeyNameOf(), oidc ? user.FindFirst(OidcAuthentication.IssuerClaim)?.Value : null);
    }
}
