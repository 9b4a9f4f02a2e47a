using System.ComponentModel.DataAnnotations;
using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using ModelGate.Client;
using ModelGate.Gateway;
using ModelGate.Gateway.Telemetry;
using ModelGate.Monitoring;
using ModelGate.Security;
using ModelGate.Storage;
using ModelGate.Storage.Rollouts;

namespace ModelGate.Rollouts;

/// <summary>Section <c>Rollouts</c>.</summary>
public sealed class RolloutOptions
{
    public const string Section = "Rollouts";

    /// <summary>How often the controller looks for rollouts whose next analysis is due.</summary>
    public TimeSpan TickInterval { get; set; } = TimeSpan.FromSeconds(5);

    [Range(0, 20)]
    public int HookRetries { get; set; } = 3;
}

/// <summary>What became of a change to a rollout (and the routing that goes with it).</summary>
public enum RolloutWriteOutcome
{
    Done,
    NotFound,
    /// <summary>The rollout changed since the caller read it (the controller's tick, a person, another replica): nothing was written.</summary>
    Stale,
    /// <summary>The routing change that goes with it was refused (<see cref="RolloutWrite.Routing"/> says why): nothing was written.</summary>
    RoutingRefused,
    /// <summary>The deployment already has a rollout in progress (running or paused): nothing was written.</summary>
    InProgress,
}

public sealed record RolloutWrite(RolloutWriteOutcome Outcome, RolloutEntity? Rollout = null, RoutingResult? Routing = null);

