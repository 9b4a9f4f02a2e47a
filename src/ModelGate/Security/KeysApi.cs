using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Storage;
using ModelGate.Storage.Security;

namespace ModelGate.Security;

public static class KeysApi
{
    public static IEndpointRouteBuilder MapKeysApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/keys").WithTags("Keys").RequireAuthorization(Permissions.KeysManage);
        api.MapPost("/", CreateKey).WithName(nameof(CreateKey));
        api.MapGet("/", ListKeys).WithName(nameof(ListKeys));
        api.MapDelete("/{id}", RevokeKey).WithName(nameof(RevokeKey));
        return app;
    }

    public static async Task<Results<Created<ApiKeyDto>, ProblemHttpResult>> CreateKey(CreateKeyRequest request, ClaimsPrincipal user,
        AuditedWrite write, TimeProvider time, ApiKeyService keys, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        if (string.IsNullOrWhiteSpace(request.Name) || request.Name.Length > 200)
        {
            errors.Add("name", "a name of 1–200 characters is required");
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
            return errors.ToProblem();
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
                return Problems.NotFound(ProblemCodes.PrincipalNotFound, $"there is no enabled principal '{ClientText.Echo(named)}'");
            }
            var missing = request.Roles!.Where(r => !ApiKeyService.EffectiveRoles(r, principal.Roles).Contains(r)).ToList();
            if (missing.Count > 0)
            {
                return Problems.Unprocessable(ProblemCodes.RolesNotHeld,
                    $"{principal.Identity} does not hold {string.Join(", ", missing)}: a key carries only roles its principal holds");
            }
            principalId = principal.Id;
        }
        else if (request.Roles!.Where(Lifecycle.SeparationOfDuties.IsApprovalRole).ToList() is { Count: > 0 } approving)
        {
            return Problems.Unprocessable(ProblemCodes.ApprovalRoleNeedsPerson,
                $"approving roles ({string.Join(", ", approving)}) are held by people only: create a person principal (POST /api/v1/principals), " +
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
        await tx.AppendAsync(user.ActorId(), "key.created", $"keys/{entity.Id}",
            new { entity.Name, principal = principalId, roles = request.Roles, entity.Prefix, entity.ExpiresAt, deployments = request.Deployments, request.RequestsPerMinute, request.AllowPinning,
                request.TokensPerMinute, request.CostBudget },
            cancellationToken: cancellationToken);
        await tx.CommitAsync(cancellationToken);
        keys.Created(entity.KeyHash);
        return TypedResults.Created($"/api/v1/keys/{entity.Id}", ToDto(entity) with { Key = secret });
    }

    public static async Task<Ok<List<ApiKeyDto>>> ListKeys(ModelGateDbContext db, CancellationToken cancellationToken)
    {
        var keys = await db.ApiKeys.AsNoTracking().OrderBy(k => k.CreatedAt).ThenBy(k => k.Id).ToListAsync(cancellationToken);
        return TypedResults.Ok(keys.Select(ToDto).ToList());
    }

    public static async Task<Results<Ok<ApiKeyDto>, ProblemHttpResult>> RevokeKey(string id, ClaimsPrincipal user, AuditedWrite write,
        ApiKeyService keys, CancellationToken cancellationToken)
    {
        await using var tx = await write.BeginAsync(cancellationToken);
        var entity = await tx.Db.ApiKeys.FirstOrDefaultAsync(k => k.Id == id, cancellationToken);
        if (entity is null)
        {
            return Problems.NotFound(ProblemCodes.KeyNotFound, $"there is no key '{ClientText.Echo(id)}'");
        }
        if (entity.RevokedAt is null)
        {
            entity.RevokedAt = tx.Now;
            entity.RevokedBy = user.ActorId();
            await tx.AppendAsync(user.ActorId(), "key.revoked", $"keys/{entity.Id}", new { entity.Name, entity.Prefix }, cancellationToken: cancellationToken);
            await tx.CommitAsync(cancellationToken);
            keys.Invalidate();
        }
        return TypedResults.Ok(ToDto(entity));
    }

    internal static ApiKeyDto ToDto(ApiKeyEntity k) =>
        new(k.Id, k.Name, k.Prefix, k.Roles.Split(' ', StringSplitOptions.RemoveEmptyEntries), k.CreatedAt, k.CreatedBy, k.ExpiresAt, k.RevokedAt, null,
            k.Deployments?.Split(' ', StringSplitOptions.RemoveEmptyEntries), k.RequestsPerMinute, k.AllowPinning, k.TokensPerMinute, k.CostBudget, k.PrincipalId);
}
