using Microsoft.Extensions.DependencyInjection;
using System.Diagnostics;
using System.Net;
using ModelGate.Client;
using ModelGate.Gateway;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Redis;

/// <summary>
/// Changes made on the control process reach the gateway replica through Redis pub/sub. The gateway's key cache and
/// routing poll are set to an hour and its clock is frozen, so nothing but the push can explain a change that arrives.
/// The delays printed are measured from the moment the control process's API call returned.
/// </summary>
public sealed class RedisPushTests(OpenRedisReplicas replicas, ITestOutputHelper output) : IClassFixture<OpenRedisReplicas>
{
    [Fact]
    public async Task KeyRevokedOnControl_IsRefusedByTheGateway_ByPush()
    {
        replicas.SkipIfUnavailable();
        var api = replicas.Control.Api();
        var key = await api.CreateKeyAsync(new CreateKeyRequest(ServerFixture.UniqueName("revoked"), ["viewer"]));
        using (var cached = await replicas.Gateway.Client(key.Key).GetAsync("/v1/models"))
        {
            Assert.Equal(HttpStatusCode.OK, cached.StatusCode); // validated, and cached for an hour
        }

        await api.RevokeKeyAsync(key.Id);
        var clock = Stopwatch.StartNew();
        var probes = 0;
        await RedisReplicas.UntilAsync(async () =>
        {
            probes++;
            using var response = await replicas.Gateway.Client(key.Key).GetAsync("/v1/models");
            return response.StatusCode == HttpStatusCode.Unauthorized;
        }, "the gateway refuses the revoked key");
        output.WriteLine($"revocation reached the gateway {clock.Elapsed.TotalMilliseconds:0.0} ms after the revoke returned ({probes} probes)");
        using var refused = await replicas.Gateway.Client(key.Key).GetAsync("/v1/models");
        await ProblemAssert.IsProblem(refused, HttpStatusCode.Unauthorized, "unauthenticated");
    }

    [Fact]
    public async Task RoutingChangedOnControl_IsServedByTheGateway_ByPush()
    {
        replicas.SkipIfUnavailable();
        await using var upstream = await StubChatUpstream.StartAsync();
        var deployment = await replicas.DeployAsync(upstream); // reaches the gateway by the creation's push
        Assert.Equal(TimeSpan.FromHours(1), replicas.Gateway.App.Services.GetRequiredService<RoutingSnapshots>().PollInterval);
        var api = replicas.Control.Api();
        using (var before = await RedisReplicas.ChatAsync(replicas.Gateway, ServerFixture.AdminKey, deployment))
        {
            Assert.Equal("1.0.0", before.Headers.GetValues(InferenceProtocolApi.VersionHeader).Single());
        }

        var routing = (await api.GetDeploymentAsync(deployment)).Routing;
        await api.SetRoutingAsync(deployment, routing with { Stable = "1.1.0" });
        var clock = Stopwatch.StartNew();
        var probes = 0;
        await RedisReplicas.UntilAsync(async () =>
        {
            probes++;
            using var response = await RedisReplicas.ChatAsync(replicas.Gateway, ServerFixture.AdminKey, deployment);
            return response.Headers.GetValues(InferenceProtocolApi.VersionHeader).Single() == "1.1.0";
        }, "the gateway serves 1.1.0");
        output.WriteLine($"routing change reached the gateway {clock.Elapsed.TotalMilliseconds:0.0} ms after the change returned ({probes} probes)");
    }
}
