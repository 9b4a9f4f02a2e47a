using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace ModelGate.Storage.Sqlite;

public sealed class SqliteModelGateDbContext(DbContextOptions<SqliteModelGateDbContext> options) : ModelGateDbContext(options)
{
    // Microsoft.Data.Sqlite opens transactions with BEGIN IMMEDIATE, which already takes SQLite's single write lock.
    public override Task LockForWriteAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    // A list in a query (ids IN (...)) goes as one JSON parameter: EF's default of one parameter per element
    // rebuilds the SQL for every request and cost ~75% of listing 1,000 versions (bench/README.md).
    public static void Configure(DbContextOptionsBuilder builder, string connectionString) =>
        builder.UseSqlite(connectionString, o => o
            .MigrationsAssembly(typeof(SqliteModelGateDbContext).Assembly.GetName().Name)
            .UseParameterizedCollectionMode(ParameterTranslationMode.Parameter));
}

/// <summary>Used by <c>dotnet ef migrations add</c> only.</summary>
public sealed class SqliteDesignTimeFactory : IDesignTimeDbContextFactory<SqliteModelGateDbContext>
{
    public SqliteModelGateDbContext CreateDbContext(string[] args)
    {
        var builder = new DbContextOptionsBuilder<SqliteModelGateDbContext>();
        SqliteModelGateDbContext.Configure(builder, "Data Source=design-time.db");
        return new SqliteModelGateDbContext(builder.Options);
    }
}
