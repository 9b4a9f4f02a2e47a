using ModelGate.Gateway.Telemetry;

namespace ModelGate.Rollouts;

/// <summary>
/// The canary judge's one input: what a version of a deployment did, per 10-second slot, since a moment — its served
/// routes merged, or only its mirrored (shadow) traffic. Everything the analysis compares is read through here, so that
/// moving the judge's data from one process's memory to storage shared by replicas changes this seam only.
/// </summary>
public interface IRolloutEvidence
{
    IReadOnlyList<SlotAggregate> Slots(string deployment, string version, DateTime from, bool shadow);
}

/// <summary>The evidence of this process: the gateway's in-memory telemetry (one process serves all the traffic).</summary>
public sealed class TelemetryRolloutEvidence(GatewayTelemetry telemetry) : IRolloutEvidence
{
    public IReadOnlyList<SlotAggregate> Slots(string deployment, string version, DateTime from, bool shadow) =>
        telemetry.Slots(deployment, version, from, shadow);
}
