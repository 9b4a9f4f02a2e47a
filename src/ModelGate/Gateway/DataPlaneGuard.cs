using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using ModelGate.Errors;
using ModelGate.Security;

namespace ModelGate.Gateway;

/// <summary>
/// What a key may do on the data plane: which deployments it may call, whether it may pin versions, how many requests
/// and tokens per minute it may use (token buckets per key, refilled continuously; in memory, per replica) and what it may
/// spend. Tokens and cost are reserved before a request is forwarded (<see cref="ReserveAsync"/>) and settled with the real
/// usage afterwards (<see cref="Settle"/>); a request is let through only while the key's balance, counting what requests in
/// flight have reserved, is not used up, so concurrent requests cannot all pass on the same remainder. Every update is one
/// compare-and-swap on the key's counter: no locks. With Redis configured (<paramref name="shared"/>), the same limits are
/// counted in Redis across replicas (<see cref="Redis.SharedLimits"/>); while Redis fails, the in-memory path serves
/// (<c>Redis:FailureMode=open</c>) or the request is refused (<c>closed</c>).
/// </summary>
public sealed class DataPlaneGuard(TimeProvider time, IServiceScopeFactory scopes, IOptions<GatewayOptions> options, Redis.SharedLimits? shared = null)
{
    private readonly ConcurrentDictionary<string, TokenBucket> _buckets = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TokenBucket> _tokenBuckets = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lazy<Task<Spending>>> _spent = new(StringComparer.Ordinal);

    /// <summary>Null when the request may go on; otherwise the problem to answer (403 or 429, with Retry-After set).</summary>
    public async ValueTask<ProblemHttpResult?> CheckAsync(HttpContext context, string deployment, bool pinned)
    {
        if (shared is not null && context.Items[typeof(AuthenticatedKey)] is AuthenticatedKey limited && Redis.SharedLimits.Limits(limited)
            && await CheckSharedAsync(context, limited, deployment, pinned) is var (decided, problem) && decided)
        {
            return problem;
        }
        if (Check(context, deployment, pinned) is { } refused)
        {
            return refused;
        }
        if (context.Items[typeof(AuthenticatedKey)] is not AuthenticatedKey key)
        {
            return null;
        }
        if (key.TokensPerMinute is { } tpm && !TokensOf(key.Id, tpm).HasAtLeastOne(out var retryAfter))
        {
            return TooManyTokens(context, tpm, retryAfter);
        }
        if (key.CostBudget is { } budget && await SpendingOf(key.Id) is var spending && spending.Committed >= budget)
        {
            return BudgetExhausted(budget, spending.Committed, spending.Reserved);
        }
        return null;
    }

    /// <summary>The shared limits' answer, or not decided (Redis failed in <c>open</c> mode: this replica's own limits decide).</summary>
    private async ValueTask<(bool Decided, ProblemHttpResult? Problem)> CheckSharedAsync(HttpContext context, AuthenticatedKey key, string deployment, bool pinned)
    {
        if (!DeploymentScope.Allows(key, deployment) || pinned && !key.AllowPinning)
        {
            return (false, null); // refused on this replica's rules alone
        }
        var verdict = await shared!.CheckAsync(key);
        return verdict.Outcome == Redis.SharedOutcome.Unavailable && !shared.Options.FailsClosed ? (false, null) : (true, SharedProblem(context, key, verdict));
    }

    private ProblemHttpResult? SharedProblem(HttpContext context, AuthenticatedKey key, Redis.SharedVerdict verdict) => verdict.Outcome switch
    {
        Redis.SharedOutcome.RequestsExhausted => TooManyRequests(context, key.RequestsPerMinute!.Value, verdict.RetryAfter),
        Redis.SharedOutcome.TokensExhausted => TooManyTokens(context, key.TokensPerMinute!.Value, verdict.RetryAfter),
        Redis.SharedOutcome.BudgetExhausted => BudgetExhausted(key.CostBudget!.Value, verdict.Committed, verdict.Reserved),
        Redis.SharedOutcome.Unavailable => LimitsUnavailable(context, shared!.Options.Timeout),
        _ => null,
    };

