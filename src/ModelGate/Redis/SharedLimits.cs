using System.Globalization;
using Microsoft.EntityFrameworkCore;
using ModelGate.Security;
using StackExchange.Redis;

namespace ModelGate.Redis;

/// <summary>How a shared limit answered.</summary>
public enum SharedOutcome
{
    Allowed,
    RequestsExhausted,
    TokensExhausted,
    BudgetExhausted,
    /// <summary>Redis failed or answered too late: nothing is known of the shared balance.</summary>
    Unavailable,
}

/// <summary>A shared limit's answer; <see cref="Committed"/> and <see cref="Reserved"/> describe a spent budget.</summary>
public readonly record struct SharedVerdict(SharedOutcome Outcome, TimeSpan RetryAfter = default, double Committed = 0, double Reserved = 0);

/// <summary>What a request holds of its key's shared token limit and budget until it is settled.</summary>
public sealed record SharedHold(SharedLimits Limits, AuthenticatedKey Key);

/// <summary>
/// A key's requests-per-minute and tokens-per-minute buckets and its budget, kept in Redis so that every replica counts
/// against the same balance. Each step is one atomic Lua script, timed by the Redis server's clock (replicas' clocks never
/// meet): <see cref="CheckAsync"/> (take a request, see that a token is left and the budget is not spent) before routing,
/// <see cref="ReserveAsync"/> (take the request's token bound and reserve its cost bound) before forwarding, and
/// <see cref="Settle"/> (replace the reservation by the real usage) once the answer is in. A bucket is one number, the
/// time (µs, Redis TIME) at which it is empty, as <see cref="Gateway.DataPlaneGuard.TokenBucket"/> keeps it in memory; it
/// expires once it would be full again. A budget is a hash of <c>committed</c> (spent plus reserved) and <c>reserved</c>,
/// seeded once from the request log when Redis has none (a new key, or a Redis that lost its data).
/// </summary>
public sealed class SharedLimits(RedisConnection redis, IServiceScopeFactory scopes)
{
    // Shared by the scripts: the server's time in µs, and where a bucket stands (never more than full).
    private const string Prelude = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local window = 60000000
        local function from(key)
          local f = now - window
          local v = redis.call('GET', key)
          if v then
            local e = tonumber(v)
            if e > f then f = e end
          end
          return f
        end
        local function store(key, emptyAt)
          local ttl = math.ceil((emptyAt + window - now) / 1000)
          if ttl > 0 then
            redis.call('SET', key, string.format('%.0f', emptyAt), 'PX', ttl)
          else
            redis.call('DEL', key)
          end
        end
        local function wait(f, per)
          return math.ceil((f + per - now) / 1000)
        end

