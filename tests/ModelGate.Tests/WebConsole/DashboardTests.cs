using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using ModelGate.Client;
using ModelGate.Gateway.Telemetry;
using ModelGate.Storage.Evaluation;
using ModelGate.Storage.Gateway;
using ModelGate.Storage.Monitoring;
using ModelGate.Storage.Rollouts;
using ModelGate.Tests.Infrastructure;
using ModelGate.WebConsole;

using static ModelGate.Tests.WebConsole.ConsoleHttp;

namespace ModelGate.Tests.WebConsole;

/// <summary>
/// The executive, on-call and debug dashboards over HTTP: request-log, feedback, alert and rollout rows are written straight
/// to the store with known statuses, routes, costs, latencies and times, and every figure a page shows is checked against the
/// same figure computed here from those rows (in memory, by formulas written out in the test), window edges included.
/// Each test's rows stay where earlier tests' rows are (the class shares one server and one clock), so the figures that
/// span every deployment are computed from every row of the store.
/// </summary>
public abstract partial class DashboardTests(ServerFixture fixture) : ProviderTests(fixture)
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    private const string Hostile = "<script>alert(1)</script>";

    private HttpClient Browser() => ConsoleHttp.Browser(Server);

    private static Task<string> SignInAsync(HttpClient browser, string key = ServerFixture.AdminKey) => ConsoleHttp.SignInAsync(browser, key);

    private async Task<string> PageAsync(string path)
    {
        var browser = Browser();
        var (status, body) = await GetAsync(browser, path, await SignInAsync(browser));
        Assert.True(status == HttpStatusCode.OK, $"{path}: {(int)status} {body}");
        return body;
    }

    private static RoutingTable Routing(string stable = "1.0.0") => new(stable, Backend: "upstream", Upstreams: new Dictionary<string, UpstreamBackend>
    {
        ["1.0.0"] = new("http://127.0.0.1:9/v1", "stub", "sk-dashboard-test"),
        ["1.1.0"] = new("http://127.0.0.1:9/v1", "stub", "sk-dashboard-test"),
    });

    /// <summary>A model with 1.0.0 and 1.1.0 and one development deployment of it per name given.</summary>
    private async Task<(string Model, string[] Deployments)> DeployAsync(string prefix, int count, string environment = DeploymentEnvironments.Development)
    {
        var model = await UpstreamModels.RegisterAsync(Server, prefix);
        if (environment == DeploymentEnvironments.Staging)
        {
            await Server.WithDbAsync(db => db.ModelVersions.Where(v => v.Model!.Name == model).ExecuteUpdateAsync(u => u.SetProperty(v => v.Stage, Stages.Registered)));
        }
        var names = Enumerable.Range(0, count).Select(_ => ServerFixture.UniqueName(prefix)).ToArray();
        foreach (var name in names)
        {
            await Server.Api().CreateDeploymentAsync(new CreateDeploymentRequest(name, environment, model, Routing()));
        }
        return (model, names);
    }

    private static RequestLogEntity Row(string deployment, DateTime time, int status, string? route = RouteKinds.Stable, string? version = "1.0.0",
        double latency = 20, double? cost = null, string? requestId = null, string? payload = null, string? prediction = null) => new()
    {
        RequestId = requestId ?? Guid.NewGuid().ToString("N"), Time = time, Deployment = deployment, Version = version, Route = route, Protocol = "openai",
        Status = status, LatencyMs = latency, Cost = cost, Payload = payload, Prediction = prediction,
    };

    private Task InsertAsync(IEnumerable<RequestLogEntity> rows) => Server.WithDbAsync(async db =>
    {
        db.RequestLogs.AddRange(rows);
        return await db.SaveChangesAsync();
    });

    private Task<List<RequestLogEntity>> AllRowsAsync() => Server.WithDbAsync(db => db.RequestLogs.AsNoTracking().ToListAsync());

    /// <summary>What a client was answered by, as the SLO counts: neither a shadow copy nor a failed attempt.</summary>
    private static bool Served(RequestLogEntity r) => r.Route is not (RouteKinds.Shadow or RouteKinds.FailedAttempt);

    private static bool InWindow(DateTime t, DateTime now, TimeSpan span) => t > now - span && t <= now;

    private static string Percent(double share, string format = "0.00") => (share * 100).ToString(format, Inv) + "\u00a0%";

    /// <summary>The element with this opening-tag fragment (the first one), to its closing tag: enough for the pages' flat rows and figures.</summary>
    private static string Element(string html, string tag, string attributes)
    {
        var start = html.IndexOf($"<{tag} {attributes}", StringComparison.Ordinal);
        Assert.True(start >= 0, $"no <{tag} {attributes}> in the page");
        var end = html.IndexOf($"</{tag}>", start, StringComparison.Ordinal);
        return html[start..(end + tag.Length + 3)];
    }

    private static bool Has(string html, string tag, string attributes) => html.Contains($"<{tag} {attributes}", StringComparison.Ordinal);

    private static string Attribute(string element, string name) => Regex.Match(element, $"{name}=\"([^\"]*)\"").Groups[1].Value;

    /// <summary>A chart's figures as its screen-reader table lists them: label → value shown.</summary>
    private static Dictionary<string, string> ChartValues(string html, string id)
    {
        var figure = Element(html, "figure", $"id=\"{id}\"");
        return ChartRow().Matches(figure).ToDictionary(m => System.Net.WebUtility.HtmlDecode(m.Groups[1].Value), m => System.Net.WebUtility.HtmlDecode(m.Groups[2].Value));
    }

    [GeneratedRegex("<tr><th scope=\"row\">(.*?)</th><td>(.*?)</td>")]
    private static partial Regex ChartRow();

    private static string Cells(string row) => System.Net.WebUtility.HtmlDecode(Regex.Replace(row, "<[^>]+>", "|"));

    [Fact]
    public async Task Executive_AvailabilityAndCost_AreTheServedRowsAndPricedRowsOfTheWindow_EdgesIncluded()
    {
        var (model, deployments) = await DeployAsync("exec", 2);
        var (otherModel, others) = await DeployAsync("exec-other", 1);
        var (_, staging) = await DeployAsync("exec-stg", 1, DeploymentEnvironments.Staging);
        var now = Server.Time.GetUtcNow().UtcDateTime;
        var random = new Random(19);
        string?[] routes = [RouteKinds.Stable, RouteKinds.Stable, RouteKinds.Canary, RouteKinds.Pinned, RouteKinds.Fallback, RouteKinds.Shadow, RouteKinds.FailedAttempt, null];
        int[] statuses = [200, 200, 200, 201, 400, 404, 429, 499, 500, 502, 503, 504];
        var rows = new List<RequestLogEntity>();
        foreach (var deployment in deployments.Concat(others).Concat(staging).Append(Hostile))
        {
            for (var i = 0; i < 120; i++)
            {
                // From 2 days back to an hour ahead of the server's clock: some rows are outside every window on either side.
                var time = now - TimeSpan.FromMinutes(random.Next(-60, 2 * 24 * 60));
                rows.Add(Row(deployment, time, statuses[random.Next(statuses.Length)], routes[random.Next(routes.Length)],
                    cost: random.Next(4) == 0 ? null : random.Next(1, 1000) / 10_000.0));
            }
            // The window's edges: (now − 24h, now].
            rows.Add(Row(deployment, now - TimeSpan.FromHours(24), 500, cost: 1));
            rows.Add(Row(deployment, now - TimeSpan.FromHours(24) + TimeSpan.FromSeconds(1), 503, cost: 0.5));
            rows.Add(Row(deployment, now, 502, cost: 0.25));
            rows.Add(Row(deployment, now + TimeSpan.FromSeconds(1), 500, cost: 2));
        }
        await InsertAsync(rows);

        var all = await AllRowsAsync();
        var environments = await Server.WithDbAsync(db => db.Deployments.AsNoTracking().ToDictionaryAsync(d => d.Name, d => (d.Environment, d.Model)));
        foreach (var (window, span) in new[] { ("24h", TimeSpan.FromHours(24)), ("1h", TimeSpan.FromHours(1)), ("30d", TimeSpan.FromDays(30)) })
        {
            var html = await PageAsync($"/console/dashboards/executive?window={window}");
            foreach (var deployment in deployments.Concat(others).Concat(staging))
            {
                var mine = all.Where(r => r.Deployment == deployment && Served(r) && InWindow(r.Time, now, span)).ToList();
                var row = Element(html, "tr", $"data-deployment=\"{deployment}\"");
                Assert.Equal(mine.Count.ToString(Inv), Attribute(row, "data-requests"));
                Assert.Equal(mine.Count(r => r.Status >= 500).ToString(Inv), Attribute(row, "data-errors"));
                Assert.Contains($"<td data-availability>{Percent(1 - (double)mine.Count(r => r.Status >= 500) / mine.Count)}</td>", row);
            }
            // Overall: every served row of the window but staging deployments' (a deployment no longer known counts).
            var counted = all.Where(r => Served(r) && InWindow(r.Time, now, span)
                                         && !(environments.TryGetValue(r.Deployment, out var d) && d.Environment == DeploymentEnvironments.Staging)).ToList();
            var overall = Element(html, "span", "id=\"availability-overall\"");
            Assert.Equal(counted.Count.ToString(Inv), Attribute(overall, "data-requests"));
            Assert.Equal(counted.Count(r => r.Status >= 500).ToString(Inv), Attribute(overall, "data-errors"));
            Assert.Contains(Percent(1 - (double)counted.Count(r => r.Status >= 500) / counted.Count), overall);

            // Cost by model: every priced row of the window (shadow copies and failed attempts too), by the deployment's model.
            var costs = ChartValues(html, "cost-by-model");
            foreach (var (name, deploymentsOfModel) in new[] { (model, deployments), (otherModel, others) })
            {
                var expected = all.Where(r => deploymentsOfModel.Contains(r.Deployment) && r.Cost != null && InWindow(r.Time, now, span)).Sum(r => (decimal)r.Cost!.Value);
                Assert.Equal(expected.ToString("0.0000", Inv), costs[name]);
            }
            var hostileCost = all.Where(r => r.Deployment == Hostile && r.Cost != null && InWindow(r.Time, now, span)).Sum(r => (decimal)r.Cost!.Value);
            Assert.Equal(hostileCost.ToString("0.0000", Inv), costs[$"(no deployment {Hostile})"]);

            // A request-log deployment name that is markup is shown as text, never as markup.
            Assert.DoesNotContain(Hostile, html, StringComparison.Ordinal);
            Assert.Contains(Html.E(Hostile), html, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Executive_ModelsByStage_CountEveryVersion_AndAnUnknownWindowIsRefused()
    {
        // Two models: one with both versions trained, one with 1.0.0 in production and 1.1.0 rejected.
        await DeployAsync("stages", 1);
        var (other, _) = await DeployAsync("stages", 1);
        await Server.WithDbAsync(db => db.ModelVersions.Where(v => v.Model!.Name == other && v.Version == "1.0.0").ExecuteUpdateAsync(u => u.SetProperty(v => v.Stage, Stages.Production)));
        await Server.WithDbAsync(db => db.ModelVersions.Where(v => v.Model!.Name == other && v.Version == "1.1.0").ExecuteUpdateAsync(u => u.SetProperty(v => v.Stage, Stages.Rejected)));
        var html = await PageAsync("/console/dashboards/executive");
        var stages = await Server.WithDbAsync(db => db.ModelVersions.AsNoTracking().Select(v => new { v.Stage, v.ModelId }).ToListAsync());
        var shown = ChartValues(html, "models-by-stage");
        foreach (var stage in new[] { Stages.Trained, Stages.Evaluated, Stages.Registered, Stages.Staging, Stages.Production, Stages.Retired, Stages.Rejected })
        {
            var versions = stages.Count(s => s.Stage == stage);
            var models = stages.Where(s => s.Stage == stage).Select(s => s.ModelId).ToHashSet().Count;
            Assert.Equal($"{models} ({versions} version{(versions == 1 ? "" : "s")})", shown[stage]);
        }
        Assert.Contains("<option value=\"24h\" selected>", html);

        var browser = Browser();
        var cookie = await SignInAsync(browser);
        foreach (var path in new[] { "executive", "on-call", "debug" })
        {
            var (status, body) = await GetAsync(browser, $"/console/dashboards/{path}?window=2h", cookie);
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.Contains("role=\"alert\"", body);
        }
    }

    [Fact]
    public async Task Executive_TopDegraded_ComparesProductionVersionsLiveScoreWithTheirEvaluatedAccuracy()
    {
        var (model, deployments) = await DeployAsync("quality", 2);
        await Server.WithDbAsync(db => db.ModelVersions.Where(v => v.Model!.Name == model).ExecuteUpdateAsync(u => u.SetProperty(v => v.Stage, Stages.Production)));
        var now = Server.Time.GetUtcNow().UtcDateTime;
        var versionIds = await Server.WithDbAsync(db => db.ModelVersions.Where(v => v.Model!.Name == model).ToDictionaryAsync(v => v.Version, v => v.Id));
        await Server.WithDbAsync(async db =>
        {
            // 1.0.0: an external result (a number) recorded before a run's result ({value, ci}); the latest one counts.
            db.Evaluations.Add(EvaluationRow(versionIds["1.0.0"], model, "1.0.0", """{"external":true,"metrics":{"accuracy":0.7}}""", now - TimeSpan.FromDays(3)));
            db.Evaluations.Add(EvaluationRow(versionIds["1.0.0"], model, "1.0.0", """{"metrics":{"accuracy":{"value":0.9,"ci":[0.88,0.92]}}}""", now - TimeSpan.FromDays(2)));
            db.Evaluations.Add(EvaluationRow(versionIds["1.1.0"], model, "1.1.0", """{"external":true,"metrics":{"accuracy":0.8}}""", now - TimeSpan.FromDays(2)));
            return await db.SaveChangesAsync();
        });
        var random = new Random(7);
        var feedback = new List<FeedbackEntity>();
        // 1.0.0 is served by both deployments: its score is over both. 1.1.0 gets too few scores in the last hour to be judged there.
        foreach (var (deployment, version, count) in new[] { (deployments[0], "1.0.0", 9), (deployments[1], "1.0.0", 8), (deployments[0], "1.1.0", 12) })
        {
            for (var i = 0; i < count; i++)
            {
                var requestTime = version == "1.1.0" && i >= 5 ? now - TimeSpan.FromHours(3) : now - TimeSpan.FromMinutes(random.Next(0, 50));
                feedback.Add(new FeedbackEntity
                {
                    RequestId = Guid.NewGuid().ToString("N"), Deployment = deployment, Version = version, Route = RouteKinds.Stable,
                    Score = random.Next(2), RequestTime = requestTime, Time = now, Actor = "test",
                });
            }
        }
        // A label outside the window and a comment without a score are not scores of the window.
        feedback.Add(new FeedbackEntity { RequestId = "old", Deployment = deployments[0], Version = "1.0.0", Score = 0, RequestTime = now - TimeSpan.FromDays(2), Time = now, Actor = "t" });
        feedback.Add(new FeedbackEntity { RequestId = "comment", Deployment = deployments[0], Version = "1.0.0", Comment = "meh", RequestTime = now, Time = now, Actor = "t" });
        feedback.Add(new FeedbackEntity { RequestId = "revenue", Deployment = deployments[0], Version = "1.0.0", Metric = "revenue_eur", MetricValue = 12.5, RequestTime = now, Time = now, Actor = "t" });
        feedback.Add(new FeedbackEntity { RequestId = "revenue2", Deployment = deployments[1], Version = "1.0.0", Metric = "revenue_eur", MetricValue = 30, RequestTime = now - TimeSpan.FromMinutes(5), Time = now, Actor = "t" });
        await Server.WithDbAsync(async db =>
        {
            db.Feedback.AddRange(feedback);
            return await db.SaveChangesAsync();
        });

        double? LiveScore(string version, TimeSpan span)
        {
            var scores = feedback.Where(f => f.Version == version && f.Score != null && InWindow(f.RequestTime, now, span)).Select(f => f.Score!.Value).ToList();
            return scores.Count >= DashboardQueries.MinimumScoredFeedback ? scores.Average() : null;
        }

        var day = await PageAsync("/console/dashboards/executive?window=24h");
        foreach (var (version, evaluated) in new[] { ("1.0.0", 0.9), ("1.1.0", 0.8) })
        {
            var live = LiveScore(version, TimeSpan.FromHours(24))!.Value;
            var row = Element(day, "tr", $"data-model=\"{model}\" data-version=\"{version}\"");
            Assert.Contains($"<td data-live>{Percent(live)}</td>", row);
            Assert.Contains($"<td data-evaluated>{Percent(evaluated)}</td>", row);
            Assert.Contains(((evaluated - live) * 100).ToString("+0.00;−0.00;0.00", Inv) + "\u00a0pt", row);
        }
        // The larger drop is listed first.
        var order = Regex.Matches(day, $"data-model=\"{model}\" data-version=\"([^\"]+)\"").Select(m => m.Groups[1].Value).ToList();
        var expectedOrder = new[] { ("1.0.0", 0.9), ("1.1.0", 0.8) }.OrderByDescending(v => v.Item2 - LiveScore(v.Item1, TimeSpan.FromHours(24))!.Value).Select(v => v.Item1);
        Assert.Equal(expectedOrder, order);
        Assert.Contains("<tr data-metric=\"revenue_eur\"><th scope=\"row\">revenue_eur</th><td>2</td><td>42.5</td></tr>", day);

        // Over the last hour 1.1.0 has only 5 scores: not judged.
        Assert.Null(LiveScore("1.1.0", TimeSpan.FromHours(1)));
        var hour = await PageAsync("/console/dashboards/executive?window=1h");
        Assert.True(Has(hour, "tr", $"data-model=\"{model}\" data-version=\"1.0.0\""));
        Assert.False(Has(hour, "tr", $"data-model=\"{model}\" data-version=\"1.1.0\""));
    }

    private static EvaluationEntity EvaluationRow(long versionId, string model, string version, string result, DateTime finished) => new()
    {
        Id = Guid.NewGuid().ToString("N")[..24], VersionId = versionId, Model = model, Version = version, SuiteSha256 = new string('a', 64),
        Status = EvaluationStatuses.Succeeded, Evaluator = "test", Result = result, CreatedAt = finished, StartedAt = finished, FinishedAt = finished,
    };

    [Fact]
    public async Task OnCall_BurnRatesFailingEndpointsAndTrend_AreComputedFromTheServedRows()
    {
        var (_, deployments) = await DeployAsync("oncall", 3);
        var (a, b, c) = (deployments[0], deployments[1], deployments[2]);
        const double Objective = 0.99;
        await Server.Api().SetSloAsync(a, new SloSpec(Objective));
        var now = Server.Time.GetUtcNow().UtcDateTime;
        var rows = new List<RequestLogEntity>();
        for (var i = 0; i < 20; i++)
        {
            rows.Add(Row(a, now - TimeSpan.FromMinutes(i * 3), i % 5 == 0 ? 500 : 200));
        }
        for (var i = 0; i < 6; i++)
        {
            rows.Add(Row(a, now - TimeSpan.FromMinutes(i * 7), 503, RouteKinds.Shadow, "1.1.0"));
            rows.Add(Row(a, now - TimeSpan.FromMinutes(i * 7), 502, RouteKinds.FailedAttempt, "1.1.0"));
        }
        for (var i = 0; i < 10; i++)
        {
            rows.Add(Row(a, now - TimeSpan.FromHours(3) - TimeSpan.FromMinutes(i), 500));
            rows.Add(Row(b, now - TimeSpan.FromMinutes(i * 5 + 1), i == 0 ? 503 : 200, version: "1.1.0"));
        }
        for (var i = 0; i < 5; i++)
        {
            rows.Add(Row(c, now - TimeSpan.FromMinutes(i), 500));
        }
        await InsertAsync(rows);
        await Server.WithDbAsync(async db =>
        {
            db.Alerts.Add(Alert($"test:{a}:page", a, AlertSeverities.Page, $"{a}: {Hostile}", silenced: false, "firing"));
            db.Alerts.Add(Alert($"test:{a}:quiet", a, AlertSeverities.Ticket, "silenced one", silenced: true, "firing"));
            db.Alerts.Add(Alert($"test:{a}:over", a, AlertSeverities.Page, "resolved one", silenced: false, "resolved"));
            db.Rollouts.Add(Rollout(a, RolloutStatuses.Running, """[{"type":"step","at":"2026-11-01T11:00:00Z"},{"type":"check","at":"2026-11-01T11:30:00Z","outcome":"pass","reason":"first"},{"type":"check","at":"2026-11-01T11:45:00Z","outcome":"fail","reason":"error_rate 4x worse"}]""", checks: 2, failed: 1));
            db.Rollouts.Add(Rollout(b, RolloutStatuses.Completed, "[]", checks: 5, failed: 0));
            for (var i = 0; i < 13; i++)
            {
                // Every 5 minutes from now back: on the buckets' edges, and one an hour back (outside).
                db.Feedback.Add(new FeedbackEntity
                {
                    RequestId = Guid.NewGuid().ToString("N"), Deployment = a, Version = "1.0.0", Score = i % 3 == 0 ? 0 : i % 3 == 1 ? 1 : 0.5,
                    RequestTime = now - TimeSpan.FromMinutes(5 * i), Time = now, Actor = "test",
                });
            }
            return await db.SaveChangesAsync();
        });
        var upstream = Server.App.Services.GetRequiredService<EndpointTelemetry>().For(b, "1.1.0", "endpoints", 0, "upstream.test:443", $"{b}-breaker");
        for (var i = 0; i < 4; i++)
        {
            upstream.Attempted();
        }
        upstream.Failed();
        upstream.Failed();
        upstream.Failed();

        var html = await PageAsync("/console/dashboards/on-call?window=1h");
        var all = await AllRowsAsync();

        // Burn rate over each window: (5xx share of the served rows) / (1 − objective); the budget left over the 30-day period.
        var mine = all.Where(r => r.Deployment == a && Served(r)).ToList();
        foreach (var (name, span) in new[] { ("5m", TimeSpan.FromMinutes(5)), ("30m", TimeSpan.FromMinutes(30)), ("1h", TimeSpan.FromHours(1)), ("6h", TimeSpan.FromHours(6)), ("3d", TimeSpan.FromDays(3)) })
        {
            var windowRows = mine.Where(r => InWindow(r.Time, now, span)).ToList();
            var burn = (double)windowRows.Count(r => r.Status >= 500) / windowRows.Count / (1 - Objective);
            var row = Element(html, "tr", $"data-deployment=\"{a}\" data-objective=\"availability\"");
            Assert.Contains($"data-window=\"{name}\"", row);
            Assert.Matches($"data-window=\"{name}\"[^>]*>{Regex.Escape(burn.ToString("0.##", Inv))}×<", row);
        }
        var period = mine.Where(r => InWindow(r.Time, now, TimeSpan.FromDays(30))).ToList();
        var budget = 1 - (double)period.Count(r => r.Status >= 500) / period.Count / (1 - Objective);
        Assert.Contains($">{Percent(budget, "0.#")}</td>", Element(html, "tr", $"data-deployment=\"{a}\" data-objective=\"availability\""));

        // Top failing endpoints over the last hour: deployment + version by 5xx share, at least 10 requests, every deployment's rows.
        var expected = all.Where(r => Served(r) && InWindow(r.Time, now, TimeSpan.FromHours(1)))
            .GroupBy(r => (r.Deployment, r.Version))
            .Select(g => (g.Key.Deployment, g.Key.Version, Requests: g.Count(), Errors: g.Count(r => r.Status >= 500)))
            .Where(g => g.Requests >= 10 && g.Errors > 0)
            .OrderByDescending(g => (double)g.Errors / g.Requests).ThenByDescending(g => g.Errors).ThenBy(g => g.Deployment, StringComparer.Ordinal).ThenBy(g => g.Version, StringComparer.Ordinal)
            .Take(5).Select(g => $"{g.Deployment}@{g.Version}:{g.Requests}/{g.Errors}").ToList();
        var failing = Element(html, "table", "id=\"failing-endpoints\"");
        var shown = Regex.Matches(failing, "<tr data-deployment=\"([^\"]+)\" data-version=\"([^\"]*)\" data-requests=\"(\\d+)\" data-errors=\"(\\d+)\"")
            .Select(m => System.Net.WebUtility.HtmlDecode($"{m.Groups[1].Value}@{m.Groups[2].Value}:{m.Groups[3].Value}/{m.Groups[4].Value}")).ToList();
        Assert.Equal(expected, shown);
        Assert.Contains($"{a}@1.0.0:20/4", shown);
        Assert.DoesNotContain(shown, s => s.StartsWith(c + "@", StringComparison.Ordinal));
        Assert.Contains("upstream.test:443", Element(html, "table", "id=\"upstream-failures\""));
        Assert.Matches("<td>4</td><td>3</td><td>0</td>", Element(html, "tr", $"data-deployment=\"{b}\" data-version=\"1.1.0\"><th scope=\"row\">{b}</th>"));

        // Alerts firing, the silenced one marked, the resolved one absent; the summary's markup as text.
        Assert.True(Has(html, "tr", $"data-alert=\"test:{a}:page\">"));
        Assert.True(Has(html, "tr", $"data-alert=\"test:{a}:quiet\" data-silenced>"));
        Assert.False(Has(html, "tr", $"data-alert=\"test:{a}:over\""));
        Assert.DoesNotContain(Hostile, html, StringComparison.Ordinal);
        Assert.Contains(Html.E(Hostile), html, StringComparison.Ordinal);
        Assert.Contains("href=\"/console/alerts\"", html);

        // Canaries in flight: the running rollout with its counts and last analysis; not the completed one.
        var canary = Element(html, "tr", $"data-rollout=\"ro-{a}\"");
        Assert.Contains("<td data-checks>2</td>", canary);
        Assert.Contains(">1</td>", canary);
        Assert.Contains(">fail</span>", canary);
        Assert.Contains("error_rate 4x worse", canary);
        Assert.Contains($"href=\"/console/deployments/{a}\"", canary);
        Assert.False(Has(html, "tr", $"data-rollout=\"ro-{b}\""));

        // The error-rate trend: 12 buckets of 5 minutes, each (end − 5m, end], labelled with its end.
        var trend = ChartValues(html, "error-rate");
        var from = now - TimeSpan.FromHours(1);
        Assert.Equal(12, trend.Count);
        for (var i = 0; i < 12; i++)
        {
            var (start, end) = (from + TimeSpan.FromMinutes(5 * i), from + TimeSpan.FromMinutes(5 * (i + 1)));
            var bucket = all.Where(r => Served(r) && r.Time > start && r.Time <= end).ToList();
            Assert.Equal(bucket.Count == 0 ? "–" : Percent((double)bucket.Count(r => r.Status >= 500) / bucket.Count), trend[end.ToString("HH:mm", Inv)]);
        }

        // The accuracy trend: the mean of the scored feedback per bucket, by the time of the request it is about.
        var scores = await Server.WithDbAsync(db => db.Feedback.AsNoTracking().Where(f => f.Score != null).ToListAsync());
        var accuracy = ChartValues(html, "accuracy-trend");
        Assert.Equal(12, accuracy.Count);
        for (var i = 0; i < 12; i++)
        {
            var (start, end) = (from + TimeSpan.FromMinutes(5 * i), from + TimeSpan.FromMinutes(5 * (i + 1)));
            var bucket = scores.Where(f => f.RequestTime > start && f.RequestTime <= end).ToList();
            Assert.Equal(bucket.Count == 0 ? "–" : Percent(bucket.Sum(f => f.Score!.Value) / bucket.Count), accuracy[end.ToString("HH:mm", Inv)]);
        }
    }

    private static AlertEntity Alert(string key, string group, string severity, string summary, bool silenced, string status) => new()
    {
        Key = key, Group = group, Kind = AlertKinds.ErrorSpike, Severity = severity, Status = status, Summary = summary, Details = "{}", FiredAt = new DateTime(2026, 11, 1, 11, 0, 0, DateTimeKind.Utc),
        LastSeenAt = new DateTime(2026, 11, 1, 11, 0, 0, DateTimeKind.Utc), Occurrences = 1, Silenced = silenced, Delivery = "none",
        ResolvedAt = status == "resolved" ? new DateTime(2026, 11, 1, 11, 30, 0, DateTimeKind.Utc) : null,
    };

    private static RolloutEntity Rollout(string deployment, string status, string history, int checks, int failed) => new()
    {
        Id = $"ro-{deployment}", Deployment = deployment, Stable = "1.0.0", Candidate = "1.1.0", Strategy = "canary", Status = status, Spec = "{}", Step = 1, Weight = 10,
        Checks = checks, FailedChecks = failed, StartedAt = new DateTime(2026, 11, 1, 11, 0, 0, DateTimeKind.Utc), StepStartedAt = new DateTime(2026, 11, 1, 11, 0, 0, DateTimeKind.Utc),
        NextCheckAt = new DateTime(2026, 11, 1, 12, 30, 0, DateTimeKind.Utc), History = history, CreatedBy = "test",
    };

    [Fact]
    public async Task Debug_RequestSearchSamplesAndLatencyHistogram_ShowTheLoggedRows_AsText()
    {
        var (model, deployments) = await DeployAsync("debug", 1);
        var d = deployments[0];
        var now = Server.Time.GetUtcNow().UtcDateTime;
        var requestId = "req-" + Hostile;
        var payload = $$$"""{"request":{"model":"{{{d}}}","messages":[{"role":"user","content":"{{{Hostile}}} hello"}]},"response":{"choices":[{"message":{"content":"hi"}}]}}""";
        var rows = new List<RequestLogEntity>
        {
            Row(d, now - TimeSpan.FromMinutes(2), 502, RouteKinds.FailedAttempt, "1.1.0", latency: 31, requestId: requestId),
            Row(d, now - TimeSpan.FromMinutes(2), 200, RouteKinds.Fallback, "1.0.0", latency: 45.5, cost: 0.0123, requestId: requestId, payload: payload, prediction: "<b>yes</b>"),
        };
        for (var i = 0; i < 25; i++)
        {
            rows.Add(Row(d, now - TimeSpan.FromMinutes(10 + i), 200, requestId: $"sampled-{i:00}", payload: """{"request":{"inputs":[{"name":"x","data":[1]}]},"response":{"outputs":[]}}""", prediction: $"label-{i}"));
        }
        var latencies = new[] { 0.5, 9.99, 10, 24.9, 25, 60, 99.9, 100, 300, 999, 1000, 2600, 4999, 5000, 12000 };
        foreach (var (latency, i) in latencies.Select((l, i) => (l, i)))
        {
            rows.Add(Row(d, now - TimeSpan.FromMinutes(40 + i), 200, latency: latency));
            rows.Add(Row(d, now - TimeSpan.FromMinutes(40 + i), 200, RouteKinds.Canary, "1.1.0", latency: latency * 2));
            rows.Add(Row(d, now - TimeSpan.FromMinutes(40 + i), 200, RouteKinds.Shadow, "1.1.0", latency: 7)); // not served: not counted
        }
        rows.Add(Row(d, now - TimeSpan.FromHours(2), 200, latency: 7)); // outside the hour
        await InsertAsync(rows);

        var html = await PageAsync($"/console/dashboards/debug?window=1h&deployment={d}&request={Uri.EscapeDataString(requestId)}");
        var results = Element(html, "table", "id=\"request-results\"");
        var found = rows.Where(r => r.RequestId == requestId).OrderBy(r => r.Id).ToList();
        Assert.Equal(found.Select(r => r.Status.ToString(Inv)), Regex.Matches(results, "data-status=\"(\\d+)\"").Select(m => m.Groups[1].Value));
        Assert.Contains("failed_attempt", results);
        Assert.Contains("0.0123", results);
        Assert.Contains("45.5 ms", results);
        Assert.Contains(Html.E("<b>yes</b>"), results);
        Assert.True(Has(html, "details", $"class=\"payload\" data-payload=\"{found[1].Id}\""));
        Assert.DoesNotContain(Hostile, html, StringComparison.Ordinal);
        Assert.DoesNotContain("<b>yes</b>", html, StringComparison.Ordinal);
        Assert.Contains(Html.E(Hostile) + " hello", html, StringComparison.Ordinal);

        // The newest sampled payloads (10), newest first, each with its prediction.
        var samples = Element(html, "ol", "id=\"sampled-inputs\"");
        var expected = rows.Where(r => r.Payload != null && InWindow(r.Time, now, TimeSpan.FromHours(1))).OrderByDescending(r => r.Time).ThenByDescending(r => r.Id)
            .Take(DashboardQueries.SamplesShown).Select(r => Html.E(r.RequestId)).ToList();
        Assert.Equal(10, expected.Count);
        Assert.Equal(expected, Regex.Matches(samples, "<li data-request=\"([^\"]+)\"").Select(m => m.Groups[1].Value));
        Assert.Contains("<strong data-prediction>label-0</strong>", samples);

        // Latency per version: served rows of the window, in buckets [0, 10), [10, 25) … [5000, ∞).
        double[] bounds = [10, 25, 50, 100, 250, 500, 1000, 2500, 5000];
        foreach (var version in new[] { "1.0.0", "1.1.0" })
        {
            var served = rows.Where(r => r.Version == version && Served(r) && InWindow(r.Time, now, TimeSpan.FromHours(1))).Select(r => r.LatencyMs).ToList();
            var counts = ChartValues(html, $"latency-{version}");
            Assert.Equal(bounds.Length + 1, counts.Count);
            for (var i = 0; i <= bounds.Length; i++)
            {
                var low = i == 0 ? double.NegativeInfinity : bounds[i - 1];
                var high = i == bounds.Length ? double.PositiveInfinity : bounds[i];
                Assert.Equal(served.Count(l => l >= low && l < high).ToString(Inv), counts.Values.ElementAt(i));
            }
        }

        // No drift baseline: the checker's refusal, said.
        Assert.Equal("drift_baseline_not_found", Attribute(Element(html, "p", "class=\"empty\" id=\"drift-refused\""), "data-code"));

        // An unknown deployment is 404, a request id longer than the log keeps is 400.
        var browser = Browser();
        var cookie = await SignInAsync(browser);
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync(browser, "/console/dashboards/debug?deployment=nope-" + Guid.NewGuid().ToString("N")[..6], cookie)).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await GetAsync(browser, "/console/dashboards/debug?request=" + new string('r', 65), cookie)).Status);
    }

    [Fact]
    public async Task Debug_Drift_ShowsTheDetectorsPerColumnResult_ForTheStableVersionsSampledInputs()
    {
        var (model, deployments) = await DeployAsync("drift", 1);
        var d = deployments[0];
        var csv = new StringBuilder("x,c\n");
        for (var i = 0; i < 100; i++)
        {
            csv.Append(CultureInfo.InvariantCulture, $"{i},{(i % 2 == 0 ? "a" : "b")}\n");
        }
        var dataset = await Server.UploadAsync(Encoding.UTF8.GetBytes(csv.ToString()));
        await Server.Api().SetDriftBaselineAsync(model, "1.0.0", new DriftBaselineRequest(dataset, ["x", "c"]));
        var now = Server.Time.GetUtcNow().UtcDateTime;
        var samples = Server.App.Services.GetRequiredService<InputSamples>();
        // x shifted far above the reference (0–99); c drawn from the same two categories.
        samples.AddTensorRows(d, "1.0.0", now - TimeSpan.FromMinutes(5), new Dictionary<string, Array>
        {
            ["x"] = Enumerable.Range(0, 40).Select(i => 500f + i).ToArray(), ["c"] = Enumerable.Range(0, 40).Select(i => i % 2 == 0 ? "a" : "b").ToArray(),
        }, 40);

        var html = await PageAsync($"/console/dashboards/debug?window=1h&deployment={d}");
        Assert.True(Has(html, "tr", "data-column=\"x\" data-flagged>"));
        Assert.True(Has(html, "tr", "data-column=\"c\">"));
        Assert.Contains("40 sampled rows against 100 reference rows", html);
        var features = Element(html, "table", "id=\"feature-rows\"");
        Assert.Equal(DashboardQueries.FeatureRowsShown, Regex.Matches(features, "<tr><th scope=\"row\">").Count);
        Assert.Contains("<td>539</td>", features);
    }

    [Fact]
    public async Task Dashboards_AreForUnscopedKeysWithRead_AScopedKeyIsRefused_SignedOutGoesToSignIn()
    {
        var (_, deployments) = await DeployAsync("scope", 1);
        var browser = Browser();
        var scoped = await Server.CreateKeyAsync(new CreateKeyRequest(ServerFixture.UniqueName("scoped"), [Roles.Viewer], Deployments: [deployments[0]]));
        var viewer = await Server.CreateKeyAsync(new CreateKeyRequest(ServerFixture.UniqueName("viewer"), [Roles.Viewer]));
        var scopedCookie = await SignInAsync(browser, scoped.Key!);
        var viewerCookie = await SignInAsync(browser, viewer.Key!);
        foreach (var path in new[] { "/console/dashboards", "/console/dashboards/executive", "/console/dashboards/on-call", "/console/dashboards/debug" })
        {
            var refused = await GetAsync(browser, path, scopedCookie);
            Assert.Equal(HttpStatusCode.Forbidden, refused.Status);
            Assert.DoesNotContain("availability-overall", refused.Body);
            var allowed = await GetAsync(browser, path, viewerCookie);
            Assert.Equal(HttpStatusCode.OK, allowed.Status);
            Assert.Contains("<a href=\"/console/dashboards\" aria-current=\"page\">Dashboards</a>", allowed.Body);
            using var signedOut = await browser.GetAsync(path);
            Assert.Equal(HttpStatusCode.Redirect, signedOut.StatusCode);
            Assert.Equal("/console/sign-in", signedOut.Headers.Location?.OriginalString);
        }
    }
}

public sealed class DashboardTests_Sqlite(SqliteServerFixture fixture) : DashboardTests(fixture), IClassFixture<SqliteServerFixture>;

public sealed class DashboardTests_Postgres(PostgresServerFixture fixture) : DashboardTests(fixture), IClassFixture<PostgresServerFixture>;
