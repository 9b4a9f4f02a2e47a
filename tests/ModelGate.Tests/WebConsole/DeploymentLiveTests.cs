using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using ModelGate.Client;
using ModelGate.Gateway.Telemetry;
using ModelGate.Storage.Gateway;
using ModelGate.Tests.Infrastructure;
using ModelGate.WebConsole;

namespace ModelGate.Tests.WebConsole;

/// <summary>
/// The deployment's overview and drift pages over HTTP: the live traffic per version and route (requests, share, p50/p95,
/// 5xx rate, cost) against figures computed here from the rows inserted into the request log, for each window; the SLO
/// against the same rows; a scoped key's reach; the drift report's histograms against counts done by hand.
/// </summary>
public abstract class DeploymentLiveTests(ServerFixture fixture) : ProviderTests(fixture)
{
    private sealed record Row(string Version, string Route, int Status, double Latency, double? Cost, int SecondsAgo);

    private async Task<(string Model, string Deployment)> DeployAsync(RoutingTable routing)
    {
        var api = Server.Api();
        var model = ServerFixture.UniqueName("live");
        await api.CreateModelAsync(new CreateModelRequest(model, "o", RiskTiers.Low, "classification"));
        foreach (var (version, onnx) in new[] { ("1.0.0", "v1-logreg"), ("1.1.0", "v2-mlp") })
        {
            var sha = await Server.UploadAsync(Fixtures.ModelBytes(onnx));
            await api.CreateVersionAsync(model, new CreateVersionRequest(version, [new ArtifactRef(sha, onnx + ".onnx")], Fixtures.Attestation()));
        }
        var deployment = ServerFixture.UniqueName("live-dep");
        await api.CreateDeploymentAsync(new CreateDeploymentRequest(deployment, DeploymentEnvironments.Development, model, routing));
        return (model, deployment);
    }

    private static List<Row> Traffic(int seed)
    {
        var random = new Random(seed);
        var rows = new List<Row>();
        void Add(string version, string route, int count, int maxSecondsAgo, int minSecondsAgo = 0, Func<int>? status = null)
        {
            for (var i = 0; i < count; i++)
            {
                // Whole milliseconds in a narrow range: many ties, which a percentile must count right.
                var latency = Math.Round(random.NextDouble() * 60 + (route == RouteKinds.Canary ? 20 : 5));
                var cost = random.Next(5) == 0 ? (double?)null : Math.Round(random.NextDouble() / 100, 6);
                var code = status?.Invoke() ?? random.Next(20) switch { 0 => 500, 1 => 503, 2 => 404, _ => 200 };
                rows.Add(new Row(version, route, code, latency, cost, random.Next(minSecondsAgo, maxSecondsAgo)));
            }
        }
        Add("1.0.0", RouteKinds.Stable, 157, 3600);
        Add("1.1.0", RouteKinds.Canary, 41, 3600);
        Add("1.0.0", RouteKinds.Fallback, 9, 3600);
        Add("1.1.0", RouteKinds.FailedAttempt, 9, 3600, status: () => 502);
        Add("1.1.0", RouteKinds.Shadow, 23, 3600);
        Add("1.0.0", RouteKinds.Stable, 30, 72_000, minSecondsAgo: 3601);
        rows.Add(new Row("1.0.0", RouteKinds.Stable, 500, 999, 1, 3600)); // exactly one hour ago: outside the hour, inside the day
        rows.Add(new Row("1.1.0", RouteKinds.Canary, 200, 1, 1, 0)); // now: inside every window
        return rows;
    }

    private async Task InsertAsync(string deployment, IEnumerable<Row> rows)
    {
        var now = Server.Time.GetUtcNow().UtcDateTime;
        await Server.WithDbAsync(async db =>
        {
            foreach (var r in rows)
            {
                db.RequestLogs.Add(new RequestLogEntity
                {
                    RequestId = Guid.NewGuid().ToString("N"), Time = now.AddSeconds(-r.SecondsAgo), Deployment = deployment, Version = r.Version, Route = r.Route,
                    Protocol = "oip-v2", Status = r.Status, LatencyMs = r.Latency, Cost = r.Cost,
                });
            }
            return await db.SaveChangesAsync();
        });
    }

    /// <summary>The percentile by its definition: the smallest value with at least p % of the values at or below it.</summary>
    private static double Percentile(IReadOnlyList<double> values, int percent) =>
        values.Order().First(x => values.Count(y => y <= x) * 100 >= percent * values.Count);

