using System.Net;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Redis;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Redis;

/// <summary><c>Redis:FailureMode=closed</c>: while Redis is down, requests of keys with limits are refused; others are served.</summary>
public sealed class RedisFailClosedTests(ClosedRedisReplicas replicas) : IClassFixture<ClosedRedisReplicas>
{
    [Fact]
    public async Task RedisStopped_ClosedMode_RefusesLimitedKeysWith429_AndServesAgainOnceItIsBack()
    {
        replicas.SkipIfUnavailable();
        await using var upstream = await StubChatUpstream.StartAsync();
        var deployment = await replicas.DeployAsync(upstream);
        var api = replicas.Control.Api();
        var limited = (await api.CreateKeyAsync(new CreateKeyRequest(ServerFixture.UniqueName("limited"), ["viewer"], RequestsPerMinute: 1000))).Key!;
        var unlimited = (await api.CreateKeyAsync(new CreateKeyRequest(ServerFixture.UniqueName("unlimited"), ["viewer"]))).Key!;
        foreach (var replica in replicas.Both)
        {
            using var served = await RedisReplicas.ChatAsync(replica, limited, deployment);
            Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        }

        await replicas.Redis.StopAsync();
        try
        {
            foreach (var replica in replicas.Both)
            {
                var failures = await replica.RedisFailuresAsync(RedisOperations.Check);
                using var refused = await RedisReplicas.ChatAsync(replica, limited, deployment);
                await ProblemAssert.IsProblem(refused, HttpStatusCode.TooManyRequests, ProblemCodes.LimitsUnavailable);
                Assert.Equal("1", refused.Headers.RetryAfter?.ToString());
                Assert.True(await replica.RedisFailuresAsync(RedisOperations.Check) > failures);
                using var free = await RedisReplicas.ChatAsync(replica, unlimited, deployment);
                Assert.Equal(HttpStatusCode.OK, free.StatusCode);
            }
        }
        finally
        {
            await replicas.RestartRedisAsync();
        }

        foreach (var replica in replicas.Both)
        {
            using var served = await RedisReplicas.ChatAsync(replica, limited, deployment);
            Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        }
    }
}
