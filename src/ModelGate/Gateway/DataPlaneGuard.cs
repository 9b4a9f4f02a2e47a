using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;
using ModelGate.Errors;
using ModelGate.Security;

namespace ModelGate.Gateway;

/// <summary>
/// What a key may do on the data plane: which deployments it may call, whether it may pin versions, and how many
/// requests per minute it may send (a token bucket per key, refilled continuously; in memory, per replica).
/// </summary>
public sealed class DataPlaneGuard(TimeProvider time)
{
    private readonly ConcurrentDictionary<string, TokenBucket> _buckets = new(StringComparer.Ordinal);

    /// <summary>Null when the request may go on; otherwise the problem to answer (403 or 429, with Retry-After set).</summary>
    public ProblemHttpResult? Check(HttpContext context, string deployment, bool pinned)
    {
        if (context.Items[typeof(AuthenticatedKey)] is not AuthenticatedKey key)
        {
            return null;
        }
        if (key.Deployments is { } scope && !scope.Contains(deployment))
        {
            return Problems.Result(403, ProblemCodes.Forbidden, "Forbidden.", $"this key may not call deployment '{deployment}'");
        }
        if (pinned && !key.AllowPinning)
        {
            return Problems.Result(403, ProblemCodes.Forbidden, "Forbidden.", "this key may not pin versions; call the deployment without @version");
        }
        if (key.RequestsPerMinute is { } rpm)
        {
            var bucket = _buckets.GetOrAdd(key.Id, _ => new TokenBucket(rpm, time.GetTimestamp()));
            if (!bucket.TryTake(rpm, time, out var retryAfter))
            {
                context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                return Problems.Result(429, "rate_limited", "Too many requests.",
                    $"this key may send {rpm} requests per minute; retry after {Math.Ceiling(retryAfter.TotalSeconds)} s",
                    new Dictionary<string, object?> { ["limit"] = rpm });
            }
        }
        return null;
    }

    private sealed class TokenBucket(double capacity, long timestamp)
    {
        private readonly Lock _lock = new();
        private double _tokens = capacity;
        private long _last = timestamp;

        public bool TryTake(int perMinute, TimeProvider time, out TimeSpan retryAfter)
        {
            lock (_lock)
            {
                var now = time.GetTimestamp();
                var rate = perMinute / 60.0;
                _tokens = Math.Min(perMinute, _tokens + time.GetElapsedTime(_last, now).TotalSeconds * rate);
                _last = now;
                if (_tokens >= 1)
                {
                    _tokens -= 1;
                    retryAfter = TimeSpan.Zero;
                    return true;
                }
                retryAfter = TimeSpan.FromSeconds((1 - _tokens) / rate);
                return false;
            }
        }
    }
}
