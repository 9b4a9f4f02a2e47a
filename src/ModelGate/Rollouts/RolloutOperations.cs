using System.Security.Claims;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Gateway;
using ModelGate.Security;
using ModelGate.Storage;
using ModelGate.Storage.Rollouts;

namespace ModelGate.Rollouts;

/// <summary>What became of a person's command to a rollout (start, pause, resume, abort, promote).</summary>
public enum RolloutOperationOutcome
{
    Done,
    /// <summary>The request's fields are not valid (<see cref="RolloutOperationResult.Errors"/> per field): nothing was changed.</summary>
    Invalid,
    /// <summary>A hook's URL is outside the egress policy: nothing was changed.</summary>
    EgressDenied,
    DeploymentNotFound,
    RolloutNotFound,
    /// <summary>The deployment already has a rollout running or paused.</summary>
    InProgress,
    /// <summary>The pre-rollout hook did not agree (or could not be reached).</summary>
    HookRefused,
    /// <summary>The rollout (or the deployment's stable version) changed while the command was applied: nothing was changed.</summary>
    Stale,
    /// <summary>The candidate cannot be routed on the deployment (<see cref="RolloutOperationResult.Routing"/> says why).</summary>
    NotRoutable,
    /// <summary>The rollout has ended: it can no longer be paused, resumed, aborted or promoted.</summary>
    Ended,
    /// <summary>The routing change that goes with the action was refused (<see cref="RolloutOperationResult.Routing"/> says why).</summary>
    RoutingRefused,
}

/// <summary>
/// A rollout command's result: the rollout as written when <see cref="Outcome"/> is <see cref="RolloutOperationOutcome.Done"/>, otherwise the
/// problem code and a sentence saying why nothing was changed (and the field errors, or the refused routing change).
/// </summary>
public sealed record RolloutOperationResult(RolloutOperationOutcome Outcome, RolloutEntity? Rollout = null, string? Code = null, string? Detail = null,
    IReadOnlyDictionary<string, string[]>? Errors = null, RoutingResult? Routing = null)
{
    public bool IsDone => Outcome == RolloutOperationOutcome.Done;

    public static RolloutOperationResult Refused(RolloutOperationOutcome outcome, string code, string detail, RoutingResult? routing = null) =>
        new(outcome, null, code, detail, null, routing);

    public static RolloutOperationResult Invalid(IReadOnlyDictionary<string, string[]> errors) =>
        new(RolloutOperationOutcome.Invalid, null, ProblemCodes.Validation, string.Join("; ", errors.Select(e => $"{e.Key}: {string.Join(" ", e.Value)}")), errors);
}

/// <summary>The actions a person may take on a rollout in progress.</summary>
public static class RolloutActions
{
    public const string Pause = "pause";
    public const string Resume = "resume";
    public const string Abort = "abort";
    public const string Promote = "promote";
    public static readonly IReadOnlyList<string> All = [Pause, Resume, Abort, Promote];
}

/// <summary>
/// A person's commands to rollouts, with the REST API's validation and rules, shared by the REST handlers
/// (<see cref="RolloutsApi"/>, which map the result to problem+json) and the web console. The writes themselves are the
/// controller's (<see cref="RolloutController"/>): each is one audited transaction with its routing change.
/// </summary>
public sealed class RolloutOperations(RolloutController controller, TimeProvider time, EgressPolicy egress)
{
    private const int MaxMetrics = 20;

