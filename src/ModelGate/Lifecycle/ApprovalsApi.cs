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
        var outcome = await Approvals.RecordAsync(write, model, version, request, user, cancellationToken);
        return outcome switch
        {
            { Recorded: { } approval } => TypedResults.Created($"/api/v1/models/{model}/versions/{outcome.Version}/approvals", ToDto(model, outcome.Version!, approval)),
            { Invalid: { } errors } => errors.ToProblem(),
            { Status: StatusCodes.Status403Forbidden } => Problems.Result(403, SeparationOfDuties, "This approval is not allowed.", outcome.Detail!),
            { Title: { } title } => Problems.Result(outcome.Status, outcome.Code!, title, outcome.Detail),
            { Status: StatusCodes.Status409Conflict } => Problems.Conflict(outcome.Code!, outcome.Detail!),
            _ => Problems.Unprocessable(outcome.Code!, outcome.Detail!),
        };
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
}
