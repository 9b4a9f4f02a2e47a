using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.EntityFrameworkCore;
using ModelGate.Cli;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Audit;

public abstract class AuditApiTests(ServerFixture fixture) : ProviderTests(fixture)
{
    private async Task<string> CreateModelAsync(string? token = null)
    {
        var name = ServerFixture.UniqueName("audit");
        await Server.Api(token ?? ServerFixture.AdminKey).CreateModelAsync(new CreateModelRequest(name, "o", "low", "other"));
        return name;
    }

    [Fact]
    public async Task EveryChange_AppendsOneEvent_WithActorActionSubjectAndLinkedHashes()
    {
        var name = await CreateModelAsync();
        var sha = await Server.UploadAsync(Encoding.UTF8.GetBytes("audit " + Guid.NewGuid()));
        await Server.Api().CreateVersionAsync(name, new CreateVersionRequest("1.0.0", [new ArtifactRef(sha, "m.bin")], Fixtures.Attestation()));

        var page = await Server.Api().ListAuditAsync(subject: $"models/{name}*");
        Assert.Equal(["model.created", "version.created"], page.Items.Select(e => e.Action));
        Assert.All(page.Items, e => Assert.Equal("success", e.Outcome));
        var version = page.Items[1];
        Assert.Equal($"models/{name}/versions/1.0.0", version.Subject);
        Assert.Equal(sha, version.Details.GetProperty("artifacts")[0].GetProperty("sha256").GetString());

        var all = await Server.Api().ListAuditAsync(limit: 1000);
        for (var i = 1; i < all.Items.Count; i++)
        {
            Assert.Equal(all.Items[i - 1].Hash, all.Items[i].PreviousHash);
            Assert.Equal(all.Items[i - 1].Sequence + 1, all.Items[i].Sequence);
        }
        Assert.Equal(new string('0', 64), all.Items[0].PreviousHash);
        Assert.Equal("key.created", all.Items[0].Action);
        Assert.Equal("system", all.Items[0].Actor);
    }

    [Fact]
    public async Task List_FiltersByActorAndTime_AndPages()
    {
        var trainerKey = await Server.Api().CreateKeyAsync(new CreateKeyRequest("audit trainer", ["trainer"]));
        var (trainer, trainerId) = (trainerKey.Key!, trainerKey.Id);
        var start = Server.Time.GetUtcNow();
        Server.Time.Advance(TimeSpan.FromMinutes(10));
        var names = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            names.Add(await CreateModelAsync(trainer));
        }
        Server.Time.Advance(TimeSpan.FromMinutes(10));
        var afterTrainer = Server.Time.GetUtcNow();
        await CreateModelAsync();

        var byActor = await Server.Api().ListAuditAsync(actor: trainerId);
        Assert.Equal(names.Select(n => $"models/{n}"), byActor.Items.Select(e => e.Subject));

        var window = await Server.Api().ListAuditAsync(from: start.AddMinutes(5), to: afterTrainer);
        Assert.Equal(names.Select(n => $"models/{n}"), window.Items.Select(e => e.Subject));

        var paged = await Server.Api().ListAuditAsync(actor: trainerId, offset: 1, limit: 1);
        Assert.Equal(3, paged.Total);
        Assert.Equal($"models/{names[1]}", paged.Items.Single().Subject);

        using var desc = await Server.Client().GetAsync($"/api/v1/audit?actor={trainerId}&order=desc");
        var descPage = await System.Net.Http.Json.HttpContentJsonExtensions.ReadFromJsonAsync<PageDto<AuditEventDto>>(desc.Content, ModelGateJson.Options);
        Assert.Equal(names.Select(n => $"models/{n}").Reverse(), descPage!.Items.Select(e => e.Subject));

