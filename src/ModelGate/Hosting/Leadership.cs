using Microsoft.Extensions.Options;

namespace ModelGate.Hosting;

/// <summary>
/// Whether this process runs the background workers (rollout controller, monitors, alert delivery, evaluation runner,
/// retention) now. Exactly one process on a store leads at a time; gateway replicas never do.
/// </summary>
public interface ILeadership
{
    /// <summary>True while this process holds the workers' lease.</summary>
    bool IsLeader { get; }
}

/// <summary>Until the lease exists: every control or all-in-one process leads, a gateway never does.</summary>
public sealed class RoleLeadership(IOptions<ServerOptions> server) : ILeadership
{
    public bool IsLeader => server.Value.ServesControlPlane;
}
