using System.Net.Http.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using ModelGate.Client;
using ModelGate.Gateway;
using ModelGate.Gateway.Telemetry;
using ModelGate.Hosting;
using ModelGate.Storage;
using ModelGate.Storage.Gateway;
using ModelGate.Storage.Postgres;
using ModelGate.Tests.Infrastructure;
using Npgsql;

namespace ModelGate.Tests.Storage;

/// <summary>
/// PostgreSQL's request log partitioned by day (migration <c>RequestLogPartitionedByDay</c>) and its upkeep. Each test works
/// in days of its own year, far from the fixture's clock and from the days the migration made, so that tests sharing the
/// fixture's database do not see each other's partitions.
/// </summary>
public sealed class RequestLogPartitionTests(PostgresServerFixture fixture) : ProviderTests(fixture), IClassFixture<PostgresServerFixture>
{
    private const string PreviousMigration = "20261207110716_ClusterLeaseAndSharedTelemetry";
    private const string PartitionMigration = "20261207111206_RequestLogPartitionedByDay";
    private static readonly TimeSpan Forever = TimeSpan.FromDays(36_500);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Migration_CarriesRowsAndIdsOver_IntoDayPartitions_AndDownRestoresThePlainTable()
    {
        _ = Server; // skips without PostgreSQL
        await using var scratch = await ScratchDatabase.CreateAsync();
        await using var db = scratch.Context();
        var migrator = db.GetService<IMigrator>();
        await migrator.MigrateAsync(PreviousMigration, Ct);

        var today = await db.Database.SqlQueryRaw<DateOnly>("SELECT (now() AT TIME ZONE 'UTC')::date AS \"Value\"").SingleAsync(Ct);
        var twoDaysAgo = At(today.AddDays(-2), 9);
        var yesterday = At(today.AddDays(-1), 23);
        var longAgo = At(today.AddDays(-800), 12); // older than the year the migration partitions: DEFAULT
        var rows = new[] { Row("mig", twoDaysAgo), Row("mig", twoDaysAgo.AddHours(1)), Row("mig", yesterday), Row("mig", longAgo), Row("mig", yesterday.AddMinutes(1)) };
        await new BulkInsert<RequestLogEntity>(db).InsertAsync(db, rows, Ct);
        var before = await db.RequestLogs.AsNoTracking().OrderBy(r => r.Id).ToListAsync(Ct);
        // The last id is deleted: the new table must not hand it out again.
        var lastIssued = before[^1].Id;
        await db.RequestLogs.Where(r => r.Id == lastIssued).ExecuteDeleteAsync(Ct);
        before.RemoveAt(before.Count - 1);

        await migrator.MigrateAsync(PartitionMigration, Ct);

        Assert.True(await RequestLogPartitions.IsPartitionedAsync(db, Ct));
        var days = await RequestLogPartitions.DaysAsync(db, Ct);
        DateOnly[] expectedDays = [today.AddDays(-2), today.AddDays(-1), today, today.AddDays(1), today.AddDays(2), today.AddDays(3)];
        Assert.Equal(expectedDays, days.Keys);
        var after = await db.RequestLogs.AsNoTracking().OrderBy(r => r.Id).ToListAsync(Ct);
        Assert.Equivalent(before, after, strict: true);
        var homes = await HomesAsync(db, "mig");
        Assert.Equal(RequestLogPartitions.PartitionOf(today.AddDays(-2)), homes[before[0].Id]);
        Assert.Equal(RequestLogPartitions.PartitionOf(today.AddDays(-2)), homes[before[1].Id]);
        Assert.Equal(RequestLogPartitions.PartitionOf(today.AddDays(-1)), homes[before[2].Id]);
        Assert.Equal(RequestLogPartitions.DefaultPartition, homes[before[3].Id]);

        var added = Row("mig", At(today, 1));
        await new BulkInsert<RequestLogEntity>(db).InsertAsync(db, [added], Ct);
        var newId = await db.RequestLogs.Where(r => r.RequestId == added.RequestId).Select(r => r.Id).SingleAsync(Ct);
        Assert.Equal(lastIssued + 1, newId);

        await migrator.MigrateAsync(PreviousMigration, Ct);
        Assert.False(await RequestLogPartitions.IsPartitionedAsync(db, Ct));
        Assert.Equal("public.\"request_logs_Id_seq\"",
            await db.Database.SqlQueryRaw<string>("SELECT pg_get_serial_sequence('request_logs', 'Id') AS \"Value\"").SingleAsync(Ct));
        var restored = await db.RequestLogs.AsNoTracking().OrderBy(r => r.Id).ToListAsync(Ct);
        Assert.Equal(before.Select(r => r.Id).Append(newId), restored.Select(r => r.Id));
        var again = Row("mig", At(today, 2));
        await new BulkInsert<RequestLogEntity>(db).InsertAsync(db, [again], Ct);
        Assert.Equal(newId + 1, await db.RequestLogs.Where(r => r.RequestId == again.RequestId).Select(r => r.Id).SingleAsync(Ct));
    }

