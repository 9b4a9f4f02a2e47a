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
        services.AddOptions<ArtifactStoreOptions>().BindConfiguration(ArtifactStoreOptions.Section);
        services.AddOptions<LimitsOptions>().BindConfiguration(LimitsOptions.Section).ValidateDataAnnotations().ValidateOnStart();

        services.AddDbContext<SqliteModelGateDbContext>((sp, b) => SqliteModelGateDbContext.Configure(b, SqliteConnectionString(sp)));
        services.AddDbContext<PostgresModelGateDbContext>((sp, b) =>
            PostgresModelGateDbContext.Configure(b, sp.GetRequiredService<IOptions<DatabaseOptions>>().Value.ConnectionString!));
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
