using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using ModelGate.Audit;
using ModelGate.Client;
using ModelGate.Storage.Audit;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Audit;

/// <summary>A database writer without the chain key or the signing key tries to rewrite or truncate the audit log.</summary>
public abstract class AuditTamperTests(ServerFixture fixture) : ProviderTests(fixture)
{
    /// <summary>Checkpoints by time only, so that each test decides when one is taken (by moving the fake clock).</summary>
    public static readonly string[] Settings = ["--Audit:CheckpointEvery=0", "--Audit:CheckpointInterval=00:10:00"];

    private async Task<string> CreateModelAsync()
    {
        var name = ServerFixture.UniqueName("tamper");
        await Server.Api().CreateModelAsync(new CreateModelRequest(name, "o", "low", "other"));
        return name;
    }

    private Task<List<AuditEventEntity>> EventsAsync() =>
        Server.WithDbAsync(db => db.AuditEvents.AsNoTracking().OrderBy(e => e.Sequence).ToListAsync());

    private Task<int> ReplaceAsync(IEnumerable<AuditEventEntity> rows) => Server.WithDbAsync(async db =>
    {
        foreach (var r in rows)
        {
            await db.AuditEvents.Where(e => e.Sequence == r.Sequence).ExecuteUpdateAsync(s => s
                .SetProperty(e => e.Details, r.Details).SetProperty(e => e.PreviousHash, r.PreviousHash).SetProperty(e => e.Hash, r.Hash));
        }
        return 0;
    });

    private Task<int> RestoreAsync(IEnumerable<AuditEventEntity> rows) => Server.WithDbAsync(async db =>
    {
        db.AuditEvents.AddRange(rows.Select(Copy));
        return await db.SaveChangesAsync();
    });

    private static AuditEventEntity Copy(AuditEventEntity e) => new()
    {
        Sequence = e.Sequence, Time = e.Time, Actor = e.Actor, Action = e.Action, Subject = e.Subject, Details = e.Details,
        Outcome = e.Outcome, PreviousHash = e.PreviousHash, Hash = e.Hash,
    };

