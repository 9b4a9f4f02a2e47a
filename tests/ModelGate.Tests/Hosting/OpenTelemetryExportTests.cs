using System.Net;
using System.Text;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Hosting;

/// <summary>With an OTLP endpoint configured, the real binary exports its traces and the gateway's metrics (a stand-in collector records them).</summary>
public sealed class OpenTelemetryExportTests : IDisposable
{
    private readonly string _data = Directory.CreateTempSubdirectory("modelgate-otel-").FullName;

    public void Dispose() => Directory.Delete(_data, recursive: true);

    [Fact]
    public async Task Otlp_ReceivesGatewayMetricsAndServerSpans()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var collector = await WebhookReceiver.StartAsync();
        var endpoint = collector.Url.Replace("/hooks/alerts", "", StringComparison.Ordinal);
        await using var server = await ServerProcess.StartAsync(_data, $"--OpenTelemetry:Endpoint={endpoint}", "--OpenTelemetry:ExportIntervalMilliseconds=300");
        var key = server.AdminKey!;
        var api = ModelGateClient.Create(server.BaseAddress, key);
        await api.CreateModelAsync(new CreateModelRequest("otel", "o", "low", "classification"), ct);
        var bytes = Fixtures.ModelBytes("v1-logreg");
        var sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));
        await api.PushArtifactAsync(new MemoryStream(bytes), sha, ct: ct);
        await api.CreateVersionAsync("otel", new CreateVersionRequest("1.0.0", [new ArtifactRef(sha, "v1-logreg.onnx")], Fixtures.Attestation()), ct);
        await api.CreateDeploymentAsync(new CreateDeploymentRequest("otel-dev", "development", "otel", new RoutingTable("1.0.0")), ct);
        using var http = new HttpClient { BaseAddress = server.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        for (var i = 0; i < 5; i++)
        {
            using var response = await http.PostAsync("v2/models/otel-dev/infer", new StringContent(AdultServing.Request(i, 1).ToJsonString(), Encoding.UTF8, "application/json"), ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        bool Seen(string path, string text) => collector.Requests.Any(r => r.Path == path && Encoding.UTF8.GetString(r.Body).Contains(text, StringComparison.Ordinal));
        // The exporter sends every 300 ms: each export is a chance to see both; a hundred exports without them is a failure.
        for (var exports = 0; exports < 100; exports++)
        {
            var arrived = collector.Arrived.Count;
            if (Seen("/v1/metrics", "modelgate.gateway.requests") && Seen("/v1/traces", "/v2/models/{name}/infer"))
            {
                break;
            }
            await collector.Arrived.WaitForAsync(arrived + 1);
        }
        // OTLP protobuf carries names and attribute values as plain strings.
        Assert.True(Seen("/v1/metrics", "modelgate.gateway.requests"), "no gateway metrics exported");
        Assert.True(Seen("/v1/metrics", "otel-dev"), "the deployment is an attribute of the exported metrics");
        Assert.True(Seen("/v1/traces", "/v2/models/{name}/infer"), "no server spans exported");
        Assert.All(collector.Requests, r => Assert.Equal("application/x-protobuf", r.Headers["content-type"]));
    }
}
