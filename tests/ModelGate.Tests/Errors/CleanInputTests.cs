using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using ModelGate.Client;
using ModelGate.Gateway;
using ModelGate.Storage.Gateway;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Errors;

/// <summary>The reproductions of issue 15, items 4 and 5, on both providers: bad text, bad numbers, oversized input.</summary>
public abstract class CleanInputTests(ServerFixture fixture) : ProviderTests(fixture)
{
    private async Task<string> DeployChatAsync(StubChatUpstream upstream)
    {
        var model = ServerFixture.UniqueName("chat");
        var api = Server.Api();
        await api.CreateModelAsync(new CreateModelRequest(model, "assistants", "medium", "llm-chat"));
        var config = await Server.UploadAsync(Encoding.UTF8.GetBytes($"serving config {model}"));
        await api.CreateVersionAsync(model, new CreateVersionRequest("1.0.0", [new ArtifactRef(config, "serving.json")],
            Fixtures.Attestation() with { Architecture = "upstream" }));
        var name = ServerFixture.UniqueName("chat");
        await api.CreateDeploymentAsync(new CreateDeploymentRequest(name, "development", model,
            new RoutingTable("1.0.0", Backend: "upstream", Upstreams: new Dictionary<string, UpstreamBackend> { ["1.0.0"] = new(upstream.BaseUrl, "stub") })));
        return name;
    }

    private static StringContent Json(string text) => new(text, Encoding.UTF8, "application/json");

    private static ByteArrayContent Json(byte[] bytes) => new(bytes) { Headers = { ContentType = new("application/json") } };

