using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using ModelGate.Audit;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Registry;
using ModelGate.Security;
using ModelGate.Storage;

namespace ModelGate.Lifecycle;

/// <summary>What a below-floor change came to: allowed (by the floor approval it used), or refused with the breaches and the change id to approve.</summary>
public sealed record FloorDecision(string Change, string Authority, IReadOnlyList<FloorBreach> Breaches, long? ApprovalSequence)
{
    public bool Allowed => Breaches.Count == 0 || ApprovalSequence is not null;
}

/// <summary>
/// Going below a risk tier's floor — a weaker model policy, or a lower risk tier — takes an approval by the tier's
/// authority (<see cref="PolicyFloors.Authority"/>), given by another actor than the one who asked. The flow lives in
/// the audit chain, no table of its own: the refused change is recorded (<see cref="Requested"/>, with its id: the
/// SHA-256 of model, kind and content); the authority approves that id (<see cref="Approved"/>); the requester repeats
/// the same change, which spends the approval (<see cref="Used"/>) once. Requester and approver are compared as principals (<see cref="SeparationOfDuties"/>).
/// </summary>
public static class FloorApprovals
{
    public const string Requested = "floor.change_requested";
    public const string Approved = "floor.change_approved";
    public const string Used = "floor.approval_used";
    public const string Refused = "floor.approval_refused";
    public const string KindPolicy = "policy";
    public const string KindRiskTier = "riskTier";

    public static string ChangeId(string model, string kind, string content) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{model}\n{kind}\n{content}")));

    /// <summary>
    /// Decides a change whose result breaches a floor: spends an unused approval of it by another actor, or records the
    /// request. The caller commits either way and applies the change only when <see cref="FloorDecision.Allowed"/>.
    /// </summary>
    public static async Task<FloorDecision> DecideAsync(AuditScope tx, string model, string kind, string content, string authority,
        IReadOnlyList<FloorBreach> breaches, string actor, string actorName, object proposal, CancellationToken cancellationToken)
    {
        var change = ChangeId(model, kind, content);
        if (breaches.Count == 0)
        {
            return new FloorDecision(change, authority, breaches, null);
        }
        var subject = RegistryMapping.ModelSubject(model);
        var events = await EventsAsync(tx.Db, subject, change, cancellationToken);
        var spent = events.Where(e => e.Action == Used).Select(e => e.Details.GetProperty("approval").GetInt64()).ToHashSet();
        var approval = events.FirstOrDefault(e => e.Action == Approved && !spent.Contains(e.Sequence) &&
                                                  SeparationOfDuties.FloorApproverConflict(actor, e.Actor) is null);
        if (approval is not null)
        {
            await tx.AppendAsync(actor, Used, subject, new { change, kind, approval = approval.Sequence, approvedBy = approval.Actor }, cancellationToken: cancellationToken);
            return new FloorDecision(change, authority, breaches, approval.Sequence);
        }
        await tx.AppendAsync(actor, Requested, subject, new
        {
            change, kind, authority, requesterName = actorName, fields = breaches.Select(b => b.Field).ToList(), breaches, proposal,
        }, AuditOutcomes.Refused, cancellationToken);
        return new FloorDecision(change, authority, breaches, null);
    }

    /// <summary>The 422 for a refused below-floor change (<paramref name="approvable"/> false for the default policy, which no approval lowers).</summary>
    public static ProblemHttpResult ToProblem(FloorDecision decision, string what, bool approvable = true)
    {
        var extensions = new Dictionary<string, object?>
        {
            ["errors"] = decision.Breaches.ToDictionary(b => b.Field, b => new[] { $"the floor is {b.Floor}; this change makes it {b.Actual}" }),
        };
        string detail;
        if (approvable)
        {
            extensions["change"] = decision.Change;
            extensions["authority"] = decision.Authority;
            detail = $"{what} drops below the risk tier's floor ({string.Join(", ", decision.Breaches.Select(b => b.Field))}). Someone other than you " +
                     $"holding the {decision.Authority} role can approve it (POST /api/v1/models/{{model}}/floor-approvals with change {decision.Change}); then repeat the change.";
        }
        else
        {
            detail = $"{what} drops below the risk tiers' floors ({string.Join(", ", decision.Breaches.Select(b => b.Field))}); the default policy cannot.";
        }
        return Problems.Result(StatusCodes.Status422UnprocessableEntity, ProblemCodes.PolicyBelowFloor, "The change drops below the risk tier's floor.", detail, extensions);
    }

