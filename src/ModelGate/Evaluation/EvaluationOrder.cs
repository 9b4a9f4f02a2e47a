using ModelGate.Storage.Evaluation;

namespace ModelGate.Evaluation;

/// <summary>
/// The one order of a version's evaluations, oldest first: by when each was recorded, then — runs recorded in the same
/// instant (a coarse clock, a burst of runs) — by the audit sequence of its evidence, which the chain makes strictly
/// increasing and which runs finish in the order they were queued, then by id (records from before evidence was stamped).
/// "The latest run" wherever one is chosen (the evaluated gate, the card's summaries, staging's smoke data, the baseline
/// answers reused, the retirement archive) is the last in this order. Ordering by time alone left ties to the database:
/// PostgreSQL returned two runs recorded in the same instant either way round, and the gate then judged the older one.
/// </summary>
public static class EvaluationOrder
{
    public static IOrderedQueryable<EvaluationEntity> OldestFirst(this IQueryable<EvaluationEntity> evaluations) =>
        evaluations.OrderBy(e => e.CreatedAt).ThenBy(e => e.EvidenceAuditSequence).ThenBy(e => e.Id);

    public static IOrderedQueryable<EvaluationEntity> NewestFirst(this IQueryable<EvaluationEntity> evaluations) =>
        evaluations.OrderByDescending(e => e.CreatedAt).ThenByDescending(e => e.EvidenceAuditSequence).ThenByDescending(e => e.Id);
}
