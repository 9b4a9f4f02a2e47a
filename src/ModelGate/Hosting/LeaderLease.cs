using System.Diagnostics;
using Microsoft.Extensions.Options;
using ModelGate.Storage;
using Npgsql;

namespace ModelGate.Hosting;

/// <summary>The workers' lease as the store holds it (PostgreSQL only): who holds it, its fencing token and when it expires on the database's clock.</summary>
public sealed record LeaseState(string Holder, long Token, DateTime AcquiredAt, DateTime ExpiresAt, bool Expired);

/// <summary>
/// Who leads the workers. On PostgreSQL a control or all-in-one process takes the lease row <c>leases</c>/<c>workers</c> and
/// renews it every <see cref="ClusterOptions.LeaseRenewInterval"/>; it expires <see cref="ClusterOptions.LeaseDuration"/> after
/// the last renewal on the database's clock (<c>now()</c>), so replicas' clocks never matter. Each take-over (any acquisition
/// that is not a renewal) adds one to the fencing token, which every worker's write checks (<see cref="LeaseFenceInterceptor"/>).
/// A leader whose renewals fail steps down <see cref="ClusterOptions.LeaseRenewInterval"/> before its lease can expire, by its
/// own monotonic clock; a stopping leader releases the lease so that a standby takes over at its next attempt. On SQLite
/// (one process) control and all-in-one processes lead without a lease; gateway replicas never lead.
/// </summary>
/// <remarks>
/// The step-down deadline runs on real elapsed time, not on the injected <see cref="TimeProvider"/>: the lease expires on the
/// database's real clock, which tests cannot fake.
/// </remarks>
public sealed partial class LeaderLease : BackgroundService, ILeadership
{
    public const string WorkersLease = "workers";

    private enum Mode { Never, Always, Lease }

    private const string AcquireSql = """
        INSERT INTO leases ("Name", "Holder", "Token", "AcquiredAt", "ExpiresAt") VALUES (@name, @holder, 1, now(), now() + @duration)
        ON CONFLICT ("Name") DO UPDATE SET "Holder" = excluded."Holder", "Token" = leases."Token" + 1, "AcquiredAt" = now(), "ExpiresAt" = excluded."ExpiresAt"
        WHERE leases."ExpiresAt" <= now() OR leases."Holder" = excluded."Holder"
        RETURNING "Token"
        """;

    private const string RenewSql = """
        UPDATE leases SET "ExpiresAt" = now() + @duration WHERE "Name" = @name AND "Holder" = @holder AND "Token" = @token RETURNING "Token"
        """;

    private const string ReleaseSql = """
        UPDATE leases SET "ExpiresAt" = now() WHERE "Name" = @name AND "Holder" = @holder AND "Token" = @token
        """;

    private const string ReadSql = """
        SELECT "Holder", "Token", "AcquiredAt", "ExpiresAt", "ExpiresAt" <= now() FROM leases WHERE "Name" = @name
        """;

    private readonly Mode _mode;
    private readonly string _replica;
    private readonly string? _connectionString;
    private readonly bool _postgres;
    private readonly ClusterOptions _options;
    private readonly ILogger<LeaderLease> _logger;
    private readonly Lock _lock = new();
    private Term? _term;
    private TaskCompletionSource<LeadershipTerm> _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public LeaderLease(IOptions<ServerOptions> server, IOptions<DatabaseOptions> database, IOptions<ClusterOptions> options, ILogger<LeaderLease> logger)
    {
        _replica = server.Value.Replica;
        _options = options.Value;
        _logger = logger;
        _postgres = database.Value.Provider == "postgres";
        _mode = !server.Value.ServesControlPlane ? Mode.Never : _postgres ? Mode.Lease : Mode.Always;
        _connectionString = database.Value.ConnectionString;
    }

    /// <summary>This process's name among the replicas: the lease's holder while it leads.</summary>
    public string Replica => _replica;

    /// <summary>Whether this process competes for the lease (a control or all-in-one process on PostgreSQL).</summary>
    public bool UsesLease => _mode == Mode.Lease;

    public bool IsLeader => _mode switch
    {
        Mode.Always => true,
        Mode.Lease => Current is not null,
        _ => false,
    };

    public long? FencingToken => Current?.Token;

    private Term? Current => _term is { } t && !t.Ended.IsCancellationRequested ? t : null;