/// <summary>
/// The rollout controller (a <see cref="BackgroundService"/> on <see cref="TimeProvider"/>): for every running rollout
/// whose interval has passed it judges the candidate against the stable version, then advances, holds, promotes or rolls
/// back. Humans start, pause, resume, abort or promote through the API. Every change of a rollout is one audited write
/// in which the rollout's row is read and changed, and its routing changed through <see cref="DeploymentRouting"/>:
/// both commit or neither does.
/// </summary>
public sealed partial class RolloutController(IServiceScopeFactory scopes, IRolloutEvidence evidence, DeploymentRouting routings, AlertManager alerts,
    IHttpClientFactory http, IOptions<RolloutOptions> options, IOptions<AlertOptions> alertOptions, TimeProvider time, ILogger<RolloutController> logger, Hosting.ILeadership leadership)
    : Hosting.LeaderWorker(leadership)
{
    public const string Actor = "modelgate:rollouts";
    public static readonly IReadOnlyList<double> DefaultSteps = [5, 10, 25, 50];

    private readonly SemaphoreSlim _one = new(1, 1);

    private static readonly ClaimsPrincipal Controller = new(new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, Actor), new Claim(ClaimTypes.Name, Actor)], "system"));

    protected override async Task LeadAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.TickInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await TickAsync(stoppingToken);
                }
                catch (Exception e) when (e is DbUpdateException or InvalidOperationException or HttpRequestException)
                {
                    LogTickFailed(logger, e);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Runs every analysis that is due; ticks never overlap.</summary>
    public async Task TickAsync(CancellationToken cancellationToken)
    {
        await _one.WaitAsync(cancellationToken);
        try
        {
            var now = time.GetUtcNow().UtcDateTime;
            List<string> due;
            await using (var scope = scopes.CreateAsyncScope())
            {
                due = await scope.ServiceProvider.GetRequiredService<ModelGateDbContext>().Rollouts
                    .Where(r => r.Status == RolloutStatuses.Running && r.NextCheckAt <= now).Select(r => r.Id).ToListAsync(cancellationToken);
            }
            foreach (var id in due)
            {
                var after = new FollowUps();
                var outcome = await WriteAsync(id, null, (tx, rollout) => rollout.Status == RolloutStatuses.Running && rollout.NextCheckAt <= now
                    ? CheckAsync(tx, rollout, now, after, cancellationToken)
                    : Task.FromResult<RoutingResult?>(null), after, cancellationToken);
                if (outcome.Outcome == RolloutWriteOutcome.RoutingRefused)
                {
                    LogRoutingRefused(logger, id, outcome.Routing!.Explain());
                }
                else if (after.Alert is { } alert && outcome.Outcome == RolloutWriteOutcome.Done && outcome.Rollout is { } rolledBack)
                {
                    await AlertRollbackAsync(rolledBack, alert.Reason, alert.Metrics, alert.Analysis, cancellationToken);
                }
                else if (after.Promotion is { } reason && outcome.Rollout is { } checkedRollout)
                {
                    var promoted = await PromoteAsync(id, checkedRollout.History, Controller, reason, cancellationToken);
                    if (promoted.Outcome == RolloutWriteOutcome.RoutingRefused)
                    {
                        LogRoutingRefused(logger, id, promoted.Routing!.Explain());
                    }
                }
            }
        }
        finally
        {
            _one.Release();
        }
    }

    /// <summary>One analysis of a running rollout and what follows from it, inside the write that records it; a refused routing change is returned (nothing is written).</summary>
    private async Task<RoutingResult?> CheckAsync(AuditScope tx, RolloutEntity rollout, DateTime now, FollowUps after, CancellationToken cancellationToken)
    {
        var spec = Spec(rollout);
        var deployment = await tx.Db.Deployments.AsNoTracking().FirstOrDefaultAsync(d => d.Name == rollout.Deployment, cancellationToken);
        var routing = deployment is null ? null : DeploymentRouting.Read(deployment);
        var candidateRouted = routing is not null && routing.Stable == rollout.Stable &&
                              (routing.Candidates?.Any(c => c.Version == rollout.Candidate) == true || routing.Shadow?.Version == rollout.Candidate);
        if (!candidateRouted)
        {
            await EndAsync(tx, rollout, RolloutStatuses.Aborted, "the deployment's routing was changed outside the rollout (a rollback or a manual change)", null,
                Controller, after, cancellationToken);
            return null;
        }
        var analysis = await RolloutAnalysis.AnalyzeAsync(evidence, rollout.Deployment, rollout.Stable, rollout.Candidate, now - TimeSpan.FromSeconds(spec.IntervalSeconds),
            rollout.Strategy == RolloutStrategies.Shadow, AnalysisSettings.From(spec), cancellationToken);
        var decision = RolloutDecision.Decide(RolloutState.FromHistory(rollout.Strategy, rollout.Step, rollout.History), spec, analysis);
        rollout.Checks++;
        var record = analysis.ToDto(now, rollout.Weight);
        Append(rollout, new
        {
            type = "check", at = now, weight = rollout.Weight, outcome = analysis.Outcome, score = analysis.Judgement.Score,
            decision = decision.Action.ToString().ToLowerInvariant(), reason = decision.Reason, analysis = record,
        });
        rollout.NextCheckAt = now + TimeSpan.FromSeconds(spec.IntervalSeconds);
        if (analysis.Outcome == AnalysisOutcomes.Fail)
        {
            rollout.FailedChecks++;
        }

        switch (decision.Action)
        {
            case RolloutAction.RollBack:
                after.Alert = (decision.Reason, analysis.Outcome == AnalysisOutcomes.Fail ? analysis.Failed.Select(m => m.Name).ToList() : [AnalysisOutcomes.NoData],
                    record);
                return await RollBackAsync(tx, rollout, decision.Reason, Controller, after, cancellationToken);
            case RolloutAction.Promote:
                // Promoted once this check is recorded, after the confirm-promotion hook agrees (no hook is asked inside a write).
                after.Promotion = decision.Reason;
                return null;
            case RolloutAction.Step:
                rollout.Step++;
                rollout.Weight = Steps(spec)[rollout.Step];
                rollout.StepStartedAt = now;
                Append(rollout, new { type = "step", at = now, weight = rollout.Weight });
                var stepped = await RouteAsync(tx, rollout, Controller, table => table with { Candidates = [new CandidateRoute(rollout.Candidate, rollout.Weight)] },
                    cancellationToken);
                if (!stepped.IsChanged)
                {
                    return stepped;
                }
                after.Hook(spec.Hooks?.Event, "step");
                break;
        }
        if (now - rollout.StepStartedAt > TimeSpan.FromSeconds(spec.ProgressDeadlineSeconds))
        {
            var reason = $"no progress for {spec.ProgressDeadlineSeconds} s (the progress deadline); the last analysis: {decision.Reason}";
            after.Alert = (reason, analysis.Failed.Select(m => m.Name).DefaultIfEmpty("progress_deadline").ToList(), record);
            return await RollBackAsync(tx, rollout, reason, Controller, after, cancellationToken);
        }
        return null;
    }

    /// <summary>
    /// Starts <paramref name="rollout"/>: its row, its first routing (<paramref name="start"/> of the current table) and their audit
    /// events in one write; then the event hook.
    /// </summary>
    public async Task<RolloutWrite> StartAsync(RolloutEntity rollout, Func<RoutingTable, RoutingTable> start, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        await using (var scope = scopes.CreateAsyncScope())
        {
            await using var tx = await scope.ServiceProvider.GetRequiredService<AuditedWrite>().BeginAsync(cancellationToken);
            // Decided inside the write, which writes serialise through: of two starts racing for one deployment, one wins.
            if (await InProgressAsync(tx.Db, rollout.Deployment, cancellationToken))
            {
                return new(RolloutWriteOutcome.InProgress, rollout);
            }
            if (await tx.Db.Deployments.AsNoTracking().FirstOrDefaultAsync(d => d.Name == rollout.Deployment, cancellationToken) is { } current
                && DeploymentRouting.Read(current).Stable != rollout.Stable)
            {
                return new(RolloutWriteOutcome.Stale, rollout); // the stable version moved since the caller read it
            }
            tx.Db.Rollouts.Add(rollout);
            var routed = await RouteAsync(tx, rollout, user, start, cancellationToken);
            if (!routed.IsChanged)
            {
                return new(routed.Outcome == RoutingOutcome.NotFound ? RolloutWriteOutcome.NotFound : RolloutWriteOutcome.RoutingRefused, rollout, routed);
            }
            await AuditAsync(tx, rollout, "started", new { rollout.Stable, rollout.Candidate, rollout.Strategy, rollout.Weight }, user, cancellationToken);
            await tx.CommitAsync(cancellationToken);
        }
        await HookAsync(Spec(rollout).Hooks?.Event, rollout, "started", cancellationToken);
        return new(RolloutWriteOutcome.Done, rollout);
    }

    /// <summary>Whether <paramref name="deployment"/> has a rollout running or paused: at most one may be.</summary>
    public static Task<bool> InProgressAsync(ModelGateDbContext db, string deployment, CancellationToken cancellationToken) =>
        db.Rollouts.AnyAsync(r => r.Deployment == deployment && (r.Status == RolloutStatuses.Running || r.Status == RolloutStatuses.Paused), cancellationToken);

    /// <summary>Holds the rollout where it is: no analysis runs until it is resumed.</summary>
    public Task<RolloutWrite> PauseAsync(string id, string history, string reason, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        WriteAsync(id, history, async (tx, rollout) =>
        {
            rollout.Status = RolloutStatuses.Paused;
            Append(rollout, new { type = "paused", at = tx.Now, reason, by = user.ActorId() });
            await AuditAsync(tx, rollout, "paused", new { rollout.Weight, reason }, user, cancellationToken);
            return null;
        }, new FollowUps(), cancellationToken);

    /// <summary>Runs the rollout again; its step starts over, the next analysis an interval from now.</summary>
    public Task<RolloutWrite> ResumeAsync(string id, string history, string reason, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        WriteAsync(id, history, async (tx, rollout) =>
        {
            var now = time.GetUtcNow().UtcDateTime;
            rollout.Status = RolloutStatuses.Running;
            rollout.StepStartedAt = now;
            rollout.NextCheckAt = now + TimeSpan.FromSeconds(Spec(rollout).IntervalSeconds);
            Append(rollout, new { type = "resumed", at = now, reason, by = user.ActorId() });
            await AuditAsync(tx, rollout, "resumed", new { rollout.Weight, reason }, user, cancellationToken);
            return null;
        }, new FollowUps(), cancellationToken);

    /// <summary>Ends the rollout with all traffic back on the stable version; the rollback hook is told.</summary>
    public Task<RolloutWrite> AbortAsync(string id, string history, string reason, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var after = new FollowUps();
        return WriteAsync(id, history, (tx, rollout) => RollBackAsync(tx, rollout, reason, user, after, cancellationToken, RolloutStatuses.Aborted), after,
            cancellationToken);
    }

    /// <summary>
    /// Promotes (canary, A/B) or completes (shadow) the rollout as read with <paramref name="history"/>, after the
    /// confirm-promotion hook agrees (asked before the write; a refusal is recorded as <c>promotion_held</c>).
    /// </summary>
    public async Task<RolloutWrite> PromoteAsync(string id, string history, ClaimsPrincipal user, string reason, CancellationToken cancellationToken)
    {
        RolloutEntity? read;
        await using (var scope = scopes.CreateAsyncScope())
        {
            read = await scope.ServiceProvider.GetRequiredService<ModelGateDbContext>().Rollouts.AsNoTracking().FirstOrDefaultAsync(r => r.Id == id, cancellationToken);
        }
        if (read is null || read.History != history)
        {
            return new(read is null ? RolloutWriteOutcome.NotFound : RolloutWriteOutcome.Stale, read);
        }
        if (read.Strategy != RolloutStrategies.Shadow && Spec(read).Hooks?.ConfirmPromotion is { } confirm && !await PostAsync(confirm, read, "confirm-promotion", cancellationToken))
        {
            return await WriteAsync(id, history, (tx, rollout) =>
            {
                Append(rollout, new { type = "promotion_held", at = tx.Now, reason = "the confirm-promotion hook did not agree" });
                return Task.FromResult<RoutingResult?>(null);
            }, new FollowUps(), cancellationToken);
        }
        var after = new FollowUps();
        return await WriteAsync(id, history, (tx, rollout) => FinishAsync(tx, rollout, user, reason, after, cancellationToken), after, cancellationToken);
    }

    /// <summary>
    /// One audited write of the rollout <paramref name="id"/>: it is read inside the write, <paramref name="change"/> changes it
    /// (and its routing, through the same transaction), and all of it commits unless the routing change is refused; then the follow-ups run.
    /// </summary>
    /// <param name="history">
    /// The rollout's history as the caller read it, or null to act on the row as it is now. Every change to a rollout
    /// appends to its history, so a different history means someone else changed it meanwhile; acting on the caller's
    /// reading would overwrite that change, so nothing is written instead.
    /// </param>
    private async Task<RolloutWrite> WriteAsync(string id, string? history, Func<AuditScope, RolloutEntity, Task<RoutingResult?>> change, FollowUps after,
        CancellationToken cancellationToken)
    {
        RolloutEntity? rollout;
        await using (var scope = scopes.CreateAsyncScope())
        {
            await using var tx = await scope.ServiceProvider.GetRequiredService<AuditedWrite>().BeginAsync(cancellationToken);
            rollout = await tx.Db.Rollouts.FirstOrDefaultAsync(r => r.Id == id, cancellationToken);
            if (rollout is null || (history is not null && rollout.History != history))
            {
                return new(rollout is null ? RolloutWriteOutcome.NotFound : RolloutWriteOutcome.Stale, rollout);
            }
            if (await change(tx, rollout) is { IsChanged: false } refused)
            {
                return new(RolloutWriteOutcome.RoutingRefused, rollout, refused);
            }
            await tx.CommitAsync(cancellationToken);
        }
        foreach (var (url, type, reason) in after.Hooks)
        {
            await HookAsync(url, rollout, type, cancellationToken, reason);
        }
        return new(RolloutWriteOutcome.Done, rollout);
    }

    /// <summary>Promotes (canary, A/B) or completes (shadow) within <paramref name="tx"/>.</summary>
    private async Task<RoutingResult?> FinishAsync(AuditScope tx, RolloutEntity rollout, ClaimsPrincipal user, string reason, FollowUps after,
        CancellationToken cancellationToken)
    {
        var shadow = rollout.Strategy == RolloutStrategies.Shadow;
        var routed = await RouteAsync(tx, rollout, user, table => shadow
            ? table with { Shadow = null }
            : table with { Stable = rollout.Candidate, Candidates = [], Shadow = null }, cancellationToken);
        if (!routed.IsChanged)
        {
            return routed;
        }
        var status = shadow ? RolloutStatuses.Completed : RolloutStatuses.Promoted;
        await EndAsync(tx, rollout, status, reason, Spec(rollout).Hooks?.Event, user, after, cancellationToken);
        return routed;
    }

    /// <summary>All traffic back to the stable version within <paramref name="tx"/>; the rollback hook is told once committed.</summary>
    private async Task<RoutingResult?> RollBackAsync(AuditScope tx, RolloutEntity rollout, string reason, ClaimsPrincipal user, FollowUps after,
        CancellationToken cancellationToken, string status = RolloutStatuses.RolledBack)
    {
        var routed = await RouteAsync(tx, rollout, user, table => table with { Stable = rollout.Stable, Candidates = [], Shadow = null }, cancellationToken);
        if (!routed.IsChanged)
        {
            return routed;
        }
        after.Hook(Spec(rollout).Hooks?.Rollback, "rollback", reason);
        await EndAsync(tx, rollout, status, reason, Spec(rollout).Hooks?.Event, user, after, cancellationToken);
        return routed;
    }

    /// <summary>Ends a rollout (its state and audit event in <paramref name="tx"/>); the event hook is told once committed.</summary>
    private async Task EndAsync(AuditScope tx, RolloutEntity rollout, string status, string reason, string? eventHook, ClaimsPrincipal user, FollowUps after,
        CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        rollout.Status = status;
        rollout.Reason = reason;
        rollout.EndedAt = now;
        Append(rollout, new { type = status, at = now, reason, by = user.ActorId() });
        await AuditAsync(tx, rollout, status, new { rollout.Stable, rollout.Candidate, rollout.Weight, rollout.Checks, rollout.FailedChecks, reason }, user,
            cancellationToken);
        after.Hook(eventHook, status, reason);
    }

    private static Task AuditAsync(AuditScope tx, RolloutEntity rollout, string action, object details, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        tx.AppendAsync(user.ActorId(), $"rollout.{action}", $"deployments/{rollout.Deployment}/rollouts/{rollout.Id}", details, cancellationToken: cancellationToken);

    private Task<RoutingResult> RouteAsync(AuditScope tx, RolloutEntity rollout, ClaimsPrincipal user, Func<RoutingTable, RoutingTable> change,
        CancellationToken cancellationToken) =>
        routings.ChangeAsync(tx, rollout.Deployment, new RoutingChange(user.ActorId(), RoutingChange.Changed, change, $"rollout {rollout.Id}"), cancellationToken);

    /// <summary>What a write leaves to do once it has committed: hooks to call (never inside a write), a promotion to attempt.</summary>
    private sealed class FollowUps
    {
        public List<(string? Url, string Type, string? Reason)> Hooks { get; } = [];

        public string? Promotion { get; set; }

        /// <summary>An automatic rollback: its reason, the metrics that failed (or what else ended it), the last analysis.</summary>
        public (string Reason, IReadOnlyList<string> Metrics, RolloutAnalysisDto Analysis)? Alert { get; set; }

        public void Hook(string? url, string type, string? reason = null)
        {
            if (url is not null)
            {
                Hooks.Add((url, type, reason));
            }
        }
    }

    /// <summary>An automatic rollback pages: one alert per rollout, naming the failed metrics, with the last analysis in its details.</summary>
    private async Task AlertRollbackAsync(RolloutEntity rollout, string reason, IReadOnlyList<string> metrics, RolloutAnalysisDto analysis,
        CancellationToken cancellationToken)
    {
        var failed = string.Join(", ", metrics);
        await alerts.RaiseAsync($"rollout:{rollout.Deployment}:{rollout.Id}", rollout.Deployment, AlertKinds.RolloutRolledBack, AlertSeverities.Page,
            $"{rollout.Deployment}: {rollout.Candidate} rolled back to {rollout.Stable} at {rollout.Weight:0.##} % ({failed}): {reason}",
            new { rollout = rollout.Id, rollout.Stable, rollout.Candidate, rollout.Weight, failedMetrics = metrics, reason, analysis }, cancellationToken);
    }

    public Task HookAsync(string? url, RolloutEntity rollout, string type, CancellationToken cancellationToken, string? reason = null) =>
        url is null ? Task.CompletedTask : PostAsync(url, rollout, type, cancellationToken, reason);

    /// <summary>POSTs the rollout event, signed (<c>x-modelgate-signature</c>), with retries; true when the hook answered 2xx.</summary>
    public async Task<bool> PostAsync(string url, RolloutEntity rollout, string type, CancellationToken cancellationToken, string? reason = null)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(new
        {
            type, rollout = rollout.Id, deployment = rollout.Deployment, stable = rollout.Stable, candidate = rollout.Candidate, strategy = rollout.Strategy,
            status = rollout.Status, weight = rollout.Weight, reason,
        }, ModelGateJson.Options);
        var client = http.CreateClient(nameof(RolloutController));
        for (var attempt = 0; attempt <= options.Value.HookRetries; attempt++)
        {
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
                request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
                request.Headers.Add("x-modelgate-event", "rollout." + type);
                if (alertOptions.Value.WebhookSecret.Length > 0)
                {
                    request.Headers.Add("x-modelgate-signature", AlertManager.Sign(alertOptions.Value.WebhookSecret, body));
                }
                using var response = await client.SendAsync(request, cancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    return true;
                }
                if ((int)response.StatusCode < 500)
                {
                    return false; // the hook said no; asking again will not change its mind
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                LogHookFailed(logger, e, type, url);
            }
        }
        return false;
    }

    public static StartRolloutRequest Spec(RolloutEntity rollout) => JsonSerializer.Deserialize<StartRolloutRequest>(rollout.Spec, ModelGateJson.Options)!;

    public static IReadOnlyList<double> Steps(StartRolloutRequest spec) => spec.Steps is { Count: > 0 } steps ? steps : DefaultSteps;

    public static void Append(RolloutEntity rollout, object entry)
    {
        var history = JsonNode.Parse(rollout.History)!.AsArray();
        history.Add(JsonSerializer.SerializeToNode(entry, ModelGateJson.Options));
        rollout.History = history.ToJsonString();
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "A rollout tick failed; it is retried at the next tick")]
    private static partial void LogTickFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Rollout {Id}: its routing change was refused ({Reason}); nothing was changed, the next tick tries again")]
    private static partial void LogRoutingRefused(ILogger logger, string id, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Rollout hook {Type} at {Url} failed")]
    private static partial void LogHookFailed(ILogger logger, Exception exception, string type, string url);
}
