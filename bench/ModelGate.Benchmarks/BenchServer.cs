using System.Data.Common;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using ModelGate.Hosting;
using ModelGate.Storage.Postgres;
using ModelGate.Storage.Sqlite;
using Npgsql;

namespace ModelGate.Benchmarks;

/// <summary>
/// The real ModelGate host (<see cref="ModelGateHost.Build"/>, as <c>modelgate serve</c>) on Kestrel at 127.0.0.1 on a
/// random port, on a fresh database of its own; disposing it stops the host and removes the database and data directory.
/// </summary>
internal sealed class BenchServer : IAsyncDisposable
{
    public const string AdminKey = "mg_bench-admin-key-0123456789abcdefghijklmnopqrstuvwxyz";

    private readonly WebApplication _app;
    private readonly string _dataDirectory;
    private readonly Func<Task> _dropDatabase;

    private BenchServer(string provider, WebApplication app, Uri baseAddress, string dataDirectory, SqlCommandCounter counter, Func<Task> dropDatabase)
    {
        Provider = provider;
        _app = app;
        BaseAddress = baseAddress;
        _dataDirectory = dataDirectory;
        Sql = counter;
        _dropDatabase = dropDatabase;
    }

    public string Provider { get; }
    public Uri BaseAddress { get; }
    public SqlCommandCounter Sql { get; }

    /// <summary>The host's services (the console suite seeds the request log through the store's own bulk insert).</summary>
    public IServiceProvider Services => _app.Services;

    public static Task<BenchServer> StartSqliteAsync(IReadOnlyList<string> extraArgs) =>
        StartAsync("sqlite", extraArgs, () => Task.CompletedTask);

    /// <summary>Creates a fresh database next to the one the connection string names; null (with the reason) when PostgreSQL is not reachable.</summary>
    public static async Task<(BenchServer? Server, string? SkipReason)> StartPostgresAsync(string connectionString, IReadOnlyList<string> extraArgs)
    {
        NpgsqlConnectionStringBuilder admin;
        try
        {
            admin = new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false };
        }
        catch (ArgumentException e)
        {
            return (null, $"{BenchOptions.PostgresEnvironmentVariable} is not a valid connection string: {e.Message}");
        }
        if (string.IsNullOrEmpty(admin.Database))
        {
            admin.Database = "postgres";
        }
        if (admin.Timeout > 5)
        {
            admin.Timeout = 5;
        }
        var database = "mg_bench_" + Guid.NewGuid().ToString("N")[..12];
        try
        {
            await using var connection = new NpgsqlConnection(admin.ConnectionString);
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{database}\"", connection);
            await create.ExecuteNonQueryAsync();
        }
        catch (Exception e) when (e is NpgsqlException or DbException or TimeoutException or InvalidOperationException)
        {
            return (null, $"PostgreSQL at {admin.Host}:{admin.Port} is not usable ({e.GetType().Name}: {FirstLine(e.Message)})");
        }

        var benchDb = new NpgsqlConnectionStringBuilder(connectionString) { Database = database };
        async Task Drop()
        {
            NpgsqlConnection.ClearAllPools();
            await using var connection = new NpgsqlConnection(admin.ConnectionString);
            await connection.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)", connection);
            await drop.ExecuteNonQueryAsync();
        }
        try
        {
            var server = await StartAsync("postgres",
                ["--Database:Provider=postgres", $"--Database:ConnectionString={benchDb.ConnectionString}", .. extraArgs], Drop);
            return (server, null);
        }
        catch
        {
            await Drop();
            throw;
        }
    }

    private static async Task<BenchServer> StartAsync(string provider, IReadOnlyList<string> hostArgs, Func<Task> dropDatabase)
    {
        var dataDirectory = Path.Combine(Path.GetTempPath(), "modelgate-bench", Guid.NewGuid().ToString("N"));
        string[] args =
        [
            "--urls=http://127.0.0.1:0",
            $"--Data:Directory={dataDirectory}",
            $"--Security:BootstrapAdminKey={AdminKey}",
            // The benchmarks' upstreams listen on loopback, which the egress policy refuses unless allowed.
            "--Security:AllowedEgress:0=127.0.0.0/8",
            "--Logging:LogLevel:Default=Warning",
            // EF Core logs, as an error, the probe of the migrations table it does on a fresh PostgreSQL database; a failing
            // command during the run still shows, as a non-2xx answer in the Errors column.
            "--Logging:LogLevel:Microsoft.EntityFrameworkCore.Database.Command=None",
            .. hostArgs,
        ];
        var counter = new SqlCommandCounter();
        var app = ModelGateHost.Build(args, builder =>
        {
            // Counts the SQL commands each scenario costs; adds an interlocked increment per command, nothing else.
            builder.Services.ConfigureDbContext<SqliteModelGateDbContext>((_, o) => o.AddInterceptors(counter));
            builder.Services.ConfigureDbContext<PostgresModelGateDbContext>((_, o) => o.AddInterceptors(counter));
        });
        try
        {
            await app.StartAsync();
        }
        catch
        {
            await app.DisposeAsync();
            TryDeleteDirectory(dataDirectory);
            throw;
        }
        var address = app.Urls.FirstOrDefault(u => u.StartsWith("http://", StringComparison.Ordinal))
                      ?? throw new InvalidOperationException("the host reported no http address");
        return new BenchServer(provider, app, new Uri(address.TrimEnd('/') + "/"), dataDirectory, counter, dropDatabase);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            try
            {
                await _dropDatabase();
            }
            catch (Exception e) when (e is NpgsqlException or DbException)
            {
                await Console.Error.WriteLineAsync($"  note: could not drop the benchmark database: {FirstLine(e.Message)}");
            }
            TryDeleteDirectory(_dataDirectory);
        }
    }

    private static void TryDeleteDirectory(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
        catch (IOException e)
        {
            Console.Error.WriteLine($"  note: could not remove {path}: {e.Message}");
        }
    }

    private static string FirstLine(string text) => text.Split('\n', 2)[0].Trim();
}

/// <summary>Counts the SQL commands EF Core sends (queries, inserts, updates) across all contexts of one host.</summary>
internal sealed class SqlCommandCounter : DbCommandInterceptor
{
    private long _count;

    public long Count => Interlocked.Read(ref _count);

    public override InterceptionResult<DbDataReader> ReaderExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result)
    {
        Interlocked.Increment(ref _count);
        return result;
    }

    public override ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(DbCommand command, CommandEventData eventData,
        InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _count);
        return ValueTask.FromResult(result);
    }

    public override InterceptionResult<int> NonQueryExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<int> result)
    {
        Interlocked.Increment(ref _count);
        return result;
    }

    public override ValueTask<InterceptionResult<int>> NonQueryExecutingAsync(DbCommand command, CommandEventData eventData,
        InterceptionResult<int> result, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _count);
        return ValueTask.FromResult(result);
    }

    public override InterceptionResult<object> ScalarExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<object> result)
    {
        Interlocked.Increment(ref _count);
        return result;
    }

    public override ValueTask<InterceptionResult<object>> ScalarExecutingAsync(DbCommand command, CommandEventData eventData,
        InterceptionResult<object> result, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _count);
        return ValueTask.FromResult(result);
    }
}