    private static double D(string value) => double.Parse(value, CultureInfo.InvariantCulture);

    [Fact]
    public async Task LiveTraffic_PerVersionAndRoute_MatchesTheRequestLogsRows_InEachWindow()
    {
        var (_, deployment) = await DeployAsync(new RoutingTable("1.0.0", [new CandidateRoute("1.1.0", 20)]));
        var (_, other) = await DeployAsync(new RoutingTable("1.0.0"));
        var rows = Traffic(19);
        await InsertAsync(deployment, rows);
        await InsertAsync(other, Traffic(7).Take(40)); // another deployment's rows are not counted
        var browser = ConsoleHttp.Browser(Server);
        var viewer = await ConsoleHttp.SignInAsync(browser, (await Server.CreateKeyAsync(new CreateKeyRequest("live viewer", [Roles.Viewer]))).Key!);

        foreach (var (window, seconds) in new[] { ("15m", 900), ("1h", 3600), ("24h", 86_400) })
        {
            var page = await ConsoleHttp.GetAsync(browser, $"/console/deployments/{deployment}?window={window}", viewer);
            Assert.Equal(HttpStatusCode.OK, page.Status);
            Assert.Contains($"<option value=\"{window}\" selected>", page.Body);
            var inWindow = rows.Where(r => r.SecondsAgo < seconds).ToList();
            var served = inWindow.Where(r => r.Route is not (RouteKinds.Shadow or RouteKinds.FailedAttempt)).ToList();
            var table = ConsoleHttp.Element(page.Body, "table", "traffic");
            var groups = inWindow.GroupBy(r => (r.Version, r.Route)).ToList();
            Assert.Equal(groups.Count, Regex.Matches(table, "<tr data-version=").Count);
            foreach (var g in groups)
            {
                var row = Regex.Match(table, $"<tr data-version=\"{g.Key.Version}\" data-route=\"{g.Key.Route}\">.*?</tr>", RegexOptions.Singleline).Value;
                Assert.False(row.Length == 0, $"{window}: no row for {g.Key}");
                var fields = ConsoleHttp.Fields(row);
                var latencies = g.Select(r => r.Latency).ToList();
                var n = g.Count();
                Assert.Equal(n, long.Parse(fields["requests"], CultureInfo.InvariantCulture));
                Assert.Equal(Percentile(latencies, 50), D(fields["p50"]));
                Assert.Equal(Percentile(latencies, 95), D(fields["p95"]));
                Assert.Equal((double)g.Count(r => r.Status >= 500) / n, D(fields["errors"]), 12);
                var cost = g.Sum(r => r.Cost ?? 0);
                Assert.Equal(cost, D(fields["cost"]), 9);
                Assert.Equal(cost / n * 1000, D(fields["cost1k"]), 9);
                if (g.Key.Route is RouteKinds.Shadow or RouteKinds.FailedAttempt)
                {
                    Assert.DoesNotContain("share", fields.Keys);
                }
                else
                {
                    Assert.Equal((double)n / served.Count, D(fields["share"]), 12);
                }
            }
            // The live split: each version's served requests (its routes merged) among all served, next to its configured weight.
            var split = ConsoleHttp.Element(page.Body, "table", "live-split");
            foreach (var v in served.GroupBy(r => r.Version))
            {
                var row = Regex.Match(split, $"<tr data-version=\"{v.Key}\">.*?</tr>", RegexOptions.Singleline).Value;
                Assert.Equal((double)v.Count() / served.Count, D(ConsoleHttp.Fields(row)["share"]), 12);
                Assert.Contains(v.Key == "1.0.0" ? ">80 %<" : ">20 %<", row);
            }
        }
        // An unknown window is the default hour.
        Assert.Contains("<option value=\"1h\" selected>", (await ConsoleHttp.GetAsync(browser, $"/console/deployments/{deployment}?window=5y", viewer)).Body);
    }

    [Fact]
    public async Task LiveTraffic_WithoutRequests_SaysSo()
    {
        var (_, deployment) = await DeployAsync(new RoutingTable("1.0.0"));
        var browser = ConsoleHttp.Browser(Server);
        var viewer = await ConsoleHttp.SignInAsync(browser, (await Server.CreateKeyAsync(new CreateKeyRequest("quiet viewer", [Roles.Viewer]))).Key!);
        var page = await ConsoleHttp.GetAsync(browser, $"/console/deployments/{deployment}", viewer);
        Assert.Contains("id=\"traffic-empty\"", page.Body);
        Assert.DoesNotContain("id=\"traffic\"", page.Body);
        Assert.Contains("id=\"slo-none\"", page.Body);
    }

