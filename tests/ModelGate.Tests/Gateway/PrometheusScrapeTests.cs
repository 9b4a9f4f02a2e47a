using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Gateway;

/// <summary>
/// A real Prometheus server (Debian package <c>prometheus</c>, installed by <c>.ci/run</c>) scrapes the real binary's
/// <c>/metrics</c>; a PromQL query returns the per-version request rate. Skipped without the binary, except under CI.
/// </summary>
public sealed class PrometheusScrapeTests : IDisposable
{
    private readonly string _data = Directory.CreateTempSubdirectory("modelgate-prom-").FullName;

    public void Dispose() => Directory.Delete(_data, recursive: true);

    private static string? PrometheusBinary => new[] { "/usr/bin/prometheus", "/usr/local/bin/prometheus" }.FirstOrDefault(File.Exists);

    [Fact]
    public async Task Prometheus_ScrapesMetrics_AndPromQlReturnsThePerVersionRequestRate()
    {
        var ct = TestContext.Current.CancellationToken;
        if (PrometheusBinary is null)
        {
            const string reason = "prometheus is not installed (apt-get install prometheus, or run .ci/run)";
            Assert.False(PostgresServerFixture.Required, reason);
            Assert.Skip(reason);
        }
        await using var server = await ServerProcess.StartAsync(Path.Combine(_data, "mg"));
        var key = server.AdminKey!;
        var api = ModelGateClient.Create(server.BaseAddress, key);
        await api.CreateModelAsync(new CreateModelRequest("scraped", "o", "low", "classification"), ct);
        foreach (var (version, onnx) in new[] { ("1.0.0", "v1-logreg"), ("1.1.0", "v2-mlp") })
        {
            var bytes = Fixtures.ModelBytes(onnx);
            var sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));
            await api.PushArtifactAsync(new MemoryStream(bytes), sha, ct: ct);
            await api.CreateVersionAsync("scraped", new CreateVersionRequest(version, [new ArtifactRef(sha, onnx + ".onnx")],
                Fixtures.Attestation()), ct);
        }
        await api.CreateDeploymentAsync(new CreateDeploymentRequest("scraped-dev", "development", "scraped",
            new RoutingTable("1.0.0", [new CandidateRoute("1.1.0", 25)])), ct);

        var port = FreePort();
        var config = Path.Combine(_data, "prometheus.yml");
        await File.WriteAllTextAsync(config, $"""
            global:
              scrape_interval: 1s
            scrape_configs:
              - job_name: modelgate
                authorization:
                  credentials: {key}
                static_configs:
                  - targets: ["{server.BaseAddress.Authority}"]
            """, ct);
        using var prometheus = Process.Start(new ProcessStartInfo(PrometheusBinary!)
        {
            ArgumentList = { $"--config.file={config}", $"--storage.tsdb.path={Path.Combine(_data, "tsdb")}", $"--web.listen-address=127.0.0.1:{port}" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        prometheus.OutputDataReceived += (_, _) => { };
        prometheus.ErrorDataReceived += (_, _) => { };
        prometheus.BeginOutputReadLine();
        prometheus.BeginErrorReadLine();
        try
        {
            using var http = new HttpClient { BaseAddress = server.BaseAddress };
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
            var body = AdultServing.Request(0, 1).ToJsonString();
            var served = new Dictionary<string, int>();
            using var prom = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
            var deadline = DateTime.UtcNow.AddSeconds(60);
            Dictionary<string, double> rates = [];
            // Keep traffic flowing until Prometheus has at least two scrapes showing it for both versions.
            while (DateTime.UtcNow < deadline && !(rates.Count == 2 && rates.Values.All(r => r > 0)))
            {
                for (var i = 0; i < 40; i++)
                {
                    using var response = await http.PostAsync("v2/models/scraped-dev/infer", new StringContent(body, Encoding.UTF8, "application/json"), ct);
                    Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                    var version = response.Headers.GetValues("x-modelgate-version").Single();
                    served[version] = served.GetValueOrDefault(version) + 1;
                }
                await Task.Delay(250, ct);
                rates = await QueryAsync(prom, "sum by (version) (rate(modelgate_gateway_requests_total{deployment=\"scraped-dev\"}[10s]))", ct);
            }
            Assert.Equal(["1.0.0", "1.1.0"], rates.Keys.Order());
            Assert.All(rates.Values, r => Assert.True(r > 0));
            // The counters Prometheus holds never exceed what was sent, and the stable version carries most of the traffic.
            var totals = await QueryAsync(prom, "sum by (version) (modelgate_gateway_requests_total{deployment=\"scraped-dev\"})", ct);
            Assert.All(totals, t => Assert.InRange(t.Value, 1, served[t.Key]));
            Assert.True(rates["1.0.0"] > rates["1.1.0"]);
        }
        finally
        {
            prometheus.Kill(entireProcessTree: true);
            await prometheus.WaitForExitAsync(CancellationToken.None);
        }
    }

    private static async Task<Dictionary<string, double>> QueryAsync(HttpClient prom, string query, CancellationToken ct)
    {
        try
        {
            using var doc = await prom.GetFromJsonAsync<JsonDocument>($"api/v1/query?query={Uri.EscapeDataString(query)}", ct);
            return doc!.RootElement.GetProperty("data").GetProperty("result").EnumerateArray().ToDictionary(
                r => r.GetProperty("metric").GetProperty("version").GetString()!,
                r => double.Parse(r.GetProperty("value")[1].GetString()!, System.Globalization.CultureInfo.InvariantCulture));
        }
        catch (HttpRequestException)
        {
            return []; // not up yet
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
