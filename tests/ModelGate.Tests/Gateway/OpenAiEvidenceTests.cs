using System.Net;
using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using ModelGate.Client;
using ModelGate.Gateway.Telemetry;
using ModelGate.Rollouts;
using ModelGate.Storage.Gateway;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Gateway;

/// <summary>
/// What the canary judge learns from the OpenAI-compatible data path (issue 17): a failed attempt on the candidate is the
/// candidate's error and fallback, time to first byte per answered request, and a shadow's comparison with stable.
/// </summary>
public abstract class OpenAiEvidenceTests(ServerFixture fixture) : ProviderTests(fixture)
{
    /// <summary>
    /// A development deployment of a new chat model: 1.0.0 stable at <paramref name="stable"/> (1 per 1K tokens both ways),
    /// 1.1.0 at <paramref name="candidate"/> (10 per 1K, no retries) as a canary at <paramref name="weight"/> % or a shadow.
    /// </summary>
    private async Task<string> DeployAsync(string stable, string candidate, double weight = 100, double shadowPercent = 0)
    {
        var model = await UpstreamModels.RegisterAsync(Server, "evidence");
        var name = ServerFixture.UniqueName("evidence");
        var upstreams = new Dictionary<string, UpstreamBackend>
        {
            ["1.0.0"] = new(stable, "stub-large", "sk-stable", Retries: 0, InputPricePer1K: 1, OutputPricePer1K: 1),
            ["1.1.0"] = new(candidate, "stub-small", "sk-candidate", Retries: 0, InputPricePer1K: 10, OutputPricePer1K: 10),
        };
        await Server.Api().CreateDeploymentAsync(new CreateDeploymentRequest(name, "development", model, shadowPercent > 0
            ? new RoutingTable("1.0.0", Backend: "upstream", Upstreams: upstreams, Shadow: new ShadowRoute("1.1.0", shadowPercent))
            : new RoutingTable("1.0.0", [new CandidateRoute("1.1.0", weight)], Backend: "upstream", Upstreams: upstreams)));
        return name;
    }

    /// <summary>
    /// A key with a token limit: its requests are accounted before their response ends (<c>OpenAiApi.LoggedAsync</c>), so the
    /// telemetry holds a request once its answer has been read.
    /// </summary>
    private async Task<HttpClient> AccountedClientAsync()
    {
        var key = await Server.Api().CreateKeyAsync(new CreateKeyRequest("evidence", ["admin"], TokensPerMinute: 10_000_000));
        return Server.Client(key.Key);
    }

    private static async Task<(string RequestId, string Version, string Route, string Body)> ChatAsync(HttpClient client, string deployment, bool stream = false)
    {
        using var response = await client.PostAsJsonAsync("/v1/chat/completions",
            new { model = deployment, stream, messages = new[] { new { role = "user", content = "how are you" } } });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        return (response.Headers.GetValues("x-modelgate-request-id").Single(), response.Headers.GetValues("x-modelgate-version").Single(),
            response.Headers.GetValues("x-modelgate-route").Single(), body);
    }

    private async Task<SlotAggregate> Evidence(string deployment, string version, bool shadow = false) => SlotAggregate.Merge(0,
        await Server.App.Services.GetRequiredService<IRolloutEvidence>().SlotsAsync(deployment, version, Server.Time.GetUtcNow().UtcDateTime.AddMinutes(-10), shadow,
            TestContext.Current.CancellationToken));

    /// <summary>The request log's records of <paramref name="deployment"/>, after a flush: there are <paramref name="count"/>.</summary>
    private async Task<List<RequestLogEntity>> LoggedAsync(string deployment, int count)
    {
        await Server.FlushRequestLogAsync();
        var rows = await Server.WithDbAsync(db => Task.FromResult(db.RequestLogs.Where(r => r.Deployment == deployment).OrderBy(r => r.Id).ToList()));
        Assert.Equal(count, rows.Count);
        return rows;
    }

    private static string Sample(string metrics, string name, string labels) =>
        metrics.Split('\n').SingleOrDefault(l => l.StartsWith($"{name}{{{labels}}} ", StringComparison.Ordinal))?.Split(' ')[1] ?? "(none)";

