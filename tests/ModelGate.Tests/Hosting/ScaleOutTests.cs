using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using ModelGate.Client;
using ModelGate.Gateway.Telemetry;
using ModelGate.Tests.Infrastructure;
using Xunit;

namespace ModelGate.Tests.Hosting;

/// <summary>
/// Issue 20's proof on this machine: control × 2 (leader and standby) and gateway × 2 as real processes on one PostgreSQL
/// database and one Redis server. The key cache and the routing poll are set to ten minutes, so that a revocation or a
/// routing change that reaches a gateway at all reached it by Redis's push.
/// </summary>
public sealed class ScaleOutClusterFixture : IAsyncLifetime
{
    private ProcessCluster? _cluster;
    private string? _skip;

    public async ValueTask InitializeAsync()
    {
        (_cluster, _skip) = await ProcessCluster.CreateAsync(redis: true,
            "--Security:KeyCacheDuration=00:10:00", "--Gateway:RoutingPollInterval=00:10:00");
        if (_cluster is null)
        {
            return;
        }
        await _cluster.StartAsync("control", "control-a");
        await _cluster.StartAsync("control", "control-b");
        await _cluster.StartAsync("gateway", "gateway-a");
        await _cluster.StartAsync("gateway", "gateway-b");
    }

    public async ValueTask DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }

    public ProcessCluster Cluster
    {
        get
        {
            Assert.SkipWhen(_skip is not null, _skip ?? "");
            return _cluster!;
        }
    }
}

public sealed class ScaleOutSharingTests(ScaleOutClusterFixture fixture, ITestOutputHelper output) : IClassFixture<ScaleOutClusterFixture>
{
    private ProcessCluster Cluster => fixture.Cluster;