    [Fact]
    public async Task Rows_LandInTheirDayPartitions_AndADayWithoutPartitionStillInserts()
    {
        var now = new DateTime(2030, 3, 10, 6, 0, 0, DateTimeKind.Utc);
        var deployment = ServerFixture.UniqueName("days");
        await Server.WithDbAsync(db => RequestLogPartitions.MaintainAsync(db, now, Forever, Ct));
        var rows = new[]
        {
            Row(deployment, now), Row(deployment, At(new DateOnly(2030, 3, 11), 0)), Row(deployment, At(new DateOnly(2030, 3, 13), 23).AddMinutes(59)),
            Row(deployment, At(new DateOnly(2030, 2, 1), 12)), // no partition for that day
        };
        await InsertAsync(rows);

        var homes = await Server.WithDbAsync(db => HomesAsync(db, deployment));
        var byRequest = await Server.WithDbAsync(db => db.RequestLogs.Where(r => r.Deployment == deployment).ToDictionaryAsync(r => r.RequestId, r => r.Id, Ct));
        Assert.Equal("request_logs_p20300310", homes[byRequest[rows[0].RequestId]]);
        Assert.Equal("request_logs_p20300311", homes[byRequest[rows[1].RequestId]]);
        Assert.Equal("request_logs_p20300313", homes[byRequest[rows[2].RequestId]]);
        Assert.Equal(RequestLogPartitions.DefaultPartition, homes[byRequest[rows[3].RequestId]]);
    }

    [Fact]
    public async Task Upkeep_CreatesTheDaysAhead_MovesTheirRowsOutOfDefault_AndIsIdempotent()
    {
        var now = new DateTime(2034, 1, 10, 5, 0, 0, DateTimeKind.Utc);
        var deployment = ServerFixture.UniqueName("ahead");
        var early = Row(deployment, At(new DateOnly(2034, 1, 12), 8)); // written before its day's partition exists
        await InsertAsync([early]);
        Assert.Equal(RequestLogPartitions.DefaultPartition, Assert.Single((await Server.WithDbAsync(db => HomesAsync(db, deployment))).Values));

        var first = await Server.WithDbAsync(db => RequestLogPartitions.MaintainAsync(db, now, Forever, Ct));
        Assert.Equal(["request_logs_p20340110", "request_logs_p20340111", "request_logs_p20340112", "request_logs_p20340113"], first.Created);
        Assert.Equal(1, first.MovedFromDefault);
        Assert.Equal("request_logs_p20340112", Assert.Single((await Server.WithDbAsync(db => HomesAsync(db, deployment))).Values));
        Assert.Equal(1, await Server.WithDbAsync(db => db.RequestLogs.CountAsync(r => r.Deployment == deployment, Ct)));

        var second = await Server.WithDbAsync(db => RequestLogPartitions.MaintainAsync(db, now, Forever, Ct));
        Assert.Empty(second.Created);
        Assert.Empty(second.Dropped);
        Assert.Equal(0, second.MovedFromDefault);
        var days = await Server.WithDbAsync(db => RequestLogPartitions.DaysAsync(db, Ct));
        Assert.Equal(4, days.Keys.Count(d => d.Year == 2034));
    }

