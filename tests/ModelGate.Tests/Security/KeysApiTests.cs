using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Security;

public abstract class KeysApiTests(ServerFixture fixture) : ProviderTests(fixture)
{
    [Fact]
    public async Task CreateKey_ShowsSecretOnce_StoresOnlyItsHash()
    {
        var created = await Server.Api().CreateKeyAsync(new CreateKeyRequest("ci", ["trainer", "evaluator"]));
        Assert.StartsWith("mg_", created.Key);
        Assert.StartsWith(created.Prefix, created.Key);

        using var list = await Server.Client().GetAsync("/api/v1/keys");
        var text = await list.Content.ReadAsStringAsync();
        Assert.DoesNotContain(created.Key!, text);
        Assert.DoesNotContain("\"key\"", text);
        var expectedHash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(created.Key!)));
        Assert.DoesNotContain(expectedHash, text);

        var row = await Server.WithDbAsync(db => db.ApiKeys.AsNoTracking().SingleAsync(k => k.Id == created.Id));
        Assert.Equal(expectedHash, row.KeyHash);
        Assert.DoesNotContain(created.Key!, string.Join("|", row.Id, row.Name, row.Prefix, row.KeyHash, row.Roles));
        Assert.Equal(["trainer", "evaluator"], (await Server.Api().ListKeysAsync()).Single(k => k.Id == created.Id).Roles);
    }

    [Fact]
    public async Task RevokedKey_Answers401_AndRevocationIsAudited()
    {
        var created = await Server.Api().CreateKeyAsync(new CreateKeyRequest("temp", ["viewer"]));
        using (var ok = await Server.Client(created.Key).GetAsync("/api/v1/models"))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }
        var revoked = await Server.Api().RevokeKeyAsync(created.Id);
        Assert.NotNull(revoked.RevokedAt);
        using var denied = await Server.Client(created.Key).GetAsync("/api/v1/models");
        var problem = await ProblemAssert.IsProblem(denied, HttpStatusCode.Unauthorized, "unauthenticated");
        Assert.Contains("revoked", problem.GetProperty("detail").GetString());
        var events = await Server.Api().ListAuditAsync(subject: $"keys/{created.Id}");
        Assert.Equal(["key.created", "key.revoked"], events.Items.Select(e => e.Action));
    }

    [Fact]
    public async Task ExpiredKey_Answers401()
    {
        var created = await Server.Api().CreateKeyAsync(new CreateKeyRequest("short", ["viewer"], Server.Time.GetUtcNow().AddHours(1)));
        using (var ok = await Server.Client(created.Key).GetAsync("/api/v1/models"))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }
        Server.Time.Advance(TimeSpan.FromHours(2));
        using var expired = await Server.Client(created.Key).GetAsync("/api/v1/models");
        await ProblemAssert.IsProblem(expired, HttpStatusCode.Unauthorized, "unauthenticated");
    }

    [Fact]
    public async Task KeysEndpoints_NeedAdmin()
    {
        foreach (var role in new[] { "viewer", "trainer", "ml-lead", "deployer" })
        {
            var key = await Server.CreateKeyAsync(role);
            using var list = await Server.Client(key).GetAsync("/api/v1/keys");
            await ProblemAssert.IsProblem(list, HttpStatusCode.Forbidden, "forbidden");
            using var create = await Server.Client(key).PostAsJsonAsync("/api/v1/keys", new { name = "escalate", roles = new[] { "admin" } });
            await ProblemAssert.IsProblem(create, HttpStatusCode.Forbidden, "forbidden");
        }
    }

    [Fact]
    public async Task CreateKey_BadInput_Answers400_RevokeUnknown_Answers404()
    {
        var before = await Server.AuditCountAsync();
        await ProblemAssert.IsProblem(await Server.Client().PostAsJsonAsync("/api/v1/keys", new { name = "x", roles = new[] { "superuser" } }),
            HttpStatusCode.BadRequest, "validation_failed");
        await ProblemAssert.IsProblem(await Server.Client().PostAsJsonAsync("/api/v1/keys", new { name = "x", roles = Array.Empty<string>() }),
            HttpStatusCode.BadRequest, "validation_failed");
        await ProblemAssert.IsProblem(await Server.Client().PostAsJsonAsync("/api/v1/keys",
            new { name = "x", roles = new[] { "viewer" }, expiresAt = Server.Time.GetUtcNow().AddDays(-1) }), HttpStatusCode.BadRequest, "validation_failed");
        await ProblemAssert.IsProblem(await Server.Client().DeleteAsync("/api/v1/keys/key_nope"), HttpStatusCode.NotFound, "key_not_found");
        Assert.Equal(before, await Server.AuditCountAsync());
    }
}

public sealed class KeysApiTests_Sqlite(SqliteServerFixture fixture) : KeysApiTests(fixture), IClassFixture<SqliteServerFixture>;

public sealed class KeysApiTests_Postgres(PostgresServerFixture fixture) : KeysApiTests(fixture), IClassFixture<PostgresServerFixture>;
