using System.ComponentModel.DataAnnotations;
using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.HttpResults;
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

/// <summary>
/// The rollout controller (a <see cref="BackgroundService"/> on <see cref="TimeProvider"/>): for every running rollout
/// whose interval has passed it judges the candidate against the stable version, then advances, holds, promotes or rolls
/// back, changing the deployment's routing through the same audited path as a human would. Humans pause, resume, abort
/// or promote through the API.
/// </summary>
public sealed partial class RolloutController(IServiceScopeFactory scopes, IRolloutEvidence evidence, RoutingSnapshots routes, UpstreamBinding upstreams,
    IHttpClientFactory http, IOptions<RolloutOptions> options, IOptions<AlertOptions> alertOptions, TimeProvider time, ILogger<RolloutController> logger)
    : BackgroundService
{
    public const string Actor = "modelgate:rollouts";
    public static readonly IReadOnlyList<double> DefaultSteps = [5, 10, 25, 50];

    private readonly SemaphoreSlim _one = new(1, 1);

    private static readonly ClaimsPrincipal Controller = new(new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, Actor), new Claim(ClaimTypes.Name, Actor)], "system"));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
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
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<ModelGateDbContext>();
            var now = time.GetUtcNow().UtcDateTime;
            var due = await db.Rollouts.Where(r => r.Status == RolloutStatuses.Running && r.NextCheckAt <= now).ToListAsync(cancellationToken);
            foreach (var rollout in due)
            {
                await CheckAsync(db, rollout, now, cancellationToken);
            }
        }
        finally
        {
            _one.Release();
        }
    }

    private async Task CheckAsync(ModelGateDbContext db, RolloutEntity rollout, DateTime now, CancellationToken cancellationToken)
    {
        var spec = Spec(rollout);
        var deployment = await db.Deployments.AsNoTracking().FirstOrDefaultAsync(d => d.Name == rollout.Deployment, cancellationToken);
        var routing = deployment is null ? null : JsonSerializer.Deserialize<RoutingTable>(deployment.Routing, ModelGateJson.Options);
        var candidateRouted = routing is not null && routing.Stable == rollout.Stable &&
                              (routing.Candidates?.Any(c => c.Version == rollout.Candidate) == true || routing.Shadow?.Version == rollout.Candidate);
        if (!candidateRouted)
        {
            await EndAsync(db, rollout, RolloutStatuses.Aborted, "the deployment's routing was changed outside the rollout (a rollback or a manual change)", null,
                Controller, cancellationToken);
            return;
        }
        var judgement = RolloutAnalysis.Analyze(evidence, rollout.Deployment, rollout.Stable, rollout.Candidate, now - TimeSpan.FromSeconds(spec.IntervalSeconds),
            rollout.Strategy == RolloutStrategies.Shadow, spec.MinimumSamples);
        rollout.Checks++;
        var hasData = RolloutAnalysis.HasData(judgement);
        var outcome = !hasData ? "no_data" : judgement.Verdict.ToString().ToLowerInvariant();
        Append(rollout, new { type = "check", at = now, weight = rollout.Weight, outcome, score = judgement.Score, judgement });
        rollout.NextCheckAt = now + TimeSpan.FromSeconds(spec.IntervalSeconds);

        if (hasData && judgement.Verdict == Judge.CanaryVerdict.Fail)
        {
            rollout.FailedChecks++;
            if (rollout.FailedChecks >= spec.FailedCheckLimit)
            {
                await RollBackAsync(db, rollout, $"the canary judge failed {rollout.FailedChecks} check(s): score {judgement.Score:0.#} ({judgement.Reason})", Controller,
                    cancellationToken);
                return;
            }
        }
        else if (hasData && judgement.Verdict == Judge.CanaryVerdict.Pass)
        {
            var passes = rollout.Strategy == RolloutStrategies.Canary ? rollout.Step + 1 : rollout.Checks;
            var needed = rollout.Strategy == RolloutStrategies.Canary ? Steps(spec).Count : spec.Intervals;
            if (passes >= needed)
            {
                await FinishAsync(db, rollout, Controller, "every analysis passed", cancellationToken);
                return;
            }
            if (rollout.Strategy == RolloutStrategies.Canary)
            {
                rollout.Step++;
                rollout.Weight = Steps(spec)[rollout.Step];
                rollout.StepStartedAt = now;
                Append(rollout, new { type = "step", at = now, weight = rollout.Weight });
                await RouteAsync(rollout.Deployment, routing! with { Candidates = [new CandidateRoute(rollout.Candidate, rollout.Weight)] }, Controller, cancellationToken,
                    db, rollout);
                await HookAsync(spec.Hooks?.Event, rollout, "step", cancellationToken);
            }
        }
        if (now - rollout.StepStartedAt > TimeSpan.FromSeconds(spec.ProgressDeadlineSeconds))
        {
            await RollBackAsync(db, rollout, $"no progress for {spec.ProgressDeadlineSeconds} s (the progress deadline)", Controller, cancellationToken);
            return;
        }
        await db.SaveChangesAsync(cancellationToken);
    }

    /// <summary>Promotes (canary, A/B) or completes (shadow), after the confirm-promotion hook agrees.</summary>
    public async Task FinishAsync(ModelGateDbContext db, RolloutEntity rollout, ClaimsPrincipal user, string reason, CancellationToken cancellationToken)
    {
        var spec = Spec(rollout);
        if (rollout.Strategy != RolloutStrategies.Shadow && spec.Hooks?.ConfirmPromotion is { } confirm && !await PostAsync(confirm, rollout, "confirm-promotion", cancellationToken))
        {
            Append(rollout, new { type = "promotion_held", at = time.GetUtcNow().UtcDateTime, reason = "the confirm-promotion hook did not agree" });
            await db.SaveChangesAsync(cancellationToken);
            return;
        }
        var routing = await RoutingOfAsync(db, rollout.Deployment, cancellationToken);
        var promoted = rollout.Strategy == RolloutStrategies.Shadow
            ? routing with { Shadow = null }
            : routing with { Stable = rollout.Candidate, Candidates = [], Shadow = null };
        var status = rollout.Strategy == RolloutStrategies.Shadow ? RolloutStatuses.Completed : RolloutStatuses.Promoted;
        End(rollout, status, reason, user);
        await RouteAsync(rollout.Deployment, promoted, user, cancellationToken, db, rollout, tx => AuditEndAsync(tx, rollout, status, reason, user, cancellationToken));
        await HookAsync(spec.Hooks?.Event, rollout, status, cancellationToken, reason);
    }

    /// <summary>All traffic back to the stable version; the rollback hook is told.</summary>
    public async Task RollBackAsync(ModelGateDbContext db, RolloutEntity rollout, string reason, ClaimsPrincipal user, CancellationToken cancellationToken,
        string status = RolloutStatuses.RolledBack)
    {
        var routing = await RoutingOfAsync(db, rollout.Deployment, cancellationToken);
        End(rollout, status, reason, user);
        await RouteAsync(rollout.Deployment, routing with { Stable = rollout.Stable, Candidates = [], Shadow = null }, user, cancellationToken, db, rollout,
            tx => AuditEndAsync(tx, rollout, status, reason, user, cancellationToken));
        await HookAsync(Spec(rollout).Hooks?.Rollback, rollout, "rollback", cancellationToken, reason);
        await HookAsync(Spec(rollout).Hooks?.Event, rollout, status, cancellationToken, reason);
    }

    /// <summary>Ends a rollout without touching the routing: its state and audit event in one transaction, then the event hook.</summary>
    private async Task EndAsync(ModelGateDbContext db, RolloutEntity rollout, string status, string reason, string? eventHook, ClaimsPrincipal user,
        CancellationToken cancellationToken)
    {
        End(rollout, status, reason, user);
        await RecordAsync(db, rollout, status, EndDetails(rollout, reason), user, cancellationToken);
        await HookAsync(eventHook, rollout, status, cancellationToken, reason);
    }

    /// <summary>A change of the rollout's own state (pause, resume): saved with its audit event in one transaction.</summary>
    public async Task RecordAsync(ModelGateDbContext db, RolloutEntity rollout, string action, object details, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        await using (var scope = scopes.CreateAsyncScope())
        {
            var write = scope.ServiceProvider.GetRequiredService<AuditedWrite>();
            await using var tx = await write.BeginAsync(cancellationToken);
            await tx.AppendAsync(user.ActorId(), $"rollout.{action}", $"deployments/{rollout.Deployment}/rollouts/{rollout.Id}", details, cancellationToken: cancellationToken);
            await StageAsync(tx, db, rollout, cancellationToken);
            await tx.CommitAsync(cancellationToken);
        }
        Saved(db, rollout);
    }

    private void End(RolloutEntity rollout, string status, string reason, ClaimsPrincipal user)
    {
        var now = time.GetUtcNow().UtcDateTime;
        rollout.Status = status;
        rollout.Reason = reason;
        rollout.EndedAt = now;
        Append(rollout, new { type = status, at = now, reason, by = user.ActorId() });
    }

    private static Task AuditEndAsync(AuditScope tx, RolloutEntity rollout, string status, string reason, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        tx.AppendAsync(user.ActorId(), $"rollout.{status}", $"deployments/{rollout.Deployment}/rollouts/{rollout.Id}", EndDetails(rollout, reason),
            cancellationToken: cancellationToken);

    private static object EndDetails(RolloutEntity rollout, string reason) =>
        new { rollout.Stable, rollout.Candidate, rollout.Weight, rollout.Checks, rollout.FailedChecks, reason };

    /// <summary>
    /// Changes a deployment's routing. With a rollout, the rollout's row (inserted when <paramref name="db"/> is null, else
    /// updated from the instance <paramref name="db"/> tracks) and whatever <paramref name="alongside"/> adds are written in
    /// the routing's transaction: a crash leaves either both or neither.
    /// </summary>
    public async Task RouteAsync(string deployment, RoutingTable routing, ClaimsPrincipal user, CancellationToken cancellationToken,
        ModelGateDbContext? db = null, RolloutEntity? rollout = null, Func<AuditScope, Task>? alongside = null)
    {
        await using var scope = scopes.CreateAsyncScope();
        // Every routing a rollout sets is the stored table with its versions moved: each upstream keeps its stored key.
        var result = await DeploymentsApi.SetRoutingAsync(deployment, DeploymentsApi.KeepingStoredKeys(routing), user,
            scope.ServiceProvider.GetRequiredService<AuditedWrite>(), routes, upstreams,
            rollout is null ? null : async tx =>
            {
                if (alongside is not null)
                {
                    await alongside(tx);
                }
                await StageAsync(tx, db, rollout, cancellationToken);
            }, cancellationToken);
        if (result.Result is ProblemHttpResult problem)
        {
            throw new InvalidOperationException($"routing {deployment} failed: {problem.ProblemDetails.Detail}");
        }
        if (db is not null && rollout is not null)
        {
            Saved(db, rollout);
        }
    }

    private static async Task StageAsync(AuditScope tx, ModelGateDbContext? db, RolloutEntity rollout, CancellationToken cancellationToken)
    {
        if (db is null)
        {
            tx.Db.Rollouts.Add(rollout);
            return;
        }
        // Inside the write lock: the row as it is now. Every change to a rollout appends to its history, so a history
        // that differs from the one this instance was read with means someone else (the controller's tick, a person, another
        // replica) changed it meanwhile; writing now would overwrite that change, so the whole write is refused instead.
        var entry = db.Entry(rollout);
        var row = await tx.Db.Rollouts.FirstAsync(r => r.Id == rollout.Id, cancellationToken);
        if (row.History != (string?)entry.OriginalValues[nameof(RolloutEntity.History)])
        {
            throw new DbUpdateConcurrencyException($"rollout {rollout.Id} was changed by someone else while this change was being made");
        }
        var target = tx.Db.Entry(row);
        foreach (var property in entry.Properties.Where(p => p.IsModified))
        {
            target.Property(property.Metadata.Name).CurrentValue = property.CurrentValue;
        }
    }

    /// <summary>The instance the caller's context tracks now matches the committed row: nothing left for its SaveChanges to write.</summary>
    private static void Saved(ModelGateDbContext db, RolloutEntity rollout)
    {
        var entry = db.Entry(rollout);
        if (entry.State != EntityState.Detached)
        {
            entry.OriginalValues.SetValues(entry.CurrentValues); // first: a Modified entry set Unchanged goes back to its original values
            entry.State = EntityState.Unchanged;
        }
    }

    public static async Task<RoutingTable> RoutingOfAsync(ModelGateDbContext db, string deployment, CancellationToken cancellationToken)
    {
        var entity = await db.Deployments.AsNoTracking().FirstAsync(d => d.Name == deployment, cancellationToken);
        return JsonSerializer.Deserialize<RoutingTable>(entity.Routing, ModelGateJson.Options)!;
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Rollout hook {Type} at {Url} failed")]
    private static partial void LogHookFailed(ILogger logger, Exception exception, string type, string url);
}