    [Fact]
    public async Task RequestsPerMinute_HoldAcrossBothGateways()
    {
        var cluster = Cluster;
        var model = await ProcessCluster.RegisterAsync(cluster["control-a"], ("1.0.0", "v1-logreg"));
        var deployment = await DeployAsync(cluster, cluster["control-a"], model, "1.0.0");
        const int rpm = 100;
        var key = await ProcessCluster.Api(cluster["control-a"]).CreateKeyAsync(new CreateKeyRequest("rpm-caller", ["viewer"],
            Deployments: [deployment], RequestsPerMinute: rpm));
        var gateways = new[] { ProcessCluster.Client(cluster["gateway-a"], key.Key), ProcessCluster.Client(cluster["gateway-b"], key.Key) };

        var answered = new int[2];
        var refused = 0;
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < 3 * rpm; i++)
        {
            var (status, _) = await ProcessCluster.InferAsync(gateways[i % 2], deployment, i);
            if (status == 200)
            {
                answered[i % 2]++;
            }
            else
            {
                Assert.Equal(429, status);
                refused++;
            }
        }
        var elapsed = clock.Elapsed;
        // The bucket starts full (rpm) and refills at rpm per minute: what the elapsed time refilled is the only slack.
        var bound = rpm + (int)Math.Ceiling(elapsed.TotalMinutes * rpm);
        ProcessCluster.Report(output, $"answered {answered[0]} + {answered[1]} = {answered.Sum()} of {3 * rpm} in {elapsed.TotalSeconds:0.0} s (bound {bound}); refused {refused}");
        Assert.InRange(answered.Sum(), rpm, bound);
        Assert.True(answered[0] > 0 && answered[1] > 0, "both gateways answered some");
    }

    [Fact]
    public async Task Revocation_OnTheControlProcess_IsRefusedByBothGateways_ByPush()
    {
        var cluster = Cluster;
        var model = await ProcessCluster.RegisterAsync(cluster["control-a"], ("1.0.0", "v1-logreg"));
        var deployment = await DeployAsync(cluster, cluster["control-a"], model, "1.0.0");
        var api = ProcessCluster.Api(cluster["control-a"]);
        var key = await api.CreateKeyAsync(new CreateKeyRequest("revoked-caller", ["viewer"], Deployments: [deployment]));
        var gateways = new[] { ProcessCluster.Client(cluster["gateway-a"], key.Key), ProcessCluster.Client(cluster["gateway-b"], key.Key) };
        foreach (var gateway in gateways)
        {
            Assert.Equal(200, (await ProcessCluster.InferAsync(gateway, deployment, 1)).Status); // cached for ten minutes from here
        }

        await api.RevokeKeyAsync(key.Id);
        var clock = Stopwatch.StartNew();
        // Both gateways are watched at once, each answer timed from the revocation's return.
        var refusedAfter = await Task.WhenAll(gateways.Select(async (gateway, g) =>
        {
            await ProcessCluster.WaitForAsync(async () => (await ProcessCluster.InferAsync(gateway, deployment, 2)).Status == 401,
                TimeSpan.FromSeconds(30), $"gateway {g} to refuse the revoked key");
            return clock.Elapsed;
        }));
        ProcessCluster.Report(output, $"revocation refused by gateway-a after {refusedAfter[0].TotalMilliseconds:0} ms, gateway-b after {refusedAfter[1].TotalMilliseconds:0} ms (key cache: 10 min)");
    }

    [Fact]
    public async Task RoutingChange_IsServedByBothGateways_ByPush()
    {
        var cluster = Cluster;
        var model = await ProcessCluster.RegisterAsync(cluster["control-a"], ("1.0.0", "v1-logreg"), ("1.1.0", "v2-mlp"));
        var deployment = await DeployAsync(cluster, cluster["control-a"], model, "1.0.0");
        var gateways = new[] { ProcessCluster.Client(cluster["gateway-a"]), ProcessCluster.Client(cluster["gateway-b"]) };
        foreach (var gateway in gateways)
        {
            Assert.Equal("1.0.0", await ServedVersionAsync(gateway, deployment));
        }

        // The first change loads 1.1.0's ONNX model on each gateway; the change back finds both loaded (the push alone).
        var first = await ChangeAndWaitAsync(cluster, gateways, deployment, "1.1.0");
        var back = await ChangeAndWaitAsync(cluster, gateways, deployment, "1.0.0");
        ProcessCluster.Report(output, $"routing change served by gateway-a after {first[0].TotalMilliseconds:0} ms, gateway-b after {first[1].TotalMilliseconds:0} ms " +
            $"(a version new to them: its model loaded); the change back after {back[0].TotalMilliseconds:0} and {back[1].TotalMilliseconds:0} ms (routing poll: 10 min)");
    }

    [Fact]
    public async Task Canary_SplitAcrossBothGateways_IsJudgedOnTheCombinedCounts()
    {
        var cluster = Cluster;
        var model = await ProcessCluster.RegisterAsync(cluster["control-a"], ("1.0.0", "v1-logreg"), ("1.0.1", "v1-logreg"));
        var deployment = await DeployAsync(cluster, cluster["control-a"], model, "1.0.0");
        var api = ProcessCluster.Api(cluster["control-a"]);
        var rollout = await api.StartRolloutAsync(deployment, new StartRolloutRequest("1.0.1", Steps: [50], IntervalSeconds: 30, MinimumSamples: 1,
            MinimumRequests: 10, FailedCheckLimit: 5));
        var gateways = new[] { ProcessCluster.Client(cluster["gateway-a"]), ProcessCluster.Client(cluster["gateway-b"]) };
        const int requests = 80;
        var perGateway = new int[2];
        for (var i = 0; i < requests; i++)
        {
            Assert.Equal(200, (await ProcessCluster.InferAsync(gateways[i % 2], deployment, i)).Status);
            perGateway[i % 2]++;
        }
        // Both gateways' slots reach the store (each replica writes its own rows); then the analysis is due.
        // The probes DeployAsync sent (one per gateway at least) are traffic too: the request log says how many requests were served.
        long served = 0;
        await ProcessCluster.WaitForAsync(async () =>
            (served = await cluster.CountAsync("SELECT count(*) FROM request_logs WHERE \"Deployment\" = @d AND \"Version\" IS NOT NULL", ("d", deployment))) >= requests
            && await StoredRequestsAsync(cluster, deployment) == served, TimeSpan.FromSeconds(30), "both gateways' telemetry and request log to be written",
            () => $"request log {served}, stored slots {StoredRequestsAsync(cluster, deployment).GetAwaiter().GetResult()}");
        var replicas = await cluster.CountAsync("SELECT count(DISTINCT \"Replica\") FROM telemetry_slots WHERE \"Deployment\" = @d", ("d", deployment));
        Assert.Equal(2, replicas);
        var started = await api.GetRolloutAsync(deployment, rollout.Id);
        Assert.True(DateTime.UtcNow < started.NextCheckAt, "the traffic was written before the first analysis was due");

        RolloutDto judged = started;
        await ProcessCluster.WaitForAsync(async () => (judged = await api.GetRolloutAsync(deployment, rollout.Id)).Analyses is { Count: > 0 },
            TimeSpan.FromSeconds(90), "the first analysis");
        var analysis = judged.Analyses![0];
        var stored = await cluster.QueryAsync("SELECT \"Replica\", \"Version\", \"Slot\", \"Payload\" FROM telemetry_slots WHERE \"Deployment\" = @d ORDER BY 1, 2, 3",
            r => { var l = new List<string>(); while (r.Read()) { l.Add($"{r.GetString(0)} {r.GetString(1)} {r.GetInt64(2)} {r.GetString(3)[..Math.Min(40, r.GetString(3).Length)]}"); } return l; }, ("d", deployment));
        output.WriteLine(string.Join("\n", stored));
        output.WriteLine($"rollout started {started.StartedAt:O}, analysis at {analysis.At:O}");
        ProcessCluster.Report(output, $"analysis: {analysis.Outcome}, stable {analysis.StableRequests} + candidate {analysis.CandidateRequests}; per gateway {perGateway[0]}, {perGateway[1]}");
        // The judge reads the whole 10-second slots of its interval (from the analysis's time less intervalSeconds, which is
        // the rollout's start slot or, when the analysis ran late, a later one): the requests the request log holds in those
        // slots, from both gateways, per version.
        var first = GatewayTelemetry.SlotOf(analysis.At - TimeSpan.FromSeconds(30));
        var last = GatewayTelemetry.SlotOf(analysis.At);
        var logged = await cluster.QueryAsync("SELECT \"Version\", \"Time\" FROM request_logs WHERE \"Deployment\" = @d AND \"Version\" IS NOT NULL",
            r => { var l = new List<(string Version, DateTime Time)>(); while (r.Read()) { l.Add((r.GetString(0), r.GetDateTime(1))); } return l; }, ("d", deployment));
        long Judged(string version) => logged.Count(l => l.Version == version && GatewayTelemetry.SlotOf(l.Time) >= first && GatewayTelemetry.SlotOf(l.Time) <= last);
        Assert.Equal(Judged("1.0.0"), analysis.StableRequests);
        Assert.Equal(Judged("1.0.1"), analysis.CandidateRequests);
        // More than either gateway served: the judge counted both.
        Assert.True(analysis.StableRequests + analysis.CandidateRequests > perGateway.Max());
    }

    private static async Task<TimeSpan[]> ChangeAndWaitAsync(ProcessCluster cluster, HttpClient[] gateways, string deployment, string version)
    {
        await ProcessCluster.Api(cluster["control-a"]).SetRoutingAsync(deployment, new RoutingTable(version));
        var clock = Stopwatch.StartNew();
        return await Task.WhenAll(gateways.Select(async (gateway, g) =>
        {
            await ProcessCluster.WaitForAsync(async () => await ServedVersionAsync(gateway, deployment) == version,
                TimeSpan.FromSeconds(30), $"gateway {g} to serve {version}");
            return clock.Elapsed;
        }));
    }

    internal static Task<long> StoredRequestsAsync(ProcessCluster cluster, string deployment) =>
        cluster.QueryAsync("SELECT \"Payload\" FROM telemetry_slots WHERE \"Deployment\" = @d AND NOT \"Shadow\"", r =>
        {
            long total = 0;
            while (r.Read())
            {
                total += JsonDocument.Parse(r.GetString(0)).RootElement.GetProperty("requests").GetInt64();
            }
            return total;
        }, ("d", deployment));

    /// <summary>Creates a deployment on <paramref name="control"/> and waits until every gateway of the cluster serves it (one probe request each, at least).</summary>
    internal static async Task<string> DeployAsync(ProcessCluster cluster, ServerProcess control, string model, string stable)
    {
        var name = ServerFixture.UniqueName("dep");
        using var response = await ProcessCluster.Client(control).PostAsJsonAsync("/api/v1/deployments",
            new { name, environment = "development", model, routing = new { stable } });
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        foreach (var (replica, process) in cluster.Gateways.Where(p => !p.Value.HasExited))
        {
            var client = ProcessCluster.Client(process);
            await ProcessCluster.WaitForAsync(async () => await ServedVersionAsync(client, name) == stable, TimeSpan.FromSeconds(30),
                $"{replica} to serve the new deployment");
        }
        return name;
    }

    internal static async Task<string?> ServedVersionAsync(HttpClient gateway, string deployment)
    {
        using var content = new StringContent(AdultServing.Request(0, 1).ToJsonString(), System.Text.Encoding.UTF8, "application/json");
        using var response = await gateway.PostAsync($"/v2/models/{deployment}/infer", content);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            return null;
        }
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("model_version").GetString();
    }
}
