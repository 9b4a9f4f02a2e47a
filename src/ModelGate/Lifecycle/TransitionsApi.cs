using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using ModelGate.Audit;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Gateway;
using ModelGate.Registry;
using ModelGate.Security;
using ModelGate.Storage;
using ModelGate.Storage.Lifecycle;

namespace ModelGate.Lifecycle;

/// <summary>
/// Stage changes: <c>POST …/versions/{version}/transitions {to, reason}</c> passes the gate or answers 409 with every failed
/// check; <c>?dryRun=true</c> returns the same report and changes nothing. Retiring moves traffic off the version,
/// unloads it and archives it.
/// </summary>
public static class TransitionsApi
{
    public const string GateRefused = "gate_refused";

    public static IEndpointRouteBuilder MapTransitionsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/models/{model}/versions/{version}").WithTags("Lifecycle");
        api.MapPost("/transitions", Transition).WithName(nameof(Transition)).RequireAuthorization(Permissions.Transition);
        api.MapGet("/transitions", ListTransitions).WithName(nameof(ListTransitions)).RequireAuthorization(Permissions.Read).AllowScopedKeys();
        app.MapGet("/api/v1/reviews/due", ReviewsDue).WithTags("Lifecycle").WithName(nameof(ReviewsDue)).RequireAuthorization(Permissions.Read).AllowScopedKeys();
        return app;
    }

    public static async Task<Results<Ok<TransitionDto>, Ok<GateReport>, ProblemHttpResult>> Transition(string model, string version, TransitionRequest request,
        bool? dryRun, ClaimsPrincipal user, AuditedWrite write, Retirement retirement, GateVerifiers verifiers, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        if (!StageMachine.All.Contains(request.To) || request.To == Stages.Trained)
        {
            errors.Add("to", $"'{ClientText.Echo(request.To)}' is not a stage to move to; stages are {string.Join(", ", StageMachine.All.Skip(1))}");
        }
        if (string.IsNullOrWhiteSpace(request.Reason) || request.Reason.Length > 2000)
        {
            errors.Add("reason", "a reason of 1–2000 characters is required");
        }
        if (request.To == Stages.Retired && (request.Trigger is null || !RetirementTriggers.All.Contains(request.Trigger)))
        {
            errors.Add("trigger", $"retiring needs a trigger: one of {string.Join(", ", RetirementTriggers.All)}");
        }
        if (request.To != Stages.Retired && (request.Trigger is not null || request.Replacement is not null))
        {
            errors.Add("trigger", "trigger and replacement apply only to retirement");
        }
        if (errors.Any)
        {
            return errors.ToProblem();
        }
        var actor = user.ActorId();
        if (request.To == Stages.Retired && dryRun != true)
        {
            await retirement.FlushTrafficAsync(cancellationToken);
        }
        await using var tx = await write.BeginAsync(cancellationToken);
        var (entity, problem) = await VersionsApi.FindAsync(tx.Db, model, version, cancellationToken, tracked: true);
        if (entity is null)
        {
            return problem!;
        }
        var (inputs, report) = await Gates.ReportAsync(tx.Db, entity, request, user, verifiers, retirement, cancellationToken);
        if (dryRun == true)
        {
            return TypedResults.Ok(report);
        }
        var subject = RegistryMapping.VersionSubject(model, entity.Version);
        if (!report.Passed)
        {
            // The refusal is part of the record too: who tried, and what was missing.
            await tx.AppendAsync(actor, "version.transition_refused", subject,
                new { from = entity.Stage, to = request.To, reason = request.Reason, failed = report.Checks.Where(c => !c.Passed) }, AuditOutcomes.Refused,
                cancellationToken);
            await tx.CommitAsync(cancellationToken);
            return Refused(report);
        }

        var from = entity.Stage;
        string? archive = null;
        if (request.To == Stages.Retired)
        {
            archive = await retirement.RetireAsync(tx, entity, request, actor, cancellationToken);
        }
        if (request.To == Stages.Production)
        {
            entity.NextReviewAt = inputs.Approvals.Where(a => a.Decision == ApprovalDecisions.Approve).Select(a => (DateTime?)a.NextReviewAt).Min();
        }
        entity.Stage = request.To;
        entity.StageChangedAt = tx.Now;
        var transition = new TransitionEntity
        {
            VersionId = entity.Id, From = from, To = request.To, Reason = request.Reason, Trigger = request.Trigger,
            Report = JsonSerializer.Serialize(report, ModelGateJson.Options), Time = tx.Now, Actor = actor,
        };
        tx.Db.Transitions.Add(transition);
        await tx.AppendAsync(actor, "version.transitioned", subject,
            new { from, to = request.To, reason = request.Reason, trigger = request.Trigger, replacement = request.Replacement, archive, policy = report.Policy,
                checks = report.Checks.Select(c => c.Check) }, cancellationToken: cancellationToken);
        await tx.CommitAsync(cancellationToken);
        if (request.To == Stages.Retired)
        {
            retirement.Unload(entity);
        }
        return TypedResults.Ok(ToDto(model, entity.Version, transition, report, archive));
    }

    public static async Task<Results<Ok<List<TransitionDto>>, ProblemHttpResult>> ListTransitions(string model, string version, ModelGateDbContext db,
        CancellationToken cancellationToken)
    {
        var (entity, problem) = await VersionsApi.FindAsync(db, model, version, cancellationToken);
        if (entity is null)
        {
            return problem!;
        }
        var transitions = await db.Transitions.AsNoTracking().Where(t => t.VersionId == entity.Id).OrderBy(t => t.Id).ToListAsync(cancellationToken);
        return TypedResults.Ok(transitions.Select(t => ToDto(model, entity.Version, t, JsonSerializer.Deserialize<GateReport>(t.Report, ModelGateJson.Options)!,
            t.To == Stages.Retired ? entity.ArchiveSha256 : null)).ToList());
    }

    /// <summary>Production versions whose next review date has passed, most overdue first.</summary>
    public static async Task<Ok<List<ReviewDueDto>>> ReviewsDue(ModelGateDbContext db, TimeProvider time, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var due = await db.ModelVersions.AsNoTracking().Include(v => v.Model)
            .Where(v => v.Stage == Stages.Production && v.NextReviewAt != null && v.NextReviewAt <= now)
            .ToListAsync(cancellationToken);
        return TypedResults.Ok(due.OrderBy(v => v.NextReviewAt)
            .Select(v => new ReviewDueDto(v.Model!.Name, v.Version, v.NextReviewAt!.Value, Math.Round((now - v.NextReviewAt!.Value).TotalDays, 2), v.Model.Owner))
            .ToList());
    }

    public static ProblemHttpResult Refused(GateReport report) =>
        Problems.Conflict(GateRefused,
            $"{report.Model}@{report.Version} cannot move from {report.From} to {report.To}: " +
            string.Join("; ", report.Checks.Where(c => !c.Passed).Select(c => $"{c.Check} (expected {c.Expected}, found {c.Actual})")),
            new Dictionary<string, object?> { ["checks"] = report.Checks.Where(c => !c.Passed).ToList(), ["report"] = report });

    private static TransitionDto ToDto(string model, string version, TransitionEntity t, GateReport report, string? archive) =>
        new(model, version, t.From, t.To, t.Reason, t.Trigger, t.Time, t.Actor, report, archive);
}
