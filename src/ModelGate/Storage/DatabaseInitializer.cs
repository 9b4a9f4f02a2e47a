using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace ModelGate.Storage;

/// <summary>Creates the data directory and applies migrations before the server accepts requests.</summary>
internal sealed partial class DatabaseInitializer(IServiceProvider services, IOptions<DataOptions> data, IOptions<DatabaseOptions> database,
    IBlobStore blobs, ILogger<DatabaseInitializer> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.GetFullPath(data.Value.Directory));
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ModelGateDbContext>();
        if (database.Value.Provider == "sqlite")
        {
            // WAL keeps readers off the writer's lock and makes each commit atomic across a process kill.
            await db.Database.OpenConnectionAsync(cancellationToken);
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", cancellationToken);
            await db.Database.CloseConnectionAsync();
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

    [LoggerMessage(Level = LogLevel.Information, Message = "Applied {Count} migration(s) to the {Provider} database")]
    private static partial void LogMigrated(ILogger logger, string provider, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Removed {Count} incomplete artifact upload(s) left by an earlier process")]
    private static partial void LogRemovedIncomplete(ILogger logger, int count);
}
