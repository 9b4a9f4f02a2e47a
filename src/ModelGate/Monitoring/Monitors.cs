using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using ModelGate.Client;
using ModelGate.Storage;
using ModelGate.Storage.Gateway;

namespace ModelGate.Monitoring;

/// <summary>
/// SLO arithmetic as in the Google SRE workbook: the burn rate over a window is the window's bad-request ratio divided
/// by the error budget (1 − objective). Multi-window alerts: page when both 1 h and 5 min burn above 14.4, or both 6 h
/// and 30 min above 6; ticket when both 3 d and 6 h burn above 1.
/// </summary>
public static class Slo
{
    public sealed record Rule(string Name, string Severity, TimeSpan Long, TimeSpan Short, double Factor);

    public static readonly IReadOnlyList<Rule> Rules =
    [
        new("fast", AlertSeverities.Page, TimeSpan.FromHours(1), TimeSpan.FromMinutes(5), 14.4),
        new("medium", AlertSeverities.Page, TimeSpan.FromHours(6), TimeSpan.FromMinutes(30), 6),
        new("slow", AlertSeverities.Ticket, TimeSpan.FromDays(3), TimeSpan.FromHours(6), 1),
    ];

    public static readonly IReadOnlyList<TimeSpan> Windows =
        [TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(30), TimeSpan.FromHours(1), TimeSpan.FromHours(6), TimeSpan.FromDays(3)];

    public static double? BurnRate(long total, long bad, double objective) =>
        total == 0 ? null : (double)bad / total / Math.Max(1 - objective, 1e-9);

    public static string WindowName(TimeSpan window) => Durations.Format(window);
}

