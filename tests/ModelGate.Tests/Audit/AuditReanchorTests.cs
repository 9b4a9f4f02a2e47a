using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using ModelGate.Audit;
using ModelGate.Storage;
using ModelGate.Storage.Audit;
using ModelGate.Storage.Postgres;
using ModelGate.Storage.Sqlite;
using ModelGate.Tests.Infrastructure;
using Npgsql;

namespace ModelGate.Tests.Audit;

/// <summary>A store written before the chain was keyed: migrated, its unkeyed chain verified and re-anchored once.</summary>
public abstract class AuditReanchorTests(ServerFixture fixture) : ProviderTests(fixture)
{
    public const int LegacyEvents = 5;
    private const string MigrationBeforeKeying = "RequestLogKeyIndexAndRolloutConcurrency";

    /// <summary>Brings a fresh database to the schema before this change and writes an unkeyed chain into it, as older versions did.</summary>
    public static async Task SeedLegacyStoreAsync(ModelGateDbContext db)
    {
        await db.GetService<IMigrator>().MigrateAsync(MigrationBeforeKeying);
        var previous = AuditChain.GenesisHash;
        var time = new DateTime(2026, 10, 1, 9, 0, 0, DateTimeKind.Utc);
        for (var i = 1; i <= LegacyEvents; i++)
        {
            var e = new AuditEventEntity
            {
                Sequence = i, Time = time.AddMinutes(i), Actor = "key_old", Action = "model.created", Subject = $"models/legacy-{i}",
                Details = "{\"owner\":\"o\"}", Outcome = "success", PreviousHash = previous, Hash = "",
            };
            e.Hash = AuditChain.ComputeHash(e);
            previous = e.Hash;
            db.AuditEvents.Add(e);
        }
        await db.SaveChangesAsync();
    }

    [Fact]
    public async Task LegacyStore_IsReanchoredOnce_WithAnEventThatRecordsTheOldHead_AndVerifies()
    {
        var events = await Server.WithDbAsync(db => db.AuditEvents.AsNoTracking().OrderBy(e => e.Sequence).ToListAsync());
        var anchor = Assert.Single(events, e => e.Action == AuditChain.ChainKeyedAction);
        Assert.Equal(LegacyEvents + 1, anchor.Sequence);
        Assert.Equal(events[LegacyEvents - 1].Hash, anchor.PreviousHash);
        using (var details = JsonDocument.Parse(anchor.Details))
        {
            Assert.Equal(LegacyEvents, details.RootElement.GetProperty("previousHead").GetProperty("sequence").GetInt64());
            Assert.Equal(events[LegacyEvents - 1].Hash, details.RootElement.GetProperty("previousHead").GetProperty("hash").GetString());
            Assert.True(details.RootElement.GetProperty("unkeyedChain").GetProperty("valid").GetBoolean());
        }
        // The older events are kept as they were; the admin key bootstrapped after the anchor is on the keyed chain.
        Assert.Equal("key.created", events[LegacyEvents + 1].Action);

        var result = await Server.Api().VerifyAuditAsync(TestContext.Current.CancellationToken);
        Assert.True(result.Valid, result.Reason);
        Assert.Equal(LegacyEvents + 1, result.KeyedFrom);
        Assert.Equal(events.Count, result.Checked);
        Assert.True((await Server.App.Services.GetRequiredService<AuditCheckpoints>().LastAsync(TestContext.Current.CancellationToken))!.Sequence >= anchor.Sequence);

        // Starting again does not anchor again.
        foreach (var anchorService in Server.App.Services.GetServices<IHostedService>().OfType<AuditChainAnchor>())
        {
            await anchorService.StartAsync(TestContext.Current.CancellationToken);
        }
        Assert.Equal(1, await Server.WithDbAsync(db => db.AuditEvents.CountAsync(e => e.Action == AuditChain.ChainKeyedAction)));
    }

    [Fact]
    public async Task LegacyStore_AnOldEventRewrittenAfterTheAnchor_IsDetectedAtTheAnchor()
    {
        var originals = await Server.WithDbAsync(db => db.AuditEvents.AsNoTracking().Where(e => e.Sequence <= LegacyEvents).OrderBy(e => e.Sequence).ToListAsync());
        var previous = originals[0].Hash;
        await Server.WithDbAsync(async db =>
        {
            foreach (var e in originals.Skip(1))
            {
                var details = e.Sequence == 2 ? "{\"owner\":\"mallory\"}" : e.Details;
                var hash = AuditChain.ComputeHash(e.Sequence, e.Time, e.Actor, e.Action, e.Subject, details, e.Outcome, previous);
                await db.AuditEvents.Where(x => x.Sequence == e.Sequence).ExecuteUpdateAsync(s => s
                    .SetProperty(x => x.Details, details).SetProperty(x => x.PreviousHash, previous).SetProperty(x => x.Hash, hash));
                previous = hash;
            }
            return 0;
        });
        try
        {
            var result = await Server.Api().VerifyAuditAsync(TestContext.Current.CancellationToken);
            Assert.False(result.Valid);
            Assert.Equal(LegacyEvents + 1, result.FirstBrokenSequence);
        }
        finally
        {
            await Server.WithDbAsync(async db =>
            {
                foreach (var e in originals)
                {
                    await db.AuditEvents.Where(x => x.Sequence == e.Sequence).ExecuteUpdateAsync(s => s
                        .SetProperty(x => x.Details, e.Details).SetProperty(x => x.PreviousHash, e.PreviousHash).SetProperty(x => x.Hash, e.Hash));
                }
                return 0;
            });
        }
        Assert.True((await Server.Api().VerifyAuditAsync(TestContext.Current.CancellationToken)).Valid);
    }
}

public sealed class LegacyChainSqliteFixture : SqliteServerFixture
{
    protected override async Task<IEnumerable<string>?> DatabaseArgumentsAsync()
    {
        var args = await base.DatabaseArgumentsAsync();
        Directory.CreateDirectory(DataDirectory);
        var builder = new DbContextOptionsBuilder<SqliteModelGateDbContext>();
        SqliteModelGateDbContext.Configure(builder, $"Data Source={Path.Combine(DataDirectory, "modelgate.db")};Pooling=False");
        await using var db = new SqliteModelGateDbContext(builder.Options);
        await AuditReanchorTests.SeedLegacyStoreAsync(db);
        return args;
    }
}

public sealed class LegacyChainPostgresFixture : PostgresServerFixture
{
    protected override async Task<IEnumerable<string>?> DatabaseArgumentsAsync()
    {
        var args = (await base.DatabaseArgumentsAsync())?.ToList();
        if (args is null)
        {
            return null;
        }
        const string prefix = "--Database:ConnectionString=";
        var builder = new DbContextOptionsBuilder<PostgresModelGateDbContext>();
        PostgresModelGateDbContext.Configure(builder, args.Single(a => a.StartsWith(prefix, StringComparison.Ordinal))[prefix.Length..]);
        await using (var db = new PostgresModelGateDbContext(builder.Options))
        {
            await AuditReanchorTests.SeedLegacyStoreAsync(db);
        }
        NpgsqlConnection.ClearAllPools();
        return args;
    }
}

public sealed class AuditReanchorTests_Sqlite(LegacyChainSqliteFixture fixture) : AuditReanchorTests(fixture), IClassFixture<LegacyChainSqliteFixture>;

public sealed class AuditReanchorTests_Postgres(LegacyChainPostgresFixture fixture) : AuditReanchorTests(fixture), IClassFixture<LegacyChainPostgresFixture>;
