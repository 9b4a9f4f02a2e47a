using System.Security.Claims;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Storage;
using ModelGate.Storage.Security;

namespace ModelGate.Security;

/// <summary>
/// What a key command came to: the key (for a new one, its <see cref="Secret"/>, which exists nowhere else and is shown
/// once), or why not: <see cref="Invalid"/> fields (400), or a <see cref="Status"/> with its problem <see cref="Code"/> and
/// <see cref="Detail"/> (404 unknown principal or key, 422 roles the principal does not hold or an approving role without a person).
/// </summary>
public sealed record KeyOutcome(ApiKeyEntity? Key = null, string? Secret = null, ValidationErrors? Invalid = null, int Status = 0, string? Code = null,
    string? Detail = null, bool Changed = false);

/// <summary>
/// Creating and revoking API keys, with every rule of <c>/api/v1/keys</c>: one place for the REST API and the console, each
/// act audited (<c>key.created</c>, <c>key.revoked</c>) and taking effect at once in this process.
/// </summary>
public static class KeyCommands
{
    public const int MaxNameLength = 200;
    public const string CreatedAction = "key.created";
    public const string RevokedAction = "key.revoked";

    public static async Task<KeyOutcome> CreateAsync(AuditedWrite write, ApiKeyService keys, TimeProvider time, CreateKeyRequest request, ClaimsPrincipal user,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        if (string.IsNullOrWhiteSpace(request.Name) || request.Name.Length > MaxNameLength)
        {
            errors.Add("name", $"a name of 1–{MaxNameLength} characters is required");
        }
        if (request.Roles is null || request.Roles.Count == 0)
        {
            errors.Add("roles", $"at least one role is required: {string.Join(", ", Roles.All)}");
        }
        else
        {
            foreach (var role in request.Roles.Where(r => !Roles.All.Contains(r)))
            {
                errors.Add("roles", $"'{role}' is not a role; roles are {string.Join(", ", Roles.All)}");
            }
        }
        if (request.ExpiresAt is { } expires && expires <= time.GetUtcNow())
        {
            errors.Add("expiresAt", "must be in the future");
        }
        foreach (var d in (request.Deployments ?? []).Where(d => !Registry.Names.IsValidModelName(d)))
        {
            errors.Add("deployments", $"'{d}' is not a deployment name");
        }
        if (request.RequestsPerMinute is < 1 or > 1_000_000)
        {
            errors.Add("requestsPerMinute", "between 1 and 1,000,000");
        }
        if (request.TokensPerMinute is < 1)
        {
            errors.Add("tokensPerMinute", "at least 1");
        }
        if (request.CostBudget is { } budget && (budget <= 0 || !double.IsFinite(budget)))
        {
            errors.Add("costBudget", "a positive amount");
        }
        if (errors.Any)
        {
            return new KeyOutcome(Invalid: errors);
        }

        var secret = ApiKeyService.NewSecret();
        await using var tx = await write.BeginAsync(cancellationToken);
        var id = ApiKeyService.NewId();
        string principalId;
        if (request.Principal is { } named)
        {
            var principal = await PrincipalDirectory.FindAsync(tx.Db, named, cancellationToken);
            if (principal is null || principal.DisabledAt is not null)
            {
                return new KeyOutcome(Status: StatusCodes.Status404NotFound, Code: ProblemCodes.PrincipalNotFound,
                    Detail: $"there is no enabled principal '{ClientText.Echo(named)}'");
            }
            var missing = request.Roles!.Where(r => !ApiKeyService.EffectiveRoles(r, principal.Roles).Contains(r)).ToList();
            if (missing.Count > 0)
            {
                return new KeyOutcome(Status: StatusCodes.Status422UnprocessableEntity, Code: ProblemCodes.RolesNotHeld,
                    Detail: $"{principal.Identity} does not hold {string.Join(", ", missing)}: a key carries only roles its principal holds");
            }
            principalId = principal.Id;
        }
        else if (request.Roles!.Where(Lifecycle.SeparationOfDuties.IsApprovalRole).ToList() is { Count: > 0 } approving)
        {
            return new KeyOutcome(Status: StatusCodes.Status422UnprocessableEntity, Code: ProblemCodes.ApprovalRoleNeedsPerson,
                Detail: $"approving roles ({string.Join(", ", approving)}) are held by people only: create a person principal (POST /api/v1/principals), " +
                "have another administrator grant it the role, and create a key for it (principal)");
        }
        else
        {
            // The key is its own service principal, as every key made before principals existed is.
            tx.Db.Principals.Add(PrincipalDirectory.NewEntity(id, PrincipalKinds.Service, $"key:{id}", request.Name.Trim(), request.Roles!,
                PrincipalSources.Api, tx.Now, user.ActorId()));
            principalId = id;
        }
        var entity = ApiKeyService.NewEntity(id, principalId, request.Name.Trim(), secret, request.Roles!, tx.Now, user.ActorId(),
            request.ExpiresAt?.UtcDateTime, request.Deployments, request.RequestsPerMinute, request.AllowPinning, request.TokensPerMinute, request.CostBudget);
        tx.Db.ApiKeys.Add(entity);
        await tx.AppendAsync(user.ActorId(), CreatedAction, $"keys/{entity.Id}",
            new { entity.Name, principal = principalId, roles = request.Roles, entity.Prefix, entity.ExpiresAt, deployments = request.Deployments, request.RequestsPerMinute, request.AllowPinning,
                request.TokensPerMinute, request.CostBudget },
            cancellationToken: cancellationToken);
        await tx.CommitAsync(cancellationToken);
        keys.Created(entity.KeyHash);
        return new KeyOutcome(entity, secret, Changed: true);
    }

    /// <summary>Revokes the key (a revoked key stays revoked: revoking it again changes nothing and is not audited again).</summary>
    public static async Task<KeyOutcome> RevokeAsync(AuditedWrite write, ApiKeyService keys, string id, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        await using var tx = await write.BeginAsync(cancellationToken);
        var entity = await tx.Db.ApiKeys.FirstOrDefaultAsync(k => k.Id == id, cancellationToken);
        if (entity is null)
        {
            return new KeyOutcome(Status: StatusCodes.Status404NotFound, Code: ProblemCodes.KeyNotFound, Detail: $"there is no key '{ClientText.Echo(id)}'");
        }
        if (entity.RevokedAt is not null)
        {
            return new KeyOutcome(entity);
        }
        entity.RevokedAt = tx.Now;
        entity.RevokedBy = user.ActorId();
        await tx.AppendAsync(user.ActorId(), RevokedAction, $"keys/{entity.Id}", new { entity.Name, entity.Prefix }, cancellationToken: cancellationToken);
        await tx.CommitAsync(cancellationToken);
        keys.Invalidate(entity.Id);
        return new KeyOutcome(entity, Changed: true);
    }

    /// <summary>Every key, oldest first.</summary>
    public static Task<List<ApiKeyEntity>> ListAsync(ModelGateDbContext db, CancellationToken cancellationToken) =>
        db.ApiKeys.AsNoTracking().OrderBy(k => k.CreatedAt).ThenBy(k => k.Id).ToListAsync(cancellationToken);
}