    [Fact]
    public async Task ChatCompletions_NulInModel_Is400_AndTheRequestsAroundItAreAllLogged()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        var deployment = await DeployChatAsync(upstream);
        var client = Server.Client();
        var log = Server.App.Services.GetRequiredService<RequestLog>();
        var dropped = log.Dropped;
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            var bad = await client.PostAsync("/v1/chat/completions", Json("""{"model":"x\u0000","messages":[]}"""));
            var problem = await ProblemAssert.IsProblem(bad, HttpStatusCode.BadRequest, "invalid_text");
            Assert.Equal("model", problem.GetProperty("error").GetProperty("param").GetString());
            var good = await client.PostAsJsonAsync("/v1/chat/completions", new { model = deployment, messages = new[] { new { role = "user", content = $"hi {i}" } } });
            Assert.Equal(HttpStatusCode.OK, good.StatusCode);
            ids.Add(good.Headers.GetValues("x-modelgate-request-id").Single());
        }
        await Server.FlushRequestLogAsync();
        var logged = await Server.WithDbAsync(db => db.RequestLogs.CountAsync(r => ids.Contains(r.RequestId)));
        Assert.Equal(ids.Count, logged);
        Assert.Equal(dropped, log.Dropped);
    }

    [Fact]
    public async Task RequestLogWriter_ABatchWithOneRecordTheDatabaseRefuses_WritesEveryOtherRecord()
    {
        var log = Server.App.Services.GetRequiredService<RequestLog>();
        var deployment = ServerFixture.UniqueName("batch");
        var batch = Enumerable.Range(0, 9).Select(i => new RequestLogEntity
        {
            RequestId = $"{deployment}-{i}", Time = Server.Time.GetUtcNow().UtcDateTime, Deployment = deployment, Protocol = "openai", Status = 200,
        }).ToList();
        // NOT NULL on both providers: the one record the database refuses.
        batch.Insert(4, new RequestLogEntity { RequestId = null!, Deployment = deployment, Protocol = "openai", Status = 200 });
        var dropped = log.Dropped;

        var write = typeof(RequestLog).GetMethod("WriteAsync", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic)!;
        await (Task)write.Invoke(log, [batch, CancellationToken.None])!;

        Assert.Equal(9, await Server.WithDbAsync(db => db.RequestLogs.CountAsync(r => r.Deployment == deployment)));
        Assert.Equal(dropped + 1, log.Dropped);
    }

    [Fact]
    public async Task Nul_InKeyName_ModelOwner_AndSilence_Is400_AndNothingIsStored()
    {
        var client = Server.Client();
        var audit = await Server.AuditCountAsync();
        var keys = (await Server.Api().ListKeysAsync()).Count;
        var model = ServerFixture.UniqueName("nul");

        var key = await ProblemAssert.IsProblem(await client.PostAsync("/api/v1/keys", Json("""{"name":"k\u0000","roles":["viewer"]}""")),
            HttpStatusCode.BadRequest, "invalid_text");
        Assert.True(key.GetProperty("errors").TryGetProperty("name", out _), key.ToString());
        var owner = await ProblemAssert.IsProblem(await client.PostAsync("/api/v1/models",
            Json($$"""{"name":"{{model}}","owner":"o\u0000","riskTier":"low","task":"classification"}""")), HttpStatusCode.BadRequest, "invalid_text");
        Assert.True(owner.GetProperty("errors").TryGetProperty("owner", out _), owner.ToString());
        var silence = await ProblemAssert.IsProblem(await client.PostAsync("/api/v1/alerts/silences",
            Json("""{"keyPrefix":"burn\u0000","duration":"1h","reason":"r"}""")), HttpStatusCode.BadRequest, "invalid_text");
        Assert.True(silence.GetProperty("errors").TryGetProperty("keyPrefix", out _), silence.ToString());
        // Other control characters and lone surrogates too; tab and newline are free text.
        await ProblemAssert.IsProblem(await client.PostAsync("/api/v1/keys", Json("""{"name":"k\u001b[31m","roles":["viewer"]}""")),
            HttpStatusCode.BadRequest, "invalid_text");
        await ProblemAssert.IsProblem(await client.PostAsync("/api/v1/keys", Json("""{"name":"k\ud800","roles":["viewer"]}""")),
            HttpStatusCode.BadRequest, "invalid_text");
        var invalidUtf8 = Encoding.UTF8.GetBytes("""{"name":"k#","roles":["viewer"]}""");
        invalidUtf8[Array.IndexOf(invalidUtf8, (byte)'#')] = 0xFF;
        await ProblemAssert.IsProblem(await client.PostAsync("/api/v1/keys", Json(invalidUtf8)), HttpStatusCode.BadRequest, "invalid_text");
        // NUL in a path is refused by the server itself; other control characters reach the names.
        await ProblemAssert.IsProblem(await client.GetAsync($"/api/v1/models/{model}%1B"), HttpStatusCode.BadRequest, "invalid_text");
        await ProblemAssert.IsProblem(await client.GetAsync("/api/v1/usage?deployment=x%00"), HttpStatusCode.BadRequest, "invalid_text");
        await ProblemAssert.IsProblem(await client.GetAsync("/api/v1/usage?deploy%1Bment=x"), HttpStatusCode.BadRequest, "invalid_text");

        Assert.Equal(audit, await Server.AuditCountAsync());
        Assert.Equal(keys, (await Server.Api().ListKeysAsync()).Count);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/api/v1/models/{model}")).StatusCode);

        var multiline = await client.PostAsync("/api/v1/keys", Json("""{"name":"line one\nline\ttwo","roles":["viewer"]}"""));
        Assert.Equal(HttpStatusCode.Created, multiline.StatusCode);
    }

    [Fact]
    public async Task NaNAndInfinity_InPolicySloAndRolloutSteps_Are400NamingTheField()
    {
        var model = await AdultServing.RegisterAsync(Server);
        var deployment = await AdultServing.DeployAsync(Server, model, new { stable = "1.0.0" });
        var client = Server.Client();
        var audit = await Server.AuditCountAsync();

        foreach (var nan in new[] { "\"NaN\"", "\"Infinity\"", "\"-Infinity\"", "1e400" })
        {
            var policy = await ProblemAssert.IsProblem(await client.PutAsync($"/api/v1/policies/{model}",
                Json($$$"""{"evaluated":{"regressionTolerance":{{{nan}}}}}""")), HttpStatusCode.BadRequest, "invalid_number");
            Assert.True(policy.GetProperty("errors").TryGetProperty("evaluated.regressionTolerance", out _), policy.ToString());
            var slo = await ProblemAssert.IsProblem(await client.PutAsync($"/api/v1/deployments/{deployment}/slo",
                Json($$"""{"availability":{{nan}}}""")), HttpStatusCode.BadRequest, "invalid_number");
            Assert.True(slo.GetProperty("errors").TryGetProperty("availability", out _), slo.ToString());
            var rollout = await ProblemAssert.IsProblem(await client.PostAsync($"/api/v1/deployments/{deployment}/rollouts",
                Json($$"""{"candidate":"1.1.0","steps":[5,{{nan}}]}""")), HttpStatusCode.BadRequest, "invalid_number");
            Assert.True(rollout.GetProperty("errors").TryGetProperty("steps[1]", out _), rollout.ToString());
        }
        Assert.Equal(audit, await Server.AuditCountAsync());
    }

    [Fact]
    public async Task ChatCompletions_InvalidUtf8_InModelOrContent_Is400_AndNothingGoesUpstream()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        var deployment = await DeployChatAsync(upstream);
        var client = Server.Client();
        foreach (var (template, field) in new[]
                 {
                     ("""{"model":"#","messages":[]}""", "model"),
                     ($$"""{"model":"{{deployment}}","messages":[{"role":"user","content":"caf#"}]}""", "messages[0].content"),
                 })
        {
            var bytes = Encoding.UTF8.GetBytes(template);
            bytes[Array.IndexOf(bytes, (byte)'#')] = 0xC3; // a lead byte with no continuation
            var problem = await ProblemAssert.IsProblem(await client.PostAsync("/v1/chat/completions", Json(bytes)), HttpStatusCode.BadRequest, "invalid_text");
            Assert.Equal(field, problem.GetProperty("error").GetProperty("param").GetString());
        }
        var nul = await ProblemAssert.IsProblem(await client.PostAsync("/v1/chat/completions",
            Json($$"""{"model":"{{deployment}}","messages":[{"role":"user","content":"a\u0000b"}]}""")), HttpStatusCode.BadRequest, "invalid_text");
        Assert.Equal("messages[0].content", nul.GetProperty("error").GetProperty("param").GetString());
        await ProblemAssert.IsProblem(await client.PostAsync("/v1/chat/completions",
            Json($$"""{"model":"{{deployment}}","messages":[{"role":"user","content":"a\udc00b"}]}""")), HttpStatusCode.BadRequest, "invalid_text");
        Assert.Empty(upstream.Requests);

        // Text that is only unusual passes: escaped non-ASCII, a surrogate pair, tabs and newlines.
        var fine = await client.PostAsync("/v1/chat/completions",
            Json($$"""{"model":"{{deployment}}","messages":[{"role":"user","content":"caf\u00e9 \ud83d\ude00\n\tok"}]}"""));
        Assert.Equal(HttpStatusCode.OK, fine.StatusCode);
    }

    [Fact]
    public async Task ChatCompletions_AHugeModelName_Is400_AndNoErrorEchoesMoreThanAShortPrefix()
    {
        var client = Server.Client();
        var huge = new string('m', 40_000);
        var response = await client.PostAsync("/v1/chat/completions", Json($$"""{"model":"{{huge}}","messages":[]}"""));
        var problem = await ProblemAssert.IsProblem(response, HttpStatusCode.BadRequest, "value_too_long");
        Assert.True((await response.Content.ReadAsStringAsync()).Length < 2_000);
        Assert.Equal("model", problem.GetProperty("error").GetProperty("param").GetString());

        // An unknown deployment's name is echoed, but only so much of it.
        var unknown = await client.PostAsync("/v1/chat/completions", Json($$"""{"model":"{{new string('n', 190)}}","messages":[]}"""));
        var notFound = await ProblemAssert.IsProblem(unknown, HttpStatusCode.NotFound, "deployment_not_found");
        Assert.True(notFound.GetProperty("detail").GetString()!.Length < 200, notFound.GetProperty("detail").GetString());
        Assert.EndsWith("…'", notFound.GetProperty("detail").GetString(), StringComparison.Ordinal);

        // Its record is kept, the name cut to the column's length (PostgreSQL refused the whole record before).
        var log = Server.App.Services.GetRequiredService<RequestLog>();
        var dropped = log.Dropped;
        var id = unknown.Headers.GetValues("x-modelgate-request-id").Single();
        await Server.FlushRequestLogAsync();
        var logged = await Server.WithDbAsync(db => db.RequestLogs.Where(r => r.RequestId == id).Select(r => r.Deployment).FirstOrDefaultAsync());
        Assert.Equal(new string('n', 63) + "…", logged);
        Assert.Equal(dropped, log.Dropped);
    }

    [Fact]
    public async Task ExternalEvaluation_MetricsOutsideTheirRange_Are400()
    {
        var model = await AdultServing.RegisterAsync(Server);
        var suite = await Server.UploadAsync(Encoding.UTF8.GetBytes($"external suite {model}"));
        var client = Server.Client();
        var audit = await Server.AuditCountAsync();
        foreach (var (metrics, field) in new[]
                 {
                     ("""{"accuracy":-1}""", "metrics.accuracy"),
                     ("""{"accuracy":1e308}""", "metrics.accuracy"),
                     ("""{"roc_auc":1.5}""", "metrics.roc_auc"),
                     ("""{"log_loss":-0.1}""", "metrics.log_loss"),
                     ("""{"accuracy":"NaN"}""", "metrics.accuracy"),
                 })
        {
            var problem = await ProblemAssert.IsProblem(await client.PostAsync($"/api/v1/models/{model}/versions/1.0.0/evaluations",
                Json($$"""{"suite":"{{suite}}","external":true,"metrics":{{metrics}}}""")), HttpStatusCode.BadRequest, "invalid_number");
            Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.ToString());
        }
        Assert.Equal(audit, await Server.AuditCountAsync());
        var ok = await client.PostAsync($"/api/v1/models/{model}/versions/1.0.0/evaluations",
            Json($$$"""{"suite":"{{{suite}}}","external":true,"metrics":{"accuracy":0.8,"log_loss":0.4,"custom_score":-3}}"""));
        Assert.Equal(HttpStatusCode.Created, ok.StatusCode);
    }

    [Fact]
    public async Task AWrongContentType_Is415WithACode()
    {
        var client = Server.Client();
        var response = await client.PostAsync("/api/v1/keys", new StringContent("""{"name":"k","roles":["viewer"]}""", Encoding.UTF8, "text/plain"));
        await ProblemAssert.IsProblem(response, HttpStatusCode.UnsupportedMediaType, "unsupported_media_type");
        var policy = await client.PutAsync("/api/v1/policies/default", new StringContent("{}", Encoding.UTF8, "text/plain"));
        await ProblemAssert.IsProblem(policy, HttpStatusCode.UnsupportedMediaType, "unsupported_media_type");
        var rollback = await client.PostAsync("/api/v1/deployments/nowhere/rollback", new StringContent("{}", Encoding.UTF8, "text/plain"));
        await ProblemAssert.IsProblem(rollback, HttpStatusCode.UnsupportedMediaType, "unsupported_media_type");
    }
}

public sealed class SqliteCleanInputTests(SqliteServerFixture fixture) : CleanInputTests(fixture), IClassFixture<SqliteServerFixture>;

public sealed class PostgresCleanInputTests(PostgresServerFixture fixture) : CleanInputTests(fixture), IClassFixture<PostgresServerFixture>;