    /// <summary>Validates <paramref name="request"/> and starts the rollout on <paramref name="name"/> (after the pre-rollout hook agrees).</summary>
    public async Task<RolloutOperationResult> StartAsync(ModelGateDbContext db, string name, StartRolloutRequest request, ClaimsPrincipal user,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        if (!RolloutStrategies.All.Contains(request.Strategy))
        {
            errors.Add("strategy", $"one of {string.Join(", ", RolloutStrategies.All)}");
        }
        var steps = RolloutController.Steps(request);
        if (steps.Any(w => w is <= 0 or >= 100) || steps.Zip(steps.Skip(1)).Any(p => p.Second <= p.First))
        {
            errors.Add("steps", "rising weights between 0 and 100 (exclusive), e.g. [5, 10, 25, 50]");
        }
        if (request.IntervalSeconds is < 10 or > 86_400)
        {
            errors.Add("intervalSeconds", "10 s to 1 day (telemetry has 10-second resolution)");
        }
        foreach (var (field, value, min, max) in new (string, int, int, int)[]
                 {
                     ("minimumSamples", request.MinimumSamples, 1, 1000), ("failedCheckLimit", request.FailedCheckLimit, 1, 100),
                     ("intervals", request.Intervals, 1, 1000), ("minimumRequests", request.MinimumRequests, 1, 1_000_000),
                     ("minimumFeedback", request.MinimumFeedback, 1, 1_000_000), ("noDataLimit", request.NoDataLimit, 1, 100),
                 })
        {
            if (value < min || value > max)
            {
                errors.Add(field, $"{min}–{max}");
            }
        }
        ValidateMetrics(request.Metrics, errors);
        if (request.ProgressDeadlineSeconds < request.IntervalSeconds)
        {
            errors.Add("progressDeadlineSeconds", "at least one interval");
        }
        // Per-slot metrics need minimumSamples ten-second slots with data on each side within one interval: a shorter
        // interval could never judge them, and every analysis would end no_data until the rollout rolled back.
        if (request.IntervalSeconds is >= 10 and <= 86_400 && request.MinimumSamples is >= 1 and <= 1000
            && request.IntervalSeconds < request.MinimumSamples * (int)Gateway.Telemetry.GatewayTelemetry.SlotLength.TotalSeconds)
        {
            errors.Add("intervalSeconds", $"at least {request.MinimumSamples * (int)Gateway.Telemetry.GatewayTelemetry.SlotLength.TotalSeconds} s: " +
                $"minimumSamples ({request.MinimumSamples}) ten-second slots of data each side are judged per interval");
        }
        EgressRefusal? refused = null;
        foreach (var (field, url) in new[] { ("preRollout", request.Hooks?.PreRollout), ("confirmPromotion", request.Hooks?.ConfirmPromotion),
                     ("rollback", request.Hooks?.Rollback), ("event", request.Hooks?.Event) })
        {
            if (url is null)
            {
                continue;
            }
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            {
                errors.Add($"hooks.{field}", "an http(s) URL");
            }
            else if (egress.CheckUrl(uri) is { } refusal)
            {
                refused ??= refusal with { Reason = $"{refusal.Reason} (hooks.{field})" };
            }
        }
        if (errors.Any)
        {
            return RolloutOperationResult.Invalid(errors.ToDictionary());
        }
        if (refused is not null)
        {
            return RolloutOperationResult.Refused(RolloutOperationOutcome.EgressDenied, ProblemCodes.EgressDenied, refused.ToString());
        }
        var deployment = await db.Deployments.AsNoTracking().FirstOrDefaultAsync(d => d.Name == name, cancellationToken);
        if (deployment is null)
        {
            return DeploymentNotFound(name);
        }
        // Asked before the pre-rollout hook (a start that cannot happen is not announced), and again inside the write.
        if (await RolloutController.InProgressAsync(db, name, cancellationToken))
        {
            return InProgress(name);
        }
        var routing = JsonSerializer.Deserialize<RoutingTable>(deployment.Routing, ModelGateJson.Options)!;
        if (request.Candidate == routing.Stable)
        {
            return RolloutOperationResult.Invalid(new Dictionary<string, string[]>
            {
                ["candidate"] = [$"{ClientText.Echo(request.Candidate)} is already the stable version of '{name}'"],
            });
        }
        var now = time.GetUtcNow().UtcDateTime;
        var rollout = new RolloutEntity
        {
            Id = "ro_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)),
            Deployment = name, Stable = routing.Stable, Candidate = request.Candidate, Strategy = request.Strategy, Status = RolloutStatuses.Running,
            Spec = JsonSerializer.Serialize(request, ModelGateJson.Options), Weight = request.Strategy switch
            {
                RolloutStrategies.Canary => steps[0],
                RolloutStrategies.AB => 50,
                _ => 0,
            },
            StartedAt = now, StepStartedAt = now, NextCheckAt = now + TimeSpan.FromSeconds(request.IntervalSeconds), History = "[]", CreatedBy = user.ActorId(),
        };
        if (request.Hooks?.PreRollout is { } pre && !await controller.PostAsync(pre, rollout, "pre-rollout", cancellationToken))
        {
            return RolloutOperationResult.Refused(RolloutOperationOutcome.HookRefused, ProblemCodes.PreRolloutHookRefused,
                $"the pre-rollout hook {pre} did not agree (or could not be reached): the rollout did not start");
        }
        RolloutController.Append(rollout, new { type = "started", at = now, weight = rollout.Weight, by = user.ActorId() });
        // The rollout's row is inserted in the routing change's transaction: no routed candidate without its rollout.
        var started = await controller.StartAsync(rollout, table => request.Strategy switch
        {
            RolloutStrategies.Shadow => table with { Candidates = [], Shadow = new ShadowRoute(request.Candidate, 100) },
            RolloutStrategies.AB => table with
            {
                Candidates = [new CandidateRoute(request.Candidate, 50)], Shadow = null,
                Stickiness = table.Stickiness ?? new StickinessSpec(Header: "x-modelgate-user", User: true),
            },
            _ => table with { Candidates = [new CandidateRoute(request.Candidate, rollout.Weight)], Shadow = null },
        }, user, cancellationToken);
        return started.Outcome switch
        {
            RolloutWriteOutcome.Done => new(RolloutOperationOutcome.Done, rollout),
            RolloutWriteOutcome.NotFound => DeploymentNotFound(name),
            RolloutWriteOutcome.InProgress => InProgress(name),
            RolloutWriteOutcome.Stale => RolloutOperationResult.Refused(RolloutOperationOutcome.Stale, ProblemCodes.RolloutChanged,
                $"the stable version of '{name}' changed while the rollout was being started; nothing was changed: read the deployment again and retry"),
            _ => RolloutOperationResult.Refused(RolloutOperationOutcome.NotRoutable, ProblemCodes.CandidateNotRoutable,
                $"{ClientText.Echo(request.Candidate)} cannot be routed on '{name}': {started.Routing!.Explain()}", started.Routing),
        };
    }

