using System.Net;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using ModelGate.Client;
using ModelGate.Monitoring;
using ModelGate.Tests.Infrastructure;
using ModelGate.WebConsole;

using static ModelGate.Tests.WebConsole.ConsoleHttp;

namespace ModelGate.Tests.WebConsole;

/// <summary>
/// The console's admin pages over HTTP: keys (create with the secret shown once, revoke), principals (create, change roles,
/// disable, with the REST API's separation of duties) and silences on the alerts page. Each act's effect is checked through
/// the REST API and the audit log; each form needs its anti-forgery token and the REST API's permission. Run on SQLite and PostgreSQL.
/// </summary>
public abstract class AdminPageTests(ServerFixture fixture) : ProviderTests(fixture)
{
    private HttpClient Browser() => ConsoleHttp.Browser(Server);

    private async Task<IReadOnlyList<AuditEventDto>> AuditAsync(string subject) => (await Server.Api().ListAuditAsync(subject: subject, limit: 100)).Items;

    private static async Task<HttpStatusCode> StatusWithAsync(ModelGateClient api)
    {
        try
        {
            await api.GetMeAsync();
            return HttpStatusCode.OK;
        }
        catch (ModelGateApiException e)
        {
            return e.Status;
        }
    }

    [Fact]
    public async Task Keys_CreatedInTheConsole_WorkOnTheApi_ShowTheSecretOnceWithNoStore_AndAreRefusedOnceRevoked()
    {
        var api = Server.Api();
        var me = await api.GetMeAsync();
        var browser = Browser();
        var admin = await SignInAsync(browser, ServerFixture.AdminKey);
        var list = await GetAsync(browser, "/console/keys", admin);
        Assert.Equal(HttpStatusCode.OK, list.Status);
        Assert.Contains("id=\"create-key\"", list.Body);
        var name = ServerFixture.UniqueName("console key");
        var expires = Server.Time.GetUtcNow().UtcDateTime.Date.AddDays(10);

        var created = await PostAsync(browser, "/console/keys", admin, ("_csrf", Csrf(list.Body)), ("name", name), ("roles", Roles.Viewer),
            ("roles", Roles.Deployer), ("principal", ""), ("deployments", ""), ("expires", expires.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture)));
        Assert.Equal(HttpStatusCode.Created, created.Status);
        Assert.Null(created.Location); // the secret is on this answer, never in a URL to follow
        Assert.Contains("no-store", created.CacheControl);
        var secret = Regex.Match(created.Body, "data-testid=\"secret\"[^>]*value=\"(mg_[^\"]+)\"").Groups[1].Value;
        Assert.NotEmpty(secret);
        Assert.Single(Regex.Matches(created.Body, Regex.Escape(secret)));

        // Through the REST API: the key exists as asked, acts with its roles, and its creation is audited as the admin's.
        var key = Assert.Single(await api.ListKeysAsync(), k => k.Name == name);
        Assert.Equal(new[] { Roles.Viewer, Roles.Deployer }, key.Roles);
        Assert.Equal(expires, key.ExpiresAt);
        Assert.Null(key.Deployments);
        Assert.Equal(key.Id, key.Principal); // its own service principal
        Assert.Equal(secret[..10], key.Prefix);
        var self = await Server.Api(secret).GetMeAsync();
        Assert.Equal(key.Id, self.KeyId);
        Assert.Equal(new[] { Roles.Viewer, Roles.Deployer }, self.Roles);
        var createdEvent = Assert.Single(await AuditAsync($"keys/{key.Id}"), e => e.Action == "key.created");
        Assert.Equal(me.Principal, createdEvent.Actor);

        // The secret is never shown again: not on the list, not on the key's page.
        var again = await GetAsync(browser, "/console/keys", admin);
        Assert.Contains($"data-key=\"{key.Id}\"", again.Body);
        Assert.DoesNotContain(secret, again.Body);
        var page = await GetAsync(browser, $"/console/keys/{key.Id}", admin);
        Assert.DoesNotContain(secret, page.Body);
        Assert.Contains("id=\"revoke-key\"", page.Body);

