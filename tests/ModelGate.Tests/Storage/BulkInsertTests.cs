using Microsoft.EntityFrameworkCore;
using ModelGate.Storage;
using ModelGate.Storage.Gateway;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Storage;

/// <summary>The request log's bulk insert writes rows that EF Core reads back exactly, on both providers.</summary>
public abstract class BulkInsertTests(ServerFixture fixture) : ProviderTests(fixture)
{
    [Fact]
    public async Task BulkInsert_RoundTripsEveryColumn_IncludingNulls_AndTimesInUtc()
    {
        var deployment = ServerFixture.UniqueName("bulk");
        var time = new DateTime(2026, 11, 23, 21, 45, 12, 345, DateTimeKind.Utc);
        var rows = new List<RequestLogEntity>
        {
            new()
            {
                RequestId = "r-full", Time = time, KeyId = "key_1", Deployment = deployment, Version = "1.2.3-q4", Route = "canary", Protocol = "openai",
                Status = 200, LatencyMs = 1.25, UpstreamLatencyMs = 0.75, PromptTokens = 9, CompletionTokens = 4, UsageSource = "tokenizer", Prediction = "1",
                Cost = 0.0123456789, Payload = "{\"request\":\"héllo ✓\"}",
            },
            new() { RequestId = "r-min", Time = time.AddSeconds(1), Deployment = deployment, Protocol = "oip-v2", Status = 502, LatencyMs = 0 },
        };
        await Server.WithDbAsync(async db =>
        {
            await new BulkInsert<RequestLogEntity>(db).InsertAsync(db, rows, CancellationToken.None);
            return 0;
        });
        var read = await Server.WithDbAsync(db => db.RequestLogs.AsNoTracking().Where(r => r.Deployment == deployment).OrderBy(r => r.Time).ToListAsync());
        Assert.Equal(2, read.Count);
        Assert.All(read, r => Assert.True(r.Id > 0));
        foreach (var (expected, actual) in rows.Zip(read))
        {
            expected.Id = actual.Id;
            Assert.Equivalent(expected, actual, strict: true);
            Assert.Equal(DateTimeKind.Utc, actual.Time.Kind);
        }
        // Queries by time see the rows where EF-written rows would be.
        Assert.Equal(1, await Server.WithDbAsync(db => db.RequestLogs.CountAsync(r => r.Deployment == deployment && r.Time > time)));
    }
}

public sealed class SqliteBulkInsertTests(SqliteServerFixture fixture) : BulkInsertTests(fixture), IClassFixture<SqliteServerFixture>;

public sealed class PostgresBulkInsertTests(PostgresServerFixture fixture) : BulkInsertTests(fixture), IClassFixture<PostgresServerFixture>;
