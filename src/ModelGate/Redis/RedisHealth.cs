using Microsoft.Extensions.Options;
using ModelGate.Client;
using ModelGate.Hosting;
using ModelGate.Monitoring;
using StackExchange.Redis;

namespace ModelGate.Redis;

/// <summary>
/// The leader's watch on Redis: every <see cref="AlertOptions.EvaluationInterval"/> it pings Redis and raises the alert
/// <c>redis_unavailable</c> while the ping fails (or requests' calls failed since the last look), and resolves it once
/// Redis answers again. Only the leader looks, so one outage is one alert; every replica still counts its own failures.
/// </summary>
public sealed class RedisHealth(RedisConnection redis, RedisFailures failures, AlertManager alerts, ILeadership leadership, TimeProvider time,
    IOptions<AlertOptions> options) : BackgroundService
{
    public const string AlertKey = "redis/unavailable";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.EvaluationInterval, time);
        var seen = failures.Total;
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                if (!leadership.IsLeader)
                {
                    continue;
                }
                try
                {
                    await EvaluateAsync(seen, stoppingToken);
                }
                catch (Exception e) when (e is Microsoft.EntityFrameworkCore.DbUpdateException or InvalidOperationException or TimeoutException)
                {
                    // Retried at the next tick.
                }
                seen = failures.Total;
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task EvaluateAsync(long seen, CancellationToken cancellationToken)
    {
        string? reason = null;
        try
        {
            await redis.Connected().GetDatabase().PingAsync().WaitAsync(redis.Options.Timeout, TimeProvider.System);
        }
        catch (Exception e) when (RedisConnection.IsFailure(e))
        {
            redis.Failed(RedisOperations.Ping, e);
            reason = e.Message;
        }
        if (reason is null)
        {
            await alerts.ResolveAsync(AlertKey, cancellationToken);
            return;
        }
        await alerts.RaiseAsync(AlertKey, "redis", AlertKinds.RedisUnavailable, AlertSeverities.Page,
            redis.Options.FailsClosed
                ? "Redis is unavailable: requests of keys with limits are refused (Redis:FailureMode=closed)"
                : "Redis is unavailable: each replica counts limits on its own (Redis:FailureMode=open)",
            new { reason, failures = failures.Total, failuresSinceLastLook = failures.Total - seen, failureMode = redis.Options.FailureMode },
            cancellationToken);
    }
}
