using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;
using ModelGate.Errors;
using Microsoft.EntityFrameworkCore;
using ModelGate.Security;

namespace ModelGate.Gateway;

/// <summary>
/// What a key may do on the data plane: which deployments it may call, whether it may pin versions, and how many
/// requests per minute it may send (a token bucket per key, refilled continuously; in memory, per replica).
/// </summary>
public sealed class DataPlaneGuard(TimeProvider time, IServiceScopeFactory scopes)
{
    private readonly ConcurrentDictionary<string, TokenBucket> _buckets = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TokenBucket> _tokenBuckets = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lazy<Task<Spending>>> _spent = new(StringComparer.Ordinal);

    /// <summary>Null when the request may go on; otherwise the problem to answer (403 or 429, with Retry-After set).</summary>
    public async ValueTask<ProblemHttpResult?> CheckAsync(HttpContext context, string deployment, bool pinned)
    {
        if (Check(context, deployment, pinned) is { } refused)
        {
            return refused;
        }
        if (context.Items[typeof(AuthenticatedKey)] is not AuthenticatedKey key)
        {
            return null;
        }
        if (key.TokensPerMinute is { } tpm)
        {
            var bucket = _tokenBuckets.GetOrAdd(key.Id, _ => new TokenBucket(tpm, time.GetTimestamp()));
            if (!bucket.HasAtLeastOne(tpm, time, out var retryAfter))
            {
                context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                return Problems.Result(429, "rate_limited", "Too many tokens.",
                    $"this key may use {tpm} tokens per minute; retry after {Math.Ceiling(retryAfter.TotalSeconds)} s",
                    new Dictionary<string, object?> { ["limit"] = tpm });
            }
        }
        if (key.CostBudget is { } budget)
        {
            var spent = await SpendingOf(key.Id);
            if (spent.Total >= budget)
            {
                return Problems.Result(429, "budget_exhausted", "The key's cost budget is spent.",
                    string.Create(CultureInfo.InvariantCulture, $"this key has spent {spent.Total:0.########} of its budget of {budget}"),
                    new Dictionary<string, object?> { ["budget"] = budget, ["spent"] = spent.Total });
            }
        }
        return null;
    }

    /// <summary>Charges a finished request's tokens and cost to its key's limits.</summary>
    public async ValueTask ChargeAsync(AuthenticatedKey? key, long tokens, double cost)
    {
        if (key is null)
        {
            return;
        }
        if (key.TokensPerMinute is { } tpm && tokens > 0)
        {
            _tokenBuckets.GetOrAdd(key.Id, _ => new TokenBucket(tpm, time.GetTimestamp())).Take(tpm, time, tokens);
        }
        if (key.CostBudget is not null && cost > 0)
        {
            (await SpendingOf(key.Id)).Add(cost);
        }
    }

    /// <summary>
    /// What a key spent before this process started comes from the request log, once, on the thread pool (the sum may
    /// scan many rows); after that it is counted here. A failed lookup is forgotten, so the next request asks again.
    /// </summary>
    private Task<Spending> SpendingOf(string keyId)
    {
        var lazy = _spent.GetOrAdd(keyId, id => new Lazy<Task<Spending>>(() => Task.Run(async () =>
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<Storage.ModelGateDbContext>();
            var total = await db.RequestLogs.Where(r => r.KeyId == id).SumAsync(r => r.Cost ?? 0);
            return new Spending(total);
        })));
        var task = lazy.Value;
        if (!task.IsCompletedSuccessfully)
        {
            _ = task.ContinueWith(t => _spent.TryRemove(new KeyValuePair<string, Lazy<Task<Spending>>>(keyId, lazy)),
                CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
        return task;
    }

    private sealed class Spending(double initial)
    {
        private readonly Lock _lock = new();
        private double _total = initial;

        public double Total
        {
            get
            {
                lock (_lock)
                {
                    return _total;
                }
            }
        }

        public void Add(double amount)
        {
            lock (_lock)
            {
                _total += amount;
            }
        }
    }

    private ProblemHttpResult? Check(HttpContext context, string deployment, bool pinned)
    {
        if (context.Items[typeof(AuthenticatedKey)] is not AuthenticatedKey key)
        {
            return null;
        }
        if (!DeploymentScope.Allows(key, deployment))
        {
            return DeploymentScope.OutOfScope(deployment);
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

        /// <summary>True when at least one unit is left; the request's real cost is taken afterwards by <see cref="Take"/>.</summary>
        public bool HasAtLeastOne(int perMinute, TimeProvider time, out TimeSpan retryAfter)
        {
            lock (_lock)
            {
                Refill(perMinute, time);
                retryAfter = _tokens >= 1 ? TimeSpan.Zero : TimeSpan.FromSeconds((1 - _tokens) / (perMinute / 60.0));
                return _tokens >= 1;
            }
        }

        /// <summary>Takes <paramref name="amount"/> units, going below zero if need be: the debt is paid by waiting.</summary>
        public void Take(int perMinute, TimeProvider time, long amount)
        {
            lock (_lock)
            {
                Refill(perMinute, time);
                _tokens -= amount;
            }
        }

        private void Refill(int perMinute, TimeProvider time)
        {
            var now = time.GetTimestamp();
            _tokens = Math.Min(perMinute, _tokens + time.GetElapsedTime(_last, now).TotalSeconds * (perMinute / 60.0));
            _last = now;
        }

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