    /// <summary>
    /// Pauses, resumes, aborts or promotes the rollout <paramref name="id"/> of <paramref name="name"/>, as read now: if the
    /// controller changes it meanwhile, nothing is written (<see cref="RolloutOperationOutcome.Stale"/>).
    /// </summary>
    public async Task<RolloutOperationResult> ActAsync(ModelGateDbContext db, string action, string name, string id, string? reason, ClaimsPrincipal user,
        CancellationToken cancellationToken)
    {
        if (!RolloutActions.All.Contains(action))
        {
            throw new ArgumentOutOfRangeException(nameof(action), action, "not a rollout action");
        }
        var rollout = await db.Rollouts.AsNoTracking().FirstOrDefaultAsync(r => r.Deployment == name && r.Id == id, cancellationToken);
        if (rollout is null)
        {
            return RolloutNotFound(name, id);
        }
        if (!RolloutStatuses.IsActive(rollout.Status))
        {
            return RolloutOperationResult.Refused(RolloutOperationOutcome.Ended, ProblemCodes.RolloutEnded, $"rollout {id} has ended ({rollout.Status})");
        }
        reason = reason is { Length: > 0 and <= 2000 } r ? r : $"{action} by {user.ActorId()}";
        var written = action switch
        {
            RolloutActions.Pause => await controller.PauseAsync(id, rollout.History, reason, user, cancellationToken),
            RolloutActions.Resume => await controller.ResumeAsync(id, rollout.History, reason, user, cancellationToken),
            RolloutActions.Abort => await controller.AbortAsync(id, rollout.History, reason, user, cancellationToken),
            _ => await controller.PromoteAsync(id, rollout.History, user, reason, cancellationToken),
        };
        return written.Outcome switch
        {
            RolloutWriteOutcome.Done => new(RolloutOperationOutcome.Done, written.Rollout),
            RolloutWriteOutcome.NotFound => RolloutNotFound(name, id),
            RolloutWriteOutcome.Stale => RolloutOperationResult.Refused(RolloutOperationOutcome.Stale, ProblemCodes.RolloutChanged,
                $"rollout {id} changed while your {action} was being applied (the controller acted on it); nothing was changed: read it again and retry"),
            _ => RolloutOperationResult.Refused(RolloutOperationOutcome.RoutingRefused, ProblemCodes.RolloutRoutingRefused,
                $"the routing change of your {action} was refused: {written.Routing!.Explain()}; nothing was changed", written.Routing),
        };
    }

    /// <summary>At most 20 business metrics, each named once, not after a default metric, with a direction and a minimum.</summary>
    private static void ValidateMetrics(IReadOnlyList<RolloutMetricSpec>? metrics, ValidationErrors errors)
    {
        if (metrics is null)
        {
            return;
        }
        if (metrics.Count > MaxMetrics)
        {
            errors.Add("metrics", $"at most {MaxMetrics} metrics");
            return;
        }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < metrics.Count; i++)
        {
            var metric = metrics[i];
            if (metric is null)
            {
                errors.Add($"metrics[{i}]", "a metric");
                continue;
            }
            // The name feedback reports it under (one rule, the feedback API's).
            if (metric.Name is null || !Monitoring.FeedbackApi.MetricName().IsMatch(metric.Name))
            {
                errors.Add($"metrics[{i}].name", "a business metric's name: a lowercase letter, then up to 63 lowercase letters, digits or underscores");
            }
            else if (CanaryMetrics.DefaultNames.Contains(metric.Name))
            {
                errors.Add($"metrics[{i}].name", $"'{metric.Name}' is a default metric of the analysis");
            }
            else if (!seen.Add(metric.Name))
            {
                errors.Add($"metrics[{i}].name", $"'{metric.Name}' is listed twice");
            }
            if (!MetricDirections.All.Contains(metric.Direction))
            {
                errors.Add($"metrics[{i}].direction", $"one of {string.Join(", ", MetricDirections.All)}");
            }
            if (metric.MinimumSamples is < 1 or > 1_000_000)
            {
                errors.Add($"metrics[{i}].minimumSamples", "1–1000000");
            }
        }
    }

    private static RolloutOperationResult DeploymentNotFound(string name) =>
        RolloutOperationResult.Refused(RolloutOperationOutcome.DeploymentNotFound, ProblemCodes.DeploymentNotFound, $"there is no deployment named '{ClientText.Echo(name)}'");

    private static RolloutOperationResult InProgress(string name) =>
        RolloutOperationResult.Refused(RolloutOperationOutcome.InProgress, ProblemCodes.RolloutInProgress, $"'{name}' already has a rollout in progress: abort or finish it first");

    private static RolloutOperationResult RolloutNotFound(string name, string id) =>
        RolloutOperationResult.Refused(RolloutOperationOutcome.RolloutNotFound, ProblemCodes.RolloutNotFound, $"deployment '{name}' has no rollout '{ClientText.Echo(id)}'");
}
