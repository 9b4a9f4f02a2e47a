using System.Linq.Expressions;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Gateway.Telemetry;
using ModelGate.Monitoring;
using ModelGate.Storage;
using ModelGate.Storage.Gateway;

namespace ModelGate.WebConsole;

/// <summary>A dashboard's window: the span it looks back over, ending now, and the width of its trend's buckets.</summary>
public sealed record DashboardWindow(string Name, TimeSpan Span, TimeSpan Bucket)
{
    public static readonly IReadOnlyList<DashboardWindow> All =
    [
        new("1h", TimeSpan.FromHours(1), TimeSpan.FromMinutes(5)),
        new("24h", TimeSpan.FromHours(24), TimeSpan.FromHours(1)),
        new("7d", TimeSpan.FromDays(7), TimeSpan.FromHours(6)),
        new("30d", TimeSpan.FromDays(30), TimeSpan.FromDays(1)),
    ];

    public static DashboardWindow Default => All[1];

    /// <summary>The window named (the default when none is), or null for a name that is none of them.</summary>
    public static DashboardWindow? Parse(string? name) => string.IsNullOrEmpty(name) ? Default : All.FirstOrDefault(w => w.Name == name);
}

/// <summary>Served requests and those answered with a 5xx, over a window.</summary>
public sealed record DeploymentAvailability(string Deployment, string? Environment, string? Model, long Requests, long Errors)
{
    /// <summary>Answers that were not 5xx, as a share of all answers; null without requests.</summary>
    public double? Availability => Requests == 0 ? null : 1 - (double)Errors / Requests;
}

/// <summary>The cost recorded for a model's deployments over a window, and how many priced records it adds up.</summary>
public sealed record ModelCost(string Model, double Cost, long Requests);

/// <summary>A production version's live score from feedback against the accuracy it was evaluated at.</summary>
public sealed record QualityDrop(string Model, string Version, long Scored, double Live, double? Evaluated)
{
    /// <summary>Evaluated accuracy − live score: how far live quality fell below the evaluation (negative: above it).</summary>
    public double? Drop => Evaluated - Live;
}

/// <summary>How many models have a version in a stage, and how many versions are in it.</summary>
public sealed record StageCount(string Stage, int Models, int Versions);

/// <summary>A business metric reported with feedback (<c>conversion</c>, <c>revenue_eur</c>): how often and its total.</summary>
public sealed record BusinessTotal(string Metric, long Reports, double Total);

public sealed record ExecutiveView(DashboardWindow Window, DateTime From, DateTime To, long Requests, long Errors,
    IReadOnlyList<DeploymentAvailability> Deployments, IReadOnlyList<ModelCost> Costs, IReadOnlyList<QualityDrop> Quality,
    IReadOnlyList<StageCount> Stages, IReadOnlyList<BusinessTotal> Business)
{
    public double? Availability => Requests == 0 ? null : 1 - (double)Errors / Requests;
}

public sealed record SloBurn(string Deployment, SloStatusDto Status);

public sealed record ActiveAlert(string Key, string Group, string Kind, string Severity, string Summary, DateTime FiredAt, int Occurrences, bool Silenced);

/// <summary>A routed version's served requests and 5xx answers over the last hour.</summary>
public sealed record FailingEndpoint(string Deployment, string? Version, long Requests, long Errors)
{
    public double Rate => Requests == 0 ? 0 : (double)Errors / Requests;
}

/// <summary>One upstream endpoint's attempts since this process started (the data plane's counters).</summary>
public sealed record UpstreamEndpointFailures(string Deployment, string Version, string List, int Index, string Host, long Attempts, long Failures, long Rejected);

/// <summary>An active rollout and its last analysis.</summary>
public sealed record CanaryInFlight(string Id, string Deployment, string Stable, string Candidate, string Strategy, string Status, int Step, double Weight,
    int Checks, int FailedChecks, string? LastOutcome, string? LastReason, DateTime? LastCheckAt, DateTime NextCheckAt);

/// <summary>One bucket (<see cref="From"/>, <see cref="To"/>] of the served requests' error rate.</summary>
public sealed record ErrorRatePoint(DateTime From, DateTime To, long Requests, long Errors)
{
    public double? Rate => Requests == 0 ? null : (double)Errors / Requests;
}

