using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Storage;

namespace ModelGate.Monitoring;

/// <summary>
/// What one version did on one route (stable, canary, pinned, fallback, shadow, failed_attempt) over a window, from the
/// request log: requests, server errors (5xx), cost, and the median and 95th percentile of latency (nearest rank: the
/// value at rank ⌈p·n⌉ of the sorted latencies; null without requests).
/// </summary>
public sealed record TrafficRow(string? Version, string? Route, long Requests, long ServerErrors, double Cost, double? P50Ms, double? P95Ms)
{
    public double ErrorRate => Requests == 0 ? 0 : (double)ServerErrors / Requests;

    public double CostPer1000 => Requests == 0 ? 0 : Cost / Requests * 1000;

    /// <summary>Whether this row's requests answered clients (not shadow copies, not failed attempts that fell back).</summary>
    public bool Served => RouteKinds.Served(Route);
}

/// <summary>A version's share of the requests that answered clients (its served routes merged): the live split.</summary>
public sealed record VersionShare(string? Version, long Requests, double Share);

/// <summary>A deployment's traffic over [<see cref="From"/>, <see cref="To"/>]: per version and route, and the live split.</summary>
public sealed record LiveTrafficReport(string Deployment, DateTime From, DateTime To, IReadOnlyList<TrafficRow> Rows, IReadOnlyList<VersionShare> Split, long ServedRequests);

/// <summary>
/// Live traffic per version, computed in the database from the request log: one GROUP BY over the deployment's rows in the
/// window (the (Deployment, Time) index), then per group two ordered reads of one row each for the percentiles
/// (<c>ORDER BY latency OFFSET k LIMIT 1</c>: exact, and a top-k sort in the database rather than every latency in memory).
/// </summary>
public static class LiveTraffic
{
    /// <summary>The windows the console offers, and the default.</summary>
    public static readonly IReadOnlyList<string> Windows = ["15m", "1h", "24h"];

    public const string DefaultWindow = "1h";

    /// <summary>The window's span for one of <see cref="Windows"/>; the default for anything else.</summary>
    public static (string Name, TimeSpan Span) Window(string? name) => name switch
    {
        "15m" => ("15m", TimeSpan.FromMinutes(15)),
        "24h" => ("24h", TimeSpan.FromHours(24)),
        _ => (DefaultWindow, TimeSpan.FromHours(1)),
    };

    /// <summary>
    /// The nearest-rank position (0-based) of the <paramref name="percent"/> percentile among <paramref name="count"/> sorted values:
    /// ⌈percent·n/100⌉ − 1, in integers (no floating-point rounding at exact ranks).
    /// </summary>
    public static int Rank(int percent, long count) => (int)Math.Max((percent * count + 99) / 100 - 1, 0);

    /// <summary>The traffic of <paramref name="deployment"/> with <c>from &lt; time ≤ to</c>.</summary>
    public static async Task<LiveTrafficReport> ReadAsync(ModelGateDbContext db, string deployment, DateTime from, DateTime to, CancellationToken cancellationToken)
    {
        var window = db.RequestLogs.AsNoTracking().Where(r => r.Deployment == deployment && r.Time > from && r.Time <= to);
        var groups = await window.GroupBy(r => new { r.Version, r.Route }).Select(g => new
        {
            g.Key.Version,
            g.Key.Route,
            Requests = g.LongCount(),
            ServerErrors = g.LongCount(r => r.Status >= 500),
            Cost = g.Sum(r => r.Cost ?? 0),
        }).ToListAsync(cancellationToken);
        var rows = new List<TrafficRow>(groups.Count);
        foreach (var g in groups.OrderBy(g => g.Version, StringComparer.Ordinal).ThenBy(g => RouteOrder(g.Route)))
        {
            var version = g.Version;
            var route = g.Route;
            var latencies = window.Where(r => r.Version == version && r.Route == route).OrderBy(r => r.LatencyMs).Select(r => r.LatencyMs);
            var p50 = await latencies.Skip(Rank(50, g.Requests)).FirstAsync(cancellationToken);
            var p95 = await latencies.Skip(Rank(95, g.Requests)).FirstAsync(cancellationToken);
            rows.Add(new TrafficRow(version, route, g.Requests, g.ServerErrors, g.Cost, p50, p95));
        }
        var served = rows.Where(r => r.Served).Sum(r => r.Requests);
        var split = rows.Where(r => r.Served).GroupBy(r => r.Version)
            .Select(v => new VersionShare(v.Key, v.Sum(r => r.Requests), served == 0 ? 0 : (double)v.Sum(r => r.Requests) / served))
            .OrderByDescending(v => v.Requests).ThenBy(v => v.Version, StringComparer.Ordinal).ToList();
        return new LiveTrafficReport(deployment, from, to, rows, split, served);
    }

    private static int RouteOrder(string? route) => route switch
    {
        RouteKinds.Stable => 0,
        RouteKinds.Canary => 1,
        RouteKinds.Pinned => 2,
        RouteKinds.Fallback => 3,
        RouteKinds.Shadow => 4,
        _ => 5,
    };
}
