using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using ModelGate.Client;
using ModelGate.Evaluation;
using ModelGate.Storage.Cluster;
using ModelGate.Storage.Evaluation;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.EvaluationRuns;

/// <summary>
/// The leader fails the runs no live process holds — left queued or running by a process that stopped — and none that a
/// live process holds: on PostgreSQL a run with an unexpired claim (another control process's) is left alone, and failed once
/// the claim has expired; on SQLite (one process) a run not in this process's memory is a previous process's.
/// </summary>
public abstract class InterruptedEvaluationsTests(ServerFixture server)
{
    protected ServerFixture Server => server;

    protected bool Shared => server.App.Services.GetRequiredService<EvaluationClaims>().Shared;

    /// <summary>A run of a registered version, written as the process that accepted it would have left it.</summary>
    protected async Task<EvaluationEntity> LeftAsync(string status)
    {
        server.SkipIfUnavailable();
        var api = server.Api();
        var model = ServerFixture.UniqueName("left");
        await api.CreateModelAsync(new CreateModelRequest(model, "o", RiskTiers.Low, "classification"));
        var sha = await server.UploadAsync(Fixtures.ModelBytes("v1-logreg"));
        await api.CreateVersionAsync(model, new CreateVersionRequest("1.0.0", [new ArtifactRef(sha, "v1-logreg.onnx")], Fixtures.Attestation()));
        var entity = new EvaluationEntity
        {
            Id = "eval_" + Guid.NewGuid().ToString("N")[..16], Model = model, Version = "1.0.0", SuiteSha256 = new string('a', 64), Status = status,
            Evaluator = "key_gone", CreatedAt = DateTime.UtcNow, RowsTotal = 10,
        };
        await server.WithDbAsync(async db =>
        {
            entity.VersionId = await db.ModelVersions.Where(v => v.Model!.Name == model).Select(v => v.Id).SingleAsync();
            db.Evaluations.Add(entity);
            return await db.SaveChangesAsync();
        });
        return entity;
    }

    protected Task<IReadOnlyList<string>> ReapAsync() =>
        server.App.Services.GetRequiredService<InterruptedEvaluations>().FailOrphansAsync(TestContext.Current.CancellationToken);

    protected Task<EvaluationEntity> StoredAsync(string id) => server.WithDbAsync(db => db.Evaluations.AsNoTracking().SingleAsync(e => e.Id == id));

    [Fact]
    public async Task ARunNoProcessHolds_IsFailedAsInterrupted_AsEvidence()
    {
        var left = await LeftAsync(EvaluationStatuses.Running);
        Assert.Contains(left.Id, await ReapAsync());
        var stored = await StoredAsync(left.Id);
        Assert.Equal(EvaluationStatuses.Failed, stored.Status);
        Assert.Equal(EvaluationRunner.Interrupted, stored.Error);
        Assert.NotNull(stored.EvidenceAuditSequence); // a terminal run is evidence, bound to its audit event
        Assert.DoesNotContain(left.Id, await ReapAsync());
    }
}

public sealed class InterruptedEvaluationsTests_Sqlite(SqliteServerFixture fixture) : InterruptedEvaluationsTests(fixture), IClassFixture<SqliteServerFixture>;

public sealed class InterruptedEvaluationsTests_Postgres(PostgresServerFixture fixture) : InterruptedEvaluationsTests(fixture), IClassFixture<PostgresServerFixture>
{
    /// <summary>PostgreSQL only: claims exist where several processes share the store.</summary>
    [Fact]
    public async Task ARunAnotherLiveProcessHolds_IsLeftAlone_UntilItsClaimExpires()
    {
        var left = await LeftAsync(EvaluationStatuses.Queued);
        Assert.True(Shared, "claims are written where several processes share the store (PostgreSQL)");
        await Server.WithDbAsync(db =>
        {
            db.Leases.Add(new LeaseEntity
            {
                Name = EvaluationClaims.Prefix + left.Id, Holder = "control-elsewhere", AcquiredAt = DateTime.UtcNow, ExpiresAt = DateTime.UtcNow.AddHours(1),
            });
            return db.SaveChangesAsync();
        });
        Assert.DoesNotContain(left.Id, await ReapAsync());
        Assert.Equal(EvaluationStatuses.Queued, (await StoredAsync(left.Id)).Status);

        await Server.WithDbAsync(db => db.Leases.Where(l => l.Name == EvaluationClaims.Prefix + left.Id)
            .ExecuteUpdateAsync(u => u.SetProperty(l => l.ExpiresAt, DateTime.UtcNow.AddHours(-1))));
        Assert.Contains(left.Id, await ReapAsync());
        Assert.Equal(EvaluationRunner.Interrupted, (await StoredAsync(left.Id)).Error);
    }
}
