using System.Security.Claims;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Security;
using ModelGate.Storage;
using ModelGate.Storage.Rollouts;

namespace ModelGate.Rollouts;

/// <summary><c>/api/v1/deployments/{name}/rollouts</c>: start one, follow it, pause, resume, abort or promote it.</summary>
public static class RolloutsApi
{
    public static IServiceCollection AddModelGateRollouts(this IServiceCollection services)
    {
        services.AddOptions<RolloutOptions>().BindConfiguration(RolloutOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddHttpClient(nameof(RolloutController), c => c.Timeout = TimeSpan.FromSeconds(10))
            .ConfigurePrimaryHttpMessageHandler(sp => sp.GetRequiredService<Security.EgressPolicy>().CreateHandler());
        services.AddSingleton<IRolloutEvidence, TelemetryRolloutEvidence>();
        services.AddSingleton<RolloutController>();
        services.AddHostedService(sp => sp.GetRequiredService<RolloutController>());
        return services;
    }

    public static IEndpointRouteBuilder MapRolloutsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/deployments/{name}/rollouts").WithTags("Rollouts").ForOwnDeployment();
        api.MapPost("/", StartRollout).WithName(nameof(StartRollout)).RequireAuthorization(Permissions.Deploy);
        api.MapGet("/", ListRollouts).WithName(nameof(ListRollouts)).RequireAuthorization(Permissions.Read);
        api.MapGet("/{id}", GetRollout).WithName(nameof(GetRollout)).RequireAuthorization(Permissions.Read);
        foreach (var action in new[] { "pause", "resume", "abort", "promote" })
        {
            api.MapPost("/{id}/" + action, (string name, string id, RolloutActionRequest? request, ClaimsPrincipal user, ModelGateDbContext db,
                    RolloutController controller, CancellationToken ct) => Act(action, name, id, request, user, db, controller, ct))
                .WithName("Rollout" + char.ToUpperInvariant(action[0]) + action[1..]).RequireAuthorization(Permissions.Deploy);
        }
        return app;
    }