    [Fact]
    public async Task Slo_ShowsTargetAttainedBudgetAndBurnRates_ComputedFromTheServedRows()
    {
        var (_, deployment) = await DeployAsync(new RoutingTable("1.0.0", [new CandidateRoute("1.1.0", 20)]));
        var rows = Traffic(23);
        await InsertAsync(deployment, rows);
        await Server.Api().SetSloAsync(deployment, new SloSpec(0.99, LatencyObjective: 0.9, LatencyThresholdMs: 50, PeriodDays: 30));
        var browser = ConsoleHttp.Browser(Server);
        var viewer = await ConsoleHttp.SignInAsync(browser, (await Server.CreateKeyAsync(new CreateKeyRequest("slo viewer", [Roles.Viewer]))).Key!);

        var page = await ConsoleHttp.GetAsync(browser, $"/console/deployments/{deployment}", viewer);
        var slo = ConsoleHttp.Element(page.Body, "table", "slo");
        var served = rows.Where(r => r.Route is not (RouteKinds.Shadow or RouteKinds.FailedAttempt)).ToList();
        foreach (var (objective, target, bad) in new (string, double, Func<Row, bool>)[]
                 {
                     ("availability", 0.99, r => r.Status >= 500), ("latency", 0.9, r => r.Latency > 50),
                 })
        {
            var fields = ConsoleHttp.Fields(Regex.Match(slo, $"<tr data-objective=\"{objective}\">.*?</tr>", RegexOptions.Singleline).Value);
            var badShare = (double)served.Count(bad) / served.Count;
            Assert.Equal(target, D(fields["target"]));
            Assert.Equal(1 - badShare, D(fields["attained"]), 12);
            Assert.Equal(1 - badShare / (1 - target), D(fields["budget"]), 9);
            foreach (var (window, seconds) in new[] { ("5m", 300), ("1h", 3600) })
            {
                var inWindow = served.Where(r => r.SecondsAgo < seconds).ToList();
                var burn = inWindow.Count == 0 ? (double?)null : (double)inWindow.Count(bad) / inWindow.Count / (1 - target);
                Assert.Equal(burn ?? double.NaN, fields[$"burn-{window}"] is { Length: > 0 } v ? D(v) : double.NaN, 9);
            }
        }
    }

    [Fact]
    public async Task ScopedKey_SeesOnlyItsOwnDeploymentsPages()
    {
        var (_, mine) = await DeployAsync(new RoutingTable("1.0.0"));
        var (_, theirs) = await DeployAsync(new RoutingTable("1.0.0"));
        var browser = ConsoleHttp.Browser(Server);
        var scoped = await ConsoleHttp.SignInAsync(browser, (await Server.CreateKeyAsync(new CreateKeyRequest("live app", [Roles.Viewer], Deployments: [mine]))).Key!);

        foreach (var page in new[] { "", "/rollouts", "/drift" })
        {
            Assert.Equal(HttpStatusCode.OK, (await ConsoleHttp.GetAsync(browser, $"/console/deployments/{mine}{page}", scoped)).Status);
            Assert.Equal(HttpStatusCode.NotFound, (await ConsoleHttp.GetAsync(browser, $"/console/deployments/{theirs}{page}", scoped)).Status);
        }
        var list = (await ConsoleHttp.GetAsync(browser, "/console/deployments", scoped)).Body;
        Assert.Contains($"data-deployment=\"{mine}\"", list);
        Assert.DoesNotContain(theirs, list);
    }

