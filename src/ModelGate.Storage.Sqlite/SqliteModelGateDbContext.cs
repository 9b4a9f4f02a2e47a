using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace ModelGate.Storage.Sqlite;

public sealed class SqliteModelGateDbContext(DbContextOptions<SqliteModelGateDbContext> options) : ModelGateDbContext(options)
{
    // Microsoft.Data.Sqlite opens transactions with BEGIN IMMEDIATE, which already takes SQLite's single write lock.
    public override Task LockForWriteAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public static void Configure(DbContextOptionsBuilder builder, string connectionString) =>
        builder.UseSqlite(connectionString, o => o.MigrationsAssembly(typeof(SqliteModelGateDbContext).Assembly.GetName().Name));
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
