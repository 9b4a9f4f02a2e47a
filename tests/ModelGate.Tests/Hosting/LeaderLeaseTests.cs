using System.Diagnostics;
using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using ModelGate.Hosting;
using ModelGate.Storage;
using ModelGate.Storage.Monitoring;
using ModelGate.Storage.Postgres;
using ModelGate.Tests.Infrastructure;
using Npgsql;

namespace ModelGate.Tests.Hosting;

/// <summary>A fresh, migrated PostgreSQL database with no server on it: the tests' lease instances are the only contenders.</summary>
public sealed class LeaseDatabase : IAsyncLifetime
{
    private string? _database;

    public string ConnectionString { get; private set; } = "";
    public string? SkipReason { get; private set; }

    public async ValueTask InitializeAsync()
    {
        _database = "mg_lease_" + Guid.NewGuid().ToString("N")[..12];
        try
        {
            await using var connection = new NpgsqlConnection(PostgresServerFixture.AdminConnectionString);
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {_database}", connection);
            await create.ExecuteNonQueryAsync();
        }
        catch (Exception e) when (e is NpgsqlException or System.Net.Sockets.SocketException or TimeoutException && !PostgresServerFixture.Required)
        {
            SkipReason = $"PostgreSQL is not reachable ({e.Message}); set MODELGATE_TEST_POSTGRES, or run .ci/run, to include these tests";
            _database = null;
            return;
        }
        ConnectionString = new NpgsqlConnectionStringBuilder(PostgresServerFixture.AdminConnectionString) { Database = _database }.ConnectionString;
        await using var db = Context(interceptor: null);
        await db.Database.MigrateAsync();
    }

    public PostgresModelGateDbContext Context(LeaseFenceInterceptor? interceptor)
    {
        var builder = new DbContextOptionsBuilder<PostgresModelGateDbContext>();
        PostgresModelGateDbContext.Configure(builder, ConnectionString);
        if (interceptor is not null)
        {
            builder.AddInterceptors(interceptor);
        }
        return new PostgresModelGateDbContext(builder.Options);
    }

    /// <summary>A lease instance as replica <paramref name="replica"/> would run it (not started: tests step it).</summary>
    public LeaderLease Lease(string replica, TimeSpan duration, string role = "control") => new(
        Options.Create(new ServerOptions { Role = role, Replica = replica }),
        Options.Create(new DatabaseOptions { Provider = "postgres", ConnectionString = ConnectionString }),
        Options.Create(new ClusterOptions { LeaseDuration = duration, LeaseRenewInterval = duration / 4 }),
        NullLogger<LeaderLease>.Instance);

    public async ValueTask DisposeAsync()
    {
        if (_database is not null)
        {
            NpgsqlConnection.ClearAllPools();
            await using var connection = new NpgsqlConnection(PostgresServerFixture.AdminConnectionString);
            await connection.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {_database} WITH (FORCE)", connection);
            await drop.ExecuteNonQueryAsync();
        }
    }
}