    public static async Task<Results<Created<RolloutDto>, ProblemHttpResult>> StartRollout(string name, StartRolloutRequest request, ClaimsPrincipal user,
        ModelGateDbContext db, RolloutController controller, TimeProvider time, EgressPolicy egress, CancellationToken cancellationToken)
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
            return errors.ToProblem();
        }
        if (refused is not null)
        {
            return Problems.Unprocessable(ProblemCodes.EgressDenied, refused.ToString());
        }
        var deployment = await db.Deployments.AsNoTracking().FirstOrDefaultAsync(d => d.Name == name, cancellationToken);
        if (deployment is null)
        {
            return Gateway.DeploymentsApi.NotFound(name);
        }
        // Asked before the pre-rollout hook (a start that cannot happen is not announced), and again inside the write.
        if (await RolloutController.InProgressAsync(db, name, cancellationToken))
        {
            return InProgress(name);
        }
        var routing = JsonSerializer.Deserialize<RoutingTable>(deployment.Routing, ModelGateJson.Options)!;
        if (request.Candidate == routing.Stable)
        {
            return Problems.Validation("candidate", $"{ClientText.Echo(request.Candidate)} is already the stable version of '{name}'");
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
            return Problems.Conflict("pre_rollout_hook_refused", $"the pre-rollout hook {pre} did not agree (or could not be reached): the rollout did not start");
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
            RolloutWriteOutcome.Done => TypedResults.Created($"/api/v1/deployments/{name}/rollouts/{rollout.Id}", ToDto(rollout)),
            RolloutWriteOutcome.NotFound => Gateway.DeploymentsApi.NotFound(name),
            RolloutWriteOutcome.InProgress => InProgress(name),
            RolloutWriteOutcome.Stale => Problems.Conflict(ProblemCodes.RolloutChanged,
                $"the stable version of '{name}' changed while the rollout was being started; nothing was changed: read the deployment again and retry"),
            _ => NotRoutable(request.Candidate, name, started.Routing!),
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

    private const int MaxMetrics = 20;

    /// <summary>The candidate cannot be routed: the routing change's field errors (or refusal) under the rollout's own code.</summary>
    private static ProblemHttpResult NotRoutable(string candidate, string name, Gateway.RoutingResult routing) =>
        Problems.Unprocessable(ProblemCodes.CandidateNotRoutable, $"{ClientText.Echo(candidate)} cannot be routed on '{name}': {routing.Explain()}",
            routing.Errors is { } errors ? new Dictionary<string, object?> { ["errors"] = errors } : new Dictionary<string, object?> { ["field"] = routing.Field });

    public static async Task<Ok<List<RolloutDto>>> ListRollouts(string name, ModelGateDbContext db, CancellationToken cancellationToken) =>
        TypedResults.Ok((await db.Rollouts.AsNoTracking().Where(r => r.Deployment == name).OrderByDescending(r => r.StartedAt).ToListAsync(cancellationToken))
            .Select(ToDto).ToList());

    public static async Task<Results<Ok<RolloutDto>, ProblemHttpResult>> GetRollout(string name, string id, ModelGateDbContext db, CancellationToken cancellationToken)
    {
        var rollout = await db.Rollouts.AsNoTracking().FirstOrDefaultAsync(r => r.Deployment == name && r.Id == id, cancellationToken);
        return rollout is null ? NotFound(name, id) : TypedResults.Ok(ToDto(rollout));
    }

    private static async Task<Results<Ok<RolloutDto>, ProblemHttpResult>> Act(string action, string name, string id, RolloutActionRequest? request,
        ClaimsPrincipal user, ModelGateDbContext db, RolloutController controller, CancellationToken cancellationToken)
    {
        var rollout = await db.Rollouts.AsNoTracking().FirstOrDefaultAsync(r => r.Deployment == name && r.Id == id, cancellationToken);
        if (rollout is null)
        {
            return NotFound(name, id);
        }
        if (!RolloutStatuses.IsActive(rollout.Status))
        {
            return Problems.Conflict("rollout_ended", $"rollout {id} has ended ({rollout.Status})");
        }
        var reason = request?.Reason is { Length: > 0 and <= 2000 } r ? r : $"{action} by {user.ActorId()}";
        // The rollout as read here is what the person acts on: if the controller changed it meanwhile, nothing is written.
        var written = action switch
        {
            "pause" => await controller.PauseAsync(id, rollout.History, reason, user, cancellationToken),
            "resume" => await controller.ResumeAsync(id, rollout.History, reason, user, cancellationToken),
            "abort" => await controller.AbortAsync(id, rollout.History, reason, user, cancellationToken),
            _ => await controller.PromoteAsync(id, rollout.History, user, reason, cancellationToken),
        };
        return written.Outcome switch
        {
            RolloutWriteOutcome.Done => TypedResults.Ok(ToDto(written.Rollout!)),
            RolloutWriteOutcome.NotFound => NotFound(name, id),
            RolloutWriteOutcome.Stale => Problems.Conflict(ProblemCodes.RolloutChanged,
                $"rollout {id} changed while your {action} was being applied (the controller acted on it); nothing was changed: read it again and retry"),
            _ => Problems.Unprocessable(ProblemCodes.RolloutRoutingRefused,
                $"the routing change of your {action} was refused: {written.Routing!.Explain()}; nothing was changed"),
        };
    }

    public static RolloutDto ToDto(RolloutEntity r)
    {
        var history = JsonDocument.Parse(r.History).RootElement.Clone();
        return new(r.Id, r.Deployment, r.Stable, r.Candidate, r.Strategy, r.Status, r.Step, r.Weight, r.Checks, r.FailedChecks, r.StartedAt, r.NextCheckAt,
            r.EndedAt, r.Reason, RolloutController.Spec(r), history, r.CreatedBy, Analyses(history));
    }

    /// <summary>The analyses recorded in the history's <c>check</c> entries, oldest first.</summary>
    public static List<RolloutAnalysisDto> Analyses(JsonElement history)
    {
        var analyses = new List<RolloutAnalysisDto>();
        foreach (var entry in history.EnumerateArray())
        {
            if (entry.TryGetProperty("type", out var type) && type.GetString() == "check" && entry.TryGetProperty("analysis", out var analysis)
                && analysis.Deserialize<RolloutAnalysisDto>(ModelGateJson.Options) is { } dto)
            {
                analyses.Add(dto);
            }
        }
        return analyses;
    }

    private static ProblemHttpResult InProgress(string name) =>
        Problems.Conflict(ProblemCodes.RolloutInProgress, $"'{name}' already has a rollout in progress: abort or finish it first");

    private static ProblemHttpResult NotFound(string name, string id) => Problems.NotFound("rollout_not_found", $"deployment '{name}' has no rollout '{ClientText.Echo(id)}'");
}