    /// <summary>
    /// Reserves what a request may use against its key's token limit and budget: <paramref name="tokens"/>, and
    /// <paramref name="cost"/>. The request is refused (429) when the key's balance, after what requests in flight have
    /// reserved, is used up; otherwise the reservation is taken even if it goes past the balance (the debt is paid by
    /// waiting, or ends the budget). The caller settles it with <see cref="Settle"/> once the answer is in.
    /// </summary>
    public async ValueTask<(Reservation Reservation, ProblemHttpResult? Refused)> ReserveAsync(HttpContext context, AuthenticatedKey key, long tokens,
        double cost)
    {
        if (shared is not null)
        {
            var verdict = await shared.ReserveAsync(key, tokens, cost);
            if (verdict.Outcome == Redis.SharedOutcome.Allowed)
            {
                return (new Reservation(null, tokens, null, cost, new Redis.SharedHold(shared, key)), null);
            }
            if (verdict.Outcome != Redis.SharedOutcome.Unavailable || shared.Options.FailsClosed)
            {
                return (default, SharedProblem(context, key, verdict));
            }
        }
        TokenBucket? bucket = null;
        if (key.TokensPerMinute is { } tpm)
        {
            bucket = TokensOf(key.Id, tpm);
            if (!bucket.TryTake(tokens, out var retryAfter))
            {
                return (default, TooManyTokens(context, tpm, retryAfter));
            }
        }
        Spending? spending = null;
        if (key.CostBudget is { } budget)
        {
            spending = await SpendingOf(key.Id);
            if (!spending.TryReserve(budget, cost))
            {
                bucket?.Adjust(-tokens);
                return (default, BudgetExhausted(budget, spending.Committed, spending.Reserved));
            }
        }
        return (new Reservation(bucket, bucket is null ? 0 : tokens, spending, spending is null ? 0 : cost), null);
    }

    /// <summary>Replaces a reservation by what the request really used: the difference is given back (or, past it, charged).</summary>
    public static void Settle(in Reservation reservation, long tokens, double cost)
    {
        if (reservation.Shared is { } hold)
        {
            hold.Limits.Settle(hold.Key, tokens - reservation.ReservedTokens, cost - reservation.ReservedCost, reservation.ReservedCost);
            return;
        }
        reservation.Tokens?.Adjust(tokens - reservation.ReservedTokens);
        if (reservation.Spending is { } spending)
        {
            spending.Add(cost - reservation.ReservedCost);
            spending.Release(reservation.ReservedCost);
        }
    }

    /// <summary>
    /// An upper bound of the prompt tokens of a request body as the upstream receives it, without tokenizing: a byte-level
    /// BPE token covers at least one byte, so the body's UTF-8 length bounds the text in it (messages, prompt, input,
    /// tools) and its chat framing; the messages the gateway adds (the version's rendered prompt) are counted with their own framing.
    /// </summary>
    public static long PromptBound(int bodyBytes, Registry.PromptRenderer? prompt, IReadOnlyDictionary<string, string>? variables) =>
        bodyBytes + (prompt?.AddedBytes(variables) ?? 0);

