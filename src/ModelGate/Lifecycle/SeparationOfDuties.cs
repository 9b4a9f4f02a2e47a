using System.Security.Claims;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Security;
using ModelGate.Storage;
using ModelGate.Storage.Lifecycle;
using ModelGate.Storage.Registry;

namespace ModelGate.Lifecycle;

/// <summary>Who is acting: the principal (what is compared), and the names the trainer text is compared with when it names no principal.</summary>
public sealed record Party(string PrincipalId, string Kind, string? Identity, string? DisplayName, string? KeyName)
{
    public static async Task<Party> OfAsync(ModelGateDbContext db, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var id = user.ActorId();
        var principal = await db.Principals.AsNoTracking().FirstOrDefaultAsync(p => p.Id == id, cancellationToken);
        return new Party(id, principal?.Kind ?? PrincipalKinds.Service, principal?.Identity ?? user.Identity?.Name, principal?.DisplayName, user.KeyNameOf());
    }
}

/// <summary>
/// The principals with a hand in a version: its trainer (the attestation's trainer resolved to a principal, or only its text
/// when it names none), its registrant, its evaluators and everyone who asked for one of its stage changes.
/// </summary>
public sealed record VersionParties(string? TrainerPrincipal, string? Trainer, string Registrant, IReadOnlySet<string> Evaluators, IReadOnlySet<string> Requesters)
{
    public static async Task<VersionParties> LoadAsync(ModelGateDbContext db, ModelVersionEntity version, CancellationToken cancellationToken)
    {
        var evaluators = await db.Evaluations.AsNoTracking().Where(e => e.VersionId == version.Id).Select(e => e.Evaluator).Distinct().ToListAsync(cancellationToken);
        var requesters = await db.Transitions.AsNoTracking().Where(t => t.VersionId == version.Id).Select(t => t.Actor).Distinct().ToListAsync(cancellationToken);
        var trainer = version.TrainerPrincipal ?? await SeparationOfDuties.ResolveTrainerAsync(db, version.Trainer, cancellationToken);
        return new VersionParties(trainer, version.Trainer, version.CreatedBy, evaluators.ToHashSet(StringComparer.Ordinal), requesters.ToHashSet(StringComparer.Ordinal));
    }
}

/// <summary>
/// The one place where separation of duties is decided. Every rule compares principals (a person's keys are one principal):
/// nobody approves a version they trained, registered, evaluated or asked to promote; one principal fills at most one
/// approving role per version; an approving role granted by one of those people does not count for that version; nobody
/// grants themselves an approving role; an evaluation is independent only when neither the trainer nor the registrant ran it.
/// </summary>
public static class SeparationOfDuties
{
    public const string RoleGranted = "principal.role_granted";

    /// <summary>The roles that approve (a production release, a below-floor change): held by people only.</summary>
    public static IReadOnlyList<string> ApprovalRoles => Permissions.Policies[Permissions.Approve];

    public static bool IsApprovalRole(string role) => ApprovalRoles.Contains(role);

    public static string PrincipalSubject(string id) => $"principals/{id}";

