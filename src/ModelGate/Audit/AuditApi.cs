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

    public static IEndpointRouteBuilder MapAuditApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/audit").WithTags("Audit").RequireAuthorization(Permissions.Read);
        api.MapGet("/", ListAuditEvents).WithName(nameof(ListAuditEvents));
        api.MapGet("/verify", VerifyAuditChain).WithName(nameof(VerifyAuditChain));
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
        IQueryable<AuditEventEntity> query = db.AuditEvents.AsNoTracking();
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
        var total = await query.CountAsync(cancellationToken);
        query = order == "desc" ? query.OrderByDescending(e => e.Sequence) : query.OrderBy(e => e.Sequence);
        var items = await query.Skip(skip).Take(take).ToListAsync(cancellationToken);
        return TypedResults.Ok(new PageDto<AuditEventDto>(items.Select(ToDto).ToList(), total, skip, take));
    }

    public static async Task<Ok<AuditVerifyDto>> VerifyAuditChain(ModelGateDbContext db, CancellationToken cancellationToken) =>
        TypedResults.Ok(await VerifyAsync(db, cancellationToken));

    /// <summary>Recomputes every hash and link in sequence order and reports the first event that does not hold.</summary>
    public static async Task<AuditVerifyDto> VerifyAsync(ModelGateDbContext db, CancellationToken cancellationToken)
    {
        const int batch = 2000;
        long expected = 1, checkedCount = 0;
        var previousHash = AuditChain.GenesisHash;
        while (true)
        {
            var from = expected;
            var events = await db.AuditEvents.AsNoTracking().Where(e => e.Sequence >= from)
                .OrderBy(e => e.Sequence).Take(batch).ToListAsync(cancellationToken);
            foreach (var e in events)
            {
                if (e.Sequence != expected)
                {
                    return new AuditVerifyDto(false, checkedCount, expected, $"event {expected} is missing (next is {e.Sequence})", previousHash);
                }
                if (e.PreviousHash != previousHash)
                {
                    return new AuditVerifyDto(false, checkedCount, e.Sequence, "its previous-hash does not match the hash of the event before it", previousHash);
                }
                if (AuditChain.ComputeHash(e) != e.Hash)
                {
                    return new AuditVerifyDto(false, checkedCount, e.Sequence, "its content does not match its hash: the event was altered", previousHash);
                }
                previousHash = e.Hash;
                expected++;
                checkedCount++;
            }
            if (events.Count < batch)
            {
                return new AuditVerifyDto(true, checkedCount, null, null, previousHash);
            }
        }
    }

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