    [Fact]
    public async Task Retention_DropsTheDaysWhollyPastTheCutoff_AndLeavesTheKeptDaysRowsUntouched()
    {
        var deployment = ServerFixture.UniqueName("retain");
        var first = new DateOnly(2032, 6, 1);
        // A week of partitions, made as the days went by.
        for (var d = 0; d < 7; d += 3)
        {
            await Server.WithDbAsync(db => RequestLogPartitions.MaintainAsync(db, At(first.AddDays(d), 0), Forever, Ct));
        }
        var rows = Enumerable.Range(0, 7).SelectMany(d => new[] { Row(deployment, At(first.AddDays(d), 1)), Row(deployment, At(first.AddDays(d), 20)) }).ToList();
        rows.Add(Row(deployment, At(first.AddDays(-10), 3))); // an old row in DEFAULT
        await InsertAsync(rows);
        var partitionsBefore = (await Server.WithDbAsync(db => RequestLogPartitions.DaysAsync(db, Ct))).Keys.Count(d => d.Year == 2032);

        var now = At(first.AddDays(6), 12);
        var retention = TimeSpan.FromDays(3);
        var done = await Server.WithDbAsync(db => RequestLogPartitions.MaintainAsync(db, now, retention, Ct));

        var cutoff = now - retention; // 2032-06-04 12:00: the days before June 4 are wholly past it, June 4 holds it
        var droppedDays = Enumerable.Range(0, 7).Select(first.AddDays).Where(d => d.AddDays(1).ToDateTime(TimeOnly.MinValue) <= cutoff).ToList();
        Assert.Equal(3, droppedDays.Count);
        Assert.Equal(droppedDays.Select(RequestLogPartitions.PartitionOf), done.Dropped.Where(n => n.StartsWith("request_logs_p2032", StringComparison.Ordinal)));
        var partitionsAfter = (await Server.WithDbAsync(db => RequestLogPartitions.DaysAsync(db, Ct))).Keys.Count(d => d.Year == 2032);
        Assert.Equal(partitionsBefore - droppedDays.Count, partitionsAfter);
        // Kept: every row of a day not dropped, including the one of the cutoff's day written before the cutoff; the DEFAULT
        // partition's old row is gone.
        var kept = rows.Where(r => r.Time >= droppedDays[^1].AddDays(1).ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc)).ToList();
        Assert.Contains(kept, r => r.Time < cutoff);
        var left = await Server.WithDbAsync(db => db.RequestLogs.AsNoTracking().Where(r => r.Deployment == deployment).OrderBy(r => r.Time).ToListAsync(Ct));
        Assert.Equal(kept.Select(r => (r.RequestId, r.Time, r.LatencyMs, r.Cost)), left.Select(r => (r.RequestId, r.Time, r.LatencyMs, r.Cost)));
        Assert.True(done.DeletedFromDefault >= 1);
    }

    [Fact]
    public async Task Usage_OverPartitions_MatchesTheSumsOfTheRowsSent()
    {
        var deployment = ServerFixture.UniqueName("usage");
        var first = new DateOnly(2036, 9, 1);
        // Five days written before any of their partitions exists (into DEFAULT); then the upkeep makes four of them and moves
        // their rows there; the fifth stays in DEFAULT.
        var random = new Random(7);
        var rows = Enumerable.Range(0, 200).Select(i =>
        {
            var row = Row(deployment, At(first.AddDays(i % 5), i % 24));
            row.Version = i % 3 == 0 ? "2" : "1";
            row.Status = i % 17 == 0 ? 502 : 200;
            row.PromptTokens = random.Next(1, 500);
            row.CompletionTokens = random.Next(1, 300);
            row.Cost = Math.Round(random.NextDouble(), 6);
            return row;
        }).ToList();
        await InsertAsync(rows);
        var done = await Server.WithDbAsync(db => RequestLogPartitions.MaintainAsync(db, At(first, 0), Forever, Ct));
        Assert.Equal(rows.Count(r => r.Time < At(first.AddDays(4), 0)), done.MovedFromDefault);
        var from = At(first.AddDays(1), 0);
        var to = At(first.AddDays(4), 0);
        var usage = await Server.Client().GetFromJsonAsync<UsageDto>(
            $"/api/v1/usage?deployment={deployment}&groupBy=version&from={from:O}&to={to:O}", ModelGateJson.Options, Ct);
        foreach (var version in new[] { "1", "2" })
        {
            var sent = rows.Where(r => r.Version == version && r.Time >= from && r.Time < to).ToList();
            var row = Assert.Single(usage!.Rows, r => r.Version == version);
            Assert.Equal(sent.Count, row.Requests);
            Assert.Equal(sent.Count(r => r.Status >= 400), row.Errors);
            Assert.Equal(sent.Sum(r => r.PromptTokens!.Value), row.PromptTokens);
            Assert.Equal(sent.Sum(r => r.CompletionTokens!.Value), row.CompletionTokens);
            Assert.Equal(Math.Round(sent.Sum(r => r.Cost!.Value), 8), row.Cost, 6);
        }
    }

    [Theory]
    [InlineData(false, 2038, 2)]
    [InlineData(true, 2038, 3)]
    public async Task RetentionStep_RunsOnlyWhileLeading(bool leads, int year, int month)
    {
        var today = new DateOnly(year, month, 1);
        var services = Server.App.Services;
        var retention = new RequestLogRetention(new Leading(services.GetRequiredService<IServiceScopeFactory>(), leads), new Leading(null!, leads),
            services.GetRequiredService<IOptions<GatewayOptions>>(), new FakeTimeProvider(new DateTimeOffset(At(today, 8))), NullLogger<RequestLogRetention>.Instance);
        await retention.RunOnceAsync(Ct);
        var days = await Server.WithDbAsync(db => RequestLogPartitions.DaysAsync(db, Ct));
        Assert.Equal(leads ? RequestLogPartitions.DaysAhead + 1 : 0, days.Keys.Count(d => d.Year == year && d.Month == month));
    }

    /// <summary>The host's services, but for the leadership, which is fixed.</summary>
    private sealed class Leading(IServiceScopeFactory inner, bool leads) : IServiceScopeFactory, ILeadership
    {
        public bool IsLeader => leads;

        public long? FencingToken => null;

        public Task<LeadershipTerm> WaitForTermAsync(CancellationToken cancellationToken) => throw new NotSupportedException("the test runs one pass");

        public IServiceScope CreateScope() => new Scope(inner.CreateScope(), this);

        private sealed class Scope(IServiceScope inner, ILeadership leadership) : IServiceScope, IServiceProvider
        {
            public IServiceProvider ServiceProvider => this;

            public object? GetService(Type serviceType) => serviceType == typeof(ILeadership) ? leadership : inner.ServiceProvider.GetService(serviceType);

            public void Dispose() => inner.Dispose();
        }
    }

    private static DateTime At(DateOnly day, int hour) => day.ToDateTime(new TimeOnly(hour, 0), DateTimeKind.Utc);

    private static int _sequence;

    private static RequestLogEntity Row(string deployment, DateTime time) => new()
    {
        RequestId = $"{deployment}-{Interlocked.Increment(ref _sequence)}", Time = time, KeyId = "key_part", Deployment = deployment, Version = "1",
        Route = "stable", Protocol = "openai", Status = 200, LatencyMs = 10 + _sequence % 7, Cost = 0.001 * (_sequence % 5),
    };

    private Task InsertAsync(IReadOnlyList<RequestLogEntity> rows) => Server.WithDbAsync(async db =>
    {
        await new BulkInsert<RequestLogEntity>(db).InsertAsync(db, rows, Ct);
        return 0;
    });

    /// <summary>The partition each row of <paramref name="deployment"/> is stored in, by id.</summary>
    private static async Task<Dictionary<long, string>> HomesAsync(ModelGateDbContext db, string deployment)
    {
        var homes = await db.Database.SqlQuery<Home>($"SELECT \"Id\", tableoid::regclass::text AS \"Partition\" FROM request_logs WHERE \"Deployment\" = {deployment}")
            .ToListAsync(Ct);
        return homes.ToDictionary(h => h.Id, h => h.Partition);
    }

    private sealed record Home(long Id, string Partition);

    /// <summary>A database of its own, for a test that migrates step by step.</summary>
    private sealed class ScratchDatabase(string name, string connectionString) : IAsyncDisposable
    {
        public static async Task<ScratchDatabase> CreateAsync()
        {
            var name = "mg_part_" + Guid.NewGuid().ToString("N")[..12];
            await using (var connection = new NpgsqlConnection(PostgresServerFixture.AdminConnectionString))
            {
                await connection.OpenAsync();
                await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
                await create.ExecuteNonQueryAsync();
            }
            return new ScratchDatabase(name, new NpgsqlConnectionStringBuilder(PostgresServerFixture.AdminConnectionString) { Database = name }.ConnectionString);
        }

        public PostgresModelGateDbContext Context()
        {
            var builder = new DbContextOptionsBuilder<PostgresModelGateDbContext>();
            PostgresModelGateDbContext.Configure(builder, connectionString);
            return new PostgresModelGateDbContext(builder.Options);
        }

        public async ValueTask DisposeAsync()
        {
            NpgsqlConnection.ClearAllPools();
            await using var connection = new NpgsqlConnection(PostgresServerFixture.AdminConnectionString);
            await connection.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {name} WITH (FORCE)", connection);
            await drop.ExecuteNonQueryAsync();
        }
    }
}