    internal sealed record FloorEvent(long Sequence, string Action, string Actor, DateTime Time, JsonElement Details);

    internal static async Task<List<FloorEvent>> EventsAsync(ModelGateDbContext db, string subject, string change, CancellationToken cancellationToken)
    {
        // Few events per model: filter by subject and action in the database, by change id here.
        var rows = await db.AuditEvents.AsNoTracking()
            .Where(e => e.Subject == subject && (e.Action == Requested || e.Action == Approved || e.Action == Used))
            .OrderBy(e => e.Sequence).ToListAsync(cancellationToken);
        return rows.Select(e => new FloorEvent(e.Sequence, e.Action, e.Actor, e.Time, JsonDocument.Parse(e.Details).RootElement.Clone()))
            .Where(e => e.Details.TryGetProperty("change", out var c) && c.GetString() == change).ToList();
    }
}

/// <summary><c>POST /api/v1/models/{model}/floor-approvals</c>: the tier's authority approves a refused below-floor change.</summary>
public static class FloorApprovalsApi
{
    public static IEndpointRouteBuilder MapFloorApprovalsApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/v1/models/{model}/floor-approvals", ApproveFloorChange).WithTags("Lifecycle").WithName(nameof(ApproveFloorChange))
            .RequireAuthorization(Permissions.Approve);
        return app;
    }

    public static async Task<Results<Created<FloorApprovalDto>, ProblemHttpResult>> ApproveFloorChange(string model, FloorApprovalRequest request,
        ClaimsPrincipal user, AuditedWrite write, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        if (request.Change is not { Length: 64 } || !request.Change.All(char.IsAsciiHexDigitLower))
        {
            errors.Add("change", "the change id (64 lower-case hex digits) from the refusal");
        }
        if (string.IsNullOrWhiteSpace(request.Reason) || request.Reason.Length > 4000)
        {
            errors.Add("reason", "why the floor may be lowered here: 1–4000 characters");
        }
        if (errors.Any)
        {
            return errors.ToProblem();
        }
        if (!Names.IsValidModelName(model))
        {
            return Problems.From(Versions.InvalidModelName(model));
        }
        var actor = user.ActorId();
        var actorName = user.Identity?.Name ?? actor;
        await using var tx = await write.BeginAsync(cancellationToken);
        if (!await tx.Db.Models.AnyAsync(m => m.Name == model, cancellationToken))
        {
            return Problems.From(Versions.NoSuchModel(model));
        }
        var subject = RegistryMapping.ModelSubject(model);
        var requested = (await FloorApprovals.EventsAsync(tx.Db, subject, request.Change, cancellationToken)).LastOrDefault(e => e.Action == FloorApprovals.Requested);
        if (requested is null)
        {
            return Problems.NotFound(ProblemCodes.FloorChangeNotFound, $"no below-floor change {request.Change} was requested for model '{model}'");
        }
        var authority = requested.Details.GetProperty("authority").GetString()!;
        var conflict = !user.IsInRole(authority) ? $"approving this change takes the {authority} role, which your key does not hold"
            : SeparationOfDuties.FloorApproverConflict(requested.Actor, actor);
        if (conflict is not null)
        {
            await tx.AppendAsync(actor, FloorApprovals.Refused, subject, new { change = request.Change, reason = conflict }, AuditOutcomes.Refused, cancellationToken);
            await tx.CommitAsync(cancellationToken);
            return Problems.Result(StatusCodes.Status403Forbidden, ProblemCodes.FloorApprovalRefused, "This floor approval is not allowed.", conflict);
        }
        var kind = requested.Details.GetProperty("kind").GetString()!;
        var fields = requested.Details.GetProperty("fields").Deserialize<List<string>>(ModelGateJson.Options)!;
        await tx.AppendAsync(actor, FloorApprovals.Approved, subject, new
        {
            change = request.Change, kind, role = authority, approverName = actorName, requestedBy = requested.Actor, request = requested.Sequence, fields,
            reason = request.Reason,
        }, cancellationToken: cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return TypedResults.Created($"/api/v1/models/{model}/floor-approvals",
            new FloorApprovalDto(model, request.Change, kind, fields, requested.Actor, actor, authority, request.Reason, tx.Now));
    }
}