    /// <summary>The principal an attestation's trainer names (its identity, case-insensitively), or null.</summary>
    public static async Task<string?> ResolveTrainerAsync(ModelGateDbContext db, string? trainer, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(trainer))
        {
            return null;
        }
        var key = PrincipalDirectory.IdentityKey(trainer);
        return await db.Principals.AsNoTracking().Where(p => p.IdentityKey == key).Select(p => p.Id).FirstOrDefaultAsync(cancellationToken);
    }

    /// <summary>Whether the party trained the version: its principal, or, when the trainer names no principal, one of its names.</summary>
    public static bool IsTrainer(VersionParties version, Party party) =>
        version.TrainerPrincipal is not null
            ? version.TrainerPrincipal == party.PrincipalId
            : SameName(version.Trainer, party.Identity) || SameName(version.Trainer, party.DisplayName) || SameName(version.Trainer, party.KeyName);

    /// <summary>An evaluation is independent when neither the version's trainer nor its registrant runs it.</summary>
    public static bool IsIndependentEvaluator(VersionParties version, Party party) =>
        party.PrincipalId != version.Registrant && !IsTrainer(version, party);

    /// <summary>Why the party may not approve the version (null: it may), before the role-level rules.</summary>
    public static string? ApproverConflict(VersionParties version, Party party, IReadOnlyList<ApprovalEntity> previous)
    {
        if (party.Kind != PrincipalKinds.Person)
        {
            return "approvals are made by people: your key acts for a service principal; create a person principal with the role and a key for it";
        }
        if (IsTrainer(version, party))
        {
            return $"you trained this version (attestation trainer {version.Trainer})";
        }
        if (party.PrincipalId == version.Registrant)
        {
            return "you registered this version";
        }
        if (version.Evaluators.Contains(party.PrincipalId))
        {
            return "you evaluated this version";
        }
        if (version.Requesters.Contains(party.PrincipalId))
        {
            return "you asked to promote this version";
        }
        return previous.FirstOrDefault(a => a.Approver == party.PrincipalId) is { } mine
            ? $"you already decided on this version as {mine.Role} ({mine.Id}): one person fills one role"
            : null;
    }

    /// <summary>
    /// Whether a recorded approval counts at the gate: not by the principal asking for production now, nor by anyone with
    /// another hand in the version (a trainer principal made after the approval included), nor by one already filling a role.
    /// </summary>
    public static bool Counts(VersionParties? version, string approver, string requester, IReadOnlySet<string> used) =>
        approver != requester && !used.Contains(approver) &&
        (version is null || (approver != version.TrainerPrincipal && approver != version.Registrant && !version.Evaluators.Contains(approver) &&
                             !version.Requesters.Contains(approver)));

    /// <summary>
    /// Refuses an approval whose approving role the approver was granted by the version's trainer, registrant or a
    /// requester (a stooge): says who granted it, from the audit chain.
    /// </summary>
    public static async Task<string?> GrantConflictAsync(ModelGateDbContext db, VersionParties version, string approver, string role,
        CancellationToken cancellationToken)
    {
        var subject = PrincipalSubject(approver);
        var grants = await db.AuditEvents.AsNoTracking().Where(e => e.Subject == subject && e.Action == RoleGranted && e.Outcome == Audit.AuditOutcomes.Success)
            .OrderByDescending(e => e.Sequence).Select(e => new { e.Sequence, e.Actor, e.Details }).ToListAsync(cancellationToken);
        var grant = grants.FirstOrDefault(g => JsonDocument.Parse(g.Details).RootElement.TryGetProperty("role", out var r) && r.GetString() == role);
        if (grant is null)
        {
            return null;
        }
        var part = grant.Actor == version.TrainerPrincipal ? "trained"
            : grant.Actor == version.Registrant ? "registered"
            : version.Requesters.Contains(grant.Actor) ? "asked to promote"
            : null;
        if (part is null)
        {
            return null;
        }
        var granter = await db.Principals.AsNoTracking().Where(p => p.Id == grant.Actor).Select(p => p.Identity).FirstOrDefaultAsync(cancellationToken);
        return $"your {role} role was granted by {granter ?? grant.Actor} ({grant.Actor}, audit event {grant.Sequence}), who {part} this version";
    }

    /// <summary>Why the actor may not grant these roles to the grantee (null: it may): nobody grants themselves an approving role.</summary>
    public static string? GrantRefusal(string actor, string grantee, IEnumerable<string> roles) =>
        actor == grantee && roles.Where(IsApprovalRole).ToList() is { Count: > 0 } approving
            ? $"you cannot grant yourself {string.Join(", ", approving)}: another administrator must"
            : null;

    /// <summary>Why the approver may not approve a below-floor change the requester asked for (null: it may): it is someone else's.</summary>
    public static string? FloorApproverConflict(string requester, string approver) =>
        requester == approver ? "you asked for this change: someone else must approve it" : null;

    private static bool SameName(string? trainer, string? name) =>
        !string.IsNullOrWhiteSpace(trainer) && !string.IsNullOrWhiteSpace(name) && string.Equals(trainer.Trim(), name.Trim(), StringComparison.OrdinalIgnoreCase);
}
