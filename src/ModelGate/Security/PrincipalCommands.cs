using System.Security.Claims;
using Microsoft.EntityFrameworkCore;
using ModelGate.Audit;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Lifecycle;
using ModelGate.Storage;
using ModelGate.Storage.Security;

namespace ModelGate.Security;

/// <summary>
/// What a principal command came to: the principal, or why not: <see cref="Invalid"/> fields (400), or a
/// <see cref="Status"/> with its problem <see cref="Code"/> and <see cref="Detail"/> (403 a grant separation of duties
/// forbids, 404 no such principal, 409 the identity is taken, 422 an approving role for a service).
/// </summary>
public sealed record PrincipalOutcome(PrincipalEntity? Principal = null, ValidationErrors? Invalid = null, int Status = 0, string? Code = null,
    string? Detail = null);

/// <summary>
/// Creating and changing principals, with every rule of <c>/api/v1/principals</c>: one place for the REST API and the
/// console. Approving roles are held by people only and granted only here, as an audited act that nobody performs on
/// themselves (a refusal is audited too); removing a role or disabling a principal takes effect at once in this process
/// (other processes within the key cache's lifetime). Each change is one audit event.
/// </summary>
public static class PrincipalCommands
{
    public const string Created = "principal.created";
    public const string RoleGranted = SeparationOfDuties.RoleGranted;
    public const string RoleRemoved = "principal.role_removed";
    public const string Disabled = "principal.disabled";
    public const string Updated = "principal.updated";
    public const int MaxIdentityLength = 320;
    public const int MaxDisplayNameLength = 200;

    public static async Task<PrincipalOutcome> CreateAsync(AuditedWrite write, CreatePrincipalRequest request, ClaimsPrincipal user,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        if (!PrincipalKinds.All.Contains(request.Kind))
        {
            errors.Add("kind", $"one of {string.Join(", ", PrincipalKinds.All)}");
        }
        if (IdentityProblem(request.Identity) is { } identityProblem)
        {
            errors.Add("identity", identityProblem);
        }
        ValidateDisplayName(errors, request.DisplayName);
        var roles = request.Roles ?? [];
        ValidateRoles(errors, "roles", roles);
        if (errors.Any)
        {
            return new PrincipalOutcome(Invalid: errors);
        }
        if (request.Kind != PrincipalKinds.Person && NeedsPerson(roles) is { } needsPerson)
        {
            return needsPerson;
        }
        var actor = user.ActorId();
        await using var tx = await write.BeginAsync(cancellationToken);
        if (await PrincipalDirectory.FindByIdentityAsync(tx.Db, request.Identity, cancellationToken) is { } existing)
        {
            return new PrincipalOutcome(Status: StatusCodes.Status409Conflict, Code: ProblemCodes.PrincipalExists,
                Detail: $"a principal with identity '{ClientText.Echo(existing.Identity)}' exists ({existing.Id})");
        }
        var entity = PrincipalDirectory.NewEntity(PrincipalDirectory.NewId(), request.Kind, request.Identity, NullIfBlank(request.DisplayName), roles,
            PrincipalSources.Api, tx.Now, actor);
        tx.Db.Principals.Add(entity);
        var subject = SeparationOfDuties.PrincipalSubject(entity.Id);
        await tx.AppendAsync(actor, Created, subject, new { entity.Kind, entity.Identity, entity.DisplayName, roles = PrincipalDirectory.RolesOf(entity) },
            cancellationToken: cancellationToken);
        foreach (var role in PrincipalDirectory.RolesOf(entity))
        {
            await tx.AppendAsync(actor, RoleGranted, subject, new { principal = entity.Id, entity.Identity, role }, cancellationToken: cancellationToken);
        }
        await tx.CommitAsync(cancellationToken);
        return new PrincipalOutcome(entity);
    }

