using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace ModelGate.Storage.Postgres;

public sealed class PostgresModelGateDbContext(DbContextOptions<PostgresModelGateDbContext> options) : ModelGateDbContext(options)
{
    // Any number of control-plane replicas may write; the audit chain needs one writer at a time.
    private const long WriteLockKey = 0x4D47_5752; // "MGWR"

    public override Task LockForWriteAsync(CancellationToken cancellationToken) =>
        Database.ExecuteSqlRawAsync($"SELECT pg_advisory_xact_lock({WriteLockKey})", cancellationToken);

    /// <summary>Binary <c>COPY … FROM STDIN</c>: one round trip for the whole batch, atomic (all rows or none).</summary>
    public override async Task<bool> CopyAsync(string table, IReadOnlyList<string> columns, IEnumerable<object?[]> rows, CancellationToken cancellationToken)
    {
        var connection = (Npgsql.NpgsqlConnection)Database.GetDbConnection();
        await using var import = await connection.BeginBinaryImportAsync($"COPY {table} ({string.Join(", ", columns)}) FROM STDIN (FORMAT BINARY)",
            cancellationToken);
        foreach (var row in rows)
        {
            await import.StartRowAsync(cancellationToken);
            foreach (var value in row)
            {
                if (value is null)
                {
                    await import.WriteNullAsync(cancellationToken);
                }
                else
                {
                    await import.WriteAsync(value, cancellationToken);
                }
            }
        }
        await import.CompleteAsync(cancellationToken);
        return true;
    }

    public static void Configure(DbContextOptionsBuilder builder, string connectionString) =>
        builder.UseNpgsql(connectionString, o => o.MigrationsAssembly(typeof(PostgresModelGateDbContext).Assembly.GetName().Name));
}

/// <summary>Used by <c>dotnet ef migrations add</c> only.</summary>
public sealed class PostgresDesignTimeFactory : IDesignTimeDbContextFactory<PostgresModelGateDbContext>
{
    public PostgresModelGateDbContext CreateDbContext(string[] args)
    {
        var builder = new DbContextOptionsBuilder<PostgresModelGateDbContext>();
        PostgresModelGateDbContext.Configure(builder, "Host=localhost;Database=modelgate_design");
        return new PostgresModelGateDbContext(builder.Options);
    }
}
