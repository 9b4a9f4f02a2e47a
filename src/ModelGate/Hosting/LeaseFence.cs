using System.Data.Common;
using System.Runtime.CompilerServices;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Storage;

namespace ModelGate.Hosting;

/// <summary>
/// "This code writes on the workers' lease's behalf, with fencing token N": set by <see cref="LeaderWorker"/> for the worker's
/// whole term and carried by the async flow into every write it makes; <see cref="LeaseFenceInterceptor"/> checks it.
/// Writes made for people through the API carry none and are not fenced.
/// </summary>
public static class LeaseFence
{
    private static readonly AsyncLocal<long?> s_token = new();

    /// <summary>The fencing token the current flow writes under, or null (not a worker's write, or no lease: SQLite).</summary>
    public static long? Token
    {
        get => s_token.Value;
        internal set => s_token.Value = value;
    }
}

/// <summary>A write made under a fencing token that is no longer the lease's: another process leads now. Nothing was written.</summary>
public sealed class LeaseLostException(string message) : DbUpdateException(message);

/// <summary>
/// Fences every save made under <see cref="LeaseFence.Token"/>: inside the save's own transaction (the caller's, such as an
/// <see cref="Storage.AuditScope"/>'s, or one opened here around a plain <c>SaveChanges</c>) it reads the lease's token
/// with a share lock, which a new holder's takeover must wait for, and refuses the save (rolled back, logged) when the
/// token is not the one the writer holds. So a leader that lost the lease without noticing (paused, partitioned) cannot
/// write after another process has taken over, and no action is done twice across a handover.
/// </summary>
public sealed partial class LeaseFenceInterceptor(LeaderLease lease, ILogger<LeaseFenceInterceptor> logger) : SaveChangesInterceptor
{
    private const string CheckSql = $"SELECT \"Token\" FROM leases WHERE \"Name\" = @name FOR SHARE";

    /// <summary>Transactions opened here around a save that had none: committed when the save succeeds, rolled back when it fails.</summary>
    private readonly ConditionalWeakTable<DbContext, IDbContextTransaction> _opened = new();

    public override async ValueTask<InterceptionResult<int>> SavingChangesAsync(DbContextEventData eventData, InterceptionResult<int> result,
        CancellationToken cancellationToken = default)
    {
        if (LeaseFence.Token is not { } token || eventData.Context is not { } db)
        {
            return result;
        }
        if (db.Database.CurrentTransaction is null)
        {
            if (!db.ChangeTracker.HasChanges())
            {
                return result;
            }
            _opened.AddOrUpdate(db, await db.Database.BeginTransactionAsync(cancellationToken).ConfigureAwait(false));
        }
        await using var command = Command(db, token);
        var held = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        if (held is not long current || current != token)
        {
            await EndOpenedAsync(db, commit: false).ConfigureAwait(false);
            throw Refuse(token, held as long?);
        }
        return result;
    }

    public override InterceptionResult<int> SavingChanges(DbContextEventData eventData, InterceptionResult<int> result)
    {
        if (LeaseFence.Token is not { } token || eventData.Context is not { } db)
        {
            return result;
        }
        if (db.Database.CurrentTransaction is null)
        {
            if (!db.ChangeTracker.HasChanges())
            {
                return result;
            }
            _opened.AddOrUpdate(db, db.Database.BeginTransaction());
        }
        using var command = Command(db, token);
        var held = command.ExecuteScalar();
        if (held is not long current || current != token)
        {
            EndOpenedAsync(db, commit: false).AsTask().GetAwaiter().GetResult();
            throw Refuse(token, held as long?);
        }
        return result;
    }

    public override async ValueTask<int> SavedChangesAsync(SaveChangesCompletedEventData eventData, int result, CancellationToken cancellationToken = default)
    {
        await EndOpenedAsync(eventData.Context, commit: true, cancellationToken).ConfigureAwait(false);
        return result;
    }

    public override int SavedChanges(SaveChangesCompletedEventData eventData, int result)
    {
        EndOpenedAsync(eventData.Context, commit: true).AsTask().GetAwaiter().GetResult();
        return result;
    }

    public override async Task SaveChangesFailedAsync(DbContextErrorEventData eventData, CancellationToken cancellationToken = default) =>
        await EndOpenedAsync(eventData.Context, commit: false).ConfigureAwait(false);

    public override void SaveChangesFailed(DbContextErrorEventData eventData) =>
        EndOpenedAsync(eventData.Context, commit: false).AsTask().GetAwaiter().GetResult();

    public override async Task SaveChangesCanceledAsync(DbContextEventData eventData, CancellationToken cancellationToken = default) =>
        await EndOpenedAsync(eventData.Context, commit: false).ConfigureAwait(false);

    private static DbCommand Command(DbContext db, long token)
    {
        var command = db.Database.GetDbConnection().CreateCommand();
        command.Transaction = db.Database.CurrentTransaction!.GetDbTransaction();
        command.CommandText = CheckSql;
        var name = command.CreateParameter();
        name.ParameterName = "name";
        name.Value = LeaderLease.WorkersLease;
        command.Parameters.Add(name);
        return command;
    }

    private async ValueTask EndOpenedAsync(DbContext? db, bool commit, CancellationToken cancellationToken = default)
    {
        if (db is null || !_opened.TryGetValue(db, out var tx))
        {
            return;
        }
        _opened.Remove(db);
        await using (tx.ConfigureAwait(false))
        {
            if (commit)
            {
                await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private LeaseLostException Refuse(long token, long? held)
    {
        LogRefused(logger, token, held);
        lease.Lost(token, $"a write under its token was refused: the lease's token is now {held?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "gone"}");
        return new LeaseLostException($"the workers' lease is no longer held with token {token} (its token is {held?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "gone"}): the write was refused and rolled back");
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "A worker's write under lease token {Token} was refused and rolled back: the lease's token is {Held}; another process leads")]
    private static partial void LogRefused(ILogger logger, long token, long? held);
}