    [Fact]
    public async Task Drift_ShowsTheReportAndEachColumnsReferenceAgainstCurrentHistogram()
    {
        var (model, deployment) = await DeployAsync(new RoutingTable("1.0.0", [new CandidateRoute("1.1.0", 10)]));
        // Reference: x = 1..40, c = a ×20, b ×10, c ×10. Window: x = 31..60, c = a ×10, b ×10, d ×10.
        var csv = new StringBuilder("x,c\n");
        for (var i = 1; i <= 40; i++)
        {
            csv.Append(CultureInfo.InvariantCulture, $"{i},{(i <= 20 ? "a" : i <= 30 ? "b" : "c")}\n");
        }
        var dataset = await Server.UploadAsync(Encoding.UTF8.GetBytes(csv.ToString()));
        using (var set = await Server.Client().PutAsync($"/api/v1/models/{model}/versions/1.0.0/drift-baseline",
                   new StringContent($"{{\"dataset\":\"{dataset}\",\"columns\":[\"x\",\"c\"]}}", Encoding.UTF8, "application/json")))
        {
            Assert.True(set.IsSuccessStatusCode, await set.Content.ReadAsStringAsync());
        }
        var samples = Server.App.Services.GetRequiredService<InputSamples>();
        samples.AddTensorRows(deployment, "1.0.0", Server.Time.GetUtcNow().UtcDateTime.AddMinutes(-1), new Dictionary<string, Array>
        {
            ["x"] = Enumerable.Range(31, 30).Select(i => (double)i).ToArray(),
            ["c"] = Enumerable.Range(0, 30).Select(i => i < 10 ? "a" : i < 20 ? "b" : "d").ToArray(),
        }, 30);
        var browser = ConsoleHttp.Browser(Server);
        var viewer = await ConsoleHttp.SignInAsync(browser, (await Server.CreateKeyAsync(new CreateKeyRequest("drift viewer", [Roles.Viewer]))).Key!);

        var page = (await ConsoleHttp.GetAsync(browser, $"/console/deployments/{deployment}/drift", viewer)).Body;
        Assert.Contains("id=\"drift-summary\" data-drifted=\"2\" data-tested=\"2\" data-dataset-drift=\"true\"", page);
        Assert.Contains("<tr data-column=\"x\" data-drifted=\"true\"><th scope=\"row\">x</th><td>Numeric</td><td>KolmogorovSmirnov</td>", page);
        Assert.Contains("<tr data-column=\"c\" data-drifted=\"true\"><th scope=\"row\">c</th><td>Categorical</td><td>ChiSquare</td>", page);

        string Histogram(string column) => Regex.Match(page, $"<div class=\"histogram\" data-column=\"{column}\">.*?</figure>", RegexOptions.Singleline).Value;
        // x at the reference deciles 4.9, 8.8, …, 36.1 (1 + 3.9·d): 4 reference values in each bin; 31, 32 ≤ 32.2; 33–36 ≤ 36.1; 37–60 above.
        var x = Histogram("x");
        Assert.Contains("<tr><th scope=\"row\">≤ 4.9</th><td>10 %</td><td>0 %</td></tr>", x);
        Assert.Contains("<tr><th scope=\"row\">24.4–28.3</th><td>10 %</td><td>0 %</td></tr>", x);
        Assert.Contains("<tr><th scope=\"row\">28.3–32.2</th><td>10 %</td><td>6.7 %</td></tr>", x);
        Assert.Contains("<tr><th scope=\"row\">32.2–36.1</th><td>10 %</td><td>13.3 %</td></tr>", x);
        Assert.Contains("<tr><th scope=\"row\">&gt; 36.1</th><td>10 %</td><td>80 %</td></tr>", x);
        Assert.Contains("reference (40 values) against current (30)", x);
        var c = Histogram("c");
        Assert.Contains("<tr><th scope=\"row\">a</th><td>50 %</td><td>33.3 %</td></tr>", c);
        Assert.Contains("<tr><th scope=\"row\">b</th><td>25 %</td><td>33.3 %</td></tr>", c);
        Assert.Contains("<tr><th scope=\"row\">c</th><td>25 %</td><td>0 %</td></tr>", c);
        Assert.Contains("<tr><th scope=\"row\">(unseen)</th><td>0 %</td><td>33.3 %</td></tr>", c);

        // The candidate has no baseline: said, not an error page.
        var candidate = await ConsoleHttp.GetAsync(browser, $"/console/deployments/{deployment}/drift?version=1.1.0", viewer);
        Assert.Equal(HttpStatusCode.OK, candidate.Status);
        Assert.Contains("id=\"drift-refused\" data-code=\"drift_baseline_not_found\"", candidate.Body);
    }
}

public sealed class DeploymentLiveTests_Sqlite(SqliteServerFixture fixture) : DeploymentLiveTests(fixture), IClassFixture<SqliteServerFixture>;

public sealed class DeploymentLiveTests_Postgres(PostgresServerFixture fixture) : DeploymentLiveTests(fixture), IClassFixture<PostgresServerFixture>;