        """;

    // KEYS: rpm bucket, tpm bucket, budget. ARGV: rpm (0: none), tpm (0: none), budget ('': none).
    // Returns {outcome, retry-after ms, committed, reserved}: 0 allowed, 1 requests, 2 tokens, 3 budget, 4 budget not seeded.
    private const string CheckScript = Prelude + """
        if ARGV[3] ~= '' and redis.call('HEXISTS', KEYS[3], 'committed') == 0 then return {4, 0, '0', '0'} end
        local rpm = tonumber(ARGV[1])
        if rpm > 0 then
          local per = window / rpm
          local f = from(KEYS[1])
          if now < f + per then return {1, wait(f, per), '0', '0'} end
          store(KEYS[1], f + per)
        end
        local tpm = tonumber(ARGV[2])
        if tpm > 0 then
          local per = window / tpm
          local f = from(KEYS[2])
          if now < f + per then return {2, wait(f, per), '0', '0'} end
        end
        if ARGV[3] ~= '' then
          local c = redis.call('HMGET', KEYS[3], 'committed', 'reserved')
          if tonumber(c[1]) >= tonumber(ARGV[3]) then return {3, 0, c[1], c[2] or '0'} end
        end
        return {0, 0, '0', '0'}
        """;

    // KEYS: tpm bucket, budget. ARGV: tpm (0: none), tokens, budget ('': none), cost. Returns as CheckScript.
    private const string ReserveScript = Prelude + """
        if ARGV[3] ~= '' and redis.call('HEXISTS', KEYS[2], 'committed') == 0 then return {4, 0, '0', '0'} end
        local tpm = tonumber(ARGV[1])
        local per, f
        if tpm > 0 then
          per = window / tpm
          f = from(KEYS[1])
          if now < f + per then return {2, wait(f, per), '0', '0'} end
        end
        if ARGV[3] ~= '' then
          local c = redis.call('HMGET', KEYS[2], 'committed', 'reserved')
          if tonumber(c[1]) >= tonumber(ARGV[3]) then return {3, 0, c[1], c[2] or '0'} end
          redis.call('HINCRBYFLOAT', KEYS[2], 'committed', ARGV[4])
          redis.call('HINCRBYFLOAT', KEYS[2], 'reserved', ARGV[4])
        end
        if tpm > 0 then store(KEYS[1], f + per * tonumber(ARGV[2])) end
        return {0, 0, '0', '0'}
        """;

    // KEYS: tpm bucket, budget. ARGV: tpm (0: none), tokens used beyond the reservation, budget ('' none), cost beyond it, cost reserved.
    private const string SettleScript = Prelude + """
        local tpm = tonumber(ARGV[1])
        local d = tonumber(ARGV[2])
        if tpm > 0 and d ~= 0 then
          local per = window / tpm
          local e
          if d > 0 then
            e = from(KEYS[1])
          else
            e = tonumber(redis.call('GET', KEYS[1]) or (now - window))
          end
          store(KEYS[1], e + per * d)
        end
        if ARGV[3] ~= '' and redis.call('EXISTS', KEYS[2]) == 1 then
          redis.call('HINCRBYFLOAT', KEYS[2], 'committed', ARGV[4])
          redis.call('HINCRBYFLOAT', KEYS[2], 'reserved', '-' .. ARGV[5])
        end
        return 0
        """;

    // KEYS: budget. ARGV: spent so far (from the request log). A replica that seeded first wins.
    private const string SeedScript = """
        if redis.call('HSETNX', KEYS[1], 'committed', ARGV[1]) == 1 then redis.call('HSET', KEYS[1], 'reserved', '0') end
        return 0
        """;

    public RedisOptions Options => redis.Options;

    /// <summary>Whether a key has any limit counted here.</summary>
    public static bool Limits(AuthenticatedKey key) => key.RequestsPerMinute is not null || key.TokensPerMinute is not null || key.CostBudget is not null;

    /// <summary>Takes one request from the key's rpm bucket; sees that a token is left and the budget not spent. One script.</summary>
    public Task<SharedVerdict> CheckAsync(AuthenticatedKey key) =>
        RunAsync(RedisOperations.Check, key, CheckScript,
            [redis.Key(key.Id, "rpm"), redis.Key(key.Id, "tpm"), redis.Key(key.Id, "budget")],
            [key.RequestsPerMinute ?? 0, key.TokensPerMinute ?? 0, Budget(key)]);

    /// <summary>Takes <paramref name="tokens"/> from the key's tpm bucket and reserves <paramref name="cost"/> of its budget. One script.</summary>
    public Task<SharedVerdict> ReserveAsync(AuthenticatedKey key, long tokens, double cost) =>
        RunAsync(RedisOperations.Reserve, key, ReserveScript,
            [redis.Key(key.Id, "tpm"), redis.Key(key.Id, "budget")],
            [key.TokensPerMinute ?? 0, tokens, Budget(key), Number(cost)]);

    /// <summary>Replaces a reservation by the real usage, in the background (one script): the request never waits for it.</summary>
    public void Settle(AuthenticatedKey key, long tokensBeyond, double costBeyond, double reservedCost)
    {
        _ = SettleAsync(key, tokensBeyond, costBeyond, reservedCost);
    }

    private async Task SettleAsync(AuthenticatedKey key, long tokensBeyond, double costBeyond, double reservedCost)
    {
        try
        {
            await redis.EvaluateAsync(SettleScript, [redis.Key(key.Id, "tpm"), redis.Key(key.Id, "budget")],
                [key.TokensPerMinute ?? 0, tokensBeyond, Budget(key), Number(costBeyond), Number(reservedCost)]);
        }
        catch (Exception e) when (RedisConnection.IsFailure(e))
        {
            redis.Failed(RedisOperations.Settle, e); // the reservation stays charged: the key is over-counted, never under
        }
    }

    private async Task<SharedVerdict> RunAsync(string operation, AuthenticatedKey key, string script, RedisKey[] keys, RedisValue[] values)
    {
        try
        {
            var verdict = Read(await redis.EvaluateAsync(script, keys, values), out var unseeded);
            if (unseeded)
            {
                await SeedAsync(key);
                verdict = Read(await redis.EvaluateAsync(script, keys, values), out unseeded);
                if (unseeded)
                {
                    throw new RedisException("the key's budget vanished while it was seeded");
                }
            }
            return verdict;
        }
        catch (Exception e) when (RedisConnection.IsFailure(e))
        {
            redis.Failed(operation, e);
            return new SharedVerdict(SharedOutcome.Unavailable);
        }
    }

    /// <summary>What the key spent, from the request log (as the in-memory budget starts), written unless another replica did first.</summary>
    private async Task SeedAsync(AuthenticatedKey key)
    {
        double spent;
        await using (var scope = scopes.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<Storage.ModelGateDbContext>();
            spent = await db.RequestLogs.Where(r => r.KeyId == key.Id).SumAsync(r => r.Cost ?? 0);
        }
        await redis.EvaluateAsync(SeedScript, [redis.Key(key.Id, "budget")], [Number(spent)]);
    }

    private static SharedVerdict Read(RedisResult result, out bool unseeded)
    {
        var fields = (RedisResult[])result!;
        var outcome = (int)fields[0];
        unseeded = outcome == 4;
        var retryAfter = TimeSpan.FromMilliseconds((long)fields[1]);
        return outcome switch
        {
            0 or 4 => new SharedVerdict(SharedOutcome.Allowed),
            1 => new SharedVerdict(SharedOutcome.RequestsExhausted, retryAfter),
            2 => new SharedVerdict(SharedOutcome.TokensExhausted, retryAfter),
            _ => new SharedVerdict(SharedOutcome.BudgetExhausted, default, Parse(fields[2]), Math.Max(0, Parse(fields[3]))),
        };
    }

    private static double Parse(RedisResult value) => double.Parse((string)value!, CultureInfo.InvariantCulture);

    private static RedisValue Budget(AuthenticatedKey key) => key.CostBudget is { } budget ? Number(budget) : RedisValue.EmptyString;

    private static RedisValue Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
