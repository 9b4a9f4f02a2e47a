using System.Text.Json;

namespace ModelGate.Client;

public static class AlertSeverities
{
    public const string Page = "page";
    public const string Ticket = "ticket";
    public const string Info = "info";
    public static readonly IReadOnlyList<string> All = [Page, Ticket, Info];
}

public static class AlertKinds
{
    public const string BurnRate = "burn_rate";
    public const string Drift = "drift";
    public const string ErrorSpike = "error_spike";
    public const string CostSpike = "cost_spike";
    public const string ReviewOverdue = "review_overdue";
    public const string ArtifactCorrupt = "artifact_corrupt";
    public const string RolloutRolledBack = "rollout_rolled_back";
    public const string RedisUnavailable = "redis_unavailable";
}

public sealed record AlertDto(long Id, string Key, string Group, string Kind, string Severity, string Status, string Summary, JsonElement Details,
    DateTime FiredAt, DateTime LastSeenAt, DateTime? ResolvedAt, int Occurrences, bool Silenced, string Delivery, int DeliveryAttempts);

public sealed record SilenceRequest(string KeyPrefix, string Duration, string Reason);

public sealed record SilenceDto(long Id, string KeyPrefix, DateTime Until, string Reason, DateTime CreatedAt, string CreatedBy);

/// <summary>
/// A deployment's service-level objectives over <see cref="PeriodDays"/>: the share of requests that must succeed
/// (not 5xx), and the share that must be answered within <see cref="LatencyThresholdMs"/>.
/// </summary>
public sealed record SloSpec(double Availability = 0.999, double? LatencyObjective = null, double LatencyThresholdMs = 500, int PeriodDays = 30);

/// <summary>One objective's state: burn rates over the workbook's windows and the error budget left in the period.</summary>
public sealed record SloObjectiveStatus(string Objective, double Target, double? Compliance, double BudgetRemaining, IReadOnlyDictionary<string, double?> BurnRates);

public sealed record SloStatusDto(string Deployment, SloSpec Spec, IReadOnlyList<SloObjectiveStatus> Objectives);

/// <summary>Sets a version's drift baseline: the reference dataset (a stored CSV artifact) and the columns to watch.</summary>
public sealed record DriftBaselineRequest(string Dataset, IReadOnlyList<string>? Columns = null);

public sealed record DriftBaselineDto(string Model, string Version, string Dataset, int Rows, IReadOnlyList<string> Columns, DateTime CreatedAt, string CreatedBy);
