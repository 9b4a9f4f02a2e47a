using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Evaluation.Datasets;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Gateway;

/// <summary>Deployments and Open Inference Protocol v2 on the real Adult models, through the real host.</summary>
public sealed class InferenceProtocolTests(SqliteServerFixture server) : IClassFixture<SqliteServerFixture>
{
    private static Lazy<CsvTable> TestSet => AdultServing.TestSet;

    private Task<string> RegisterAsync() => AdultServing.RegisterAsync(server);

    private Task<string> DeployAsync(string model, object routing, string environment = "development") =>
        AdultServing.DeployAsync(server, model, routing, environment);

    private static JsonObject Request(int first, int count) => AdultServing.Request(first, count);

    [Fact]
    public async Task Infer_OnV1Logreg_ReturnsTheReferenceProbabilitiesForTheFirstFiveRows()
    {
        var model = await RegisterAsync();
        var deployment = await DeployAsync(model, new { stable = "1.0.0" });
        using var response = await server.Client().PostAsJsonAsync($"/v2/models/{deployment}/infer", Request(0, 5));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("1.0.0", response.Headers.GetValues("x-modelgate-version").Single());
        Assert.Equal("stable", response.Headers.GetValues("x-modelgate-route").Single());
        Assert.False(string.IsNullOrEmpty(response.Headers.GetValues("x-modelgate-request-id").Single()));

        var body = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.Equal("rows-0", (string?)body["id"]);
        var probabilities = body["outputs"]!.AsArray().Single(o => (string?)o!["name"] == "probabilities")!;
        Assert.Equal([5, 2], probabilities["shape"]!.AsArray().Select(d => (int)d!));
        var data = probabilities["data"]!.AsArray().Select(d => (double)d!).ToArray();
        using var reference = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.ModelsDirectory, "reference-metrics.json")));
        var expected = reference.RootElement.GetProperty("models").GetProperty("v1-logreg").GetProperty("first5_probability_of_gt50k").EnumerateArray().ToArray();
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(expected[i].GetDouble(), data[i * 2 + 1], 1e-5);
        }
        var labels = body["outputs"]!.AsArray().Single(o => (string?)o!["name"] == "label")!;
        Assert.Equal("INT64", (string?)labels["datatype"]);
    }

    [Fact]
    public async Task AClientThatGoesAwayMidRequest_IsLogged499_AgainstTheRoutedVersion()
    {
        var ct = TestContext.Current.CancellationToken;
        var deployment = await DeployAsync(await RegisterAsync(), new { stable = "1.0.0" });
        var json = Encoding.UTF8.GetBytes(Request(0, 1).ToJsonString());
        using var sent = new SemaphoreSlim(0);
        using (var gone = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            // Half a body, then nothing until the client gives up.
            var call = server.Client().PostAsync($"/v2/models/{deployment}/infer", new HalfABody(json, sent), gone.Token);
            Assert.True(await sent.WaitAsync(TimeSpan.FromSeconds(10), ct));
            await Task.Delay(100, ct);
            await gone.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
        }
        await server.FlushRequestLogAsync();
        var row = await server.WithDbAsync(db => db.RequestLogs.SingleOrDefaultAsync(r => r.Deployment == deployment, ct));
        Assert.NotNull(row);
        Assert.Equal(499, row.Status);
        Assert.Equal("1.0.0", row.Version);
        Assert.Equal("stable", row.Route);
        Assert.Null(row.Prediction);
    }

    private sealed class HalfABody(byte[] json, SemaphoreSlim sent) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            await SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            await stream.WriteAsync(json.AsMemory(0, json.Length / 2), cancellationToken);
            await stream.FlushAsync(cancellationToken);
            sent.Release();
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }

    [Fact]
    public async Task Metadata_DescribesTheGraphsInputsAndOutputs()
    {
        var deployment = await DeployAsync(await RegisterAsync(), new { stable = "1.0.0", candidates = new[] { new { version = "1.1.0", weight = 10 } } });
        var metadata = (await server.Client().GetFromJsonAsync<JsonObject>($"/v2/models/{deployment}"))!;
        Assert.Equal(["1.0.0", "1.1.0"], metadata["versions"]!.AsArray().Select(v => (string)v!));
        var inputs = metadata["inputs"]!.AsArray();
        Assert.Equal(14, inputs.Count);
        Assert.Equal("BYTES", (string?)inputs.Single(i => (string?)i!["name"] == "sex")!["datatype"]);
        Assert.Equal([-1, 1], inputs.Single(i => (string?)i!["name"] == "age")!["shape"]!.AsArray().Select(d => (int)d!));
        Assert.True((await server.Client().GetFromJsonAsync<JsonObject>("/v2/health/live"))!["live"]!.GetValue<bool>());
    }

    [Fact]
    public async Task WeightedSplit_NinetyTen_LandsWithinThreePoints_AndStickyKeysStayPut()
    {
        var model = await RegisterAsync();
        var deployment = await DeployAsync(model, new { stable = "1.0.0", candidates = new[] { new { version = "1.1.0", weight = 10 } }, stickiness = new { header = "x-user" } });
        var client = server.Client();
        var body = Request(0, 1).ToJsonString();
        var canary = 0;
        for (var i = 0; i < 2000; i++)
        {
            using var response = await client.PostAsync($"/v2/models/{deployment}/infer", new StringContent(body, Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            if (response.Headers.GetValues("x-modelgate-version").Single() == "1.1.0")
            {
                canary++;
                Assert.Equal("canary", response.Headers.GetValues("x-modelgate-route").Single());
            }
        }
        Assert.InRange(canary / 2000.0 * 100, 7, 13);

        var seen = new Dictionary<string, HashSet<string>>();
        for (var user = 0; user < 200; user++)
        {
            for (var repeat = 0; repeat < 3; repeat++)
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, $"/v2/models/{deployment}/infer") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
                request.Headers.Add("x-user", $"user-{user}");
                using var response = await client.SendAsync(request);
                var version = response.Headers.GetValues("x-modelgate-version").Single();
                (seen.TryGetValue($"user-{user}", out var set) ? set : seen[$"user-{user}"] = []).Add(version);
            }
        }
        Assert.All(seen.Values, versions => Assert.Single(versions));
        Assert.Equal(2, seen.Values.SelectMany(v => v).Distinct().Count());
    }

    [Fact]
    public async Task PinnedVersion_IsServed_AndAnUnroutedOneIsRefused()
    {
        var deployment = await DeployAsync(await RegisterAsync(), new { stable = "1.0.0", candidates = new[] { new { version = "1.1.0", weight = 0 } } });
        using var pinned = await server.Client().PostAsJsonAsync($"/v2/models/{deployment}/versions/1.1.0/infer", Request(0, 1));
        Assert.Equal(HttpStatusCode.OK, pinned.StatusCode);
        Assert.Equal("pinned", pinned.Headers.GetValues("x-modelgate-route").Single());
        Assert.Equal("1.1.0", pinned.Headers.GetValues("x-modelgate-version").Single());
        using var unrouted = await server.Client().PostAsJsonAsync($"/v2/models/{deployment}/versions/9.9.9/infer", Request(0, 1));
        await ProblemAssert.IsProblem(unrouted, HttpStatusCode.NotFound, "version_not_routed");
    }

    [Fact]
    public async Task RouteChange_UnderLoad_DropsNoRequest()
    {
        var model = await RegisterAsync();
        var deployment = await DeployAsync(model, new { stable = "1.0.0" });
        var body = Request(0, 2).ToJsonString();
        using var stop = new CancellationTokenSource();
        var versions = new System.Collections.Concurrent.ConcurrentBag<string>();
        var failures = 0;
        var answered = new CountSignal();
        var load = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            var client = server.Client();
            while (!stop.IsCancellationRequested)
            {
                using var response = await client.PostAsync($"/v2/models/{deployment}/infer", new StringContent(body, Encoding.UTF8, "application/json"));
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    Interlocked.Increment(ref failures);
                }
                versions.Add(response.Headers.GetValues("x-modelgate-version").Single());
                answered.Increment();
            }
        })).ToList();
        foreach (var routing in new object[] { new { stable = "1.1.0" }, new { stable = "1.0.0", candidates = new[] { new { version = "1.1.0", weight = 50 } } }, new { stable = "1.1.0" } })
        {
            await answered.WaitForAsync(answered.Count + 20); // traffic under the routing before the change
            using var changed = await server.Client().PutAsJsonAsync($"/api/v1/deployments/{deployment}/routing", routing);
            Assert.Equal(HttpStatusCode.OK, changed.StatusCode);
        }
        await answered.WaitForAsync(answered.Count + 20);
        await stop.CancelAsync();
        await Task.WhenAll(load);
        Assert.Equal(0, failures);
        Assert.Contains("1.0.0", versions);
        Assert.Contains("1.1.0", versions);
        var shown = await server.Client().GetFromJsonAsync<DeploymentDto>($"/api/v1/deployments/{deployment}", ModelGateJson.Options);
        Assert.Equal(4, shown!.Revision);
        var events = await server.Api().ListAuditAsync(subject: $"deployments/{deployment}");
        Assert.Equal(["deployment.created", "deployment.routing_changed", "deployment.routing_changed", "deployment.routing_changed"], events.Items.Select(e => e.Action));
    }

    [Fact]
    public async Task DataPlaneKey_IsScopedAndRateLimited_With429AndRetryAfter()
    {
        var model = await RegisterAsync();
        var deployment = await DeployAsync(model, new { stable = "1.0.0", candidates = new[] { new { version = "1.1.0", weight = 0 } } });
        var other = await DeployAsync(model, new { stable = "1.0.0" });
        var key = await server.Api().CreateKeyAsync(new CreateKeyRequest("app", ["viewer"], Deployments: [deployment], RequestsPerMinute: 3, AllowPinning: false));
        var client = server.Client(key.Key);
        var body = Request(0, 1).ToJsonString();
        Task<HttpResponseMessage> Call(string path) => client.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));

        for (var i = 0; i < 3; i++)
        {
            using var ok = await Call($"/v2/models/{deployment}/infer");
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }
        using (var limited = await Call($"/v2/models/{deployment}/infer"))
        {
            await ProblemAssert.IsProblem(limited, HttpStatusCode.TooManyRequests, "rate_limited");
            Assert.Equal(TimeSpan.FromSeconds(20), limited.Headers.RetryAfter!.Delta); // 3 per minute: one every 20 s
        }
        server.Time.Advance(TimeSpan.FromSeconds(20));
        using (var again = await Call($"/v2/models/{deployment}/infer"))
        {
            Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        }

        server.Time.Advance(TimeSpan.FromMinutes(1));
        await ProblemAssert.IsProblem(await Call($"/v2/models/{other}/infer"), HttpStatusCode.Forbidden, "forbidden");
        await ProblemAssert.IsProblem(await Call($"/v2/models/{deployment}/versions/1.1.0/infer"), HttpStatusCode.Forbidden, "forbidden");
        using var openAi = await client.PostAsJsonAsync("/v1/chat/completions", new { model = other, messages = Array.Empty<object>() });
        await ProblemAssert.IsProblem(openAi, HttpStatusCode.Forbidden, "forbidden");
        // Every call is in the request log, refused ones included: 4 served, one 429, one 403 (pinned).
        await server.FlushRequestLogAsync();
        var row = (await server.Client().GetFromJsonAsync<UsageDto>($"/api/v1/usage?deployment={deployment}&key={key.Id}&groupBy=key", ModelGateJson.Options))!.Rows.SingleOrDefault();
        Assert.Equal(6, row!.Requests);
        Assert.Equal(2, row.Errors);
        Assert.Equal(key.Id, row.Key);

        var listed = (await server.Api().ListKeysAsync()).Single(k => k.Id == key.Id);
        Assert.Equal([deployment], listed.Deployments);
        Assert.Equal(3, listed.RequestsPerMinute);
        Assert.False(listed.AllowPinning);
    }

    [Fact]
    public async Task Shadow_ScoresTheSameRowsInTheBackground_WithoutChangingTheAnswer()
    {
        var deployment = await DeployAsync(await RegisterAsync(), new { stable = "1.0.0", shadow = new { version = "1.1.0", percent = 100 } });
        for (var i = 0; i < 3; i++)
        {
            using var response = await server.Client().PostAsJsonAsync($"/v2/models/{deployment}/infer", Request(i, 1));
            Assert.Equal("1.0.0", response.Headers.GetValues("x-modelgate-version").Single());
        }
        await server.FlushRequestLogAsync();
        var shadowed = await server.WithDbAsync(db => Task.FromResult(db.RequestLogs.Count(r => r.Deployment == deployment && r.Route == "shadow" && r.Version == "1.1.0" && r.Status == 200)));
        Assert.Equal(3, shadowed);
        var metadata = (await server.Client().GetFromJsonAsync<JsonObject>($"/v2/models/{deployment}"))!;
        Assert.Equal(["1.0.0"], metadata["versions"]!.AsArray().Select(v => (string)v!));
    }

    [Fact]
    public async Task EnvironmentRule_ProductionServesOnlyProductionVersions()
    {
        var model = await RegisterAsync();
        using var refused = await server.Client().PostAsJsonAsync("/api/v1/deployments",
            new { name = ServerFixture.UniqueName("prod"), environment = "production", model, routing = new { stable = "1.0.0" } });
        var problem = await ProblemAssert.IsProblem(refused, HttpStatusCode.BadRequest, "validation_failed");
        Assert.Contains("stage 'trained'", problem.GetProperty("errors").GetProperty("routing.stable")[0].GetString());
        using var staging = await server.Client().PostAsJsonAsync("/api/v1/deployments",
            new { name = ServerFixture.UniqueName("stg"), environment = "staging", model, routing = new { stable = "1.0.0" } });
        await ProblemAssert.IsProblem(staging, HttpStatusCode.BadRequest, "validation_failed");

        await server.WithDbAsync(db => db.ModelVersions.Where(v => v.Model!.Name == model && v.Version == "1.0.0")
            .ExecuteUpdateAsync(u => u.SetProperty(v => v.Stage, Stages.Production)));
        await DeployAsync(model, new { stable = "1.0.0" }, "production");
    }

    [Fact]
    public async Task BadRequests_AreAnsweredWithProblemsNamingTheInput()
    {
        var deployment = await DeployAsync(await RegisterAsync(), new { stable = "1.0.0" });
        var client = server.Client();

        async Task<JsonElement> Refused(JsonObject body, string code, HttpStatusCode status = HttpStatusCode.BadRequest)
        {
            using var response = await client.PostAsync($"/v2/models/{deployment}/infer", new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
            return await ProblemAssert.IsProblem(response, status, code);
        }

        JsonObject Edit(Action<JsonArray> edit)
        {
            var request = Request(0, 2);
            edit(request["inputs"]!.AsArray());
            return request;
        }

        JsonObject Input(JsonArray inputs, string name) => inputs.Single(i => (string?)i!["name"] == name)!.AsObject();

        Assert.Equal("agee", (await Refused(Edit(i => Input(i, "age")["name"] = "agee"), "invalid_inference_input")).GetProperty("input").GetString());
        Assert.Equal("age", (await Refused(Edit(i => Input(i, "age")["datatype"] = "INT64"), "invalid_inference_input")).GetProperty("input").GetString());
        Assert.Equal("age", (await Refused(Edit(i => Input(i, "age")["shape"] = new JsonArray(2, 3)), "invalid_inference_input")).GetProperty("input").GetString());
        Assert.Equal("sex", (await Refused(Edit(i => Input(i, "sex")["data"] = new JsonArray("Male")), "invalid_inference_input")).GetProperty("input").GetString());
        Assert.Equal("sex", (await Refused(Edit(i => Input(i, "sex")["data"] = new JsonArray(1, 2)), "invalid_inference_input")).GetProperty("input").GetString());
        Assert.Equal("race", (await Refused(Edit(i => i.Remove(Input(i, "race"))), "invalid_inference_input")).GetProperty("input").GetString());
        await Refused(new JsonObject { ["nothing"] = 1 }, "invalid_inference_input");

        using var malformed = await client.PostAsync($"/v2/models/{deployment}/infer", new StringContent("{\"inputs\": [", Encoding.UTF8, "application/json"));
        await ProblemAssert.IsProblem(malformed, HttpStatusCode.BadRequest, "malformed_json");
        using var unknown = await client.PostAsJsonAsync("/v2/models/no-such-deployment/infer", Request(0, 1));
        await ProblemAssert.IsProblem(unknown, HttpStatusCode.NotFound, "deployment_not_found");
        using var anonymous = await server.Client(token: null).PostAsJsonAsync($"/v2/models/{deployment}/infer", Request(0, 1));
        await ProblemAssert.IsProblem(anonymous, HttpStatusCode.Unauthorized, "unauthenticated");
        using var tooLarge = await client.PostAsync($"/v2/models/{deployment}/infer",
            new StringContent(new string(' ', (int)ServerFixture.MaxRequestBodyBytes + 1) + "{}", Encoding.UTF8, "application/json"));
        await ProblemAssert.IsProblem(tooLarge, HttpStatusCode.RequestEntityTooLarge, "body_too_large");

        // Each call the infer endpoint refused is in the request log with the status it was answered with. The key's
        // absence and the declared oversized body are refused before the endpoint (authentication, the body-size limit).
        await server.FlushRequestLogAsync();
        var statuses = await server.WithDbAsync(db => db.RequestLogs.Where(r => r.Deployment == deployment).Select(r => r.Status).ToListAsync());
        Assert.Equal(Enumerable.Repeat(400, 8), statuses);
    }
}