    [Fact]
    public async Task CandidateAnswering500_FallsBack_AndIsTheCandidatesErrorAndFallback_InTelemetryMetricsAndRequestLog()
    {
        await using var stable = await StubChatUpstream.StartAsync();
        await using var candidate = await StubChatUpstream.StartAsync();
        stable.Answer = (_, _) => "from stable";
        candidate.Broken = true;
        var deployment = await DeployAsync(stable.BaseUrl, candidate.BaseUrl);
        var client = await AccountedClientAsync();

        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var (id, version, route, body) = await ChatAsync(client, deployment);
            Assert.Contains("from stable", body);
            Assert.Equal(("1.0.0", "fallback"), (version, route));
            ids.Add(id);
        }
        Assert.Equal(3, candidate.Requests.Count);

        // The judge's input: the candidate failed three times and fell back three times; stable served all three.
        var failed = await Evidence(deployment, "1.1.0");
        Assert.Equal((3, 3, 3, 3), (failed.Requests, failed.Errors[(int)ErrorClass.Server], failed.ServerErrors, failed.Fallbacks));
        Assert.Equal((0, 0, 0), (failed.PromptTokens, failed.CompletionTokens, failed.Cost));
        var served = await Evidence(deployment, "1.0.0");
        Assert.Equal((3, 0, 0), (served.Requests, served.ServerErrors, served.Fallbacks));
        Assert.True(served.Cost > 0);
        // The stable version's price: (prompt + completion) tokens at 1 per 1K.
        Assert.Equal((served.PromptTokens + served.CompletionTokens) / 1000.0, served.Cost, 12);

        var metrics = await Server.Api().GetDeploymentMetricsAsync(deployment, "5m");
        var canary = metrics.Series.Single(s => s.Version == "1.1.0");
        Assert.Equal(("failed_attempt", 3, 3, 1.0), (canary.Route, canary.Requests, canary.Errors["server"], canary.ErrorRate));
        Assert.Equal(3, canary.Fallbacks);
        Assert.Equal(3, metrics.Series.Single(s => s.Version == "1.0.0" && s.Route == "fallback").Requests);

        var text = await Server.Client().GetStringAsync("/metrics");
        var labels = $"deployment=\"{deployment}\",version=\"1.1.0\",route=\"failed_attempt\"";
        Assert.Equal("3", Sample(text, "modelgate_gateway_requests_total", labels));
        Assert.Equal("3", Sample(text, "modelgate_gateway_errors_total", labels + ",class=\"server\""));
        Assert.Equal("3", Sample(text, "modelgate_gateway_fallbacks_total", labels));

        // The request log: per request, the failed attempt (candidate, failed_attempt, 500, no usage, no cost) and the served one.
        var rows = await LoggedAsync(deployment, 6);
        foreach (var id in ids)
        {
            var records = rows.Where(r => r.RequestId == id).ToList();
            var attempt = Assert.Single(records, r => r.Version == "1.1.0");
            Assert.Equal(("failed_attempt", 500, (long?)null, (long?)null, (double?)null), (attempt.Route, attempt.Status, attempt.PromptTokens, attempt.CompletionTokens, attempt.Cost));
            var answer = Assert.Single(records, r => r.Version == "1.0.0");
            Assert.Equal(("fallback", 200), (answer.Route, answer.Status));
            Assert.Equal((answer.PromptTokens!.Value + answer.CompletionTokens!.Value) / 1000.0, answer.Cost!.Value, 12);
        }

        // Feedback joins the record that served the client.
        var feedback = await Server.Api().SendFeedbackAsync(new FeedbackRequest(ids[0], Score: 1));
        Assert.Equal(("1.0.0", "fallback"), (feedback.Version, feedback.Route));
        Assert.Equal(1, (await Evidence(deployment, "1.0.0")).FeedbackCount);
        Assert.Equal(0, (await Evidence(deployment, "1.1.0")).FeedbackCount);

