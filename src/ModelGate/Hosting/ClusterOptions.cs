namespace ModelGate.Hosting;

/// <summary>Section <c>Cluster</c>: how replicas on one store share work and what they know.</summary>
public sealed class ClusterOptions
{
    public const string Section = "Cluster";

    /// <summary>How long the workers' lease lasts without renewal: a dead leader's standby takes over after at most this plus <see cref="LeaseRenewInterval"/>.</summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often the leader renews the lease and a standby tries to take it.</summary>
    public TimeSpan LeaseRenewInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How often each replica writes its recent telemetry slots and sampled inputs to the store (the canary judge and drift read every replica's).</summary>
    public TimeSpan TelemetryFlushInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How long shared telemetry slots and sampled inputs are kept in the store.</summary>
    public TimeSpan SharedTelemetryRetention { get; set; } = TimeSpan.FromDays(7);
}
