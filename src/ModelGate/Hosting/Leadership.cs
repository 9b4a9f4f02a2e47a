namespace ModelGate.Hosting;

/// <summary>
/// Whether this process runs the background workers (rollout controller, monitors, alert delivery, evaluation runner,
/// audit checkpoints, retention) now. Exactly one process on a store leads at a time; gateway replicas never do.
/// </summary>
public interface ILeadership
{
    /// <summary>True while this process leads: it holds the workers' lease (PostgreSQL), or it is the only process (SQLite).</summary>
    bool IsLeader { get; }

    /// <summary>The lease's fencing token while this process holds it; null when it does not lead, or leads without a lease (SQLite).</summary>
    long? FencingToken { get; }

    /// <summary>
    /// Returns once this process leads: the term's fencing token (null without a lease) and a token cancelled when the term
    /// ends (the lease lost, not renewed in time, or released at stop). A gateway replica's call never returns.
    /// </summary>
    Task<LeadershipTerm> WaitForTermAsync(CancellationToken cancellationToken);
}

/// <summary>One period of leading: <paramref name="Token"/> is the lease's fencing token (null on SQLite, where there is no lease).</summary>
public sealed record LeadershipTerm(long? Token, CancellationToken Ended);
