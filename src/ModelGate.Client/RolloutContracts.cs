using System.Text.Json;

namespace ModelGate.Client;

public static class RolloutStrategies
{
    public const string Canary = "canary";
    public const string Shadow = "shadow";
    public const string AB = "ab";
    public static readonly IReadOnlyList<string> All = [Canary, Shadow, AB];
}

public static class RolloutStatuses
{
    public const string Running = "running";
    public const string Paused = "paused";
    public const string Promoted = "promoted";
    public const string Completed = "completed";
    public const string RolledBack = "rolled_back";
    public const string Aborted = "aborted";

    public static bool IsActive(string status) => status is Running or Paused;
}

/// <summary>Webhooks called during a rollout (JSON POST with an HMAC signature, retried): a non-2xx pre-rollout hook stops the start, a non-2xx confirm-promotion hook holds the promotion.</summary>
public sealed record RolloutHooks(string? PreRollout = null, string? ConfirmPromotion = null, string? Rollback = null, string? Event = null);

/// <summary>
/// Starts a rollout of <see cref="Candidate"/>. Canary: the candidate's weight steps through <see cref="Steps"/> (default
/// 5, 10, 25, 50), one analysis per <see cref="IntervalSeconds"/>, then promotion. Shadow: the candidate gets a copy of
/// the traffic for <see cref="Intervals"/> analyses and never serves. A/B: a sticky 50/50 split for <see cref="Intervals"/> analyses.
/// </summary>
public sealed record StartRolloutRequest(
    string Candidate,
    string Strategy = RolloutStrategies.Canary,
    IReadOnlyList<double>? Steps = null,
    int IntervalSeconds = 60,
    int MinimumSamples = 3,
    int FailedCheckLimit = 2,
    int ProgressDeadlineSeconds = 3600,
    int Intervals = 5,
    RolloutHooks? Hooks = null);

public sealed record RolloutDto(
    string Id,
    string Deployment,
    string Stable,
    string Candidate,
    string Strategy,
    string Status,
    int Step,
    double Weight,
    int Checks,
    int FailedChecks,
    DateTime StartedAt,
    DateTime NextCheckAt,
    DateTime? EndedAt,
    string? Reason,
    StartRolloutRequest Spec,
    JsonElement History,
    string CreatedBy);

public sealed record RolloutActionRequest(string? Reason = null);