/// <summary>One bucket (<see cref="From"/>, <see cref="To"/>] of the scored feedback on the requests served in it.</summary>
public sealed record ScorePoint(DateTime From, DateTime To, long Scored, double Sum)
{
    public double? Mean => Scored == 0 ? null : Sum / Scored;
}

public sealed record OnCallView(DashboardWindow Window, DateTime From, DateTime To, IReadOnlyList<SloBurn> Slos, IReadOnlyList<ActiveAlert> Alerts,
    IReadOnlyList<FailingEndpoint> Failing, IReadOnlyList<UpstreamEndpointFailures> Upstreams, IReadOnlyList<CanaryInFlight> Canaries,
    IReadOnlyList<ErrorRatePoint> Trend, IReadOnlyList<ScorePoint> Accuracy);

/// <summary>A request-log record as the debug dashboard shows it (the payload is the redacted one the gateway stored).</summary>
public sealed record LoggedRequest(long Id, string RequestId, DateTime Time, string Deployment, string? Version, string? Route, string Protocol, int Status,
    double LatencyMs, long? PromptTokens, long? CompletionTokens, double? Cost, string? Prediction, string? Payload);

/// <summary>A version's served requests counted per latency bucket (<see cref="DashboardQueries.LatencyBounds"/>).</summary>
public sealed record VersionLatency(string Version, IReadOnlyList<long> Counts);

public sealed record DebugView(DashboardWindow Window, DateTime From, DateTime To, IReadOnlyList<string> Deployments, string? Deployment, string? StableVersion,
    string? RequestId, IReadOnlyList<LoggedRequest> Found, IReadOnlyList<LoggedRequest> Samples, IReadOnlyList<string> FeatureColumns,
    IReadOnlyList<SampledRow> FeatureRows, DriftCheckResult? Drift, IReadOnlyList<VersionLatency> Latency);

