using Microsoft.Extensions.DependencyInjection;
using System.Diagnostics;
using System.Net;
using ModelGate.Client;
using ModelGate.Redis;
using ModelGate.Tests.Infrastructure;
using StackExchange.Redis;

namespace ModelGate.Tests.Redis;

/// <summary>
/// A key's limits across two replicas sharing one Redis. Requests alternate between the replicas, one at a time. The
/// replicas' clocks are frozen (fake), so their own in-memory buckets never refill: without sharing, each would let the
/// whole limit through. The shared buckets run on Redis's clock, so the bounds allow what the elapsed real time refills.
/// The stand-in upstream reports prompt_tokens = len("hello")/4 = 1 and completion_tokens = len(answer)/4 = 49.
/// </summary>
public sealed class SharedLimitsTests(OpenRedisReplicas replicas, ITestOutputHelper output) : IClassFixture<OpenRedisReplicas>
{
    /// <summary>199 characters: 49 completion tokens as the stand-in counts them.</summary>
    private static readonly string Answer = string.Join(' ', Enumerable.Repeat("word", 40));
    private const long TokensPerCall = 5 / 4 + 199 / 4;

    private async Task<(List<(string Replica, HttpStatusCode Status, string? Code)> Results, TimeSpan Elapsed, double OpsPerRequest)> AlternateAsync(
        string deployment, string key, int requests)
    {
        var results = new List<(string, HttpStatusCode, string?)>();
        await ResetCommandStatsAsync();
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < requests; i++)
        {
            var replica = replicas.Both[i % 2];
            using var response = await RedisReplicas.ChatAsync(replica, key, deployment);
            string? code = null;
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                code = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("code").GetString();
                Assert.True(code != "rate_limited" || response.Headers.RetryAfter is not null, "a rate-limited 429 says when to retry");
            }
            results.Add((replica.Role, response.StatusCode, code));
        }
        var elapsed = clock.Elapsed;
        await replicas.Control.App.Services.GetRequiredService<ModelGate.Gateway.RequestLog>().FlushAsync(CancellationToken.None);
        var (calls, commands) = await CommandsAsync();
        output.WriteLine($"Redis per request: {calls / (double)requests:0.00} calls (scripts), {commands / (double)requests:0.00} commands run (inside scripts included)");
        return (results, elapsed, calls / (double)requests);
    }

    [Fact]
    public async Task RequestsPerMinute_AcrossTwoReplicas_LetThroughTheLimitOnce()
    {
        replicas.SkipIfUnavailable();
        await using var upstream = await StubChatUpstream.StartAsync();
        var deployment = await replicas.DeployAsync(upstream);
        const int rpm = 6;
        var key = await replicas.Control.Api().CreateKeyAsync(new CreateKeyRequest(ServerFixture.UniqueName("rpm"), ["viewer"], RequestsPerMinute: rpm));

        var (results, elapsed, ops) = await AlternateAsync(deployment, key.Key!, 3 * rpm);

        var ok = results.Count(r => r.Status == HttpStatusCode.OK);
        var refill = (int)Math.Ceiling(elapsed.TotalMinutes * rpm);
        output.WriteLine($"rpm {rpm}: {ok} of {results.Count} answered across both replicas in {elapsed.TotalSeconds:0.00} s " +
                         $"(bound {rpm} + {refill} refilled); Redis commands per request: {ops:0.00}");
        Assert.DoesNotContain(results, r => r.Status is not (HttpStatusCode.OK or HttpStatusCode.TooManyRequests));
        Assert.All(results.Where(r => r.Status == HttpStatusCode.TooManyRequests), r => Assert.Equal("rate_limited", r.Code));
        Assert.InRange(ok, rpm, rpm + refill);
        Assert.Contains(results, r => r.Replica == "gateway" && r.Status == HttpStatusCode.OK);
        Assert.Contains(results, r => r.Replica == "control" && r.Status == HttpStatusCode.OK);
    }

    [Fact]
    public async Task TokensPerMinute_AcrossTwoReplicas_HoldWithinOneRequestsUsage()
    {
        replicas.SkipIfUnavailable();
        await using var upstream = await StubChatUpstream.StartAsync();
        upstream.Answer = (_, _) => Answer;
        var deployment = await replicas.DeployAsync(upstream);
        const int tpm = 200;
        var key = await replicas.Control.Api().CreateKeyAsync(new CreateKeyRequest(ServerFixture.UniqueName("tpm"), ["viewer"], TokensPerMinute: tpm));
        var before = upstream.Requests.Count;

        var (results, elapsed, ops) = await AlternateAsync(deployment, key.Key!, 16);

        var calls = upstream.Requests.Count - before;
        var used = calls * TokensPerCall;
        // A request passes while at least one token is left, so the last one may use a whole call's tokens past the limit.
        var bound = tpm + TokensPerCall + (long)Math.Ceiling(elapsed.TotalMinutes * tpm);
        output.WriteLine($"tpm {tpm}: {calls} calls used {used} tokens across both replicas in {elapsed.TotalSeconds:0.00} s " +
                         $"(bound {bound}; the replicas on their own would allow {2 * (tpm / TokensPerCall)} calls); Redis commands per request: {ops:0.00}");
        Assert.Equal(results.Count(r => r.Status == HttpStatusCode.OK), calls);
        Assert.All(results.Where(r => r.Status != HttpStatusCode.OK), r => Assert.Equal("rate_limited", r.Code));
        Assert.InRange(used, 1, bound);
    }

    [Fact]
    public async Task Budget_AcrossTwoReplicas_HoldsWithinOneRequestsCost()
    {
        replicas.SkipIfUnavailable();
        await using var upstream = await StubChatUpstream.StartAsync();
        upstream.Answer = (_, _) => Answer;
        const double pricePer1K = 1.0;
        var deployment = await replicas.DeployAsync(upstream, pricePer1K);
        const double budget = 0.2;
        var key = await replicas.Control.Api().CreateKeyAsync(new CreateKeyRequest(ServerFixture.UniqueName("budget"), ["viewer"], CostBudget: budget));
        var before = upstream.Requests.Count;

        var (results, _, ops) = await AlternateAsync(deployment, key.Key!, 16);

        var calls = upstream.Requests.Count - before;
        var costPerCall = TokensPerCall / 1000.0 * pricePer1K;
        var spent = calls * costPerCall;
        // A request is let through while spent plus reserved is below the budget: at most one call's cost past it.
        var bound = budget + costPerCall;
        output.WriteLine($"budget {budget}: {calls} calls spent {spent:0.####} across both replicas (bound {bound:0.####}; the replicas on their own " +
                         $"would allow {2 * budget / costPerCall:0} calls); Redis commands per request: {ops:0.00}");
        Assert.Equal(results.Count(r => r.Status == HttpStatusCode.OK), calls);
        Assert.All(results.Where(r => r.Status != HttpStatusCode.OK), r => Assert.Equal("budget_exhausted", r.Code));
        Assert.InRange(spent, costPerCall, bound + 1e-9);
    }

    [Fact]
    public async Task RedisStopped_OpenMode_ServesOnEachReplicasOwnLimits_CountsAndAlerts_ThenSharesAgain()
    {
        replicas.SkipIfUnavailable();
        await using var upstream = await StubChatUpstream.StartAsync();
        var deployment = await replicas.DeployAsync(upstream);
        var roomy = (await replicas.Control.Api().CreateKeyAsync(new CreateKeyRequest(ServerFixture.UniqueName("roomy"), ["viewer"], RequestsPerMinute: 1000))).Key!;
        var failures = new Dictionary<string, long>();
        foreach (var replica in replicas.Both)
        {
            using var shared = await RedisReplicas.ChatAsync(replica, roomy, deployment);
            Assert.Equal(HttpStatusCode.OK, shared.StatusCode);
            failures[replica.Role] = await replica.RedisFailuresAsync(RedisOperations.Check);
        }

        await replicas.Redis.StopAsync();
        try
        {
            foreach (var replica in replicas.Both)
            {
                for (var i = 0; i < 3; i++)
                {
                    using var response = await RedisReplicas.ChatAsync(replica, roomy, deployment);
                    Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                }
                var now = await replica.RedisFailuresAsync(RedisOperations.Check);
                output.WriteLine($"{replica.Role}: check failures {failures[replica.Role]} -> {now}");
                Assert.True(now >= failures[replica.Role] + 3, $"{replica.Role} counted {now - failures[replica.Role]} failed checks for 3 requests");
            }
            // The leader's look at Redis (each Alerts:EvaluationInterval) raises the alert.
            replicas.Control.Time.Advance(TimeSpan.FromDays(1));
            await RedisReplicas.UntilAsync(async () => (await replicas.Control.Api().ListAlertsAsync("firing")).Any(a => a.Kind == AlertKinds.RedisUnavailable),
                "the leader raises redis_unavailable");
        }
        finally
        {
            await replicas.RestartRedisAsync();
        }

        // Shared again: a key of 2 requests a minute gets 2 answers across both replicas, not 2 on each.
        var tight = (await replicas.Control.Api().CreateKeyAsync(new CreateKeyRequest(ServerFixture.UniqueName("tight"), ["viewer"], RequestsPerMinute: 2))).Key!;
        var statuses = new List<HttpStatusCode>();
        foreach (var replica in (RedisReplica[])[replicas.Control, replicas.Gateway, replicas.Control, replicas.Gateway])
        {
            using var response = await RedisReplicas.ChatAsync(replica, tight, deployment);
            statuses.Add(response.StatusCode);
        }
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests, HttpStatusCode.TooManyRequests], statuses);
        replicas.Control.Time.Advance(TimeSpan.FromDays(1));
        await RedisReplicas.UntilAsync(async () => !(await replicas.Control.Api().ListAlertsAsync("firing")).Any(a => a.Kind == AlertKinds.RedisUnavailable),
            "the leader resolves redis_unavailable");
    }

    [Fact]
    public async Task RedisTooSlow_OpenMode_AnswersWithoutWaitingForIt()
    {
        replicas.SkipIfUnavailable();
        await using var upstream = await StubChatUpstream.StartAsync();
        var deployment = await replicas.DeployAsync(upstream);
        var key = (await replicas.Control.Api().CreateKeyAsync(new CreateKeyRequest(ServerFixture.UniqueName("slow"), ["viewer"], RequestsPerMinute: 1000))).Key!;
        var failures = await replicas.Control.RedisFailuresAsync(RedisOperations.Check);
        await using var admin = await ConnectionMultiplexer.ConnectAsync(replicas.Redis.Configuration + ",allowAdmin=true");

        // Redis takes no write (scripts included) for 30 s; a SET sent now answers only when the pause ends. (PAUSE ALL would
        // hold the UNPAUSE too.)
        await using var probe = await ConnectionMultiplexer.ConnectAsync(replicas.Redis.Configuration);
        await admin.GetServers()[0].ExecuteAsync("CLIENT", "PAUSE", "30000", "WRITE");
        var pong = probe.GetDatabase().StringSetAsync(ServerFixture.UniqueName("probe"), "1");
        var clock = Stopwatch.StartNew();
        using var response = await RedisReplicas.ChatAsync(replicas.Control, key, deployment);
        var answeredIn = clock.Elapsed;
        var stillPaused = !pong.IsCompleted;
        await admin.GetServers()[0].ExecuteAsync("CLIENT", "UNPAUSE");

        output.WriteLine($"answered in {answeredIn.TotalMilliseconds:0} ms while Redis was paused (Redis:Timeout 250 ms)");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(stillPaused, "the answer came before Redis took commands again");
        Assert.True(await replicas.Control.RedisFailuresAsync(RedisOperations.Check) > failures, "the timed-out check is counted");
    }

    private async Task ResetCommandStatsAsync()
    {
        await using var admin = await ConnectionMultiplexer.ConnectAsync(replicas.Redis.Configuration + ",allowAdmin=true");
        await admin.GetServers()[0].ConfigResetStatisticsAsync();
    }

    /// <summary>
    /// What the replicas asked of Redis since the last reset: calls (scripts and publishes: each one round trip) and the
    /// commands Redis ran for them (the commands inside scripts included), not counting the test's own and the connections'
    /// housekeeping.
    /// </summary>
    private async Task<(long Calls, long Commands)> CommandsAsync()
    {
        await using var admin = await ConnectionMultiplexer.ConnectAsync(replicas.Redis.Configuration + ",allowAdmin=true");
        var stats = await admin.GetServers()[0].InfoAsync("commandstats");
        long calls = 0, commands = 0;
        foreach (var pair in stats.SelectMany(g => g))
        {
            var command = pair.Key.Replace("cmdstat_", "", StringComparison.Ordinal);
            if (command.StartsWith("config", StringComparison.Ordinal) || command.StartsWith("client", StringComparison.Ordinal)
                || command.StartsWith("cluster", StringComparison.Ordinal) || command is "info" or "ping" or "echo" or "subscribe" or "hello" or "quit")
            {
                continue;
            }
            var count = long.Parse(pair.Value.Split(',')[0].Split('=')[1], System.Globalization.CultureInfo.InvariantCulture);
            output.WriteLine($"  {command}: {count}");
            commands += count;
            calls += command is "evalsha" or "eval" or "publish" ? count : 0;
        }
        return (calls, commands);
    }
}