/// <summary>The workers' lease on real PostgreSQL: one leader, take-over after a dead leader's lease expires, fencing, release.</summary>
public sealed class LeaderLeaseTests(LeaseDatabase database, ITestOutputHelper output) : IClassFixture<LeaseDatabase>, IAsyncLifetime
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    public async ValueTask InitializeAsync()
    {
        if (database.SkipReason is not null)
        {
            Assert.Skip(database.SkipReason);
        }
        // Each test starts from a store nobody has led yet.
        await using var db = database.Context(null);
        await db.Leases.ExecuteDeleteAsync();
        await db.Silences.ExecuteDeleteAsync();
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public async Task TwoReplicas_OneLeads_TheOtherTakesOverOnceTheLeaderStopsRenewing()
    {
        var a = database.Lease("replica-a", Short);
        var b = database.Lease("replica-b", Short);
        await a.StepAsync(CancellationToken.None);
        await b.StepAsync(CancellationToken.None);
        Assert.True(a.IsLeader);
        Assert.False(b.IsLeader);
        var first = a.FencingToken!.Value;
        Assert.Null(b.FencingToken);
        var stored = await a.ReadAsync(CancellationToken.None);
        Assert.Equal(("replica-a", first, false), (stored!.Holder, stored.Token, stored.Expired));

        // a dies without releasing: it is never stepped again. b runs its loop (an attempt every LeaseRenewInterval).
        var aTerm = await a.WaitForTermAsync(CancellationToken.None);
        long? aEnded = null;
        using var _ = aTerm.Ended.Register(() => aEnded = Stopwatch.GetTimestamp());
        var clock = Stopwatch.StartNew();
        await using var running = await RunAsync(b);
        await b.WaitForTermAsync(CancellationToken.None).WaitAsync(Patience);
        var bLeads = Stopwatch.GetTimestamp();
        output.WriteLine($"take-over {clock.Elapsed.TotalSeconds:0.00} s after the leader's last renewal (LeaseDuration {Short.TotalSeconds} s, " +
                         $"LeaseRenewInterval {(Short / 4).TotalSeconds} s)");

        Assert.Equal(first + 1, b.FencingToken);
        // The dead leader had stepped down by its own clock before the lease it held could be taken.
        Assert.False(a.IsLeader);
        Assert.NotNull(aEnded);
        Assert.True(aEnded < bLeads);
        stored = await b.ReadAsync(CancellationToken.None);
        Assert.Equal(("replica-b", first + 1), (stored!.Holder, stored.Token));

        // Renewing keeps the token; a's return finds the lease taken.
        await b.StepAsync(CancellationToken.None);
        await a.StepAsync(CancellationToken.None);
        Assert.Equal((true, false, first + 1), (b.IsLeader, a.IsLeader, b.FencingToken));
    }

    [Fact]
    public async Task StaleHolder_FencedWrite_IsRefusedAndChangesNothing_WhileTheNewHoldersWriteSucceeds()
    {
        var a = database.Lease("replica-a", Short);
        var b = database.Lease("replica-b", Short);
        await a.StepAsync(CancellationToken.None);
        var stale = a.FencingToken!.Value;
        await using var running = await RunAsync(b);
        var current = (await b.WaitForTermAsync(CancellationToken.None).WaitAsync(Patience)).Token!.Value;

        // a's worker, paused through the hand-over, writes under its old token: a plain save, and a save in a transaction
        // (as an audited write makes it).
        await using (var db = database.Context(new LeaseFenceInterceptor(a, NullLogger<LeaseFenceInterceptor>.Instance)))
        {
            LeaseFence.Token = stale;
            try
            {
                db.Silences.Add(Silence("stale-plain"));
                await Assert.ThrowsAsync<LeaseLostException>(() => db.SaveChangesAsync());
                db.ChangeTracker.Clear();
                await using var tx = await db.Database.BeginTransactionAsync();
                db.Silences.Add(Silence("stale-in-transaction"));
                await Assert.ThrowsAsync<LeaseLostException>(() => db.SaveChangesAsync());
            }
            finally
            {
                LeaseFence.Token = null;
            }
        }
        await using (var db = database.Context(new LeaseFenceInterceptor(b, NullLogger<LeaseFenceInterceptor>.Instance)))
        {
            LeaseFence.Token = current;
            try
            {
                db.Silences.Add(Silence("current"));
                Assert.Equal(1, await db.SaveChangesAsync());
            }
            finally
            {
                LeaseFence.Token = null;
            }
            // A person's write through the API carries no token and is not fenced.
            db.Silences.Add(Silence("person"));
            Assert.Equal(1, await db.SaveChangesAsync());
        }
        await using (var db = database.Context(null))
        {
            Assert.Equal(["current", "person"], await db.Silences.OrderBy(s => s.Id).Select(s => s.Reason).ToListAsync());
        }
        Assert.True(b.IsLeader);
    }

    [Fact]
    public async Task FencedWrite_RefusedUnderALostTerm_EndsThatTermAtOnce()
    {
        var a = database.Lease("replica-a", TimeSpan.FromMinutes(1));
        await a.StepAsync(CancellationToken.None);
        var token = a.FencingToken!.Value;
        // Another process took the lease without a noticing (its renewals have not run yet): the token moved on.
        await using (var db = database.Context(null))
        {
            await db.Leases.ExecuteUpdateAsync(u => u.SetProperty(l => l.Token, token + 1).SetProperty(l => l.Holder, "replica-z"));
        }
        Assert.True(a.IsLeader);
        await using (var db = database.Context(new LeaseFenceInterceptor(a, NullLogger<LeaseFenceInterceptor>.Instance)))
        {
            LeaseFence.Token = token;
            try
            {
                db.Silences.Add(Silence("lost"));
                await Assert.ThrowsAsync<LeaseLostException>(() => db.SaveChangesAsync());
            }
            finally
            {
                LeaseFence.Token = null;
            }
        }
        Assert.False(a.IsLeader);
        await using (var db = database.Context(null))
        {
            Assert.Equal(0, await db.Silences.CountAsync());
        }
    }

    [Fact]
    public async Task CleanRelease_HandsOverAtOnce()
    {
        // A lease that would last a minute: the standby can only have it at its next attempt because it was released.
        var a = database.Lease("replica-a", TimeSpan.FromMinutes(1));
        var b = database.Lease("replica-b", TimeSpan.FromMinutes(1));
        await a.StepAsync(CancellationToken.None);
        await b.StepAsync(CancellationToken.None);
        Assert.Equal((true, false), (a.IsLeader, b.IsLeader));
        var first = a.FencingToken!.Value;

        await a.ReleaseAsync(CancellationToken.None);
        Assert.False(a.IsLeader);
        Assert.True((await a.ReadAsync(CancellationToken.None))!.Expired);
        await b.StepAsync(CancellationToken.None);
        Assert.True(b.IsLeader);
        Assert.Equal(first + 1, b.FencingToken);
    }

    [Fact]
    public async Task GatewayReplica_NeverTakesTheLease()
    {
        var gateway = database.Lease("replica-gw", Short, role: "gateway");
        await gateway.StartAsync(CancellationToken.None);
        try
        {
            await gateway.StepAsync(CancellationToken.None);
            using var cancel = new CancellationTokenSource();
            var waiting = gateway.WaitForTermAsync(cancel.Token);
            Assert.False(gateway.IsLeader);
            Assert.Null(await gateway.ReadAsync(CancellationToken.None)); // the lease is free, and the gateway did not take it
            Assert.False(waiting.IsCompleted);
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        }
        finally
        {
            await gateway.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task Worker_IdlesOnAStandby_StartsWhenItTakesOver_WritesUnderItsToken_AndStopsWhenTheTermEnds()
    {
        var a = database.Lease("replica-a", TimeSpan.FromMinutes(1));
        var b = database.Lease("replica-b", TimeSpan.FromMinutes(1));
        await a.StepAsync(CancellationToken.None);
        await b.StepAsync(CancellationToken.None);
        var worker = new ProbeWorker(b);
        await worker.StartAsync(CancellationToken.None);
        try
        {
            Assert.False(worker.Started.Task.IsCompleted); // b stands by
            await a.ReleaseAsync(CancellationToken.None);
            await b.StepAsync(CancellationToken.None);
            var (fence, leaderThen) = await worker.Started.Task.WaitAsync(Patience);
            Assert.Equal(b.FencingToken, fence);
            Assert.True(leaderThen);

            b.Lost(b.FencingToken!.Value, "test");
            await worker.Stopped.Task.WaitAsync(Patience);
            Assert.False(b.IsLeader);
        }
        finally
        {
            await worker.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task SqliteOrSingleProcess_LeadsWithoutALease()
    {
        var single = new LeaderLease(Options.Create(new ServerOptions { Role = "all", Replica = "solo" }), Options.Create(new DatabaseOptions()),
            Options.Create(new ClusterOptions()), NullLogger<LeaderLease>.Instance);
        Assert.True(single.IsLeader);
        Assert.Null(single.FencingToken);
        var term = await single.WaitForTermAsync(CancellationToken.None);
        Assert.Null(term.Token);
        Assert.False(term.Ended.CanBeCanceled);
        Assert.Null(await single.ReadAsync(CancellationToken.None));
    }

    private sealed class ProbeWorker(LeaderLease lease) : LeaderWorker(lease)
    {
        public TaskCompletionSource<(long? Fence, bool Leader)> Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Stopped { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override async Task LeadAsync(CancellationToken leading)
        {
            Started.TrySetResult((LeaseFence.Token, lease.IsLeader));
            try
            {
                await Task.Delay(Timeout.Infinite, leading);
            }
            finally
            {
                Stopped.TrySetResult();
            }
        }
    }

    private static SilenceEntity Silence(string reason) => new()
    {
        KeyPrefix = "test:", Until = DateTime.UtcNow.AddHours(1), Reason = reason, CreatedAt = DateTime.UtcNow, CreatedBy = "test",
    };

    /// <summary>Runs the lease's own loop (first attempt, then one every LeaseRenewInterval) until disposed, which stops and releases it.</summary>
    private static async Task<IAsyncDisposable> RunAsync(LeaderLease lease)
    {
        await lease.StartAsync(CancellationToken.None);
        return new Running(lease);
    }

    private sealed class Running(LeaderLease lease) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() => await lease.StopAsync(CancellationToken.None);
    }
}

/// <summary>A whole server's view of its leadership: <c>GET /api/v1/cluster</c> and the <c>modelgate_leader</c> gauge.</summary>
public abstract class ClusterApiTests(ServerFixture fixture) : ProviderTests(fixture)
{
    [Fact]
    public async Task Cluster_SaysThisReplicaLeads_AndShowsTheLeaseWhereThereIsOne()
    {
        var replica = Server.App.Services.GetRequiredService<IOptions<ServerOptions>>().Value.Replica;
        using var client = Server.Client();
        var cluster = await client.GetFromJsonAsync<System.Text.Json.Nodes.JsonObject>("/api/v1/cluster");
        Assert.Equal(replica, (string?)cluster!["replica"]);
        Assert.Equal("all", (string?)cluster["role"]);
        Assert.True((bool)cluster["leader"]!);
        if (Server.Provider == "postgres")
        {
            Assert.True((bool)cluster["leases"]!);
            var lease = cluster["lease"]!;
            Assert.Equal(replica, (string?)lease["holder"]);
            Assert.Equal((long)cluster["fencingToken"]!, (long)lease["token"]!);
            Assert.True((long)lease["token"]! >= 1);
            Assert.False((bool)lease["expired"]!);
        }
        else
        {
            Assert.False((bool)cluster["leases"]!);
            Assert.Null(cluster["lease"]);
            Assert.Null(cluster["fencingToken"]);
        }
        var metrics = await client.GetStringAsync("/metrics");
        Assert.Contains("\nmodelgate_leader 1\n", metrics);
    }

    [Fact]
    public async Task Cluster_NeedsAKey()
    {
        using var anonymous = Server.Client(token: null);
        using var response = await anonymous.GetAsync("/api/v1/cluster");
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, response.StatusCode);
    }
}

public sealed class ClusterApiTests_Sqlite(SqliteServerFixture fixture) : ClusterApiTests(fixture), IClassFixture<SqliteServerFixture>;

public sealed class ClusterApiTests_Postgres(PostgresServerFixture fixture) : ClusterApiTests(fixture), IClassFixture<PostgresServerFixture>;

/// <summary>Two real <c>modelgate serve --role control</c> processes on one PostgreSQL database, with the default lease settings.</summary>
public sealed class LeaderLeaseProcessTests(LeaseDatabase database, ITestOutputHelper output) : IClassFixture<LeaseDatabase>, IDisposable
{
    private readonly string _data = Directory.CreateTempSubdirectory("modelgate-lease-").FullName;

    public void Dispose() => Directory.Delete(_data, recursive: true);

    [Fact(Timeout = 240_000)]
    public async Task KilledLeader_StandbyTakesOverWithin15Seconds_AndACleanStopHandsOverAtOnce()
    {
        if (database.SkipReason is not null)
        {
            Assert.Skip(database.SkipReason);
        }
        var ct = TestContext.Current.CancellationToken;
        await using var a = await StartAsync("control-a");
        var first = LeadToken(a.Output, "control-a");
        Assert.NotNull(first); // a free lease is taken before the process serves
        await using var b = await StartAsync("control-b");
        Assert.Null(LeadToken(b.Output, "control-b"));
        var standby = await ClusterAsync(b, ct);
        Assert.False((bool)standby["leader"]!);
        Assert.Equal("control-a", (string?)standby["lease"]!["holder"]);

        var takeover = WaitForLeadAsync(b, "control-b");
        var clock = Stopwatch.StartNew();
        a.Kill(); // kill -9: no release
        var token = await takeover.WaitAsync(TimeSpan.FromSeconds(60), ct);
        output.WriteLine($"standby led {clock.Elapsed.TotalSeconds:0.0} s after kill -9 of the leader (LeaseDuration 10 s, LeaseRenewInterval 2 s; bound 12 s)");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"take-over took {clock.Elapsed.TotalSeconds:0.0} s");
        Assert.Equal(first + 1, token);
        var leader = await ClusterAsync(b, ct);
        Assert.Equal((true, "control-b", token), ((bool)leader["leader"]!, (string?)leader["lease"]!["holder"], (long?)leader["fencingToken"]));

        // SIGTERM: b releases the lease, so c leads from its start although the lease would have lasted 10 s more.
        b.Terminate();
        await b.WaitForExitAsync(ct).WaitAsync(TimeSpan.FromSeconds(60), ct);
        Assert.Contains(b.Output, l => l.Contains($"control-b stops leading the workers (lease token {token})", StringComparison.Ordinal));
        await using var c = await StartAsync("control-c");
        Assert.Equal(token + 1, LeadToken(c.Output, "control-c"));
    }

    private Task<ServerProcess> StartAsync(string replica) => ServerProcess.StartAsync(Path.Combine(_data, replica),
        "--role", "control", "--Server:Replica=" + replica, "--Database:Provider=postgres", "--Database:ConnectionString=" + database.ConnectionString,
        "--Security:BootstrapAdminKey=" + ServerFixture.AdminKey);

    private static long? LeadToken(IEnumerable<string> lines, string replica) => lines
        .Select(l => System.Text.RegularExpressions.Regex.Match(l, $@"ModelGate replica {replica} leads the workers \(lease token (\d+)\)"))
        .Where(m => m.Success).Select(m => (long?)long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).LastOrDefault();

    private static Task<long> WaitForLeadAsync(ServerProcess server, string replica)
    {
        var led = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        server.LineWritten += line =>
        {
            if (LeadToken([line], replica) is { } token)
            {
                led.TrySetResult(token);
            }
        };
        if (LeadToken(server.Output, replica) is { } already)
        {
            led.TrySetResult(already);
        }
        return led.Task;
    }

    private static async Task<System.Text.Json.Nodes.JsonObject> ClusterAsync(ServerProcess server, CancellationToken ct)
    {
        using var http = new HttpClient { BaseAddress = server.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", ServerFixture.AdminKey);
        return (await http.GetFromJsonAsync<System.Text.Json.Nodes.JsonObject>("/api/v1/cluster", ct))!;
    }
}
