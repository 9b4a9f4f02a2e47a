using System.Text.Json;

namespace ModelGate.Client;

/// <summary>Why a version leaves service.</summary>
public static class RetirementTriggers
{
    public const string Replaced = "replaced";
    public const string Discontinued = "discontinued";
    public const string Vulnerability = "vulnerability";
    public const string Regulation = "regulation";
    public const string Degraded = "degraded";

    public static readonly IReadOnlyList<string> All = [Replaced, Discontinued, Vulnerability, Regulation, Degraded];
}

public static class ApprovalDecisions
{
    public const string Approve = "approve";
    public const string Reject = "reject";
}

/// <summary>
/// A request to move a version to stage <see cref="To"/>. For <c>retired</c>, <see cref="Trigger"/> is required and
/// <see cref="Replacement"/> names the version that takes over traffic from deployments still routing to this one.
/// </summary>
public sealed record TransitionRequest(string To, string Reason, string? Trigger = null, string? Replacement = null);

/// <summary>One gate check: what the policy expects, what was found.</summary>
public sealed record GateCheck(string Check, string Expected, string Actual, bool Passed);

/// <summary>The gate's verdict on a transition: every check, passed or not.</summary>
public sealed record GateReport(string Model, string Version, string From, string To, bool Passed, IReadOnlyList<GateCheck> Checks, string? Policy = null);

public sealed record TransitionDto(string Model, string Version, string From, string To, string Reason, string? Trigger, DateTime Time, string Actor,
    GateReport Report, string? ArchiveSha256 = null);

/// <summary>A metric bound: <see cref="Metric"/> is a headline metric or a fairness figure (e.g. <c>equalized_odds_difference</c>).</summary>
public sealed record MetricRule(string Metric, double? Min = null, double? Max = null, string? Suite = null);

/// <summary>Checks on the way to <c>evaluated</c>.</summary>
/// <param name="RegressionTolerance">How far below production's value (on the same suite) a higher-is-better metric may fall.</param>
/// <param name="RequireIndependent">Evaluations must be run by someone other than the trainer.</param>
/// <param name="RequirePlatformRun">Evaluations must be run by ModelGate, not reported from elsewhere.</param>
public sealed record EvaluatedGate(
    IReadOnlyList<string>? RequiredSuites = null,
    IReadOnlyList<MetricRule>? Thresholds = null,
    double? RegressionTolerance = 0.01,
    IReadOnlyList<string>? RegressionMetrics = null,
    bool RequireIndependent = true,
    bool RequirePlatformRun = true);

/// <summary>Checks on the way to <c>registered</c>.</summary>
public sealed record RegisteredGate(IReadOnlyList<string>? CardFields = null, bool RequireLicense = true, bool RequireOwner = true);

/// <summary>Checks on the way to <c>staging</c>.</summary>
public sealed record StagingGate(bool RequireDeployment = true);

/// <summary>Checks on the way to <c>production</c>: a passed staging verification, and approvals by risk tier.</summary>
/// <param name="StagingLatencyP99Ms">The staging verification's latency check: the short load's p99 must not exceed it (milliseconds).</param>
public sealed record ProductionGate(bool RequireStagingVerification = true, IReadOnlyDictionary<string, IReadOnlyList<string>>? Approvals = null,
    double StagingLatencyP99Ms = ProductionGate.DefaultStagingLatencyP99Ms)
{
    public const double DefaultStagingLatencyP99Ms = 1000;
}

/// <summary>A gate policy: the default one, or a model's override (which replaces the default gate by gate).</summary>
public sealed record PolicyDocument(
    EvaluatedGate? Evaluated = null,
    RegisteredGate? Registered = null,
    StagingGate? Staging = null,
    ProductionGate? Production = null);

public sealed record PolicyDto(string Scope, int Revision, PolicyDocument Document, string DocumentSha256, DateTime CreatedAt, string CreatedBy,
    bool Builtin = false);

/// <summary>An approver's decision on the production release of a version; every field is required.</summary>
public sealed record ApprovalRequest(
    string Decision,
    string Role,
    IReadOnlyList<string> Evidence,
    string RisksAccepted,
    string MonitoringPlan,
    string RollbackPlan,
    DateTime NextReviewAt,
    string? Comment = null);

public sealed record ApprovalDto(
    string Id,
    string Model,
    string Version,
    string Decision,
    string Approver,
    string Role,
    DateTime Time,
    IReadOnlyList<string> Evidence,
    string RisksAccepted,
    string MonitoringPlan,
    string RollbackPlan,
    DateTime NextReviewAt,
    string? Comment,
    EvidenceIntegrityDto? Integrity = null);

public sealed record StagingCheckResult(string Check, bool Passed, string Detail, JsonElement? Figures = null);

/// <summary>
/// What staging verification sends. <see cref="SmokeDataset"/> (upstream-served versions): the digest of an uploaded JSONL
/// smoke set in the llm-chat row format (<c>{id?, prompt?, variables?, reference?}</c>); without it, the version's own
/// <c>smoke.jsonl</c> artifact, else the dataset of its latest succeeded llm-chat evaluation.
/// </summary>
public sealed record StagingVerificationRequest(string? Deployment = null, int SmokeRows = 20, int LoadRequests = 200, int Concurrency = 4,
    string? SmokeDataset = null);

public sealed record StagingVerificationDto(string Id, string Model, string Version, string Deployment, bool Passed, IReadOnlyList<StagingCheckResult> Checks,
    DateTime CreatedAt, string CreatedBy, EvidenceIntegrityDto? Integrity = null);

public sealed record ReviewDueDto(string Model, string Version, DateTime NextReviewAt, double DaysOverdue, string Owner);

/// <summary>The tier's authority approves a below-floor change refused earlier, by the <c>change</c> id of that refusal.</summary>
public sealed record FloorApprovalRequest(string Change, string Reason);

/// <summary>An approval to go below a risk tier's floor: spent by the requester's next identical change.</summary>
public sealed record FloorApprovalDto(string Model, string Change, string Kind, IReadOnlyList<string> Fields, string RequestedBy, string ApprovedBy, string Role,
    string Reason, DateTime Time);