        // The deployment's availability is what its clients got: every one was answered, so nothing is spent of the budget.
        var slo = await Server.Api().SetSloAsync(deployment, new SloSpec(Availability: 0.99));
        var availability = slo.Objectives.Single(o => o.Objective == "availability");
        Assert.Equal((1.0, 1.0), (availability.Compliance, availability.BudgetRemaining));
    }

    [Fact]
    public async Task CandidateNotAnswering_IsItsUpstreamError_502_AndFallback()
    {
        await using var stable = await StubChatUpstream.StartAsync();
        var gone = await StubChatUpstream.StartAsync();
        var url = gone.BaseUrl;
        await gone.DisposeAsync(); // nothing listens there any more: connections are refused
        stable.Answer = (_, _) => "from stable";
        var deployment = await DeployAsync(stable.BaseUrl, url);
        var client = await AccountedClientAsync();

        var (id, version, route, _) = await ChatAsync(client, deployment);
        Assert.Equal(("1.0.0", "fallback"), (version, route));

        var failed = await Evidence(deployment, "1.1.0");
        Assert.Equal((1, 1, 1), (failed.Requests, failed.Errors[(int)ErrorClass.Upstream], failed.Fallbacks));
        var rows = await LoggedAsync(deployment, 2);
        Assert.Equal(502, rows.Single(r => r.RequestId == id && r.Version == "1.1.0").Status);
    }

    [Fact]
    public async Task PinnedVersionFailing_FallsBack_AndIsThePinnedVersionsError()
    {
        await using var stable = await StubChatUpstream.StartAsync();
        await using var candidate = await StubChatUpstream.StartAsync();
        stable.Answer = (_, _) => "from stable";
        candidate.Answer = (_, _) => null; // 500
        var deployment = await DeployAsync(stable.BaseUrl, candidate.BaseUrl, weight: 0);
        var client = await AccountedClientAsync();

        var (_, version, route, _) = await ChatAsync(client, deployment + "@1.1.0");
        Assert.Equal(("1.0.0", "fallback"), (version, route));
        var metrics = await Server.Api().GetDeploymentMetricsAsync(deployment, "5m");
        var pinned = metrics.Series.Single(s => s.Version == "1.1.0");
        Assert.Equal(("failed_attempt", 1, 1, 1), (pinned.Route, pinned.Requests, pinned.Errors["server"], pinned.Fallbacks));
    }

    [Fact]
    public async Task TimeToFirstByte_IsRecordedPerAnsweredRequest_PlainAndStreamed()
    {
        await using var stable = await StubChatUpstream.StartAsync();
        await using var candidate = await StubChatUpstream.StartAsync();
        stable.Answer = (_, _) =>
        {
            Server.Time.Advance(TimeSpan.FromMilliseconds(45)); // the upstream thinks for 45 ms before its first byte
            return "one two three";
        };
        candidate.Broken = true;
        var deployment = await DeployAsync(stable.BaseUrl, candidate.BaseUrl, weight: 0);
        var client = await AccountedClientAsync();

        await ChatAsync(client, deployment);
        await ChatAsync(client, deployment, stream: true);
        await ChatAsync(client, deployment, stream: true);
        var (_, _, route, _) = await ChatAsync(client, deployment + "@1.1.0"); // the failed attempt has no first byte; the fallback has
        Assert.Equal("fallback", route);

        var answered = await Evidence(deployment, "1.0.0");
        Assert.Equal(4, answered.FirstByte.Sum());
        Assert.Equal(4, answered.FirstByte[LatencyHistogram.BucketOf(45)]);
        Assert.Equal(0, (await Evidence(deployment, "1.1.0")).FirstByte.Sum());
        var metrics = await Server.Api().GetDeploymentMetricsAsync(deployment, "5m");
        var series = metrics.Series.Single(s => s.Version == "1.0.0" && s.Route == "stable");
        Assert.InRange(series.FirstByteP50Ms!.Value, 40, 50);
        Assert.InRange(series.FirstByteP99Ms!.Value, 40, 50);
        Assert.Null(metrics.Series.Single(s => s.Version == "1.1.0").FirstByteP50Ms);
        var text = await Server.Client().GetStringAsync("/metrics");
        Assert.Equal("3", Sample(text, "modelgate_gateway_first_byte_seconds_count", $"deployment=\"{deployment}\",version=\"1.0.0\",route=\"stable\""));
        Assert.Equal("3", Sample(text, "modelgate_gateway_first_byte_seconds_bucket", $"deployment=\"{deployment}\",version=\"1.0.0\",route=\"stable\",le=\"0.05\""));
        Assert.Equal("0", Sample(text, "modelgate_gateway_first_byte_seconds_bucket", $"deployment=\"{deployment}\",version=\"1.0.0\",route=\"stable\",le=\"0.025\""));
    }

    [Fact]
    public async Task Shadow_IsComparedWithStable_OnCompletionTokensAndLatency_AndCarriesItsOwnTokens()
    {
        await using var stable = await StubChatUpstream.StartAsync();
        await using var shadow = await StubChatUpstream.StartAsync();
        using var release = new SemaphoreSlim(0);
        stable.Answer = (_, _) => "one two three four";
        shadow.Answer = (_, _) =>
        {
            // Held until the client has its stable answer; then 100 ms (on the fake clock) pass before the shadow answers.
            Assert.True(release.Wait(TimeSpan.FromSeconds(30)));
            Server.Time.Advance(TimeSpan.FromMilliseconds(100));
            return "one two three four five six seven eight";
        };
        var deployment = await DeployAsync(stable.BaseUrl, shadow.BaseUrl, shadowPercent: 100);
        var client = await AccountedClientAsync();
        var evidence = () => Evidence(deployment, "1.1.0", shadow: true);

        // Plain answers carry usage: the stand-in counts len/4 tokens, 18/4 = 4 for stable and 39/4 = 9 for the shadow.
        for (var i = 1; i <= 3; i++)
        {
            var (_, version, route, _) = await ChatAsync(client, deployment);
            Assert.Equal(("1.0.0", "stable"), (version, route));
            release.Release();
            await Until(async () => (await evidence()).Compared == i);
        }
        var compared = await evidence();
        Assert.Equal((3, 15.0, 300.0), (compared.Compared, compared.CompletionTokensDeltaSum, compared.LatencyDeltaSumMs));
        Assert.Equal(27, compared.CompletionTokens);

        // Streams without usage are counted with the tokenizer: 4 words against 8.
        stable.ReportsUsage = shadow.ReportsUsage = false;
        await ChatAsync(client, deployment, stream: true);
        release.Release();
        await Until(async () => (await evidence()).Compared == 4);
        compared = await evidence();
        Assert.Equal((4, 19.0, 400.0), (compared.Compared, compared.CompletionTokensDeltaSum, compared.LatencyDeltaSumMs));

        // A shadow that fails is counted as its error, and not compared.
        shadow.Broken = true;
        await ChatAsync(client, deployment);
        await Until(async () => (await evidence()).ServerErrors == 1);
        var failedShadow = await evidence();
        Assert.Equal((5, 4), (failedShadow.Requests, failedShadow.Compared));
        Assert.Equal(0, (await Evidence(deployment, "1.0.0")).Compared);

        var rows = await LoggedAsync(deployment, 10);
        var mirrored = rows.Where(r => r.Route == "shadow").ToList();
        Assert.Equal(new long?[] { 9, 9, 9, 8, null }, mirrored.OrderBy(r => r.Status).ThenByDescending(r => r.CompletionTokens).Select(r => r.CompletionTokens));
        Assert.Equal(new[] { "tokenizer", "upstream", "upstream", "upstream" }, mirrored.Where(r => r.Status == 200).Select(r => r.UsageSource).Order());
        Assert.All(mirrored, r => Assert.Null(r.Cost));
    }

    /// <summary>
    /// Waits for the mirror (it runs apart from the client's request, which cannot wait for it): the mirror is a recording
    /// in flight, so a flush of the request log returns once it has recorded; then the condition must hold.
    /// </summary>
    private async Task Until(Func<Task<bool>> condition)
    {
        await Server.FlushRequestLogAsync();
        Assert.True(await condition(), "the mirror did not record");
    }
}

public sealed class OpenAiEvidenceTests_Sqlite(SqliteServerFixture fixture) : OpenAiEvidenceTests(fixture), IClassFixture<SqliteServerFixture>;

public sealed class OpenAiEvidenceTests_Postgres(PostgresServerFixture fixture) : OpenAiEvidenceTests(fixture), IClassFixture<PostgresServerFixture>;
