using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using ModelGate.Client;
using ModelGate.Monitoring;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Monitoring;

/// <summary>Staging traffic (the staging verification's smoke, load and drill requests) raises no burn-rate, spike or drift alert.</summary>
public sealed class StagingTrafficAlertTests(AlertingServerFixture server) : IClassFixture<AlertingServerFixture>
{
    private const string Policy = """
        evaluated: { requirePlatformRun: false, requireIndependent: false, thresholds: [] }
        registered: { cardFields: [], requireLicense: false }
        """;

    [Fact]
    public async Task DriftedTraffic_OnStaging_RaisesNoAlert_OnDevelopment_Does()
    {
        var model = await AdultServing.RegisterAsync(server);
        var api = server.Api();
        await server.PutPolicyBelowFloorAsync(model, Policy);
        var suite = await server.UploadAsync("{\"name\":\"external\",\"task\":\"classification\"}"u8.ToArray());
        await api.StartEvaluationAsync(model, "1.0.0", new StartEvaluationRequest(suite, External: true, Metrics: new Dictionary<string, double> { ["roc_auc"] = 0.9 }));
        await api.TransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Evaluated, "setting up"));
        await api.TransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Registered, "setting up"));
        var train = await server.UploadAsync(await File.ReadAllBytesAsync(Path.Combine(AppContext.BaseDirectory, "fixtures", "datasets", "adult", "train.csv")));
        var inputs = AdultServing.TestSet.Value.ColumnNames.Where(c => c != "income").ToArray();
        using (var set = await server.Client().PutAsJsonAsync($"/api/v1/models/{model}/versions/1.0.0/drift-baseline", new { dataset = train, columns = inputs }))
        {
            Assert.True(set.IsSuccessStatusCode, await set.Content.ReadAsStringAsync());
        }
        var staging = await AdultServing.DeployAsync(server, model, new { stable = "1.0.0" }, DeploymentEnvironments.Staging);
        var development = await AdultServing.DeployAsync(server, model, new { stable = "1.0.0" });
        foreach (var deployment in new[] { staging, development })
        {
            for (var first = 0; first < 1000; first += 100)
            {
                using var response = await server.Client().PostAsync($"/v2/models/{deployment}/infer", new StringContent(AdultServing.Request(first, 100,
                    (column, _, value) => column == "age" ? (float.Parse(value, CultureInfo.InvariantCulture) + 30).ToString(CultureInfo.InvariantCulture) : value)
                    .ToJsonString(), Encoding.UTF8, "application/json"));
                Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
            }
        }

        await server.App.Services.GetRequiredService<Monitors>().EvaluateAsync(CancellationToken.None);

        Assert.Empty(await api.ListAlertsAsync(group: staging));
        Assert.Equal(AlertKinds.Drift, Assert.Single(await api.ListAlertsAsync("firing", development)).Kind);
    }
}
