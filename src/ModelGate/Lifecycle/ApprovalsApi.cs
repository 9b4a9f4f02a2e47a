using System.Security.Claims;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
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
/// Approvals of a version's production release. Every field is required; the approver records the decision in one of
/// their own approving roles; nobody approves a version they trained, registered, evaluated or asked to promote, and one person
/// fills one role per version — compared as principals, by <see cref="Lifecycle.SeparationOfDuties"/>. A rejection
/// stands: the version cannot reach production, a new version is needed.
/// </summary>
public static class ApprovalsApi
{
    public const string SeparationOfDuties = ProblemCodes.SeparationOfDuties;

    public static IEndpointRouteBuilder MapApprovalsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/models/{model}/versions/{version}/approvals").WithTags("Lifecycle");
        api.MapPost("/", Approve).WithName(nameof(Approve)).RequireAuthorization(Permissions.Approve);
        api.MapGet("/", ListApprovals).WithName(nameof(ListApprovals)).RequireAuthorization(Permissions.Read).AllowScopedKeys();
        return app;
    }

    public static async Task<Results<Created<ApprovalDto>, ProblemHttpResult>> Approve(string model, string version, ApprovalRequest request, ClaimsPrincipal user,
        AuditedWrite write, CancellationToken cancellationToken)
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
            return errors.ToProblem();
        }
        var actor = user.ActorId();
        await using var tx = await write.BeginAsync(cancellationToken);
        var (entity, problem) = await VersionsApi.FindAsync(tx.Db, model, version, cancellationToken, tracked: true);
        if (entity is null)
        {
            return problem!;
        }
        if (request.NextReviewAt <= tx.Now)
        {
            return Problems.Validation("nextReviewAt", "the next review date must be in the future");
        }
        if (entity.Stage != Stages.Staging)
        {
            return Problems.Conflict("wrong_stage", $"{model}@{entity.Version} is in stage {entity.Stage}: approvals are for a version in staging, on its way to production");
        }
        var evaluations = await tx.Db.Evaluations.Where(e => e.VersionId == entity.Id).Select(e => new { e.Id, e.Evaluator }).ToListAsync(cancellationToken);
        var verifications = await tx.Db.StagingVerifications.Where(s => s.VersionId == entity.Id).Select(s => s.Id).ToListAsync(cancellationToken);
        var unknown = request.Evidence.Where(id => !evaluations.Any(e => e.Id == id) && !verifications.Contains(id)).ToList();
        if (unknown.Count > 0)
        {
            return Problems.Unprocessable("unknown_evidence",
                $"not an evaluation or staging verification of {model}@{entity.Version}: {string.Join(", ", unknown)}");
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
            return Problems.Result(403, SeparationOfDuties, "This approval is not allowed.", conflict);
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
        return TypedResults.Created($"/api/v1/models/{model}/versions/{entity.Version}/approvals", ToDto(model, entity.Version, approval));
    }

    /// <summary>The version's approvals, each with its <c>integrity</c> (re-verified against its audit event).</summary>
    public static async Task<Results<Ok<List<ApprovalDto>>, ProblemHttpResult>> ListApprovals(string model, string version, ModelGateDbContext db,
        EvidenceVerifier evidence, CancellationToken cancellationToken)
    {
        var (entity, problem) = await VersionsApi.FindAsync(db, model, version, cancellationToken);
        if (entity is null)
        {
            return problem!;
        }
        var approvals = await db.Approvals.AsNoTracking().Where(a => a.VersionId == entity.Id).OrderBy(a => a.Time).ToListAsync(cancellationToken);
        var integrity = await evidence.VerifyAsync(db, approvals.Select(EvidenceRecord.Of).ToList(), cancellationToken);
        return TypedResults.Ok(approvals.Select((a, i) => ToDto(model, entity.Version, a) with { Integrity = integrity[i].ToDto() }).ToList());
    }

    public static ApprovalDto ToDto(string model, string version, ApprovalEntity a) => new(a.Id, model, version, a.Decision, a.Approver, a.Role, a.Time,
        JsonSerializer.Deserialize<List<string>>(a.Evidence, ModelGateJson.Options)!, a.RisksAccepted, a.MonitoringPlan, a.RollbackPlan, a.NextReviewAt, a.Comment);

    private static void Require(ValidationErrors errors, string field, string? value)
    {
        if (string.IsNullOrWhiteSpace(value) || value.Length > 4000)
        {
            errors.Add(field, "required (1–4000 characters)");
        }
    }
}