    /// <summary>
    /// Changes the display name, grants and removes roles, disables. An approving role goes to a person only, never from
    /// the principal to itself (403, audited as refused).
    /// </summary>
    public static async Task<PrincipalOutcome> UpdateAsync(AuditedWrite write, ApiKeyService keys, string id, UpdatePrincipalRequest request, ClaimsPrincipal user,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        ValidateDisplayName(errors, request.DisplayName);
        var grant = request.Grant ?? [];
        var revoke = request.Revoke ?? [];
        ValidateRoles(errors, "grant", grant);
        ValidateRoles(errors, "revoke", revoke);
        foreach (var role in grant.Intersect(revoke))
        {
            errors.Add("revoke", $"'{role}' is both granted and removed");
        }
        if (request.Disabled == false)
        {
            errors.Add("disabled", "a disabled principal stays disabled: create another one");
        }
        if (errors.Any)
        {
            return new PrincipalOutcome(Invalid: errors);
        }
        var actor = user.ActorId();
        await using var tx = await write.BeginAsync(cancellationToken);
        var entity = await PrincipalDirectory.FindAsync(tx.Db, id, cancellationToken);
        if (entity is null)
        {
            return NotFound(id);
        }
        var subject = SeparationOfDuties.PrincipalSubject(entity.Id);
        var held = PrincipalDirectory.RolesOf(entity).ToList();
        var granted = grant.Distinct().Where(r => !held.Contains(r)).ToList();
        if (granted.Count > 0 && entity.Kind != PrincipalKinds.Person && NeedsPerson(granted) is { } needsPerson)
        {
            return needsPerson;
        }
        if (SeparationOfDuties.GrantRefusal(actor, entity.Id, granted) is { } refusal)
        {
            foreach (var role in granted.Where(SeparationOfDuties.IsApprovalRole))
            {
                await tx.AppendAsync(actor, RoleGranted, subject, new { principal = entity.Id, entity.Identity, role, reason = refusal }, AuditOutcomes.Refused,
                    cancellationToken);
            }
            await tx.CommitAsync(cancellationToken);
            return new PrincipalOutcome(Status: StatusCodes.Status403Forbidden, Code: ProblemCodes.SeparationOfDuties, Detail: refusal);
        }
        if (request.DisplayName is not null && NullIfBlank(request.DisplayName) != entity.DisplayName)
        {
            await tx.AppendAsync(actor, Updated, subject, new { principal = entity.Id, from = entity.DisplayName, displayName = NullIfBlank(request.DisplayName) },
                cancellationToken: cancellationToken);
            entity.DisplayName = NullIfBlank(request.DisplayName);
        }
        foreach (var role in granted)
        {
            held.Add(role);
            await tx.AppendAsync(actor, RoleGranted, subject, new { principal = entity.Id, entity.Identity, role }, cancellationToken: cancellationToken);
        }
        var removed = revoke.Distinct().Where(held.Contains).ToList();
        foreach (var role in removed)
        {
            held.Remove(role);
            await tx.AppendAsync(actor, RoleRemoved, subject, new { principal = entity.Id, entity.Identity, role }, cancellationToken: cancellationToken);
        }
        entity.Roles = string.Join(' ', held);
        var disabled = request.Disabled == true && entity.DisabledAt is null;
        if (disabled)
        {
            entity.DisabledAt = tx.Now;
            entity.DisabledBy = actor;
            await tx.AppendAsync(actor, Disabled, subject, new { principal = entity.Id, entity.Identity }, cancellationToken: cancellationToken);
        }
        await tx.CommitAsync(cancellationToken);
        if (removed.Count > 0 || disabled)
        {
            keys.Invalidate(subject); // the principal's keys lose the role, or stop working, at once in this process
        }
        return new PrincipalOutcome(entity);
    }

    /// <summary>Every principal, oldest first.</summary>
    public static Task<List<PrincipalEntity>> ListAsync(ModelGateDbContext db, CancellationToken cancellationToken) =>
        db.Principals.AsNoTracking().OrderBy(p => p.CreatedAt).ThenBy(p => p.Id).ToListAsync(cancellationToken);

    /// <summary>A principal, by id or identity, with its keys (oldest first); null when there is none.</summary>
    public static async Task<(PrincipalEntity Principal, List<ApiKeyEntity> Keys)?> FindAsync(ModelGateDbContext db, string idOrIdentity,
        CancellationToken cancellationToken)
    {
        var entity = await PrincipalDirectory.FindAsync(db, idOrIdentity, cancellationToken);
        if (entity is null)
        {
            return null;
        }
        var keys = await db.ApiKeys.AsNoTracking().Where(k => k.PrincipalId == entity.Id).OrderBy(k => k.CreatedAt).ThenBy(k => k.Id).ToListAsync(cancellationToken);
        return (entity, keys);
    }

    /// <summary>Why an identity is not acceptable (null: it is): 1–320 characters, no control characters.</summary>
    public static string? IdentityProblem(string? identity) =>
        string.IsNullOrWhiteSpace(identity) || identity.Trim().Length > MaxIdentityLength ? $"an e-mail or subject of 1–{MaxIdentityLength} characters is required"
        : identity.Any(char.IsControl) ? "no control characters"
        : null;

    public static PrincipalOutcome NotFound(string id) =>
        new(Status: StatusCodes.Status404NotFound, Code: ProblemCodes.PrincipalNotFound, Detail: $"there is no principal '{ClientText.Echo(id)}'");

    private static void ValidateDisplayName(ValidationErrors errors, string? displayName)
    {
        if (displayName is { Length: > MaxDisplayNameLength })
        {
            errors.Add("displayName", $"at most {MaxDisplayNameLength} characters");
        }
        else if (displayName is not null && displayName.Any(char.IsControl))
        {
            errors.Add("displayName", "no control characters");
        }
    }

    private static void ValidateRoles(ValidationErrors errors, string field, IReadOnlyList<string> roles)
    {
        foreach (var role in roles.Where(r => !Roles.All.Contains(r)))
        {
            errors.Add(field, $"'{ClientText.Echo(role)}' is not a role; roles are {string.Join(", ", Roles.All)}");
        }
    }

    private static PrincipalOutcome? NeedsPerson(IEnumerable<string> roles) =>
        roles.Where(SeparationOfDuties.IsApprovalRole).ToList() is { Count: > 0 } approving
            ? new PrincipalOutcome(Status: StatusCodes.Status422UnprocessableEntity, Code: ProblemCodes.ApprovalRoleNeedsPerson,
                Detail: $"approving roles ({string.Join(", ", approving)}) are held by person principals only")
            : null;

    private static string? NullIfBlank(string? text) => string.IsNullOrWhiteSpace(text) ? null : text.Trim();
}
