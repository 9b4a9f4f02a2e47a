using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Security;
using ModelGate.Storage;
using ModelGate.Storage.Audit;

namespace ModelGate.Audit;

public static class AuditApi
{
    public const int MaxPage = 1000;
    public const int MaxCheckpointLines = 2000;

    public static IEndpointRouteBuilder MapAuditApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/audit").WithTags("Audit").RequireAuthorization(Permissions.Read);
        api.MapGet("/", ListAuditEvents).WithName(nameof(ListAuditEvents));
        api.MapGet("/verify", VerifyAuditChain).WithName(nameof(VerifyAuditChain));
        api.MapPost("/verify", VerifyAuditChainAgainst).WithName(nameof(VerifyAuditChainAgainst));
        api.MapGet("/checkpoint-key", GetCheckpointKey).WithName(nameof(GetCheckpointKey)).AllowAnonymous();
        return app;
    }

    /// <summary>
    /// Events in sequence order. <paramref name="subject"/> matches exactly, or as a prefix when it ends in <c>*</c>
    /// (<c>models/adult-income*</c> is the model and all its versions).
    /// </summary>
    public static async Task<Results<Ok<PageDto<AuditEventDto>>, ProblemHttpResult>> ListAuditEvents(ModelGateDbContext db,
        string? subject, string? actor, DateTimeOffset? from, DateTimeOffset? to, int? offset, int? limit, string? order,
        CancellationToken cancellationToken)
    {
        var (skip, take) = (offset ?? 0, limit ?? 100);
        if (skip < 0 || take is < 1 or > MaxPage)
        {
            return Problems.Validation("limit", $"offset must be ≥ 0 and limit between 1 and {MaxPage}");
        }
        if (order is not (null or "asc" or "desc"))
        {
            return Problems.Validation("order", "order is 'asc' or 'desc'");
        }
        var query = Filter(db.AuditEvents.AsNoTracking(), subject, actor, from, to);
        var total = await query.CountAsync(cancellationToken);
        query = order == "desc" ? query.OrderByDescending(e => e.Sequence) : query.OrderBy(e => e.Sequence);
        var items = await query.Skip(skip).Take(take).ToListAsync(cancellationToken);
        return TypedResults.Ok(new PageDto<AuditEventDto>(items.Select(ToDto).ToList(), total, skip, take));
    }

    /// <summary>
    /// The events a filter selects: <paramref name="subject"/> exactly, or as a prefix when it ends in <c>*</c>; the actor; a
    /// time range (from inclusive, to exclusive). The one filter of the REST API and the console.
    /// </summary>
    public static IQueryable<AuditEventEntity> Filter(IQueryable<AuditEventEntity> query, string? subject, string? actor, DateTimeOffset? from, DateTimeOffset? to)
    {
        if (!string.IsNullOrEmpty(subject))
        {
            query = subject.EndsWith('*')
                ? query.Where(e => e.Subject.StartsWith(subject.Substring(0, subject.Length - 1)))
                : query.Where(e => e.Subject == subject);
        }
        if (!string.IsNullOrEmpty(actor))
        {
            query = query.Where(e => e.Actor == actor);
        }
        if (from is { } f)
        {
            var fromUtc = f.UtcDateTime;
            query = query.Where(e => e.Time >= fromUtc);
        }
        if (to is { } t)
        {
            var toUtc = t.UtcDateTime;
            query = query.Where(e => e.Time < toUtc);
        }
        return query;
    }

    /// <summary>Verifies the chain, and the store against the server's own checkpoint file (<c>Audit:CheckpointFile</c>).</summary>
    public static async Task<Ok<AuditVerifyDto>> VerifyAuditChain(AuditVerifier verifier, CancellationToken cancellationToken) =>
        TypedResults.Ok(await verifier.VerifyAsync(null, cancellationToken));

    /// <summary>Verifies the chain, and the store against the checkpoint lines given (e.g. a copy of the sink kept elsewhere).</summary>
    public static async Task<Results<Ok<AuditVerifyDto>, ProblemHttpResult>> VerifyAuditChainAgainst(AuditVerifyRequest request,
        AuditVerifier verifier, CancellationToken cancellationToken)
    {
        if (request.Checkpoints is null || request.Checkpoints.Count > MaxCheckpointLines)
        {
            return Problems.Validation("checkpoints", $"checkpoints is a list of at most {MaxCheckpointLines} checkpoint lines");
        }
        return TypedResults.Ok(await verifier.VerifyAsync(request.Checkpoints, cancellationToken));
    }

    /// <summary>The public key that verifies checkpoints: public so that anyone holding a copy of the sink can check it.</summary>
    public static Ok<AuditCheckpointKeyDto> GetCheckpointKey(AuditKeys keys) =>
        TypedResults.Ok(new AuditCheckpointKeyDto(AuditCheckpoints.Algorithm, keys.PublicKey));

    private static AuditEventDto ToDto(AuditEventEntity e)
    {
        JsonElement details;
        try
        {
            details = JsonDocument.Parse(e.Details).RootElement.Clone();
        }
        catch (JsonException)
        {
            details = JsonSerializer.SerializeToElement(e.Details);
        }
        return new AuditEventDto(e.Sequence, e.Time, e.Actor, e.Action, e.Subject, details, e.Outcome, e.PreviousHash, e.Hash);
    }
}