/// <summary>
/// The background monitors: SLO burn rates per deployment, 5xx spikes, overdue reviews. Each evaluation raises or
/// resolves alerts by key, so a condition that holds keeps one alert firing and one that clears resolves it.
/// </summary>
public sealed class Monitors(IServiceScopeFactory scopes, AlertManager alerts, DriftChecker drift, TimeProvider time, IOptions<AlertOptions> options,
    Hosting.ILeadership leadership) : Hosting.LeaderWorker(leadership)
{
    protected override async Task LeadAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.EvaluationInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await EvaluateAsync(stoppingToken);
                }
                catch (Exception e) when (e is DbUpdateException or InvalidOperationException or TimeoutException)
                {
                    // A failed evaluation is retried at the next tick.
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private readonly SemaphoreSlim _one = new(1, 1);

    /// <summary>One evaluation of every monitor; evaluations never overlap (the timer's and an explicit one).</summary>
    public async Task EvaluateAsync(CancellationToken cancellationToken)
    {
        await _one.WaitAsync(cancellationToken);
        try
        {
            await EvaluateOnceAsync(cancellationToken);
        }
        finally
        {
            _one.Release();
        }
    }

    private async Task EvaluateOnceAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ModelGateDbContext>();
        var all = await db.Deployments.AsNoTracking().ToListAsync(cancellationToken);
        // Staging traffic is the staging verification's smoke, load and drill requests (a suite's rows drift from the live
        // baseline by design, and a drill's errors are no outage): burn-rate, spike and drift alerts watch the other deployments.
        var deployments = all.Where(d => d.Environment != DeploymentEnvironments.Staging).ToList();
        await ResolveStagingAsync(db, all.Where(d => d.Environment == DeploymentEnvironments.Staging).ToList(), cancellationToken);
        foreach (var deployment in deployments)
        {
            if (Spec(deployment) is { } spec)
            {
                var status = await StatusAsync(db, deployment, spec, cancellationToken);
                foreach (var objective in status.Objectives)
                {
                    foreach (var rule in Slo.Rules)
                    {
                        var key = $"slo:{deployment.Name}:{objective.Objective}:{rule.Name}";
                        var longBurn = objective.BurnRates[Slo.WindowName(rule.Long)];
                        var shortBurn = objective.BurnRates[Slo.WindowName(rule.Short)];
                        if (longBurn > rule.Factor && shortBurn > rule.Factor)
                        {
                            await alerts.RaiseAsync(key, deployment.Name, AlertKinds.BurnRate, rule.Severity,
                                $"{deployment.Name}: {objective.Objective} error budget burning at {longBurn:0.#}× over {Slo.WindowName(rule.Long)} and {shortBurn:0.#}× over {Slo.WindowName(rule.Short)} (threshold {rule.Factor}×)",
                                new { objective.Objective, objective.Target, rule = rule.Name, longWindow = Slo.WindowName(rule.Long), longBurn,
                                    shortWindow = Slo.WindowName(rule.Short), shortBurn, objective.BudgetRemaining }, cancellationToken);
                        }
                        else
                        {
                            await alerts.ResolveAsync(key, cancellationToken);
                        }
                    }
                }
            }
        }
        foreach (var deployment in deployments)
        {
            await DriftAsync(db, deployment, cancellationToken);
            await SpikesAsync(db, deployment, cancellationToken);
        }
        await ReviewsAsync(db, cancellationToken);
    }

    /// <summary>
    /// A 5xx spike: over the last 5 minutes at least 20 requests, 5 % of them 5xx, and three times the rate of the hour
    /// before (page). A cost-per-token spike: the last 15 minutes' cost per token at least twice the previous day's, over at
    /// least 1,000 tokens (ticket).
    /// </summary>
    private async Task SpikesAsync(ModelGateDbContext db, DeploymentEntity deployment, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var logs = db.RequestLogs.AsNoTracking().Where(r => r.Deployment == deployment.Name).Served();
        var recentFrom = now - TimeSpan.FromMinutes(5);
        var baselineFrom = recentFrom - TimeSpan.FromHours(1);
        async Task<(long Total, long Errors)> CountAsync(DateTime from, DateTime to)
        {
            var window = logs.Within(from, to);
            return (await window.LongCountAsync(cancellationToken), await window.LongCountAsync(r => r.Status >= 500, cancellationToken));
        }
        var recent = await CountAsync(recentFrom, now);
        var before = await CountAsync(baselineFrom, recentFrom);
        var recentRate = recent.Total > 0 ? (double)recent.Errors / recent.Total : 0;
        var beforeRate = before.Total > 0 ? (double)before.Errors / before.Total : 0;
        var errorKey = $"errors:{deployment.Name}";
        if (recent.Total >= 20 && recentRate >= 0.05 && recentRate >= 3 * beforeRate)
        {
            await alerts.RaiseAsync(errorKey, deployment.Name, AlertKinds.ErrorSpike, AlertSeverities.Page,
                $"{deployment.Name}: {recentRate:P1} of requests failed (5xx) in the last 5 min, against {beforeRate:P1} the hour before",
                new { recentRate, beforeRate, recent = recent.Total, recentErrors = recent.Errors }, cancellationToken);
        }
        else
        {
            await alerts.ResolveAsync(errorKey, cancellationToken);
        }

        var costFrom = now - TimeSpan.FromMinutes(15);
        var dayFrom = costFrom - TimeSpan.FromDays(1);
        async Task<(double Cost, long Tokens)> CostAsync(DateTime from, DateTime to)
        {
            var priced = logs.Within(from, to).Where(r => r.Cost != null);
            var cost = await priced.SumAsync(r => r.Cost ?? 0, cancellationToken);
            var tokens = await priced.SumAsync(r => (r.PromptTokens ?? 0) + (r.CompletionTokens ?? 0), cancellationToken);
            return (cost, tokens);
        }
        var (recentCost, recentTokens) = await CostAsync(costFrom, now);
        var (dayCost, dayTokens) = await CostAsync(dayFrom, costFrom);
        var costKey = $"cost:{deployment.Name}";
        if (recentTokens >= 1000 && dayTokens > 0 && dayCost > 0 && recentCost / recentTokens >= 2 * (dayCost / dayTokens))
        {
            var perToken = recentCost / recentTokens;
            var usual = dayCost / dayTokens;
            await alerts.RaiseAsync(costKey, deployment.Name, AlertKinds.CostSpike, AlertSeverities.Ticket,
                $"{deployment.Name}: cost per 1K tokens {perToken * 1000:0.####} in the last 15 min, {perToken / usual:0.#}× the previous day's {usual * 1000:0.####}",
                new { perToken, usual, recentTokens, recentCost }, cancellationToken);
        }
        else
        {
            await alerts.ResolveAsync(costKey, cancellationToken);
        }
    }

    /// <summary>Each routed version with a baseline and enough sampled inputs: a drift report; flagged columns raise (or keep) its alert.</summary>
    private async Task DriftAsync(ModelGateDbContext db, DeploymentEntity deployment, CancellationToken cancellationToken)
    {
        var routing = Lifecycle.Gates.Routing(deployment);
        if (routing is null)
        {
            return;
        }
        foreach (var version in routing.Candidates?.Select(c => c.Version).Prepend(routing.Stable).Distinct() ?? [routing.Stable])
        {
            var check = (await drift.CheckAsync(db, deployment, version, options.Value.DriftWindow, cancellationToken)).Check;
            if (check is null)
            {
                continue; // no baseline, or too few samples: nothing can be said
            }
            var key = $"drift:{deployment.Name}@{version}";
            var report = check.Report;
            if (report.FlaggedColumns.Count > 0 || report.DatasetDrift)
            {
                await alerts.RaiseAsync(key, deployment.Name, AlertKinds.Drift, report.DatasetDrift ? AlertSeverities.Page : AlertSeverities.Ticket,
                    $"{deployment.Name}@{version}: inputs drifted from the baseline in {string.Join(", ", report.FlaggedColumns)}" +
                    (report.DatasetDrift ? $" (dataset drift: {report.DriftShare:P0} of columns)" : ""),
                    new { deployment = deployment.Name, version, window = check.Window, flagged = report.FlaggedColumns, report }, cancellationToken);
            }
            else
            {
                await alerts.ResolveAsync(key, cancellationToken);
            }
        }
    }

    private static readonly string[] TrafficKinds = [AlertKinds.BurnRate, AlertKinds.Drift, AlertKinds.ErrorSpike, AlertKinds.CostSpike];

    /// <summary>Traffic alerts still firing for staging deployments (raised before this rule) are resolved.</summary>
    private async Task ResolveStagingAsync(ModelGateDbContext db, IReadOnlyList<DeploymentEntity> others, CancellationToken cancellationToken)
    {
        if (others.Count == 0)
        {
            return;
        }
        var names = others.Select(d => d.Name).ToList();
        var firing = await db.Alerts.AsNoTracking().Where(a => a.Status == "firing" && names.Contains(a.Group) && TrafficKinds.Contains(a.Kind))
            .Select(a => a.Key).ToListAsync(cancellationToken);
        foreach (var key in firing)
        {
            await alerts.ResolveAsync(key, cancellationToken);
        }
    }

    private async Task ReviewsAsync(ModelGateDbContext db, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var production = await db.ModelVersions.AsNoTracking().Include(v => v.Model).Where(v => v.Stage == Stages.Production && v.NextReviewAt != null)
            .ToListAsync(cancellationToken);
        foreach (var version in production)
        {
            var key = $"review:{version.Model!.Name}@{version.Version}";
            if (version.NextReviewAt <= now)
            {
                await alerts.RaiseAsync(key, version.Model.Name, AlertKinds.ReviewOverdue, AlertSeverities.Ticket,
                    $"{version.Model.Name}@{version.Version}: review was due {version.NextReviewAt:yyyy-MM-dd} (owner {version.Model.Owner})",
                    new { model = version.Model.Name, version = version.Version, due = version.NextReviewAt, owner = version.Model.Owner }, cancellationToken);
            }
            else
            {
                await alerts.ResolveAsync(key, cancellationToken);
            }
        }
    }

    public static SloSpec? Spec(DeploymentEntity deployment) =>
        deployment.Slo is null ? null : JsonSerializer.Deserialize<SloSpec>(deployment.Slo, ModelGateJson.Options);

    /// <summary>Burn rates over every window, and the budget left in the period, from the request log.</summary>
    public async Task<SloStatusDto> StatusAsync(ModelGateDbContext db, DeploymentEntity deployment, SloSpec spec, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var objectives = new List<(string Name, double Target)> { ("availability", spec.Availability) };
        if (spec.LatencyObjective is { } latency)
        {
            objectives.Add(("latency", latency));
        }
        async Task<(long Total, long Errors, long Slow)> Count(TimeSpan window)
        {
            var from = now - window;
            var rows = db.RequestLogs.AsNoTracking().Where(r => r.Deployment == deployment.Name).Within(from, now).Served();
            var total = await rows.LongCountAsync(cancellationToken);
            var errors = await rows.LongCountAsync(r => r.Status >= 500, cancellationToken);
            var slow = await rows.LongCountAsync(r => r.LatencyMs > spec.LatencyThresholdMs, cancellationToken);
            return (total, errors, slow);
        }
        var counts = new Dictionary<TimeSpan, (long Total, long Errors, long Slow)>();
        foreach (var window in Slo.Windows.Append(TimeSpan.FromDays(spec.PeriodDays)).Distinct())
        {
            counts[window] = await Count(window);
        }
        var period = counts[TimeSpan.FromDays(spec.PeriodDays)];
        return new SloStatusDto(deployment.Name, spec, objectives.Select(o =>
        {
            long Bad((long Total, long Errors, long Slow) c) => o.Name == "availability" ? c.Errors : c.Slow;
            var badShare = period.Total == 0 ? 0 : (double)Bad(period) / period.Total;
            return new SloObjectiveStatus(o.Name, o.Target, period.Total == 0 ? null : 1 - badShare, 1 - badShare / Math.Max(1 - o.Target, 1e-9),
                Slo.Windows.ToDictionary(Slo.WindowName, w => Slo.BurnRate(counts[w].Total, Bad(counts[w]), o.Target)));
        }).ToList());
    }
}
