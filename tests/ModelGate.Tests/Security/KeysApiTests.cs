using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using ModelGate.Client;
using ModelGate.Security;
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
    // The key cache: a service of its own over the server's database, with a scope factory that counts (and can hold) each lookup.
    private (ApiKeyService Keys, GatedScopes Scopes) NewKeyCache()
    {
        var scopes = new GatedScopes(Server.App.Services.GetRequiredService<IServiceScopeFactory>());
        return (new ApiKeyService(scopes, Server.Time, Options.Create(new SecurityOptions { KeyCacheDuration = TimeSpan.FromSeconds(10) })), scopes);
    }

    private Task RevokeInDatabaseAsync(string id) =>
        Server.WithDbAsync(db => db.ApiKeys.Where(k => k.Id == id).ExecuteUpdateAsync(s => s.SetProperty(k => k.RevokedAt, DateTime.UtcNow)));

    [Fact]
    public async Task KeyCache_ConcurrentRequestsOnAnExpiredEntry_ShareOneQuery()
    {
        var created = await Server.Api().CreateKeyAsync(new CreateKeyRequest("stampede", ["viewer"]));
        var (keys, scopes) = NewKeyCache();
        Assert.Equal(created.Id, (await keys.ValidateAsync(created.Key!, default))!.Id);
        Assert.Equal(1, scopes.Created);

        Server.Time.Advance(TimeSpan.FromSeconds(11));
        scopes.Hold();
        var waiting = Enumerable.Range(0, 20).Select(_ => keys.ValidateAsync(created.Key!, default).AsTask()).ToArray();
        await scopes.WaitForHeldAsync(1);
        Assert.All(waiting, t => Assert.False(t.IsCompleted)); // an entry past its duration is not used
        scopes.Release();
        var answers = await Task.WhenAll(waiting);
        Assert.All(answers, a => Assert.Equal(created.Id, a!.Id));
        Assert.Equal(2, scopes.Created);
    }

    [Fact]
    public async Task KeyCache_BusyKey_IsRefreshedAhead_InTheBackground_AndSeesARevocationMadeElsewhere()
    {
        var created = await Server.Api().CreateKeyAsync(new CreateKeyRequest("busy", ["viewer"]));
        var (keys, scopes) = NewKeyCache();
        Assert.NotNull(await keys.ValidateAsync(created.Key!, default));

        await RevokeInDatabaseAsync(created.Id); // as another replica would: this process's cache is not told
        Server.Time.Advance(TimeSpan.FromSeconds(9));
        scopes.Hold();
        var answer = keys.ValidateAsync(created.Key!, default);
        Assert.True(answer.IsCompleted); // answered from the cache while the refresh waits
        Assert.NotNull(await answer);
        await scopes.WaitForHeldAsync(1);
        scopes.Release();
        await scopes.WaitForCompletedAsync(2); // the refresh stores its answer before its scope ends
        Assert.Null(await keys.ValidateAsync(created.Key!, default));
        Assert.Equal(2, scopes.Created);
    }

    [Fact]
    public async Task KeyCache_NeverUsesAnEntryOlderThanItsDuration_NorCachesUnknownKeys()
    {
        var created = await Server.Api().CreateKeyAsync(new CreateKeyRequest("idle", ["viewer"]));
        var (keys, scopes) = NewKeyCache();
        Assert.NotNull(await keys.ValidateAsync(created.Key!, default));
        await RevokeInDatabaseAsync(created.Id);
        Server.Time.Advance(TimeSpan.FromSeconds(10));
        Assert.Null(await keys.ValidateAsync(created.Key!, default));
        Assert.Equal(2, scopes.Created);

        var unknown = ApiKeyService.NewSecret();
        Assert.Null(await keys.ValidateAsync(unknown, default));
        Assert.Null(await keys.ValidateAsync(unknown, default));
        Assert.Equal(4, scopes.Created); // each asked the database: a flood of made-up keys cannot grow the cache
    }

    [Fact]
    public async Task KeyCache_AfterInvalidate_DoesNotAnswerFromALookupThatStartedBefore()
    {
        var created = await Server.Api().CreateKeyAsync(new CreateKeyRequest("racing", ["viewer"]));
        var (keys, scopes) = NewKeyCache();
        scopes.Hold();
        var before = keys.ValidateAsync(created.Key!, default).AsTask();
        await scopes.WaitForHeldAsync(1);
        await RevokeInDatabaseAsync(created.Id);
        keys.Invalidate();
        var after = keys.ValidateAsync(created.Key!, default).AsTask();
        await scopes.WaitForHeldAsync(2);
        scopes.Release();
        await before;
        Assert.Null(await after);
        Assert.Equal(2, scopes.Created);
    }

    /// <summary>Counts scopes (one per key lookup) and, while held, makes each lookup wait at its start.</summary>
    private sealed class GatedScopes(IServiceScopeFactory inner) : IServiceScopeFactory
    {
        private TaskCompletionSource _gate = Open();
        private int _created;
        private int _held;
        private int _completed;

        public int Created => Volatile.Read(ref _created);

        private static TaskCompletionSource Open()
        {
            var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            gate.SetResult();
            return gate;
        }

        public void Hold() => _gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Release() => _gate.TrySetResult();

        public async Task WaitForHeldAsync(int count)
        {
            for (var i = 0; i < 500 && Volatile.Read(ref _held) < count; i++)
            {
                await Task.Delay(10);
            }
            Assert.Equal(count, Volatile.Read(ref _held));
        }

        public async Task WaitForCompletedAsync(int count)
        {
            for (var i = 0; i < 500 && Volatile.Read(ref _completed) < count; i++)
            {
                await Task.Delay(10);
            }
            Assert.Equal(count, Volatile.Read(ref _completed));
        }

        public IServiceScope CreateScope()
        {
            Interlocked.Increment(ref _created);
            if (!_gate.Task.IsCompleted)
            {
                Interlocked.Increment(ref _held);
                _gate.Task.Wait();
            }
            return new CountedScope(inner.CreateScope(), this);
        }

        private sealed class CountedScope(IServiceScope scope, GatedScopes owner) : IServiceScope, IAsyncDisposable
        {
            public IServiceProvider ServiceProvider => scope.ServiceProvider;

            public void Dispose()
            {
                scope.Dispose();
                Interlocked.Increment(ref owner._completed);
            }

            public async ValueTask DisposeAsync()
            {
                await ((IAsyncDisposable)scope).DisposeAsync();
                Interlocked.Increment(ref owner._completed);
            }
        }
    }
}

public sealed class KeysApiTests_Sqlite(SqliteServerFixture fixture) : KeysApiTests(fixture), IClassFixture<SqliteServerFixture>;

public sealed class KeysApiTests_Postgres(PostgresServerFixture fixture) : KeysApiTests(fixture), IClassFixture<PostgresServerFixture>;
