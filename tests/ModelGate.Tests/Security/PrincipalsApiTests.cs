using System.Net;
using System.Net.Http.Json;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Security;

public abstract class PrincipalsApiTests(ServerFixture fixture) : ProviderTests(fixture)
{
    private static string Email(string name) => $"{ServerFixture.UniqueName(name)}@example.com";

    [Fact]
    public async Task CreatePrincipal_BadInput_IsAProblemWithACode()
    {
        using var client = Server.Client();
        async Task Expect(object body, HttpStatusCode status, string code)
        {
            using var response = await client.PostAsJsonAsync("/api/v1/principals", body);
            await ProblemAssert.IsProblem(response, status, code);
        }
        await Expect(new { kind = "person", identity = new string('a', 321) }, HttpStatusCode.BadRequest, "validation_failed");
        await Expect(new { kind = "person", identity = "" }, HttpStatusCode.BadRequest, "validation_failed");
        // Control characters are refused for every JSON body before the handler sees it.
        await Expect(new { kind = "person", identity = "eve\u0007@example.com" }, HttpStatusCode.BadRequest, "invalid_text");
        await Expect(new { kind = "robot", identity = Email("r") }, HttpStatusCode.BadRequest, "validation_failed");
        await Expect(new { kind = "person", identity = Email("r"), roles = new[] { "emperor" } }, HttpStatusCode.BadRequest, "validation_failed");
        await Expect(new { kind = "service", identity = Email("svc"), roles = new[] { Roles.MlLead } }, HttpStatusCode.UnprocessableEntity, "approval_role_needs_person");

        var identity = Email("Ann");
        await Server.Api().CreatePrincipalAsync(new CreatePrincipalRequest(PrincipalKinds.Person, identity));
        await Expect(new { kind = "service", identity = identity.ToUpperInvariant() }, HttpStatusCode.Conflict, "principal_exists");
        Assert.Equal(identity, (await Server.Api().GetPrincipalAsync(identity.ToUpperInvariant())).Identity);
        using var missing = await client.GetAsync("/api/v1/principals/nobody%40example.com");
        await ProblemAssert.IsProblem(missing, HttpStatusCode.NotFound, "principal_not_found");
        using var unknownGrant = await client.PatchAsJsonAsync($"/api/v1/principals/{Uri.EscapeDataString(identity)}", new { grant = new[] { "emperor" } });
        await ProblemAssert.IsProblem(unknownGrant, HttpStatusCode.BadRequest, "validation_failed");
    }

    [Fact]
    public async Task RemovingARole_AndDisabling_TakeEffectAtOnce_ForEveryKeyOfThePrincipal()
    {
        var admin = Server.Api();
        var person = await (await Server.PeopleAdminAsync()).CreatePrincipalAsync(new CreatePrincipalRequest(PrincipalKinds.Person, Email("kim"), "Kim",
            [Roles.Deployer, Roles.Viewer]));
        var key = await admin.CreateKeyAsync(new CreateKeyRequest("kim", [Roles.Deployer, Roles.Viewer], Principal: person.Id));
        using var client = Server.Client(key.Key);
        // The alerts list is open to every role; creating a silence takes alerts.manage (deployer).
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/v1/alerts")).StatusCode);
        var shown = await admin.GetPrincipalAsync(person.Id);
        Assert.Equal(key.Id, Assert.Single(shown.Keys!).Id);

        var revoked = await admin.UpdatePrincipalAsync(person.Id, new UpdatePrincipalRequest(Revoke: [Roles.Deployer]));
        Assert.Equal([Roles.Viewer], revoked.Roles);
        using var refused = await client.PostAsJsonAsync("/api/v1/deployments", new { });
        await ProblemAssert.IsProblem(refused, HttpStatusCode.Forbidden, "forbidden");
        var events = await Server.WithDbAsync(db => Task.FromResult(db.AuditEvents.Where(e => e.Subject == $"principals/{person.Id}").Select(e => e.Action).ToList()));
        Assert.Contains("principal.role_removed", events);

        await admin.UpdatePrincipalAsync(person.Id, new UpdatePrincipalRequest(Disabled: true));
        using var after = await client.GetAsync("/api/v1/alerts");
        await ProblemAssert.IsProblem(after, HttpStatusCode.Unauthorized, "unauthenticated");
        Assert.Contains("principal.disabled",
            await Server.WithDbAsync(db => Task.FromResult(db.AuditEvents.Where(e => e.Subject == $"principals/{person.Id}").Select(e => e.Action).ToList())));
        Assert.Contains(await admin.ListPrincipalsAsync(), p => p.Id == person.Id && p.DisabledAt is not null);
    }
}

public sealed class PrincipalsApiTests_Sqlite(SqliteServerFixture fixture) : PrincipalsApiTests(fixture), IClassFixture<SqliteServerFixture>;

public sealed class PrincipalsApiTests_Postgres(PostgresServerFixture fixture) : PrincipalsApiTests(fixture), IClassFixture<PostgresServerFixture>;