    public async Task<LeadershipTerm> WaitForTermAsync(CancellationToken cancellationToken)
    {
        switch (_mode)
        {
            case Mode.Always:
                return new LeadershipTerm(null, CancellationToken.None);
            case Mode.Never:
                await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
                throw new OperationCanceledException(cancellationToken);
        }
        Task<LeadershipTerm> next;
        lock (_lock)
        {
            if (Current is { } term)
            {
                return new LeadershipTerm(term.Token, term.Ended.Token);
            }
            next = _next.Task;
        }
        return await next.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The first attempt is made before the host goes on to start the workers and to serve: a process that finds the lease
    /// free leads from its first request on, as a single process always has.
    /// </summary>
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        if (_mode == Mode.Lease)
        {
            await StepAsync(cancellationToken).ConfigureAwait(false);
        }
        await base.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_mode != Mode.Lease)
        {
            return;
        }
        try
        {
            while (true)
            {
                await Task.Delay(_options.LeaseRenewInterval, stoppingToken).ConfigureAwait(false);
                await StepAsync(stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Stops renewing (the workers, registered after the lease, have stopped already), then releases the lease so that a standby takes over at once.</summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        await ReleaseAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// One attempt: renews the lease while this process leads, otherwise tries to take it. A failure (the database
    /// unreachable, slow) is logged and retried at the next interval; the leader steps down by its deadline meanwhile.
    /// </summary>
    internal async Task StepAsync(CancellationToken cancellationToken)
    {
        if (_mode != Mode.Lease)
        {
            return;
        }
        var started = Stopwatch.GetTimestamp();
        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        attempt.CancelAfter(_options.LeaseDuration);
        try
        {
            if (Current is { } term)
            {
                var renewed = await ExecuteAsync(RenewSql, term.Token, attempt.Token).ConfigureAwait(false);
                if (renewed is null)
                {
                    End(term, "its lease was taken by another process or removed");
                }
                else
                {
                    Extend(term, started);
                }
            }
            else if (await ExecuteAsync(AcquireSql, null, attempt.Token).ConfigureAwait(false) is { } token)
            {
                Begin(token, started);
            }
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is NpgsqlException or OperationCanceledException or TimeoutException or InvalidOperationException)
        {
            LogAttemptFailed(_logger, e, Current is not null ? "renew" : "take");
        }
    }

    /// <summary>Ends this process's term and expires its lease at once (the process stops): a standby takes over at its next attempt.</summary>
    internal async Task ReleaseAsync(CancellationToken cancellationToken)
    {
        if (_mode != Mode.Lease || Current is not { } term)
        {
            return;
        }
        End(term, "it stops (the lease is released)");
        try
        {
            using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            attempt.CancelAfter(_options.LeaseRenewInterval);
            await ExecuteAsync(ReleaseSql, term.Token, attempt.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is NpgsqlException or OperationCanceledException or TimeoutException or InvalidOperationException)
        {
            LogAttemptFailed(_logger, e, "release");
        }
    }

    /// <summary>The lease as the store holds it now; null without one (SQLite, or never taken).</summary>
    public async Task<LeaseState?> ReadAsync(CancellationToken cancellationToken)
    {
        if (!_postgres)
        {
            return null;
        }
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand(ReadSql, connection);
        command.Parameters.AddWithValue("name", WorkersLease);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false)
            ? new LeaseState(reader.GetString(0), reader.GetInt64(1), reader.GetDateTime(2), reader.GetDateTime(3), reader.GetBoolean(4))
            : null;
    }

    /// <summary>A refused fenced write: the term with <paramref name="token"/> is over, whatever the renewals said.</summary>
    internal void Lost(long token, string reason)
    {
        if (Current is { } term && term.Token == token)
        {
            End(term, reason);
        }
    }

    private async Task<long?> ExecuteAsync(string sql, long? token, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("name", WorkersLease);
        command.Parameters.AddWithValue("holder", _replica);
        command.Parameters.AddWithValue("duration", _options.LeaseDuration);
        command.Parameters.AddWithValue("token", token ?? 0L);
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as long?;
    }

    private void Begin(long token, long started)
    {
        var term = new Term(token);
        TaskCompletionSource<LeadershipTerm> next;
        Term? previous;
        lock (_lock)
        {
            previous = _term;
            _term = term;
            next = _next;
            _next = new TaskCompletionSource<LeadershipTerm>(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        if (previous is not null)
        {
            End(previous, $"it took the lease again (token {token})");
        }
        term.Ended.Token.Register(() => Announce($"stops leading the workers (lease token {token}): {term.Reason}"));
        Extend(term, started);
        Announce($"leads the workers (lease token {token})");
        next.TrySetResult(new LeadershipTerm(token, term.Ended.Token));
    }

    /// <summary>
    /// The lease now expires at least <see cref="ClusterOptions.LeaseDuration"/> after <paramref name="started"/> (the database
    /// set its expiry after this attempt began): this process steps down <see cref="ClusterOptions.LeaseRenewInterval"/> before.
    /// </summary>
    private void Extend(Term term, long started)
    {
        var left = _options.LeaseDuration - _options.LeaseRenewInterval - Stopwatch.GetElapsedTime(started);
        try
        {
            if (left <= TimeSpan.Zero)
            {
                term.Ended.Cancel();
            }
            else
            {
                term.Ended.CancelAfter(left);
            }
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private static void End(Term term, string reason)
    {
        if (!term.Ended.IsCancellationRequested)
        {
            term.Reason = reason;
            term.Ended.Cancel();
        }
    }

    /// <summary>Printed to standard output whatever the log level, like the listening line: operators and tests watch for it.</summary>
    private void Announce(string what)
    {
        Console.Out.WriteLine($"ModelGate replica {_replica} {what}");
        Console.Out.Flush();
    }

    private sealed class Term(long token)
    {
        public long Token { get; } = token;
        public CancellationTokenSource Ended { get; } = new();
        public string Reason { get; set; } = "its lease could not be renewed in time";
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not {Action} the workers' lease; retrying at the next interval")]
    private static partial void LogAttemptFailed(ILogger logger, Exception exception, string action);
}