/// <summary>
/// The dashboards' figures, each computed in the database (COUNT / SUM with GROUP BY over the request log's time range, which
/// its indexes on Time and on Deployment+Time serve), never by reading the request log into memory. Requests are counted by
/// the SLO's rule (<see cref="RequestLogQueries.Served"/>) and windows are (now − span, now].
/// </summary>
public sealed class DashboardQueries(ModelGateDbContext db, Monitors monitors, DriftChecker drift, EndpointTelemetry endpoints, SharedSamples samples,
    TimeProvider time)
{
    /// <summary>A production version needs this many scored feedbacks in the window before its live score is compared.</summary>
    public const int MinimumScoredFeedback = 10;

    /// <summary>A version needs this many requests in the last hour to be ranked among the failing endpoints.</summary>
    public const int MinimumRequestsToRank = 10;

    public const int FailingEndpointsShown = 5;
    public const int QualityRowsShown = 10;
    public const int SamplesShown = 10;
    public const int FeatureRowsShown = 10;
    public const int RequestRowsShown = 20;

    /// <summary>The latency buckets' upper bounds in milliseconds (exclusive); the last bucket holds everything at or above the last bound.</summary>
    public static readonly IReadOnlyList<double> LatencyBounds = [10, 25, 50, 100, 250, 500, 1000, 2500, 5000];

    public async Task<ExecutiveView> ExecutiveAsync(DashboardWindow window, CancellationToken ct)
    {
        var (from, to) = Range(window);
        var deployments = await DeploymentsAsync(ct);
        var logged = RequestLogQueries.ToAggregate(db, window.Span).Within(from, to);
        var served = await logged.Served().GroupBy(r => r.Deployment)
            .Select(g => new { Deployment = g.Key, Requests = g.LongCount(), Errors = g.LongCount(r => r.Status >= 500) }).ToListAsync(ct);
        var counted = served.ToDictionary(s => s.Deployment, StringComparer.Ordinal);
        var availability = deployments.Values.Select(d => (d.Name, (string?)d.Environment, (string?)d.Model))
            .Concat(served.Where(s => !deployments.ContainsKey(s.Deployment)).Select(s => (s.Deployment, (string?)null, (string?)null)))
            .Select(d => counted.TryGetValue(d.Item1, out var c)
                ? new DeploymentAvailability(d.Item1, d.Item2, d.Item3, c.Requests, c.Errors)
                : new DeploymentAvailability(d.Item1, d.Item2, d.Item3, 0, 0))
            .OrderBy(a => a.Availability ?? 2).ThenBy(a => a.Deployment, StringComparer.Ordinal).ToList();
        // Staging traffic is the staging verification's smoke, load and drill requests (as the monitors treat it): not availability.
        var overall = availability.Where(a => a.Environment != DeploymentEnvironments.Staging).ToList();

        // Everything that was paid for counts, shadow copies and failed attempts included.
        var costs = await logged.Where(r => r.Cost != null).GroupBy(r => r.Deployment)
            .Select(g => new { Deployment = g.Key, Cost = g.Sum(r => r.Cost ?? 0), Requests = g.LongCount() }).ToListAsync(ct);
        var byModel = costs.GroupBy(c => deployments.TryGetValue(c.Deployment, out var d) ? d.Model : $"(no deployment {c.Deployment})")
            .Select(g => new ModelCost(g.Key, g.Sum(c => c.Cost), g.Sum(c => c.Requests)))
            .OrderByDescending(c => c.Cost).ThenBy(c => c.Model, StringComparer.Ordinal).ToList();

        var stages = await db.ModelVersions.AsNoTracking().GroupBy(v => v.Stage)
            .Select(g => new { Stage = g.Key, Models = g.Select(v => v.ModelId).Distinct().Count(), Versions = g.Count() }).ToListAsync(ct);
        var stageCounts = StageOrder.Select(s => stages.FirstOrDefault(x => x.Stage == s) is { } c ? new StageCount(s, c.Models, c.Versions) : new StageCount(s, 0, 0))
            .Concat(stages.Where(s => !StageOrder.Contains(s.Stage)).Select(s => new StageCount(s.Stage, s.Models, s.Versions))).ToList();

        var business = await db.Feedback.AsNoTracking().Where(f => f.Metric != null && f.MetricValue != null && f.RequestTime > from && f.RequestTime <= to)
            .GroupBy(f => f.Metric!).Select(g => new { Metric = g.Key, Reports = g.LongCount(), Total = g.Sum(f => f.MetricValue ?? 0) }).ToListAsync(ct);

        return new ExecutiveView(window, from, to, overall.Sum(a => a.Requests), overall.Sum(a => a.Errors), availability, byModel,
            await QualityAsync(from, to, deployments, ct), stageCounts,
            business.OrderBy(b => b.Metric, StringComparer.Ordinal).Select(b => new BusinessTotal(b.Metric, b.Reports, b.Total)).ToList());
    }

    private static readonly string[] StageOrder = [Stages.Trained, Stages.Evaluated, Stages.Registered, Stages.Staging, Stages.Production, Stages.Retired, Stages.Rejected];

    /// <summary>
    /// Production versions with enough scored feedback on the requests they served in the window: the mean score (a label
    /// judged against the prediction counts 1 or 0, a score counts as given) against the accuracy of the version's latest
    /// succeeded evaluation that reports one; the largest drop first.
    /// </summary>
    private async Task<IReadOnlyList<QualityDrop>> QualityAsync(DateTime from, DateTime to, IReadOnlyDictionary<string, DeploymentRow> deployments, CancellationToken ct)
    {
        var scored = await db.Feedback.AsNoTracking().Where(f => f.Score != null && f.Version != null && f.RequestTime > from && f.RequestTime <= to)
            .GroupBy(f => new { f.Deployment, f.Version })
            .Select(g => new { g.Key.Deployment, g.Key.Version, Count = g.LongCount(), Sum = g.Sum(f => f.Score ?? 0) }).ToListAsync(ct);
        var perVersion = scored.Where(s => deployments.ContainsKey(s.Deployment))
            .GroupBy(s => (Model: deployments[s.Deployment].Model, Version: s.Version!))
            .Select(g => (g.Key.Model, g.Key.Version, Count: g.Sum(s => s.Count), Sum: g.Sum(s => s.Sum)))
            .Where(v => v.Count >= MinimumScoredFeedback).ToList();
        if (perVersion.Count == 0)
        {
            return [];
        }
        var models = perVersion.Select(v => v.Model).Distinct().ToList();
        var production = await db.ModelVersions.AsNoTracking().Where(v => v.Stage == Stages.Production && models.Contains(v.Model!.Name))
            .Select(v => new { v.Id, Model = v.Model!.Name, v.Version }).ToListAsync(ct);
        var ids = production.ToDictionary(v => (v.Model, v.Version), v => v.Id);
        var wanted = perVersion.Where(v => ids.ContainsKey((v.Model, v.Version))).ToList();
        var versionIds = wanted.Select(v => ids[(v.Model, v.Version)]).ToList();
        var evaluations = await db.Evaluations.AsNoTracking()
            .Where(e => versionIds.Contains(e.VersionId) && e.Status == EvaluationStatuses.Succeeded && e.Result != null)
            .OrderByDescending(e => e.FinishedAt).Select(e => new { e.VersionId, e.Result }).ToListAsync(ct);
        return wanted.Select(v =>
            {
                var id = ids[(v.Model, v.Version)];
                var evaluated = evaluations.Where(e => e.VersionId == id).Select(e => Accuracy(e.Result!)).FirstOrDefault(a => a is not null);
                return new QualityDrop(v.Model, v.Version, v.Count, v.Sum / v.Count, evaluated);
            })
            .OrderByDescending(q => q.Drop ?? double.NegativeInfinity).ThenBy(q => q.Live).ThenBy(q => q.Model, StringComparer.Ordinal)
            .Take(QualityRowsShown).ToList();
    }

    /// <summary>The <c>accuracy</c> of an evaluation's result: a number (an external result) or <c>{value, ci}</c> (a run).</summary>
    internal static double? Accuracy(string result)
    {
        try
        {
            using var document = JsonDocument.Parse(result);
            if (document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("metrics", out var metrics)
                && metrics.ValueKind == JsonValueKind.Object && metrics.TryGetProperty("accuracy", out var accuracy))
            {
                var value = accuracy.ValueKind == JsonValueKind.Object && accuracy.TryGetProperty("value", out var v) ? v : accuracy;
                return value.ValueKind == JsonValueKind.Number && value.GetDouble() is var d && double.IsFinite(d) ? d : null;
            }
        }
        catch (JsonException)
        {
        }
        return null;
    }

    public async Task<OnCallView> OnCallAsync(DashboardWindow window, CancellationToken ct)
    {
        var (from, to) = Range(window);
        var slos = new List<SloBurn>();
        foreach (var deployment in await db.Deployments.AsNoTracking().Where(d => d.Slo != null).OrderBy(d => d.Name).ToListAsync(ct))
        {
            if (Monitors.Spec(deployment) is { } spec)
            {
                slos.Add(new SloBurn(deployment.Name, await monitors.StatusAsync(db, deployment, spec, ct)));
            }
        }
        var alerts = await db.Alerts.AsNoTracking().Where(a => a.Status == "firing").OrderByDescending(a => a.FiredAt)
            .Select(a => new ActiveAlert(a.Key, a.Group, a.Kind, a.Severity, a.Summary, a.FiredAt, a.Occurrences, a.Silenced)).ToListAsync(ct);

        var hourAgo = to - TimeSpan.FromHours(1);
        var lastHour = await db.RequestLogs.AsNoTracking().Within(hourAgo, to).Served().GroupBy(r => new { r.Deployment, r.Version })
            .Select(g => new { g.Key.Deployment, g.Key.Version, Requests = g.LongCount(), Errors = g.LongCount(r => r.Status >= 500) })
            .Where(g => g.Requests >= MinimumRequestsToRank && g.Errors > 0).ToListAsync(ct);
        var failing = lastHour.Select(g => new FailingEndpoint(g.Deployment, g.Version, g.Requests, g.Errors))
            .OrderByDescending(f => f.Rate).ThenByDescending(f => f.Errors).ThenBy(f => f.Deployment, StringComparer.Ordinal).ThenBy(f => f.Version, StringComparer.Ordinal)
            .Take(FailingEndpointsShown).ToList();
        var upstreams = endpoints.All.Where(c => c.Failures > 0 || c.Rejected > 0)
            .Select(c => new UpstreamEndpointFailures(c.Deployment, c.Version, c.List, c.Index, c.Host, c.Attempts, c.Failures, c.Rejected))
            .OrderByDescending(u => u.Attempts == 0 ? 1 : (double)u.Failures / u.Attempts).ThenByDescending(u => u.Failures).Take(FailingEndpointsShown).ToList();

        var rollouts = await db.Rollouts.AsNoTracking().Where(r => r.Status == RolloutStatuses.Running || r.Status == RolloutStatuses.Paused)
            .OrderBy(r => r.StartedAt).ToListAsync(ct);
        var canaries = rollouts.Select(r =>
        {
            var (outcome, reason, at) = LastCheck(r.History);
            return new CanaryInFlight(r.Id, r.Deployment, r.Stable, r.Candidate, r.Strategy, r.Status, r.Step, r.Weight, r.Checks, r.FailedChecks, outcome, reason, at,
                r.NextCheckAt);
        }).ToList();

        return new OnCallView(window, from, to, slos, alerts, failing, upstreams, canaries, await ErrorTrendAsync(window, from, to, ct),
            await AccuracyTrendAsync(window, from, to, ct));
    }

    /// <summary>The served requests' error rate per bucket of the window, counted in one GROUP BY over a CASE of the bucket bounds.</summary>
    private async Task<IReadOnlyList<ErrorRatePoint>> ErrorTrendAsync(DashboardWindow window, DateTime from, DateTime to, CancellationToken ct)
    {
        var count = (int)(window.Span / window.Bucket);
        var buckets = await RequestLogQueries.ToAggregate(db, window.Span).Within(from, to).Served().GroupBy(BucketOf<RequestLogEntity>(r => r.Time, from, window.Bucket, count))
            .Select(g => new { Bucket = g.Key, Requests = g.LongCount(), Errors = g.LongCount(r => r.Status >= 500) }).ToListAsync(ct);
        return Enumerable.Range(0, count).Select(i =>
        {
            var b = buckets.FirstOrDefault(x => x.Bucket == i);
            return new ErrorRatePoint(from + window.Bucket * i, from + window.Bucket * (i + 1), b?.Requests ?? 0, b?.Errors ?? 0);
        }).ToList();
    }

    /// <summary>
    /// The live score of every version (the mean of the scored feedback, as the quality panel counts it) per bucket of the
    /// window, by the time of the request the feedback is about: the seed's model accuracy trend.
    /// </summary>
    private async Task<IReadOnlyList<ScorePoint>> AccuracyTrendAsync(DashboardWindow window, DateTime from, DateTime to, CancellationToken ct)
    {
        var count = (int)(window.Span / window.Bucket);
        var buckets = await db.Feedback.AsNoTracking().Where(f => f.Score != null && f.RequestTime > from && f.RequestTime <= to)
            .GroupBy(BucketOf<FeedbackEntity>(f => f.RequestTime, from, window.Bucket, count))
            .Select(g => new { Bucket = g.Key, Scored = g.LongCount(), Sum = g.Sum(f => f.Score ?? 0) }).ToListAsync(ct);
        return Enumerable.Range(0, count).Select(i =>
        {
            var b = buckets.FirstOrDefault(x => x.Bucket == i);
            return new ScorePoint(from + window.Bucket * i, from + window.Bucket * (i + 1), b?.Scored ?? 0, b?.Sum ?? 0);
        }).ToList();
    }

    /// <summary><c>x =&gt; time(x) &lt;= b1 ? 0 : time(x) &lt;= b2 ? 1 : … : count − 1</c>, the bounds as constants (a CASE in SQL).</summary>
    private static Expression<Func<T, int>> BucketOf<T>(Expression<Func<T, DateTime>> time, DateTime from, TimeSpan width, int count)
    {
        Expression body = Expression.Constant(count - 1);
        for (var i = count - 2; i >= 0; i--)
        {
            body = Expression.Condition(Expression.LessThanOrEqual(time.Body, Expression.Constant(from + width * (i + 1))), Expression.Constant(i), body);
        }
        return Expression.Lambda<Func<T, int>>(body, time.Parameters);
    }

    /// <summary>The last analysis recorded in a rollout's history: its outcome, the controller's reason and when.</summary>
    private static (string? Outcome, string? Reason, DateTime? At) LastCheck(string history)
    {
        try
        {
            using var document = JsonDocument.Parse(history);
            if (document.RootElement.ValueKind != JsonValueKind.Array)
            {
                return (null, null, null);
            }
            foreach (var entry in document.RootElement.EnumerateArray().Reverse())
            {
                if (entry.ValueKind == JsonValueKind.Object && entry.TryGetProperty("type", out var type) && type.GetString() == "check")
                {
                    string? Text(string name) => entry.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;
                    return (Text("outcome"), Text("reason"), entry.TryGetProperty("at", out var at) && at.TryGetDateTime(out var when) ? when.ToUniversalTime() : null);
                }
            }
        }
        catch (JsonException)
        {
        }
        return (null, null, null);
    }

    /// <summary>
    /// The debug dashboard: the records of one request id; for a chosen deployment (the first by name when none is), its recent
    /// sampled payloads, the stable version's sampled feature rows and drift check, and each version's latency histogram.
    /// </summary>
    public async Task<DebugView?> DebugAsync(DashboardWindow window, string? deployment, string? requestId, CancellationToken ct)
    {
        var (from, to) = Range(window);
        var names = await db.Deployments.AsNoTracking().OrderBy(d => d.Name).Select(d => d.Name).ToListAsync(ct);
        IReadOnlyList<LoggedRequest> found = [];
        if (!string.IsNullOrEmpty(requestId))
        {
            found = await db.RequestLogs.AsNoTracking().Where(r => r.RequestId == requestId).OrderBy(r => r.Id).Take(RequestRowsShown)
                .Select(Logged).ToListAsync(ct);
        }
        var name = string.IsNullOrEmpty(deployment) ? names.FirstOrDefault() : deployment;
        if (name is null)
        {
            return new DebugView(window, from, to, names, null, null, requestId, found, [], [], [], null, []);
        }
        var entity = await db.Deployments.AsNoTracking().FirstOrDefaultAsync(d => d.Name == name, ct);
        if (entity is null)
        {
            return null;
        }
        var rows = db.RequestLogs.AsNoTracking().Where(r => r.Deployment == name).Within(from, to);
        var sampled = await rows.Where(r => r.Payload != null).OrderByDescending(r => r.Time).ThenByDescending(r => r.Id).Take(SamplesShown)
            .Select(Logged).ToListAsync(ct);
        var stable = Lifecycle.Gates.Routing(entity)?.Stable;
        IReadOnlyList<string> columns = [];
        IReadOnlyList<SampledRow> features = [];
        DriftCheckResult? driftResult = null;
        if (stable is not null)
        {
            var (c, r) = await samples.ReadAsync(db, name, stable, from, ct);
            (columns, features) = (c, r.TakeLast(FeatureRowsShown).Reverse().ToList());
            driftResult = await drift.CheckAsync(db, entity, stable, window.Span, ct);
        }
        var latency = await rows.Served().GroupBy(r => new
            {
                r.Version,
                Bucket = r.LatencyMs < 10 ? 0 : r.LatencyMs < 25 ? 1 : r.LatencyMs < 50 ? 2 : r.LatencyMs < 100 ? 3 : r.LatencyMs < 250 ? 4
                    : r.LatencyMs < 500 ? 5 : r.LatencyMs < 1000 ? 6 : r.LatencyMs < 2500 ? 7 : r.LatencyMs < 5000 ? 8 : 9,
            })
            .Select(g => new { g.Key.Version, g.Key.Bucket, Count = g.LongCount() }).ToListAsync(ct);
        var histograms = latency.GroupBy(l => l.Version ?? "–").OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new VersionLatency(g.Key, Enumerable.Range(0, LatencyBounds.Count + 1).Select(i => g.Where(x => x.Bucket == i).Sum(x => x.Count)).ToList()))
            .ToList();
        return new DebugView(window, from, to, names, name, stable, requestId, found, sampled, columns, features, driftResult, histograms);
    }

    private static readonly Expression<Func<RequestLogEntity, LoggedRequest>> Logged = r => new LoggedRequest(r.Id, r.RequestId, r.Time, r.Deployment, r.Version,
        r.Route, r.Protocol, r.Status, r.LatencyMs, r.PromptTokens, r.CompletionTokens, r.Cost, r.Prediction, r.Payload);

    private (DateTime From, DateTime To) Range(DashboardWindow window)
    {
        var to = time.GetUtcNow().UtcDateTime;
        return (to - window.Span, to);
    }

    private sealed record DeploymentRow(string Name, string Environment, string Model);

    private async Task<IReadOnlyDictionary<string, DeploymentRow>> DeploymentsAsync(CancellationToken ct) =>
        (await db.Deployments.AsNoTracking().Select(d => new DeploymentRow(d.Name, d.Environment, d.Model)).ToListAsync(ct))
        .ToDictionary(d => d.Name, StringComparer.Ordinal);
}