        await ProblemAssert.IsProblem(await Server.Client().GetAsync("/api/v1/audit?limit=0"), HttpStatusCode.BadRequest, "validation_failed");
        await ProblemAssert.IsProblem(await Server.Client().GetAsync("/api/v1/audit?limit=1001"), HttpStatusCode.BadRequest, "validation_failed");
    }

    [Fact]
    public async Task Verify_AfterEditingOneRow_NamesThatSequence_AndCliExits7()
    {
        await CreateModelAsync();
        var target = await CreateModelAsync();
        await CreateModelAsync();
        var intact = await Server.Api().VerifyAuditAsync();
        Assert.True(intact.Valid, intact.Reason);

        var edited = await Server.WithDbAsync(db => db.AuditEvents.SingleAsync(e => e.Subject == $"models/{target}"));
        var original = edited.Details;
        await Server.WithDbAsync(db => db.AuditEvents.Where(e => e.Sequence == edited.Sequence)
            .ExecuteUpdateAsync(s => s.SetProperty(e => e.Details, original.Replace("\"low\"", "\"high\""))));
        try
        {
            var broken = await Server.Api().VerifyAuditAsync();
            Assert.False(broken.Valid);
            Assert.Equal(edited.Sequence, broken.FirstBrokenSequence);
            Assert.Equal(edited.Sequence - 1, broken.Checked);

            var output = new StringWriter();
            var error = new StringWriter();
            var exit = await CliApp.RunAsync(["audit", "verify", "--url", "http://localhost", "--token", ServerFixture.AdminKey],
                new CliContext(output, error, false, Server.Handler(), _ => null));
            Assert.Equal(ExitCodes.VerificationFailed, exit);
            Assert.Contains($"sequence {edited.Sequence}", output.ToString());
        }
        finally
        {
            await Server.WithDbAsync(db => db.AuditEvents.Where(e => e.Sequence == edited.Sequence)
                .ExecuteUpdateAsync(s => s.SetProperty(e => e.Details, original)));
        }
        Assert.True((await Server.Api().VerifyAuditAsync()).Valid);
    }

    [Fact]
    public async Task Verify_DetectsADeletedEventAndARelinkedChain()
    {
        await CreateModelAsync();
        var victim = await CreateModelAsync();
        await CreateModelAsync();
        var row = await Server.WithDbAsync(db => db.AuditEvents.AsNoTracking().SingleAsync(e => e.Subject == $"models/{victim}"));
        await Server.WithDbAsync(db => db.AuditEvents.Where(e => e.Sequence == row.Sequence).ExecuteDeleteAsync());
        try
        {
            var broken = await Server.Api().VerifyAuditAsync();
            Assert.False(broken.Valid);
            Assert.Equal(row.Sequence, broken.FirstBrokenSequence);
            Assert.Contains("missing", broken.Reason);
        }
        finally
        {
            await Server.WithDbAsync(async db =>
            {
                db.AuditEvents.Add(row);
                return await db.SaveChangesAsync();
            });
        }
        Assert.True((await Server.Api().VerifyAuditAsync()).Valid);
    }

    [Fact]
    public async Task AuditApi_HasNoEndpointThatEditsOrDeletesEvents()
    {
        foreach (var method in new[] { HttpMethod.Put, HttpMethod.Delete, HttpMethod.Patch, HttpMethod.Post })
        {
            using var response = await Server.Client().SendAsync(new HttpRequestMessage(method, "/api/v1/audit/1"));
            Assert.True(response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed, $"{method}: {response.StatusCode}");
        }
        using var post = await Server.Client().PostAsync("/api/v1/audit", new StringContent("{}", Encoding.UTF8, "application/json"));
        Assert.True(post.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed, post.StatusCode.ToString());
    }
}

public sealed class AuditApiTests_Sqlite(SqliteServerFixture fixture) : AuditApiTests(fixture), IClassFixture<SqliteServerFixture>;

public sealed class AuditApiTests_Postgres(PostgresServerFixture fixture) : AuditApiTests(fixture), IClassFixture<PostgresServerFixture>;
