using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace ModelGate.Redis;

/// <summary>
/// The process's one connection to Redis, opened in the background: start-up never waits for it, and a Redis that cannot
/// be reached at start is an outage like any other (calls fail, are counted and degrade as configured), not a crash.
/// Commands fail at once while disconnected (no backlog), so a request never waits for a reconnection and an old limit
/// check is never replayed after one.
/// </summary>
public sealed partial class RedisConnection : IAsyncDisposable
{
    private readonly Task<ConnectionMultiplexer> _connecting;
    private readonly RedisFailures _failures;
    private readonly ILogger<RedisConnection> _logger;

    public RedisConnection(IOptions<RedisOptions> options, RedisFailures failures, ILogger<RedisConnection> logger)
    {
        Options = options.Value;
        _failures = failures;
        _logger = logger;
        var configuration = ConfigurationOptions.Parse(Options.Configuration);
        configuration.AbortOnConnectFail = false;
        configuration.BacklogPolicy = BacklogPolicy.FailFast;
        configuration.ClientName ??= "modelgate";
        _connecting = Task.Run(async () =>
        {
            var multiplexer = await ConnectionMultiplexer.ConnectAsync(configuration);
            multiplexer.ConnectionFailed += (_, e) => LogConnectionFailed(logger, e.EndPoint?.ToString(), e.FailureType.ToString(), e.Exception?.GetBaseException().Message);
            multiplexer.ConnectionRestored += (_, e) =>
            {
                LogConnectionRestored(logger, e.EndPoint?.ToString());
                Restored?.Invoke();
            };
            return multiplexer;
        });
    }

    public RedisOptions Options { get; }

    /// <summary>Raised when a lost connection is back: what was published meanwhile never arrived.</summary>
    public event Action? Restored;

    /// <summary>The connection once it exists (connected or still retrying), or null while the first attempt runs.</summary>
    public ConnectionMultiplexer? Multiplexer => _connecting.IsCompletedSuccessfully ? _connecting.Result : null;

    /// <summary>The connection, or <see cref="RedisException"/> while the first attempt runs.</summary>
    public ConnectionMultiplexer Connected() => Multiplexer ?? throw new RedisException("Redis is still being connected");

    /// <summary>Waits for the first connection attempt to end (connected or not); for background work, never for requests.</summary>
    public Task<ConnectionMultiplexer> ConnectedAsync() => _connecting;

    public RedisKey Key(string keyId, string kind) => $"{Options.KeyPrefix}{{{keyId}}}:{kind}";

    public RedisChannel Channel(string name) => RedisChannel.Literal(Options.KeyPrefix + name);

    /// <summary>Runs a Lua script within <see cref="RedisOptions.Timeout"/>; throws <see cref="RedisException"/> or <see cref="TimeoutException"/>.</summary>
    public async Task<RedisResult> EvaluateAsync(string script, RedisKey[] keys, RedisValue[] values)
    {
        return await Connected().GetDatabase().ScriptEvaluateAsync(script, keys, values).WaitAsync(Options.Timeout, TimeProvider.System);
    }

    public void Failed(string operation, Exception exception)
    {
        _failures.Add(operation);
        LogCallFailed(_logger, operation, exception.Message);
    }

    public async ValueTask DisposeAsync()
    {
        if (_connecting.IsCompletedSuccessfully)
        {
            await _connecting.Result.DisposeAsync();
        }
    }

    public static bool IsFailure(Exception e) => e is RedisException or TimeoutException or ObjectDisposedException;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Redis connection to {EndPoint} failed ({FailureType}: {Reason}); retrying")]
    private static partial void LogConnectionFailed(ILogger logger, string? endPoint, string failureType, string? reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Redis connection to {EndPoint} restored")]
    private static partial void LogConnectionRestored(ILogger logger, string? endPoint);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Redis {Operation} failed: {Reason}")]
    private static partial void LogCallFailed(ILogger logger, string operation, string reason);
}

/// <summary>Redis calls that failed or timed out, by operation: <c>modelgate_redis_failures_total</c>.</summary>
public sealed class RedisFailures(IOptions<RedisOptions> options)
{
    private readonly ConcurrentDictionary<string, StrongBox> _counts = new(StringComparer.Ordinal);

    public void Add(string operation) => Interlocked.Increment(ref _counts.GetOrAdd(operation, static _ => new StrongBox()).Value);

    public long Count(string operation) => _counts.TryGetValue(operation, out var box) ? Interlocked.Read(ref box.Value) : 0;

    public long Total => _counts.Values.Sum(b => Interlocked.Read(ref b.Value));

    /// <summary>The Prometheus text of the counter; empty without Redis, so that /metrics is unchanged then.</summary>
    public string Render()
    {
        if (!options.Value.Enabled)
        {
            return "";
        }
        var text = new StringBuilder("# HELP modelgate_redis_failures_total Redis calls that failed or timed out, by operation.\n# TYPE modelgate_redis_failures_total counter\n");
        foreach (var operation in RedisOperations.All)
        {
            text.Append(CultureInfo.InvariantCulture, $"modelgate_redis_failures_total{{operation=\"{operation}\"}} {Count(operation)}\n");
        }
        return text.ToString();
    }

    private sealed class StrongBox
    {
        public long Value;
    }
}

/// <summary>The operations counted by <see cref="RedisFailures"/>.</summary>
public static class RedisOperations
{
    public const string Check = "check";
    public const string Reserve = "reserve";
    public const string Settle = "settle";
    public const string Seed = "seed";
    public const string Publish = "publish";
    public const string Subscribe = "subscribe";
    public const string Ping = "ping";

    public static readonly string[] All = [Check, Reserve, Settle, Seed, Publish, Subscribe, Ping];
}
