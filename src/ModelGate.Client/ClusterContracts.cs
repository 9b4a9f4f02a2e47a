namespace ModelGate.Client;

/// <summary><c>GET /api/v1/cluster</c>: the replica that answered, whether it leads the workers, and the workers' lease.</summary>
/// <param name="Leases">False on SQLite (one process leads without a lease) and on gateway replicas (which never lead).</param>
/// <param name="FencingToken">This replica's token while it holds the lease.</param>
/// <param name="Lease">The lease as the store holds it; null without one.</param>
public sealed record ClusterDto(string Replica, string Role, bool Leader, bool Leases, long? FencingToken, LeaseDto? Lease);

/// <param name="Expired">Whether <paramref name="ExpiresAt"/> has passed on the database's clock (released, or its holder stopped renewing).</param>
public sealed record LeaseDto(string Name, string Holder, long Token, DateTime AcquiredAt, DateTime ExpiresAt, bool Expired);