    /// <summary>Moves the clock past the checkpoint interval and waits for the worker's checkpoint of the current head.</summary>
    private async Task<AuditCheckpointDto> CheckpointAsync()
    {
        var next = Server.App.Services.GetRequiredService<AuditCheckpoints>().NextAsync();
        Server.Time.Advance(TimeSpan.FromMinutes(10));
        return await next.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task Verify_OneEventRewrittenAndLaterHashesRecomputedWithSha256_IsDetected()
    {
        await CreateModelAsync();
        var target = await CreateModelAsync();
        await CreateModelAsync();
        var originals = await EventsAsync();
        var start = originals.Single(e => e.Subject == $"models/{target}").Sequence;

        // The attacker rewrites one event and recomputes every later hash, as the chain was computed before it was keyed.
        var previous = originals.Single(e => e.Sequence == start - 1).Hash;
        var forged = new List<AuditEventEntity>();
        foreach (var e in originals.Where(e => e.Sequence >= start))
        {
            var f = Copy(e);
            f.Details = e.Sequence == start ? e.Details.Replace("\"low\"", "\"high\"") : e.Details;
            f.PreviousHash = previous;
            f.Hash = AuditChain.ComputeHash(f.Sequence, f.Time, f.Actor, f.Action, f.Subject, f.Details, f.Outcome, f.PreviousHash);
            forged.Add(f);
            previous = f.Hash;
        }
        Assert.NotEqual(originals.Single(e => e.Sequence == start).Details, forged[0].Details);
        await ReplaceAsync(forged);
        try
        {
            var result = await Server.Api().VerifyAuditAsync(TestContext.Current.CancellationToken);
            Assert.False(result.Valid);
            Assert.Equal(start, result.FirstBrokenSequence);
        }
        finally
        {
            await ReplaceAsync(originals.Where(e => e.Sequence >= start));
        }
        Assert.True((await Server.Api().VerifyAuditAsync(TestContext.Current.CancellationToken)).Valid);
    }

    [Fact]
    public async Task Verify_TheNewestThreeEventsDeleted_IsDetected()
    {
        for (var i = 0; i < 4; i++)
        {
            await CreateModelAsync();
        }
        var events = await EventsAsync();
        var head = events[^1].Sequence;
        var deleted = events.Where(e => e.Sequence > head - 3).ToList();
        await Server.WithDbAsync(db => db.AuditEvents.Where(e => e.Sequence > head - 3).ExecuteDeleteAsync());
        try
        {
            var result = await Server.Api().VerifyAuditAsync(TestContext.Current.CancellationToken);
            Assert.False(result.Valid);
            Assert.Equal(head - 2, result.FirstBrokenSequence);
        }
        finally
        {
            await RestoreAsync(deleted);
        }
        Assert.True((await Server.Api().VerifyAuditAsync(TestContext.Current.CancellationToken)).Valid);
    }

    [Fact]
    public async Task NextWrite_AfterTheNewestThreeEventsWereDeleted_DoesNotReuseTheirSequences()
    {
        for (var i = 0; i < 4; i++)
        {
            await CreateModelAsync();
        }
        var events = await EventsAsync();
        var head = events[^1].Sequence;
        var deleted = events.Where(e => e.Sequence > head - 3).ToList();
        await Server.WithDbAsync(db => db.AuditEvents.Where(e => e.Sequence > head - 3).ExecuteDeleteAsync());
        try
        {
            var name = await CreateModelAsync();
            var created = await Server.WithDbAsync(db => db.AuditEvents.AsNoTracking().SingleAsync(e => e.Subject == $"models/{name}"));
            Assert.Equal(head + 1, created.Sequence);

            var result = await Server.Api().VerifyAuditAsync(TestContext.Current.CancellationToken);
            Assert.False(result.Valid);
            Assert.Equal(head - 2, result.FirstBrokenSequence);
            Assert.Contains("missing", result.Reason);
        }
        finally
        {
            await RestoreAsync(deleted);
        }
        // The event written after the deletion links to the deleted head: with the rows back, the chain is whole again.
        Assert.True((await Server.Api().VerifyAuditAsync(TestContext.Current.CancellationToken)).Valid);
    }

    [Fact]
    public async Task Verify_TheNewestThreeEventsAndTheHighWaterMarkDeleted_IsDetectedAgainstTheLastCheckpoint_AndCliExits7()
    {
        for (var i = 0; i < 3; i++)
        {
            await CreateModelAsync();
        }
        var checkpoint = await CheckpointAsync();
        var events = await EventsAsync();
        Assert.Equal(events[^1].Sequence, checkpoint.Sequence);
        Assert.Equal(events[^1].Hash, checkpoint.Hash);
        var head = checkpoint.Sequence;
        var copy = Path.Combine(Server.DataDirectory, $"checkpoints-copy-{Guid.NewGuid():N}.jsonl");
        File.Copy(Server.App.Services.GetRequiredService<AuditCheckpoints>().FilePath, copy);

        var deleted = events.Where(e => e.Sequence > head - 3).ToList();
        var newHead = events.Single(e => e.Sequence == head - 3);
        // A careful attacker also moves the high-water mark back: only the checkpoint outside the database remains.
        await Server.WithDbAsync(async db =>
        {
            await db.AuditEvents.Where(e => e.Sequence > head - 3).ExecuteDeleteAsync();
            return await db.AuditChainHeads.ExecuteUpdateAsync(s => s.SetProperty(h => h.Sequence, newHead.Sequence).SetProperty(h => h.Hash, newHead.Hash));
        });
        try
        {
            var result = await Server.Api().VerifyAuditAsync(TestContext.Current.CancellationToken);
            Assert.False(result.Valid, result.Reason);
            Assert.Equal(head - 2, result.FirstBrokenSequence);
            Assert.Contains("checkpoint", result.Reason);
            Assert.Equal(head, result.Checkpoints!.Last!.Sequence);

            var (exit, output, _) = await Server.CliAsync(["audit", "verify", "--checkpoints", copy]);
            Assert.Equal(ModelGate.Cli.ExitCodes.VerificationFailed, exit);
            Assert.Contains($"event {head}", output);
        }
        finally
        {
            await RestoreAsync(deleted);
            await Server.WithDbAsync(db => db.AuditChainHeads.ExecuteUpdateAsync(s => s
                .SetProperty(h => h.Sequence, events[^1].Sequence).SetProperty(h => h.Hash, events[^1].Hash)));
        }
        var (intactExit, intactOutput, _) = await Server.CliAsync(["audit", "verify", "--checkpoints", copy]);
        Assert.True(intactExit == ModelGate.Cli.ExitCodes.Ok, intactOutput);
    }

    [Fact]
    public async Task Verify_AForgedCheckpointLine_IsReported_InTheRequest_TheServersFile_AndTheCli()
    {
        await CreateModelAsync();
        var genuine = await CheckpointAsync();
        var key = await Server.Api().GetAuditCheckpointKeyAsync(TestContext.Current.CancellationToken);
        Assert.Equal("ed25519", key.Algorithm);
        Assert.Equal(genuine.PublicKey, key.PublicKey);
        Assert.True(AuditCheckpoints.VerifySignature(genuine, key.PublicKey));

        // Moved forward (as if the store had been longer), and one signed with the attacker's own key.
        var moved = genuine with { Sequence = genuine.Sequence + 1000 };
        var attacker = new Org.BouncyCastle.Crypto.Parameters.Ed25519PrivateKeyParameters(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        var signer = new Org.BouncyCastle.Crypto.Signers.Ed25519Signer();
        signer.Init(true, attacker);
        var message = AuditCheckpoints.SignedBytes(genuine.Sequence, new string('a', 64), genuine.Time);
        signer.BlockUpdate(message, 0, message.Length);
        var foreign = genuine with
        {
            Hash = new string('a', 64),
            PublicKey = Convert.ToBase64String(attacker.GeneratePublicKey().GetEncoded()),
            Signature = Convert.ToBase64String(signer.GenerateSignature()),
        };
        string[] lines = [Line(genuine), Line(moved), Line(foreign)];

        var result = await Server.Api().VerifyAuditAsync(new AuditVerifyRequest(lines), TestContext.Current.CancellationToken);
        Assert.False(result.Valid);
        Assert.Equal([2, 3], result.Checkpoints!.BadLines);
        Assert.Equal(1, result.Checkpoints.ValidSignatures);
        Assert.Contains("forged", result.Reason);

        var file = Server.App.Services.GetRequiredService<AuditCheckpoints>().FilePath;
        var before = await File.ReadAllTextAsync(file, TestContext.Current.CancellationToken);
        await File.AppendAllTextAsync(file, Line(moved) + "\n", TestContext.Current.CancellationToken);
        try
        {
            var fromFile = await Server.Api().VerifyAuditAsync(TestContext.Current.CancellationToken);
            Assert.False(fromFile.Valid);
            Assert.Single(fromFile.Checkpoints!.BadLines);
        }
        finally
        {
            await File.WriteAllTextAsync(file, before, TestContext.Current.CancellationToken);
        }

        var copy = Path.Combine(Server.DataDirectory, $"forged-{Guid.NewGuid():N}.jsonl");
        await File.WriteAllLinesAsync(copy, lines, TestContext.Current.CancellationToken);
        var (exit, output, _) = await Server.CliAsync(["audit", "verify", "--checkpoints", copy]);
        Assert.Equal(ModelGate.Cli.ExitCodes.VerificationFailed, exit);
        Assert.Contains("INVALID", output);
        Assert.True((await Server.Api().VerifyAuditAsync(TestContext.Current.CancellationToken)).Valid);
    }

    [Fact]
    public async Task CheckpointKey_IsPublic()
    {
        using var response = await Server.Client(token: null).GetAsync("/api/v1/audit/checkpoint-key", TestContext.Current.CancellationToken);
        response.EnsureSuccessStatusCode();
        Assert.Contains("ed25519", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    private static string Line(AuditCheckpointDto c) => System.Text.Json.JsonSerializer.Serialize(c, ModelGateJson.Options);
}

public sealed class AuditTamperSqliteFixture : SqliteServerFixture
{
    protected override Task<IEnumerable<string>> ExtraArgumentsAsync() => Task.FromResult<IEnumerable<string>>(AuditTamperTests.Settings);
}

public sealed class AuditTamperPostgresFixture : PostgresServerFixture
{
    protected override Task<IEnumerable<string>> ExtraArgumentsAsync() => Task.FromResult<IEnumerable<string>>(AuditTamperTests.Settings);
}

public sealed class AuditTamperTests_Sqlite(AuditTamperSqliteFixture fixture) : AuditTamperTests(fixture), IClassFixture<AuditTamperSqliteFixture>;

public sealed class AuditTamperTests_Postgres(AuditTamperPostgresFixture fixture) : AuditTamperTests(fixture), IClassFixture<AuditTamperPostgresFixture>;
