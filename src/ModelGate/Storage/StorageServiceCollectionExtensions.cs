using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using ModelGate.Storage.Postgres;
using ModelGate.Storage.Sqlite;

namespace ModelGate.Storage;

public static class StorageServiceCollectionExtensions
{
    public static IServiceCollection AddModelGateStorage(this IServiceCollection services)
    {
        services.AddOptions<DataOptions>().BindConfiguration(DataOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<DatabaseOptions>().BindConfiguration(DatabaseOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<ArtifactStoreOptions>().BindConfiguration(ArtifactStoreOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<LimitsOptions>().BindConfiguration(LimitsOptions.Section).ValidateDataAnnotations().ValidateOnStart();

        // The options depend on configuration only, so they are built once (singleton) rather than for every scope: the request
        // log's batches, the routing poll and each API call would otherwise rebuild them and have EF Core look up its internal
        // service provider by comparing every options extension, work that showed among the JIT's busiest tier-1 methods.
        services.AddDbContext<SqliteModelGateDbContext>((sp, b) => SqliteModelGateDbContext.Configure(b, SqliteConnectionString(sp)),
            optionsLifetime: ServiceLifetime.Singleton);
        services.AddDbContext<PostgresModelGateDbContext>((sp, b) =>
        {
            PostgresModelGateDbContext.Configure(b, sp.GetRequiredService<IOptions<DatabaseOptions>>().Value.ConnectionString!);
            if (sp.GetService<Hosting.LeaseFenceInterceptor>() is { } fence)
            {
                b.AddInterceptors(fence); // a worker's write checks the workers' lease is still its own
            }
        }, optionsLifetime: ServiceLifetime.Singleton);
        services.AddScoped<ModelGateDbContext>(sp => sp.GetRequiredService<IOptions<DatabaseOptions>>().Value.Provider == "postgres"
            ? sp.GetRequiredService<PostgresModelGateDbContext>()
            : sp.GetRequiredService<SqliteModelGateDbContext>());

        services.AddSingleton<WriteGate>();
        services.AddScoped<AuditedWrite>();
        services.AddSingleton<IBlobStore, FileSystemBlobStore>();
        services.AddHostedService<DatabaseInitializer>();
        return services;
    }

    private static string SqliteConnectionString(IServiceProvider sp)
    {
        var configured = sp.GetRequiredService<IOptions<DatabaseOptions>>().Value.ConnectionString;
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return configured;
        }
        var dataDir = Path.GetFullPath(sp.GetRequiredService<IOptions<DataOptions>>().Value.Directory);
        return $"Data Source={Path.Combine(dataDir, "modelgate.db")};Pooling=True;Default Timeout=30";
    }
}