        // Revocation: the token and the confirmation are required, and until then the key works.
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync(browser, $"/console/keys/{key.Id}/revoke", admin, ("confirm", "yes"))).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync(browser, $"/console/keys/{key.Id}/revoke", admin, ("_csrf", Csrf(page.Body)))).Status);
        Assert.Equal(HttpStatusCode.OK, await StatusWithAsync(Server.Api(secret)));
        Assert.DoesNotContain(await AuditAsync($"keys/{key.Id}"), e => e.Action == "key.revoked");

        var revoked = await PostAsync(browser, $"/console/keys/{key.Id}/revoke", admin, ("_csrf", Csrf(page.Body)), ("confirm", "yes"));
        Assert.Equal(HttpStatusCode.Redirect, revoked.Status);
        Assert.Equal($"/console/keys/{key.Id}?done=revoked", revoked.Location);
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusWithAsync(Server.Api(secret)));
        Assert.NotNull(Assert.Single(await api.ListKeysAsync(), k => k.Id == key.Id).RevokedAt);
        var revokedEvent = Assert.Single(await AuditAsync($"keys/{key.Id}"), e => e.Action == "key.revoked");
        Assert.Equal(me.Principal, revokedEvent.Actor);
        var after = await GetAsync(browser, $"/console/keys/{key.Id}", admin);
        Assert.Contains("data-status=\"revoked\"", after.Body);
        Assert.DoesNotContain("id=\"revoke-key\"", after.Body);
        // The list's status filter.
        Assert.Contains($"data-key=\"{key.Id}\"", (await GetAsync(browser, "/console/keys?status=revoked", admin)).Body);
        Assert.DoesNotContain($"data-key=\"{key.Id}\"", (await GetAsync(browser, "/console/keys?status=active", admin)).Body);
    }

    [Fact]
    public async Task KeyPage_ShowsItsLastDataPlaneRequest_FromTheRequestLog()
    {
        var key = await Server.CreateKeyAsync(new CreateKeyRequest(ServerFixture.UniqueName("used"), [Roles.Viewer]));
        var other = await Server.CreateKeyAsync(new CreateKeyRequest(ServerFixture.UniqueName("other"), [Roles.Viewer]));
        var browser = Browser();
        var admin = await SignInAsync(browser, ServerFixture.AdminKey);
        Assert.Contains("id=\"last-used\">none in the request log<", (await GetAsync(browser, $"/console/keys/{key.Id}", admin)).Body);

        var t0 = new DateTime(2026, 10, 30, 9, 15, 0, DateTimeKind.Utc);
        await Server.WithDbAsync(db =>
        {
            foreach (var (keyId, time) in new[] { (key.Id, t0), (key.Id, t0.AddHours(5)), (other.Id, t0.AddDays(1)) })
            {
                db.RequestLogs.Add(new ModelGate.Storage.Gateway.RequestLogEntity
                {
                    RequestId = Guid.NewGuid().ToString("N"), Time = time, KeyId = keyId, Deployment = "somewhere", Protocol = "openai", Status = 200,
                });
            }
            return db.SaveChangesAsync();
        });
        Assert.Contains("id=\"last-used\">2026-10-30 14:15 UTC<", (await GetAsync(browser, $"/console/keys/{key.Id}", admin)).Body);
    }

    [Fact]
    public async Task Keys_ForAPrincipal_CarryOnlyItsRoles_AndAScopeIsStored()
    {
        var api = Server.Api();
        var person = await (await Server.PeopleAdminAsync()).CreatePrincipalAsync(new CreatePrincipalRequest(PrincipalKinds.Person,
            ServerFixture.UniqueName("dana") + "@example.com", "Dana", [Roles.Deployer]));
        var browser = Browser();
        var admin = await SignInAsync(browser, ServerFixture.AdminKey);
        var token = Csrf((await GetAsync(browser, "/console/keys", admin)).Body);
        var name = ServerFixture.UniqueName("dana key");

        // A role the principal does not hold: refused as the REST API refuses it (422), nothing stored.
        var keysBefore = (await api.ListKeysAsync()).Count;
        var refused = await PostAsync(browser, "/console/keys", admin, ("_csrf", token), ("name", name), ("roles", Roles.Admin), ("principal", person.Identity));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.Status);
        Assert.Contains("role=\"alert\"", refused.Body);
        Assert.Contains("does not hold admin", refused.Body);
        Assert.Equal(keysBefore, (await api.ListKeysAsync()).Count);

        var created = await PostAsync(browser, "/console/keys", admin, ("_csrf", token), ("name", name), ("roles", Roles.Deployer),
            ("principal", person.Identity), ("deployments", "shop-a, shop-b"));
        Assert.Equal(HttpStatusCode.Created, created.Status);
        var key = Assert.Single(await api.ListKeysAsync(), k => k.Name == name);
        Assert.Equal(person.Id, key.Principal);
        Assert.Equal(new[] { "shop-a", "shop-b" }, key.Deployments);
        Assert.Contains(key.Id, (await api.GetPrincipalAsync(person.Id)).Keys!.Select(k => k.Id));
    }

    public static TheoryData<string, string, string[], string> BadKeys => new()
    {
        { "empty name", "", [Roles.Viewer], "" },
        { "unknown role", "a key", ["superuser"], "" },
        { "10 kB name", new string('n', 10_240), [Roles.Viewer], "" },
        { "control character", "bad\u0001name", [Roles.Viewer], "" },
        { "line break", "bad\nname", [Roles.Viewer], "" },
        { "no role", "a key", [], "" },
        { "bad date", "a key", [Roles.Viewer], "31/12/2027" },
        { "past date", "a key", [Roles.Viewer], "2001-01-01" },
    };

    [Theory]
    [MemberData(nameof(BadKeys))]
    public async Task Keys_BadInput_IsA400PageWithAnAlert_AndStoresNothing(string _, string name, string[] roles, string expires)
    {
        var api = Server.Api();
        var browser = Browser();
        var admin = await SignInAsync(browser, ServerFixture.AdminKey);
        var token = Csrf((await GetAsync(browser, "/console/keys", admin)).Body);
        var keys = (await api.ListKeysAsync()).Count;
        var events = await Server.AuditCountAsync();

        var answer = await PostAsync(browser, "/console/keys", admin, [("_csrf", token), ("name", name), .. roles.Select(r => ("roles", r)), ("expires", expires)]);
        Assert.Equal(HttpStatusCode.BadRequest, answer.Status);
        Assert.Contains("role=\"alert\"", answer.Body);
        Assert.Contains("id=\"create-key\"", answer.Body); // the form again, to correct
        Assert.DoesNotContain("\u0001", answer.Body);
        Assert.True(answer.Body.Length < 8_000 + 2 * 400, $"the page repeats the input: {answer.Body.Length} characters");
        Assert.Equal(keys, (await api.ListKeysAsync()).Count);
        Assert.Equal(events, await Server.AuditCountAsync());
    }

    [Fact]
    public async Task AdminPages_ForANonAdmin_HaveNoNavigation_Are403_AndAForgedPostIsRefusedChangingNothing()
    {
        var api = Server.Api();
        var victim = await Server.CreateKeyAsync(new CreateKeyRequest(ServerFixture.UniqueName("victim"), [Roles.Viewer]));
        var browser = Browser();
        var deployer = await SignInAsync(browser, (await Server.CreateKeyAsync(new CreateKeyRequest(ServerFixture.UniqueName("ops"), [Roles.Deployer]))).Key!);
        var scopedAdmin = await SignInAsync(browser, (await Server.CreateKeyAsync(new CreateKeyRequest(ServerFixture.UniqueName("scoped admin"), [Roles.Admin],
            Deployments: ["somewhere"]))).Key!);
        var admin = await SignInAsync(browser, ServerFixture.AdminKey);

        var home = await GetAsync(browser, "/console", deployer);
        Assert.DoesNotContain("href=\"/console/keys\"", home.Body);
        Assert.DoesNotContain("href=\"/console/principals\"", home.Body);
        Assert.Contains("href=\"/console/keys\"", (await GetAsync(browser, "/console", admin)).Body);
        Assert.DoesNotContain("href=\"/console/keys\"", (await GetAsync(browser, "/console", scopedAdmin)).Body); // its pages would be 403
        foreach (var path in (string[])["/console/keys", "/console/principals", $"/console/keys/{victim.Id}", $"/console/principals/{victim.Principal}"])
        {
            Assert.Equal(HttpStatusCode.Forbidden, (await GetAsync(browser, path, deployer)).Status);
            Assert.Equal(HttpStatusCode.Forbidden, (await GetAsync(browser, path, scopedAdmin)).Status);
        }

        var keys = (await api.ListKeysAsync()).Count;
        var principals = (await api.ListPrincipalsAsync()).Count;
        var events = await Server.AuditCountAsync();
        var token = Csrf(home.Body); // the deployer's own valid token: only the role is missing
        var identity = ServerFixture.UniqueName("forged") + "@example.com";
        Assert.Equal(HttpStatusCode.Forbidden, (await PostAsync(browser, "/console/keys", deployer, ("_csrf", token), ("name", "forged"), ("roles", Roles.Admin))).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await PostAsync(browser, $"/console/keys/{victim.Id}/revoke", deployer, ("_csrf", token), ("confirm", "yes"))).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await PostAsync(browser, "/console/principals", deployer, ("_csrf", token), ("kind", PrincipalKinds.Person),
            ("identity", identity), ("roles", Roles.Admin))).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await PostAsync(browser, $"/console/principals/{victim.Principal}", deployer, ("_csrf", token), ("roles", Roles.Admin))).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await PostAsync(browser, $"/console/principals/{victim.Principal}/disable", deployer, ("_csrf", token),
            ("confirm", "yes"))).Status);
        var scopedToken = Csrf((await GetAsync(browser, "/console", scopedAdmin)).Body);
        Assert.Equal(HttpStatusCode.Forbidden, (await PostAsync(browser, $"/console/keys/{victim.Id}/revoke", scopedAdmin, ("_csrf", scopedToken), ("confirm", "yes"))).Status);

        Assert.Equal(keys, (await api.ListKeysAsync()).Count);
        Assert.Equal(principals, (await api.ListPrincipalsAsync()).Count);
        Assert.Equal(events, await Server.AuditCountAsync());
        Assert.Equal(HttpStatusCode.OK, await StatusWithAsync(Server.Api(victim.Key)));
        Assert.Equal(new[] { Roles.Viewer }, (await api.GetPrincipalAsync(victim.Principal!)).Roles);
    }

    [Fact]
    public async Task Principals_CreatedAndChangedInTheConsole_AsThroughTheApi_EachChangeAudited()
    {
        var api = Server.Api();
        var me = await api.GetMeAsync();
        var browser = Browser();
        var admin = await SignInAsync(browser, ServerFixture.AdminKey);
        var list = await GetAsync(browser, "/console/principals", admin);
        Assert.Equal(HttpStatusCode.OK, list.Status);
        var token = Csrf(list.Body);
        var identity = ServerFixture.UniqueName("erin") + "@example.com";
        var principals = (await api.ListPrincipalsAsync()).Count;

        // Without the token: refused, nothing made.
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync(browser, "/console/principals", admin, ("kind", PrincipalKinds.Person), ("identity", identity))).Status);
        // A service with an approving role: refused as the REST API refuses it (422), nothing made.
        var service = await PostAsync(browser, "/console/principals", admin, ("_csrf", token), ("kind", PrincipalKinds.Service),
            ("identity", ServerFixture.UniqueName("robot")), ("roles", Roles.MlLead));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, service.Status);
        Assert.Contains("role=\"alert\"", service.Body);
        // A control character in the identity: 400.
        var control = await PostAsync(browser, "/console/principals", admin, ("_csrf", token), ("kind", PrincipalKinds.Person), ("identity", "erin\u0007@example.com"));
        Assert.Equal(HttpStatusCode.BadRequest, control.Status);
        Assert.Contains("role=\"alert\"", control.Body);
        Assert.Equal(principals, (await api.ListPrincipalsAsync()).Count);

        var created = await PostAsync(browser, "/console/principals", admin, ("_csrf", token), ("kind", PrincipalKinds.Person), ("identity", identity),
            ("displayName", "Erin"), ("roles", Roles.Viewer));
        Assert.Equal(HttpStatusCode.Redirect, created.Status);
        var erin = await api.GetPrincipalAsync(identity);
        Assert.Equal($"/console/principals/{erin.Id}?done=created", created.Location);
        Assert.Equal((PrincipalKinds.Person, "Erin"), (erin.Kind, erin.DisplayName));
        Assert.Equal(new[] { Roles.Viewer }, erin.Roles);
        Assert.Equal(principals + 1, (await api.ListPrincipalsAsync()).Count);
        var subject = $"principals/{erin.Id}";
        Assert.Equal(new[] { "principal.created", "principal.role_granted" }, (await AuditAsync(subject)).OrderBy(e => e.Sequence).Select(e => e.Action));

        // Grant an approving role to the person (another principal does it), keeping viewer.
        var page = await GetAsync(browser, $"/console/principals/{erin.Id}", admin);
        Assert.Contains("id=\"principal-roles\"", page.Body);
        Assert.Matches("name=\"roles\" value=\"ml-lead\">", page.Body); // offered, not disabled
        var granted = await PostAsync(browser, $"/console/principals/{erin.Id}", admin, ("_csrf", token), ("displayName", "Erin"),
            ("roles", Roles.Viewer), ("roles", Roles.MlLead), ("held", Roles.Viewer));
        Assert.Equal(HttpStatusCode.Redirect, granted.Status);
        Assert.Equal(new[] { Roles.Viewer, Roles.MlLead }, (await api.GetPrincipalAsync(erin.Id)).Roles);
        var grant = Assert.Single(await AuditAsync(subject), e => e.Action == "principal.role_granted" && e.Details.GetProperty("role").GetString() == Roles.MlLead);
        Assert.Equal((me.Principal, "success"), (grant.Actor, grant.Outcome));
        Assert.DoesNotContain(await AuditAsync(subject), e => e.Action == "principal.updated"); // the name did not change

        // Remove viewer; the page's roles form said viewer and ml-lead were held.
        var removed = await PostAsync(browser, $"/console/principals/{erin.Id}", admin, ("_csrf", token), ("displayName", "Erin R."),
            ("roles", Roles.MlLead), ("held", Roles.Viewer), ("held", Roles.MlLead));
        Assert.Equal(HttpStatusCode.Redirect, removed.Status);
        var changed = await api.GetPrincipalAsync(erin.Id);
        Assert.Equal(new[] { Roles.MlLead }, changed.Roles);
        Assert.Equal("Erin R.", changed.DisplayName);
        Assert.Single(await AuditAsync(subject), e => e.Action == "principal.role_removed" && e.Details.GetProperty("role").GetString() == Roles.Viewer);
        Assert.Single(await AuditAsync(subject), e => e.Action == "principal.updated");

        // An unknown role: 400, nothing changed.
        var events = await Server.AuditCountAsync();
        var unknown = await PostAsync(browser, $"/console/principals/{erin.Id}", admin, ("_csrf", token), ("roles", "root"), ("held", Roles.MlLead));
        Assert.Equal(HttpStatusCode.BadRequest, unknown.Status);
        Assert.Contains("role=\"alert\"", unknown.Body);
        Assert.Equal(new[] { Roles.MlLead }, (await api.GetPrincipalAsync(erin.Id)).Roles);
        Assert.Equal(events, await Server.AuditCountAsync());
    }

    [Fact]
    public async Task Principals_AnAdminCannotGrantThemselvesAnApprovingRole_TheRefusalIsAudited_AndDisablingStopsTheirKeys()
    {
        var api = Server.Api();
        var people = await Server.PeopleAdminAsync();
        var boss = await people.CreatePrincipalAsync(new CreatePrincipalRequest(PrincipalKinds.Person, ServerFixture.UniqueName("boss") + "@example.com", "Boss",
            [Roles.Admin]));
        var bossKey = await api.CreateKeyAsync(new CreateKeyRequest(ServerFixture.UniqueName("boss key"), [Roles.Admin], Principal: boss.Id));
        var browser = Browser();
        var asBoss = await SignInAsync(browser, bossKey.Key!);
        var own = await GetAsync(browser, $"/console/principals/{boss.Id}", asBoss);
        Assert.Equal(HttpStatusCode.OK, own.Status);
        Assert.Contains("name=\"roles\" value=\"ml-lead\" disabled>", own.Body); // not offered to oneself…

        var refused = await PostAsync(browser, $"/console/principals/{boss.Id}", asBoss, ("_csrf", Csrf(own.Body)), ("displayName", "Boss"),
            ("roles", Roles.Admin), ("roles", Roles.MlLead), ("held", Roles.Admin));
        Assert.Equal(HttpStatusCode.Forbidden, refused.Status); // …and refused if forged
        Assert.Contains("role=\"alert\"", refused.Body);
        Assert.Contains("you cannot grant yourself ml-lead", refused.Body);
        Assert.Equal(new[] { Roles.Admin }, (await api.GetPrincipalAsync(boss.Id)).Roles);
        var attempt = Assert.Single(await AuditAsync($"principals/{boss.Id}"), e => e.Action == "principal.role_granted" && e.Outcome == "refused");
        Assert.Equal((boss.Id, Roles.MlLead), (attempt.Actor, attempt.Details.GetProperty("role").GetString()));

        // Another administrator disables the boss: the confirmation is required; then every key of the boss is refused.
        var admin = await SignInAsync(browser, ServerFixture.AdminKey);
        var page = await GetAsync(browser, $"/console/principals/{boss.Id}", admin);
        Assert.Contains("id=\"disable-principal\"", page.Body);
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync(browser, $"/console/principals/{boss.Id}/disable", admin, ("_csrf", Csrf(page.Body)))).Status);
        Assert.Equal(HttpStatusCode.OK, await StatusWithAsync(Server.Api(bossKey.Key)));
        var disabled = await PostAsync(browser, $"/console/principals/{boss.Id}/disable", admin, ("_csrf", Csrf(page.Body)), ("confirm", "yes"));
        Assert.Equal(HttpStatusCode.Redirect, disabled.Status);
        Assert.NotNull((await api.GetPrincipalAsync(boss.Id)).DisabledAt);
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusWithAsync(Server.Api(bossKey.Key)));
        Assert.Single(await AuditAsync($"principals/{boss.Id}"), e => e.Action == "principal.disabled");
    }

    [Fact]
    public async Task Silences_CreatedFromTheAlertsPage_AreListed_AndAlertsFiringUnderThemAreMarkedSilenced()
    {
        var api = Server.Api();
        var prefix = ServerFixture.UniqueName("slo:console");
        var alerts = Server.App.Services.GetRequiredService<AlertManager>();
        var ct = TestContext.Current.CancellationToken;
        await alerts.RaiseAsync($"{prefix}:fast", prefix, "slo", "page", "burning fast", new { }, ct);
        var browser = Browser();
        var onCall = await Server.CreateKeyAsync(new CreateKeyRequest(ServerFixture.UniqueName("on call"), [Roles.Deployer]));
        var deployer = await SignInAsync(browser, onCall.Key!);
        var viewer = await SignInAsync(browser, (await Server.CreateKeyAsync(new CreateKeyRequest(ServerFixture.UniqueName("watcher"), [Roles.Viewer]))).Key!);

        // The viewer sees the alert but no way to silence it, and a forged post is refused.
        var asViewer = await GetAsync(browser, "/console/alerts", viewer);
        Assert.Contains($"data-alert=\"{prefix}:fast\"", asViewer.Body);
        Assert.DoesNotContain("id=\"create-silence\"", asViewer.Body);
        Assert.DoesNotContain("Silence this", asViewer.Body);
        var silences = (await api.ListSilencesAsync()).Count;
        Assert.Equal(HttpStatusCode.Forbidden, (await PostAsync(browser, "/console/alerts/silences", viewer, ("_csrf", Csrf(asViewer.Body)),
            ("keyPrefix", prefix), ("duration", "2h"), ("reason", "forged"))).Status);

        // "Silence this" fills the prefix with the alert's key.
        var page = await GetAsync(browser, "/console/alerts", deployer);
        var link = Regex.Match(page.Body, $"<tr data-alert=\"{Regex.Escape(prefix)}:fast\">(?:(?!</tr>).)*<a class=\"silence-this\" href=\"([^\"]+)\"").Groups[1].Value;
        Assert.Contains(Uri.EscapeDataString($"{prefix}:fast"), System.Net.WebUtility.HtmlDecode(link));
        var prefilled = await GetAsync(browser, System.Net.WebUtility.HtmlDecode(link).Split('#')[0], deployer);
        Assert.Contains($"name=\"keyPrefix\" required maxlength=\"200\" value=\"{prefix}:fast\"", prefilled.Body);
        var token = Csrf(page.Body);

        // No token; bad input: refused, nothing stored.
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync(browser, "/console/alerts/silences", deployer, ("keyPrefix", prefix), ("duration", "2h"), ("reason", "x"))).Status);
        foreach (var (keyPrefix, duration, reason) in new[] { (prefix, "forever", "maintenance"), (prefix, "31d", "maintenance"), (prefix, "2h", ""),
            ("slo\u0001x", "2h", "maintenance"), (new string('p', 10_240), "2h", "maintenance") })
        {
            var bad = await PostAsync(browser, "/console/alerts/silences", deployer, ("_csrf", token), ("keyPrefix", keyPrefix), ("duration", duration), ("reason", reason));
            Assert.Equal(HttpStatusCode.BadRequest, bad.Status);
            Assert.Contains("role=\"alert\"", bad.Body);
        }
        Assert.Equal(silences, (await api.ListSilencesAsync()).Count);

        var made = await PostAsync(browser, "/console/alerts/silences", deployer, ("_csrf", token), ("keyPrefix", prefix), ("duration", "2h"),
            ("reason", "planned failover\nof the primary"));
        Assert.Equal(HttpStatusCode.Redirect, made.Status);
        Assert.Equal("/console/alerts?done=silenced", made.Location);
        var silence = Assert.Single(await api.ListSilencesAsync(), s => s.KeyPrefix == prefix);
        Assert.Equal(Server.Time.GetUtcNow().UtcDateTime.AddHours(2), silence.Until);
        Assert.Equal("planned failover\nof the primary", silence.Reason);
        Assert.Equal(onCall.Principal, silence.CreatedBy);
        var audited = Assert.Single(await AuditAsync($"alerts/{prefix}"), e => e.Action == "alert.silenced");
        Assert.Equal(onCall.Principal, audited.Actor);

        // An alert that fires under the silence is recorded silenced; one outside it is not.
        await alerts.RaiseAsync($"{prefix}:slow", prefix, "slo", "ticket", "burning slowly", new { }, ct);
        var other = ServerFixture.UniqueName("slo:elsewhere");
        await alerts.RaiseAsync(other, other, "slo", "ticket", "elsewhere", new { }, ct);
        var firing = await api.ListAlertsAsync(status: "firing");
        Assert.True(firing.Single(a => a.Key == $"{prefix}:slow").Silenced);
        Assert.False(firing.Single(a => a.Key == other).Silenced);
        var shown = await GetAsync(browser, "/console/alerts", deployer);
        // Within the alert's own row (rows are written one after another on one line).
        Assert.Matches($"<tr data-alert=\"{Regex.Escape(prefix)}:slow\">(?:(?!</tr>).)*data-silenced=\"true\"", shown.Body);
        Assert.Matches($"<tr data-alert=\"{Regex.Escape(other)}\">(?:(?!</tr>).)*data-silenced=\"false\"", shown.Body);
        Assert.Contains($"data-silence=\"{silence.Id}\"", shown.Body);
    }
}

public sealed class AdminPageTests_Sqlite(SqliteServerFixture fixture) : AdminPageTests(fixture), IClassFixture<SqliteServerFixture>;

public sealed class AdminPageTests_Postgres(PostgresServerFixture fixture) : AdminPageTests(fixture), IClassFixture<PostgresServerFixture>;
