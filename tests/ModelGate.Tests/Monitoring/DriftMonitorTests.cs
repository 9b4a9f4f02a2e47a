using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using ModelGate.Client;
using ModelGate.Monitoring;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Monitoring;

/// <summary>
/// The drift monitor end to end: a train.csv baseline, traffic from test.csv through the gateway, the sampled inputs
/// compared with the baseline; shifted traffic alerts on exactly the shifted columns and calls the retrain webhook.
/// </summary>
public sealed class DriftMonitorTests(AlertingServerFixture server) : IClassFixture<AlertingServerFixture>
{
    private static readonly string[] Inputs = AdultServing.TestSet.Value.ColumnNames.Where(c => c != "income").ToArray();

    private async Task SendAsync(string deployment, Func<string, int, string, string>? shift)
    {
        var client = server.Client();
        for (var first = 0; first < 2000; first += 100)
        {
            using var response = await client.PostAsync($"/v2/models/{deployment}/infer",
                new StringContent(AdultServing.Request(first, 100, shift).ToJsonString(), Encoding.UTF8, "application/json"));
            Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task TestCsvTraffic_RaisesNothing_ShiftedTraffic_AlertsOnExactlyTheShiftedColumns()
    {
        var model = await AdultServing.RegisterAsync(server);
        var train = await server.UploadAsync(await File.ReadAllBytesAsync(Path.Combine(AppContext.BaseDirectory, "fixtures", "datasets", "adult", "train.csv")));
        using (var set = await server.Client().PutAsJsonAsync($"/api/v1/models/{model}/versions/1.0.0/drift-baseline", new { dataset = train, columns = Inputs }))
        {
            Assert.True(set.IsSuccessStatusCode, await set.Content.ReadAsStringAsync());
            Assert.Equal(32_561, (await set.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("rows").GetInt32());
        }
        var natural = await AdultServing.DeployAsync(server, model, new { stable = "1.0.0" });
        var shifted = await AdultServing.DeployAsync(server, model, new { stable = "1.0.0" });

        await ProblemAssert.IsProblem(await server.Client().GetAsync($"/api/v1/deployments/{natural}/drift"), HttpStatusCode.UnprocessableEntity, "not_enough_samples");
        await SendAsync(natural, null);
        await SendAsync(shifted, (column, row, value) => column switch
        {
            "age" => (float.Parse(value, CultureInfo.InvariantCulture) + 15).ToString(CultureInfo.InvariantCulture),
            "hours_per_week" => (float.Parse(value, CultureInfo.InvariantCulture) + 10).ToString(CultureInfo.InvariantCulture),
            "workclass" when row % 5 == 0 => "Interplanetary",
            "occupation" when row % 5 < 3 => "",
            _ => value,
        });

        var report = await server.Client().GetFromJsonAsync<JsonElement>($"/api/v1/deployments/{natural}/drift?window=1h");
        Assert.Equal(2000, report.GetProperty("report").GetProperty("windowRows").GetInt32());
        Assert.Empty(report.GetProperty("report").GetProperty("flaggedColumns").EnumerateArray());

        var (exit, output, _) = await server.CliAsync(["drift", "check", shifted]);
        Assert.Equal(ModelGate.Cli.ExitCodes.VerificationFailed, exit);
        Assert.Contains("flagged: age", output);
        Assert.Matches(@"workclass\s+JensenShannon", output);

        await server.App.Services.GetRequiredService<Monitors>().EvaluateAsync(CancellationToken.None);
        Assert.Empty(await server.Api().ListAlertsAsync(group: natural));
        var alert = Assert.Single(await server.Api().ListAlertsAsync("firing", shifted));
        Assert.Equal(AlertKinds.Drift, alert.Kind);
        var flagged = alert.Details.GetProperty("flagged").EnumerateArray().Select(c => c.GetString()).Order().ToList();
        Assert.Equal(["age", "hours_per_week", "occupation", "workclass"], flagged);
        var columns = alert.Details.GetProperty("report").GetProperty("columns").EnumerateArray().ToDictionary(c => c.GetProperty("column").GetString()!);
        var unseen = Assert.Single(columns["workclass"].GetProperty("unseenCategories").EnumerateArray());
        Assert.Equal(("Interplanetary", 400), (unseen.GetProperty("value").GetString(), unseen.GetProperty("count").GetInt64()));
        Assert.True(columns["occupation"].GetProperty("missingRateJump").GetBoolean());
        Assert.True(columns["age"].GetProperty("drifted").GetBoolean());

        // The retrain webhook got the report, signed.
        await server.FlushAlertDeliveriesAsync();
        var retrain = server.Receiver.Requests.FirstOrDefault(r => r.Path == "/hooks/retrain" && Encoding.UTF8.GetString(r.Body).Contains(shifted, StringComparison.Ordinal));
        Assert.NotNull(retrain);
        Assert.Equal(AlertManager.Sign(AlertingServerFixture.Secret, retrain.Body), retrain.Headers["x-modelgate-signature"]);
        Assert.Contains("\"flagged\"", Encoding.UTF8.GetString(retrain.Body));
    }
}
