using Microsoft.Extensions.Options;
using ModelGate.Gateway;
using ModelGate.Hosting;
using ModelGate.Security;
using StackExchange.Redis;

namespace ModelGate.Redis;

/// <summary>
/// Tells the other replicas, through Redis pub/sub, that keys were revoked (or their principal changed) or that a
/// deployment's routing changed, so that they act at once instead of when their key cache expires or their routing poll
/// comes round (both stay as the fallback). Called after the change committed; never waits for Redis: a failed publish is
/// counted and the fallback carries the change. Without Redis, does nothing.
/// </summary>
public sealed class ClusterPush(RedisConnection? redis, IOptions<ServerOptions> server)
{
    public const string KeysChannel = "keys";
    public const string RoutingChannel = "routing";

    /// <summary>The replica that sends a message, before this separator: it has applied the change itself.</summary>
    public const char Separator = '|';

    /// <summary>Keys (key ids, or <c>principals/{id}</c> for all of a principal's keys) whose cached validations must go.</summary>
    public void KeysChanged(string? subject) => Publish(KeysChannel, subject ?? "*");

    /// <summary>A deployment whose routing table changed (or that was created).</summary>
    public void RoutingChanged(string deployment) => Publish(RoutingChannel, deployment);

    private void Publish(string channel, string subject)
    {
        if (redis is not null)
        {
            _ = PublishAsync(redis, channel, subject);
        }
    }

    private async Task PublishAsync(RedisConnection connection, string channel, string subject)
    {
        try
        {
            await connection.Connected().GetSubscriber().PublishAsync(connection.Channel(channel), server.Value.Replica + Separator + subject)
                .WaitAsync(connection.Options.Timeout, TimeProvider.System);
        }
        catch (Exception e) when (RedisConnection.IsFailure(e))
        {
            connection.Failed(RedisOperations.Publish, e);
        }
    }
}

/// <summary>
/// Every replica's listener for <see cref="ClusterPush"/>: drops its cached key validations, or reloads its routing tables,
/// as soon as another replica says something changed. After a lost connection is restored it does both once, since what
/// was published meanwhile never arrived.
/// </summary>
public sealed partial class ClusterSubscriber(RedisConnection redis, ApiKeyService keys, RoutingSnapshots routes, IOptions<ServerOptions> server,
    ILogger<ClusterSubscriber> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        ConnectionMultiplexer multiplexer;
        try
        {
            multiplexer = await redis.ConnectedAsync().WaitAsync(stoppingToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogSubscribeFailed(logger, e);
            return;
        }
        redis.Restored += () =>
        {
            keys.InvalidateHere();
            Reload("*");
        };
        var subscriber = multiplexer.GetSubscriber();
        var keysChannel = redis.Channel(ClusterPush.KeysChannel);
        var routingChannel = redis.Channel(ClusterPush.RoutingChannel);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                // Registered here even while Redis is down: the connection subscribes again whenever it reconnects.
                await subscriber.SubscribeAsync(keysChannel, (_, message) =>
                {
                    if (FromElsewhere(message))
                    {
                        keys.InvalidateHere();
                    }
                });
                await subscriber.SubscribeAsync(routingChannel, (_, message) =>
                {
                    if (FromElsewhere(message))
                    {
                        Reload(message.ToString());
                    }
                });
                return;
            }
            catch (Exception e) when (RedisConnection.IsFailure(e))
            {
                redis.Failed(RedisOperations.Subscribe, e);
                await subscriber.UnsubscribeAllAsync(CommandFlags.FireAndForget);
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken);
            }
        }
    }

    private bool FromElsewhere(RedisValue message)
    {
        var text = message.ToString();
        var at = text.IndexOf(ClusterPush.Separator, StringComparison.Ordinal);
        return at < 0 || !text.AsSpan(0, at).SequenceEqual(server.Value.Replica);
    }

    private void Reload(string subject) => _ = Task.Run(async () =>
    {
        try
        {
            await routes.ReloadAsync(CancellationToken.None);
        }
        catch (Exception e)
        {
            LogReloadFailed(logger, e, subject); // the routing poll retries
        }
    });

    [LoggerMessage(Level = LogLevel.Warning, Message = "Subscribing to Redis changes failed; key caches expire and routing is polled instead")]
    private static partial void LogSubscribeFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reloading routing tables on a pushed change ({Message}) failed")]
    private static partial void LogReloadFailed(ILogger logger, Exception exception, string message);
}
