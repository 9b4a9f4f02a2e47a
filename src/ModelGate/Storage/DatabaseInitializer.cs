using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using ModelGate.Hosting;

namespace ModelGate.Storage;

/// <summary>
/// Creates the data directory and applies migrations before the server accepts requests. A gateway replica does not
/// migrate: it waits (<see cref="DatabaseOptions.SchemaWait"/>) for a control or all-in-one process to have done so.
/// </summary>
internal sealed partial class DatabaseInitializer(IServiceProvider services, IOptions<DataOptions> data, IOptions<DatabaseOptions> database,
    IOptions<ServerOptions> server, IBlobStore blobs, ILogger<DatabaseInitializer> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        OwnerOnly.CreateDirectory(Path.GetFullPath(data.Value.Directory));
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ModelGateDbContext>();
        if (database.Value.Provider == "sqlite")
        {
            CreateSqliteFileOwnerOnly(db.Database.GetConnectionString());
            // WAL keeps readers off the writer's lock and makes each commit atomic across a process kill.
            await db.Database.OpenConnectionAsync(cancellationToken);
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", cancellationToken);
            await db.Database.CloseConnectionAsync();
        }
        if (!server.Value.ServesControlPlane)
        {
            await WaitForSchemaAsync(db, cancellationToken);
            return; // incomplete uploads are the control process's to remove: it is the one that receives them
        }
        var before = (await db.Database.GetAppliedMigrationsAsync(cancellationToken)).Count();
        await db.Database.MigrateAsync(cancellationToken);
        var applied = (await db.Database.GetAppliedMigrationsAsync(cancellationToken)).Count() - before;
        if (applied > 0)
        {
            LogMigrated(logger, database.Value.Provider, applied);
        }
        var removed = await blobs.RemoveIncompleteAsync(cancellationToken);
        if (removed > 0)
        {
            LogRemovedIncomplete(logger, removed);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// SQLite would create the file with the umask's mode (0644 typically), readable by every local user; created here empty
    /// and 0600 first, SQLite uses it, and gives its -wal and -shm files the database file's mode.
    /// </summary>
    private static void CreateSqliteFileOwnerOnly(string? connectionString)
    {
        var source = new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(connectionString).DataSource;
        if (string.IsNullOrEmpty(source) || source == ":memory:" || source.StartsWith("file:", StringComparison.OrdinalIgnoreCase))
        {
            return;
        }
        var path = Path.GetFullPath(source);
        OwnerOnly.CreateDirectory(Path.GetDirectoryName(path)!);
        OwnerOnly.CreateFileIfMissing(path);
    }

    private async Task WaitForSchemaAsync(ModelGateDbContext db, CancellationToken cancellationToken)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        var logged = false;
        while (true)
        {
            var pending = (await db.Database.GetPendingMigrationsAsync(cancellationToken)).ToList();
            if (pending.Count == 0)
            {
                return;
            }
            if (waited.Elapsed >= database.Value.SchemaWait)
            {
                throw new SchemaNotReadyException(
                    $"the database is {pending.Count} migration(s) behind this version of ModelGate (the newest not applied: {pending[^1]}), " +
                    $"and a gateway replica does not migrate: start a control (or all-in-one) `modelgate serve` on the same store first " +
                    $"(waited {database.Value.SchemaWait.TotalSeconds:F0} s, Database:SchemaWait).");
            }
            if (!logged)
            {
                LogWaitingForSchema(logger, pending.Count, database.Value.SchemaWait.TotalSeconds);
                logged = true;
            }
            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The database is {Count} migration(s) behind; waiting up to {Seconds} s for a control process to apply them")]
    private static partial void LogWaitingForSchema(ILogger logger, int count, double seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Applied {Count} migration(s) to the {Provider} database")]
    private static partial void LogMigrated(ILogger logger, string provider, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Removed {Count} incomplete artifact upload(s) left by an earlier process")]
    private static partial void LogRemovedIncomplete(ILogger logger, int count);
}

/// <summary>A gateway replica started on a store whose schema a control process has not brought up to date.</summary>
public sealed class SchemaNotReadyException(string message) : Exception(message);