    /// <summary>
    /// The completion tokens a request may produce: <c>max_completion_tokens</c> (or <c>max_tokens</c>; the Responses API's
    /// <c>max_output_tokens</c>) times <c>n</c>, or
    /// the configured default when it sets no maximum. Read with one pass over the top level of the body; nothing allocated.
    /// </summary>
    public long CompletionBound(ReadOnlySpan<byte> body)
    {
        long? max = null;
        long n = 1;
        var reader = new Utf8JsonReader(body);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return options.Value.DefaultCompletionReservation;
            }
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isMaxCompletion = reader.ValueTextEquals("max_completion_tokens"u8) || reader.ValueTextEquals("max_output_tokens"u8);
                var isMax = !isMaxCompletion && reader.ValueTextEquals("max_tokens"u8);
                var isN = !isMaxCompletion && !isMax && reader.ValueTextEquals("n"u8);
                reader.Read();
                if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var value) && value >= 0)
                {
                    if (isMaxCompletion || isMax && max is null)
                    {
                        max = value;
                    }
                    else if (isN)
                    {
                        n = Math.Max(1, value);
                    }
                }
                reader.Skip();
            }
        }
        catch (JsonException)
        {
            // Parsed already; a body that is not one JSON object gets the default.
        }
        return (max ?? options.Value.DefaultCompletionReservation) * n;
    }

    private TokenBucket TokensOf(string keyId, int tpm) => _tokenBuckets.GetOrAdd(keyId, static (_, a) => new TokenBucket(a.tpm, a.time), (tpm, time));

    private static ProblemHttpResult TooManyTokens(HttpContext context, int tpm, TimeSpan retryAfter)
    {
        context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        return Problems.Result(429, "rate_limited", "Too many tokens.",
            $"this key may use {tpm} tokens per minute; retry after {Math.Ceiling(retryAfter.TotalSeconds)} s",
            new Dictionary<string, object?> { ["limit"] = tpm });
    }

    private static ProblemHttpResult TooManyRequests(HttpContext context, int rpm, TimeSpan retryAfter)
    {
        context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        return Problems.Result(429, "rate_limited", "Too many requests.",
            $"this key may send {rpm} requests per minute; retry after {Math.Ceiling(retryAfter.TotalSeconds)} s",
            new Dictionary<string, object?> { ["limit"] = rpm });
    }

    private static ProblemHttpResult BudgetExhausted(double budget, double committed, double reserved)
    {
        var spent = committed - reserved;
        return Problems.Result(429, "budget_exhausted", "The key's cost budget is spent.",
            string.Create(CultureInfo.InvariantCulture, $"this key has spent {spent:0.########} of its budget of {budget}"),
            new Dictionary<string, object?> { ["budget"] = budget, ["spent"] = spent, ["reserved"] = reserved });
    }

    /// <summary><c>Redis:FailureMode=closed</c> while Redis fails: the shared limits cannot be counted, so nothing is served.</summary>
    private static ProblemHttpResult LimitsUnavailable(HttpContext context, TimeSpan timeout)
    {
        context.Response.Headers.RetryAfter = "1";
        return Problems.Result(429, ProblemCodes.LimitsUnavailable, "The key's limits cannot be checked.",
            $"the shared limits store did not answer within {timeout.TotalMilliseconds} ms; retry after 1 s");
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
            var bucket = _buckets.GetOrAdd(key.Id, static (_, a) => new TokenBucket(a.rpm, a.time), (rpm, time));
            if (!bucket.TryTake(1, out var retryAfter))
            {
                return TooManyRequests(context, rpm, retryAfter);
            }
        }
        return null;
    }

    /// <summary>What one request holds of its key's limits until it is settled.</summary>
    public readonly record struct Reservation(TokenBucket? Tokens, long ReservedTokens, Spending? Spending, double ReservedCost,
        Redis.SharedHold? Shared = null);

    /// <summary>
    /// What a key has spent, with what requests in flight have reserved (<see cref="Committed"/>), changed by compare-and-swap.
    /// </summary>
    public sealed class Spending(double initial)
    {
        private double _committed = initial;
        private double _reserved;

        /// <summary>Spent plus reserved.</summary>
        public double Committed => Volatile.Read(ref _committed);

        public double Reserved => Math.Max(0, Volatile.Read(ref _reserved));

        /// <summary>Reserves <paramref name="amount"/> when the committed total is still below <paramref name="budget"/>.</summary>
        public bool TryReserve(double budget, double amount)
        {
            var current = Volatile.Read(ref _committed);
            while (true)
            {
                if (current >= budget)
                {
                    return false;
                }
                var seen = Interlocked.CompareExchange(ref _committed, current + amount, current);
                if (seen.Equals(current))
                {
                    AddTo(ref _reserved, amount);
                    return true;
                }
                current = seen;
            }
        }

        /// <summary>Settles: <paramref name="delta"/> is what was used beyond the reservation (negative when less was used).</summary>
        public void Add(double delta)
        {
            AddTo(ref _committed, delta);
        }

        /// <summary>Marks a settled reservation as no longer in flight.</summary>
        public void Release(double reserved) => AddTo(ref _reserved, -reserved);

        private static void AddTo(ref double target, double delta)
        {
            var current = Volatile.Read(ref target);
            while (true)
            {
                var seen = Interlocked.CompareExchange(ref target, current + delta, current);
                if (seen.Equals(current))
                {
                    return;
                }
                current = seen;
            }
        }
    }

    /// <summary>
    /// A token bucket of <c>perMinute</c> units, refilled continuously, as one number: the time at which it is (or was)
    /// empty. Its balance at <c>now</c> is <c>min(capacity, (now − emptyAt) × rate)</c>; taking <c>n</c> units moves that
    /// time <c>n / rate</c> later, giving back moves it earlier. Each change is one compare-and-swap.
    /// </summary>
    public sealed class TokenBucket
    {
        private readonly TimeProvider _time;
        private readonly double _ticksPerUnit;
        private readonly long _window;
        private long _emptyAt;

        public TokenBucket(int perMinute, TimeProvider time)
        {
            _time = time;
            _window = 60 * time.TimestampFrequency;
            _ticksPerUnit = (double)_window / perMinute;
            _emptyAt = time.GetTimestamp() - _window;
        }

        /// <summary>True when at least one unit is left (nothing taken).</summary>
        public bool HasAtLeastOne(out TimeSpan retryAfter)
        {
            var now = _time.GetTimestamp();
            var from = Math.Max(Volatile.Read(ref _emptyAt), now - _window);
            return Enough(from, now, out retryAfter);
        }

        /// <summary>
        /// Takes <paramref name="amount"/> units when at least one is left, going below zero if need be: the debt is paid by
        /// waiting.
        /// </summary>
        public bool TryTake(long amount, out TimeSpan retryAfter)
        {
            var current = Volatile.Read(ref _emptyAt);
            while (true)
            {
                var now = _time.GetTimestamp();
                var from = Math.Max(current, now - _window);
                if (!Enough(from, now, out retryAfter))
                {
                    return false;
                }
                var seen = Interlocked.CompareExchange(ref _emptyAt, from + Ticks(amount), current);
                if (seen == current)
                {
                    return true;
                }
                current = seen;
            }
        }

        /// <summary>Takes <paramref name="amount"/> more units (given back when negative), whatever the balance.</summary>
        public void Adjust(long amount)
        {
            if (amount == 0)
            {
                return;
            }
            var current = Volatile.Read(ref _emptyAt);
            while (true)
            {
                // A bucket that is full cannot fill further: a charge starts from full, a refund from where it stands.
                var from = amount > 0 ? Math.Max(current, _time.GetTimestamp() - _window) : current;
                var seen = Interlocked.CompareExchange(ref _emptyAt, from + Ticks(amount), current);
                if (seen == current)
                {
                    return;
                }
                current = seen;
            }
        }

        private long Ticks(long amount) => (long)Math.Round(amount * _ticksPerUnit);

        private bool Enough(long from, long now, out TimeSpan retryAfter)
        {
            var oneAt = from + (long)Math.Round(_ticksPerUnit);
            if (now >= oneAt)
            {
                retryAfter = TimeSpan.Zero;
                return true;
            }
            retryAfter = TimeSpan.FromSeconds((double)(oneAt - now) / _time.TimestampFrequency);
            return false;
        }
    }
}
