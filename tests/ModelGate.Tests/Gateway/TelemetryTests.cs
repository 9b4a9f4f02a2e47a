using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using ModelGate.Client;
using ModelGate.Gateway.Telemetry;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Gateway;

/// <summary>The data plane's in-memory telemetry and sampled inputs, through the real host (its own fixture: these tests move the clock).</summary>
public sealed class TelemetryTests(SqliteServerFixture server) : IClassFixture<SqliteServerFixture>
{
    [Fact]
    public async Task Metrics_CountRequestsAndErrors_PerVersionAndRoute_OverTheWindow()
    {
        var model = await AdultServing.RegisterAsync(server);
        var deployment = await AdultServing.DeployAsync(server, model,
            new { stable = "1.0.0", candidates = new[] { new { version = "1.1.0", weight = 30 } } });
        var client = server.Client();
        var body = AdultServing.Request(0, 1).ToJsonString();
        var served = new Dictionary<(string, string), int>();
        for (var i = 0; i < 200; i++)
        {
            using var response = await client.PostAsync($"/v2/models/{deployment}/infer", new StringContent(body, Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var key = (response.Headers.GetValues("x-modelgate-version").Single(), response.Headers.GetValues("x-modelgate-route").Single());
            served[key] = served.GetValueOrDefault(key) + 1;
        }
        // Five requests the model refuses (wrong datatype for age): client errors of whichever version was chosen.
        var wrong = AdultServing.Request(0, 1);
        wrong["inputs"]![0]!["datatype"] = "INT64";
        for (var i = 0; i < 5; i++)
        {
            using var response = await client.PostAsync($"/v2/models/{deployment}/versions/1.0.0/infer", new StringContent(wrong.ToJsonString(), Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        }

        var metrics = await server.Api().GetDeploymentMetricsAsync(deployment, "5m");
        Assert.Equal("5m", metrics.Window);
        foreach (var ((version, route), count) in served)
        {
            var series = metrics.Series.Single(s => s.Version == version && s.Route == route);
            Assert.Equal(count, series.Requests);
            Assert.Equal(0, series.Errors.Values.Sum());
            Assert.Equal(0, series.ErrorRate);
            Assert.Equal(count / 300.0, series.RequestsPerSecond, 9);
        }
        var pinned = metrics.Series.Single(s => s.Route == "pinned");
        Assert.Equal(5, pinned.Requests);
        Assert.Equal(5, pinned.Errors["client"]);
        Assert.Equal(0, pinned.ErrorRate); // the error rate counts server-side failures only
        Assert.Equal(200 + 5, metrics.Series.Sum(s => s.Requests));

        // Ten minutes later the five-minute window is empty, and the hour still holds everything.
        server.Time.Advance(TimeSpan.FromMinutes(10));
        var later = await server.Api().GetDeploymentMetricsAsync(deployment, "5m");
        Assert.All(later.Series, s => Assert.Equal(0, s.Requests));
        var hour = await server.Api().GetDeploymentMetricsAsync(deployment, "1h");
        Assert.Equal(205, hour.Series.Sum(s => s.Requests));
    }

    [Fact]
    public async Task Metrics_BadWindowOrUnknownDeployment_AreProblems()
    {
        var model = await AdultServing.RegisterAsync(server);
        var deployment = await AdultServing.DeployAsync(server, model, new { stable = "1.0.0" });
        var client = server.Client();
        foreach (var window in new[] { "5x", "0m", "2h", "-1m", "5" })
        {
            await ProblemAssert.IsProblem(await client.GetAsync($"/api/v1/deployments/{deployment}/metrics?window={window}"), HttpStatusCode.BadRequest,
                "validation_failed");
        }
        await ProblemAssert.IsProblem(await client.GetAsync("/api/v1/deployments/no-such-deployment/metrics"), HttpStatusCode.NotFound, "deployment_not_found");
        var viewer = await server.Api().CreateKeyAsync(new CreateKeyRequest("reader", ["viewer"]));
        Assert.Equal(HttpStatusCode.OK, (await server.Client(viewer.Key).GetAsync($"/api/v1/deployments/{deployment}/metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await server.Client("mg_wrong").GetAsync($"/api/v1/deployments/{deployment}/metrics")).StatusCode);
    }

    [Fact]
    public async Task InputSamples_KeepTheServedRows_PerVersion_ForTheDriftMonitor()
    {
        var model = await AdultServing.RegisterAsync(server);
        var deployment = await AdultServing.DeployAsync(server, model, new { stable = "1.0.0" });
        using var response = await server.Client().PostAsync($"/v2/models/{deployment}/infer",
            new StringContent(AdultServing.Request(10, 7).ToJsonString(), Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var samples = server.App.Services.GetRequiredService<InputSamples>();
        var (columns, rows) = samples.Read(deployment, "1.0.0", DateTime.MinValue);
        Assert.Equal(7, rows.Count);
        var table = AdultServing.TestSet.Value;
        foreach (var column in new[] { "age", "workclass", "hours_per_week", "native_country" })
        {
            var index = columns.ToList().IndexOf(column);
            Assert.True(index >= 0, $"column {column} is sampled");
            var expected = table.Strings(column).Skip(10).Take(7)
                .Select(v => AdultServing.Numeric.Contains(column) ? float.Parse(v, System.Globalization.CultureInfo.InvariantCulture).ToString("R", System.Globalization.CultureInfo.InvariantCulture) : v);
            Assert.Equal(expected, rows.Select(r => r.Values[index]));
        }
        Assert.Empty(samples.Read(deployment, "1.1.0", DateTime.MinValue).Rows);
    }

    [Fact]
    public void InputSamples_KeepTheMostRecentRows_TypedAsServed_AndReadThemAsText()
    {
        var samples = new InputSamples(Microsoft.Extensions.Options.Options.Create(new ModelGate.Gateway.GatewayOptions { InputSampleCapacity = 3 }));
        var t0 = new DateTime(2026, 11, 24, 5, 0, 0, DateTimeKind.Utc);
        // Two requests of two rows each: age (FP32, one NaN), n (INT64), country (BYTES).
        samples.AddTensorRows("d", "1.0.0", t0, new Dictionary<string, Array>
        {
            ["age"] = new[] { 39.5f, 0.1f }, ["n"] = new[] { 7L, -2L }, ["country"] = new[] { "Cuba", "Peru" },
        }, 2);
        samples.AddTensorRows("d", "1.0.0", t0.AddSeconds(1), new Dictionary<string, Array>
        {
            ["age"] = new[] { float.NaN, 1e-7f }, ["n"] = new[] { long.MaxValue, 0L }, ["country"] = new[] { "Chile", new string("Cuba") },
        }, 2);
        // Another shape for the same version is not mixed in: a different column set, and the same names with another type.
        samples.AddTensorRows("d", "1.0.0", t0.AddSeconds(2), new Dictionary<string, Array> { ["age"] = new[] { 1f } }, 1);
        samples.AddTensorRows("d", "1.0.0", t0.AddSeconds(2), new Dictionary<string, Array>
        {
            ["age"] = new[] { 1.0 }, ["n"] = new[] { 1L }, ["country"] = new[] { "x" },
        }, 1);

        var (columns, rows) = samples.Read("d", "1.0.0", DateTime.MinValue);

        Assert.Equal(["age", "country", "n"], columns);
        // Capacity 3: the oldest of the four rows is gone; oldest first; floats as "R" text, NaN as "".
        Assert.Equal([["0.1", "Peru", "-2"], ["", "Chile", "9223372036854775807"], ["1E-07", "Cuba", "0"]], rows.Select(r => r.Values));
        Assert.Equal([t0, t0.AddSeconds(1), t0.AddSeconds(1)], rows.Select(r => r.Time));
        Assert.Equal(2, samples.Read("d", "1.0.0", t0.AddSeconds(1)).Rows.Count);
        Assert.Empty(samples.Read("d", "2.0.0", DateTime.MinValue).Rows);

        samples.AddChat("c", "1.0.0", t0, 11, 20, 9, null);
        Assert.Equal(["11", "20", "9", ""], samples.Read("c", "1.0.0", DateTime.MinValue).Rows.Single().Values);
    }

    [Fact]
    public async Task UnknownDeploymentNames_AllShareOneSeries_SoCallersCannotGrowTheLabelSet()
    {
        var telemetry = server.App.Services.GetRequiredService<GatewayTelemetry>();
        var before = telemetry.Series.Count();
        var client = server.Client();
        for (var i = 0; i < 20; i++)
        {
            using var response = await client.PostAsync($"/v2/models/made-up-{i}/infer", new StringContent("{}", Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }
        Assert.True(telemetry.Series.Count() - before <= 1);
        var unrouted = telemetry.Series.Single(s => s.Deployment == GatewayTelemetry.Unrouted);
        Assert.True(unrouted.Totals().Errors[(int)ErrorClass.Client] >= 20);
    }
}
