using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using ModelGate.Client;
using ModelGate.Hosting;
using ModelGate.Storage;

namespace ModelGate.Evaluation;

/// <summary>
/// Which process runs each queued or running evaluation, so that a run is never failed while the process that holds it is
/// alive, and is failed once it is not. A run is held in the memory of the control process that accepted it (its dataset,
/// its upstream's key, which is never stored) and runs there. On PostgreSQL, where several control processes share the
/// store, the accepting process writes a claim row <c>leases</c>/<c>evaluation:{id}</c> in the same transaction as the run,
/// renews its claims every <see cref="ClusterOptions.LeaseRenewInterval"/> while it holds runs, and deletes each when its run
/// ends; a claim expires <see cref="ClusterOptions.LeaseDuration"/> after its last renewal on the database's clock. The leader
/// fails the runs whose claim has expired (<see cref="InterruptedEvaluations"/>). On SQLite (one process) nothing is written:
/// a run not in memory belongs to a process that stopped.
/// </summary>
public sealed partial class EvaluationClaims(EvaluationJobs jobs, IServiceScopeFactory scopes, IOptions<DatabaseOptions> database,
    IOptions<ServerOptions> server, IOptions<ClusterOptions> cluster, ILogger<EvaluationClaims> logger) : BackgroundService
{
    public const string Prefix = "evaluation:";

    /// <summary>Whether runs are claimed in the store: several processes may share it (PostgreSQL).</summary>
    public bool Shared { get; } = database.Value.Provider == "postgres";

    /// <summary>Claims the run for this process, inside the caller's transaction (the one that writes the queued run).</summary>
    public async Task ClaimAsync(ModelGateDbContext db, string id, CancellationToken cancellationToken)
    {
        if (!Shared)
        {
            return;
        }
        var (name, holder, duration) = (Prefix + id, server.Value.Replica, cluster.Value.LeaseDuration);
        await db.Database.ExecuteSqlInterpolatedAsync($"""
            INSERT INTO leases ("Name", "Holder", "Token", "AcquiredAt", "ExpiresAt") VALUES ({name}, {holder}, 0, now(), now() + {duration})
            """, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Ends this process's claim of a run that ended.</summary>
    public async Task ReleaseAsync(string id)
    {
        if (!Shared)
        {
            return;
        }
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<ModelGateDbContext>();
            var (name, holder) = (Prefix + id, server.Value.Replica);
            await db.Database.ExecuteSqlInterpolatedAsync($"""DELETE FROM leases WHERE "Name" = {name} AND "Holder" = {holder}""").ConfigureAwait(false);
        }
        catch (Exception e)
        {
            LogReleaseFailed(logger, e, id); // the claim expires on its own; the run is terminal, so nothing fails it
        }
    }

    /// <summary>The queued or running runs no live process holds: not in this process's memory, and (PostgreSQL) with no unexpired claim.</summary>
    public async Task<IReadOnlyList<string>> OrphansAsync(ModelGateDbContext db, CancellationToken cancellationToken)
    {
        var (queued, running) = (EvaluationStatuses.Queued, EvaluationStatuses.Running);
        var ids = Shared
            ? await db.Database.SqlQuery<string>($"""
                SELECT e."Id" AS "Value" FROM evaluations e
                WHERE e."Status" IN ({queued}, {running})
                  AND NOT EXISTS (SELECT 1 FROM leases l WHERE l."Name" = {Prefix} || e."Id" AND l."ExpiresAt" > now())
                """).ToListAsync(cancellationToken).ConfigureAwait(false)
            : await db.Evaluations.Where(e => e.Status == queued || e.Status == running).Select(e => e.Id).ToListAsync(cancellationToken).ConfigureAwait(false);
        return ids.Where(id => jobs.Find(id) is null).ToList();
    }

    /// <summary>Renews this process's claims while it holds runs (real time: the claims expire on the database's clock).</summary>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!Shared)
        {
            return;
        }
        using var timer = new PeriodicTimer(cluster.Value.LeaseRenewInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                if (jobs.Count == 0)
                {
                    continue;
                }
                try
                {
                    await using var scope = scopes.CreateAsyncScope();
                    var db = scope.ServiceProvider.GetRequiredService<ModelGateDbContext>();
                    var (holder, duration, pattern) = (server.Value.Replica, cluster.Value.LeaseDuration, Prefix + "%");
                    await db.Database.ExecuteSqlInterpolatedAsync($"""
                        UPDATE leases SET "ExpiresAt" = now() + {duration} WHERE "Holder" = {holder} AND "Name" LIKE {pattern}
                        """, stoppingToken).ConfigureAwait(false);
                }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                {
                    LogRenewFailed(logger, e);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Renewing this process's evaluation claims failed; a claim not renewed within the lease duration lets the leader fail its run")]
    private static partial void LogRenewFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Releasing the claim of evaluation {Id} failed; it expires on its own")]
    private static partial void LogReleaseFailed(ILogger logger, Exception exception, string id);
}
