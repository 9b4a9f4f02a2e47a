using System.Security.Claims;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using ModelGate.Audit;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Registry;
using ModelGate.Security;
using ModelGate.Storage;
using ModelGate.Storage.Lifecycle;

namespace ModelGate.Lifecycle;

/// <summary>
/// What recording an approval came to: the approval (and the version's own spelling), the fields that are wrong, or why it
/// is refused (<see cref="Status"/> 403 separation of duties, 404, 409 wrong stage, 422 unknown evidence) — the REST API and
/// the console each say it their way.
/// </summary>
public sealed record ApprovalOutcome(ApprovalEntity? Recorded = null, ValidationErrors? Invalid = null, int Status = 0, string? Code = null, string? Detail = null,
    string? Version = null, string? Title = null);

/// <summary>
/// Records a decision on a version's production release, with every rule of <see cref="ApprovalsApi"/>: every field
/// required, one of the approver's own approving roles, evidence of this version, separation of duties compared as
/// principals (a refusal is audited too), a rejection that stands. One place for the REST API and the console.
/// </summary>
public static class Approvals
{
    public static async Task<ApprovalOutcome> RecordAsync(AuditedWrite write, string model, string version, ApprovalRequest request, ClaimsPrincipal user,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        if (request.Decision is not (ApprovalDecisions.Approve or ApprovalDecisions.Reject))
        {
            errors.Add("decision", "approve or reject");
        }
        if (!ApprovalRoles.All.Contains(request.Role))
        {
            errors.Add("role", $"the approving role: one of {string.Join(", ", ApprovalRoles.All)}");
        }
        else if (!user.IsInRole(request.Role))
        {
            errors.Add("role", $"your key does not hold the role '{ClientText.Echo(request.Role)}'");
        }
        if (request.Evidence is not { Count: > 0 } || request.Evidence.Any(string.IsNullOrWhiteSpace))
        {
            errors.Add("evidence", "the evaluation and staging-verification ids reviewed (at least one)");
        }
        Require(errors, "risksAccepted", request.RisksAccepted);
        Require(errors, "monitoringPlan", request.MonitoringPlan);
        Require(errors, "rollbackPlan", request.RollbackPlan);
        if (request.Comment is { Length: > 4000 })
        {
            errors.Add("comment", "at most 4000 characters");
        }
        if (errors.Any)
        {
            return new ApprovalOutcome(Invalid: errors);
        }
        var actor = user.ActorId();
        await using var tx = await write.BeginAsync(cancellationToken);
        var found = await Versions.FindAsync(tx.Db, model, version, cancellationToken, tracked: true);
        if (found.Entity is not { } entity)
        {
            // The one version lookup's refusal (a bad name or version, no such model or version), as it said it.
            var refused = found.Refused!;
            return new ApprovalOutcome(Status: refused.Status, Code: refused.Code, Detail: refused.Detail, Title: refused.Title);
        }
        if (request.NextReviewAt <= tx.Now)
        {
            var past = new ValidationErrors();
            past.Add("nextReviewAt", "the next review date must be in the future");
            return new ApprovalOutcome(Invalid: past);
        }
        if (entity.Stage != Stages.Staging)
        {
            return new ApprovalOutcome(Status: StatusCodes.Status409Conflict, Code: "wrong_stage",
                Detail: $"{model}@{entity.Version} is in stage {entity.Stage}: approvals are for a version in staging, on its way to production");
        }
        var evaluations = await tx.Db.Evaluations.Where(e => e.VersionId == entity.Id).Select(e => new { e.Id, e.Evaluator }).ToListAsync(cancellationToken);
        var verifications = await tx.Db.StagingVerifications.Where(s => s.VersionId == entity.Id).Select(s => s.Id).ToListAsync(cancellationToken);
        var unknown = request.Evidence.Where(id => !evaluations.Any(e => e.Id == id) && !verifications.Contains(id)).ToList();
        if (unknown.Count > 0)
        {
            return new ApprovalOutcome(Status: StatusCodes.Status422UnprocessableEntity, Code: "unknown_evidence",
                Detail: $"not an evaluation or staging verification of {model}@{entity.Version}: {string.Join(", ", unknown)}");
        }

        var previous = await tx.Db.Approvals.Where(a => a.VersionId == entity.Id).ToListAsync(cancellationToken);
        var parties = await VersionParties.LoadAsync(tx.Db, entity, cancellationToken);
        var party = await Party.OfAsync(tx.Db, user, cancellationToken);
        string? conflict = Lifecycle.SeparationOfDuties.ApproverConflict(parties, party, previous)
            ?? (previous.FirstOrDefault(a => a.Role == request.Role && a.Decision == request.Decision) is { } same
                ? $"the {request.Role} {request.Decision} is already recorded by {same.Approver} ({same.Id})"
                : null)
            ?? await Lifecycle.SeparationOfDuties.GrantConflictAsync(tx.Db, parties, actor, request.Role, cancellationToken);
        if (previous.FirstOrDefault(a => a.Decision == ApprovalDecisions.Reject) is { } rejection)
        {
            conflict ??= $"{rejection.Approver} ({rejection.Role}) rejected this version ({rejection.Id}): it cannot be approved; register a new version";
        }
        var subject = RegistryMapping.VersionSubject(model, entity.Version);
        if (conflict is not null)
        {
            await tx.AppendAsync(actor, "version.approval_refused", subject, new { role = request.Role, decision = request.Decision, reason = conflict },
                AuditOutcomes.Refused, cancellationToken);
            await tx.CommitAsync(cancellationToken);
            return new ApprovalOutcome(Status: StatusCodes.Status403Forbidden, Code: ProblemCodes.SeparationOfDuties, Detail: conflict);
        }

        var approval = new ApprovalEntity
        {
            Id = "apr_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)),
            VersionId = entity.Id,
            Decision = request.Decision,
            Approver = actor,
            Role = request.Role,
            Time = tx.Now,
            Evidence = JsonSerializer.Serialize(request.Evidence, ModelGateJson.Options),
            RisksAccepted = request.RisksAccepted,
            MonitoringPlan = request.MonitoringPlan,
            RollbackPlan = request.RollbackPlan,
            NextReviewAt = request.NextReviewAt.ToUniversalTime(),
            Comment = request.Comment,
        };
        tx.Db.Approvals.Add(approval);
        var stamp = EvidenceHashes.Stamp(approval);
        var recorded = await tx.AppendAsync(actor, request.Decision == ApprovalDecisions.Approve ? "version.approved" : "version.approval_rejected", subject,
            new { approval.Id, approval.Role, approval.Decision, evidence = request.Evidence, approval.NextReviewAt, evidenceHash = stamp }, cancellationToken: cancellationToken);
        approval.EvidenceAuditSequence = recorded.Sequence;
        await tx.CommitAsync(cancellationToken);
        return new ApprovalOutcome(approval, Version: entity.Version);
    }

    private static void Require(ValidationErrors errors, string field, string? value)
    {
        if (string.IsNullOrWhiteSpace(value) || value.Length > 4000)
        {
            errors.Add(field, "required (1–4000 characters)");
        }
    }
}
