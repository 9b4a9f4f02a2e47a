using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Evaluation;
using ModelGate.Storage.Evaluation;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.EvaluationRuns;

/// <summary>
/// Two runs recorded in the same instant: the later one (the higher evidence sequence) is the latest, whatever order the rows
/// were written in — on both databases, where ordering by time alone left the tie to the engine.
/// </summary>
public abstract class EvaluationOrderTests(ServerFixture fixture) : ProviderTests(fixture)
{
    [Fact]
    public async Task RunsRecordedInTheSameInstant_AreOrderedByTheirEvidenceSequence_NotByHowTheRowsWereWritten()
    {
        var model = ServerFixture.UniqueName("order");
        var api = Server.Api();
        await api.CreateModelAsync(new CreateModelRequest(model, "o", "low", "classification"));
        var sha = await Server.UploadAsync(Fixtures.ModelBytes("v1-logreg"));
        await api.CreateVersionAsync(model, new CreateVersionRequest("1.0.0", [new ArtifactRef(sha, "m.onnx")], Fixtures.Attestation()));
        var versionId = await Server.WithDbAsync(db => db.ModelVersions.Where(v => v.Model!.Name == model).Select(v => v.Id).SingleAsync());
        var instant = new DateTime(2026, 11, 1, 12, 0, 0, DateTimeKind.Utc);
        EvaluationEntity Run(string id, long sequence) => new()
        {
            Id = id, VersionId = versionId, Model = model, Version = "1.0.0", SuiteSha256 = new string('a', 64), Status = EvaluationStatuses.Succeeded,
            Evaluator = "eve", CreatedAt = instant, FinishedAt = instant, EvidenceAuditSequence = sequence,
        };
        // The later run is written first, and its id sorts first: only the sequence says which came last.
        await Server.WithDbAsync(async db =>
        {
            db.Evaluations.Add(Run("eval_0later", 2_000_000_002));
            await db.SaveChangesAsync();
            db.Evaluations.Add(Run("eval_1earlier", 2_000_000_001));
            return await db.SaveChangesAsync();
        });

        var oldestFirst = await Server.WithDbAsync(db => db.Evaluations.Where(e => e.VersionId == versionId).OldestFirst().Select(e => e.Id).ToListAsync());
        var newest = await Server.WithDbAsync(db => db.Evaluations.Where(e => e.VersionId == versionId).NewestFirst().Select(e => e.Id).FirstAsync());

        Assert.Equal(["eval_1earlier", "eval_0later"], oldestFirst);
        Assert.Equal("eval_0later", newest);
    }
}

public sealed class EvaluationOrderTests_Sqlite(SqliteServerFixture fixture) : EvaluationOrderTests(fixture), IClassFixture<SqliteServerFixture>;

public sealed class EvaluationOrderTests_Postgres(PostgresServerFixture fixture) : EvaluationOrderTests(fixture), IClassFixture<PostgresServerFixture>;
