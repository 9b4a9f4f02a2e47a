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

/// <summary>Which change of a business metric counts against the candidate.</summary>
public static class MetricDirections
{
    public const string Increase = "increase";
    public const string Decrease = "decrease";
    public const string Either = "either";
    public static readonly IReadOnlyList<string> All = [Increase, Decrease, Either];
}

/// <summary>
/// A business metric the analysis compares, read from feedback that names it (<c>{"requestId", "metric", "value"}</c>):
/// the candidate's mean value per 10-second slot against the stable version's. <see cref="Direction"/> says which change
/// fails (<c>decrease</c> for a conversion rate); a <see cref="Critical"/> failure rolls back at once; fewer than
/// <see cref="MinimumSamples"/> values on either side in an interval leave the metric without data.
/// </summary>
public sealed record RolloutMetricSpec(string Name, string Direction = MetricDirections.Decrease, bool Critical = false, int MinimumSamples = 30);

/// <summary>
/// Starts a rollout of <see cref="Candidate"/>. Canary: the candidate's weight steps through <see cref="Steps"/> (default
/// 5, 10, 25, 50), one analysis per <see cref="IntervalSeconds"/>, then promotion. Shadow: the candidate gets a copy of
/// the traffic for <see cref="Intervals"/> analyses and never serves. A/B: a sticky 50/50 split for <see cref="Intervals"/> analyses.
/// An interval in which the candidate served fewer than <see cref="MinimumRequests"/> requests (or the feedback metrics got
/// fewer than <see cref="MinimumFeedback"/> answers) has no data: it holds the step, and <see cref="NoDataLimit"/> such
/// intervals in a row roll the rollout back. <see cref="Metrics"/> adds business metrics to the default ones.
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
    RolloutHooks? Hooks = null,
    int MinimumRequests = 50,
    int MinimumFeedback = 20,
    int NoDataLimit = 3,
    IReadOnlyList<RolloutMetricSpec>? Metrics = null);

/// <summary>
/// One metric of one analysis: the stable and candidate figures (means of the per-slot values, or the pooled figure of a
/// distribution or agreement test), the sample counts, the test's interval for candidate − stable (Hodges-Lehmann) when
/// one was computed with its estimate (the Hodges-Lehmann shift; for the score distribution Kolmogorov-Smirnov's D), the
/// classification (Pass, High, Low, NoData), whether the metric is critical, and whether it failed (High or Low) beyond its
/// critical threshold.
/// </summary>
public sealed record MetricAnalysisDto(
    string Name,
    double? Stable,
    double? Candidate,
    int StableSamples,
    int CandidateSamples,
    double? Lower,
    double? Upper,
    string Classification,
    bool Critical,
    bool CriticalFailure,
    string? Reason,
    double? Estimate = null);

/// <summary>One interval's analysis: its outcome (pass, marginal, fail, no_data), score, the requests each side served, and every metric.</summary>
public sealed record RolloutAnalysisDto(
    DateTime At,
    double Weight,
    string Outcome,
    double Score,
    string? Reason,
    long StableRequests,
    long CandidateRequests,
    IReadOnlyList<MetricAnalysisDto> Metrics);

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
    string CreatedBy,
    IReadOnlyList<RolloutAnalysisDto>? Analyses = null);

public sealed record RolloutActionRequest(string? Reason = null);
