using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;
using OpenAI;
using OpenAI.Chat;
using OpenAI.Embeddings;

namespace ModelGate.Tests.Gateway;

/// <summary>The official OpenAI .NET SDK, unchanged, against ModelGate in front of a stand-in upstream.</summary>
public sealed class OpenAiGatewayTests(SqliteServerFixture server) : IClassFixture<SqliteServerFixture>
{
    private async Task<(string Deployment, string Model)> DeployAsync(StubChatUpstream upstream, StubChatUpstream? candidate = null, double weight = 0,
        double? inputPrice = null, double? outputPrice = null, double shadowPercent = 0, double idleTimeoutSeconds = 60)
    {
        var model = ServerFixture.UniqueName("chat");
        var api = server.Api();
        await api.CreateModelAsync(new CreateModelRequest(model, "assistants", "medium", "llm-chat"));
        foreach (var version in new[] { "1.0.0", "1.1.0" })
        {
            var config = await server.UploadAsync(Encoding.UTF8.GetBytes($"serving config {model} {version}"));
            await api.CreateVersionAsync(model, new CreateVersionRequest(version, [new ArtifactRef(config, "serving.json")],
                Fixtures.Attestation() with { Architecture = "upstream", PromptTemplate = new PromptTemplate($"You are assistant {version}.") }));
        }
        var name = ServerFixture.UniqueName("chat");
        var upstreams = new Dictionary<string, UpstreamBackend>
        {
            ["1.0.0"] = new(upstream.BaseUrl, "stub-large", "sk-stable-secret", InputPricePer1K: inputPrice, OutputPricePer1K: outputPrice,
                IdleTimeoutSeconds: idleTimeoutSeconds),
            ["1.1.0"] = new((candidate ?? upstream).BaseUrl, "stub-small", "sk-candidate-secret", Retries: 0),
        };
        await api.CreateDeploymentAsync(new CreateDeploymentRequest(name, "development", model,
            shadowPercent > 0
                ? new RoutingTable("1.0.0", Backend: "upstream", Upstreams: upstreams, Shadow: new ShadowRoute("1.1.0", shadowPercent))
                : new RoutingTable("1.0.0", weight > 0 ? [new CandidateRoute("1.1.0", weight)] : [new CandidateRoute("1.1.0", 0)], Backend: "upstream", Upstreams: upstreams)));
        return (name, model);
    }

    private OpenAIClient Sdk() => new(new ApiKeyCredential(ServerFixture.AdminKey), new OpenAIClientOptions
    {
        Endpoint = new Uri("http://localhost/v1"),
        Transport = new HttpClientPipelineTransport(new HttpClient(server.Handler())),
    });

    [Fact]
    public async Task Sdk_ChatPlainAndStreaming_AndEmbeddings_WorkUnchanged()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        upstream.Answer = (_, user) => $"you said {user}";
        var (deployment, _) = await DeployAsync(upstream);
        var chat = Sdk().GetChatClient(deployment);

        ChatCompletion completion = await chat.CompleteChatAsync([new UserChatMessage("hello there")]);
        Assert.Equal("you said hello there", completion.Content[0].Text);
        var sent = upstream.Requests.Last();
        Assert.Equal("stub-large", (string?)sent["model"]);
        Assert.Equal("system", (string?)sent["messages"]![0]!["role"]);
        Assert.Equal("You are assistant 1.0.0.", (string?)sent["messages"]![0]!["content"]);
        Assert.Equal("Bearer sk-stable-secret", upstream.Authorizations.Last());

        var streamed = new StringBuilder();
        var updates = 0;
        ChatTokenUsage? usage = null;
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("stream this please")]))
        {
            updates++;
            foreach (var part in update.ContentUpdate)
            {
                streamed.Append(part.Text);
            }
            usage ??= update.Usage;
        }
        Assert.Equal("you said stream this please", streamed.ToString());
        Assert.True(updates >= 5, $"{updates} updates: the stream was not passed through chunk by chunk");
        Assert.Equal(5, usage!.OutputTokenCount);
        Assert.Equal(true, (bool?)upstream.Requests.Last()["stream_options"]!["include_usage"]);

        var embeddings = Sdk().GetEmbeddingClient(deployment);
        OpenAIEmbedding embedding = await embeddings.GenerateEmbeddingAsync("banana");
        Assert.Equal([6f, 3f], embedding.ToFloats().ToArray());

        // An error reaches the SDK's exception with its status and our detail.
        var refused = await Assert.ThrowsAsync<ClientResultException>(() => Sdk().GetChatClient("no-such-deployment").CompleteChatAsync([new UserChatMessage("x")]));
        Assert.Equal(404, refused.Status);
        Assert.Contains("no-such-deployment", refused.Message);
    }

    [Fact]
    public async Task UnknownFields_ArePassedThrough_AndPinningAndModelsWork()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        upstream.Answer = (_, _) => "ok";
        var (deployment, _) = await DeployAsync(upstream);
        using var response = await server.Client().PostAsJsonAsync("/v1/chat/completions", new
        {
            model = $"{deployment}@1.1.0",
            messages = new[] { new { role = "user", content = "hi" } },
            logit_bias = new Dictionary<string, int> { ["50256"] = -100 },
            x_vendor_extension = new { keep = "me" },
        });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("pinned", response.Headers.GetValues("x-modelgate-route").Single());
        Assert.Equal("1.1.0", response.Headers.GetValues("x-modelgate-version").Single());
        var sent = upstream.Requests.Last();
        Assert.Equal("me", (string?)sent["x_vendor_extension"]!["keep"]);
        Assert.Equal(-100, (int)sent["logit_bias"]!["50256"]!);
        Assert.Equal("stub-small", (string?)sent["model"]);

        var models = await server.Client().GetFromJsonAsync<System.Text.Json.Nodes.JsonObject>("/v1/models");
        Assert.Contains(models!["data"]!.AsArray(), m => (string?)m!["id"] == deployment);
    }

    [Fact]
    public async Task FailingCandidate_FallsBackToStable_WithoutFailingTheClient()
    {
        await using var stable = await StubChatUpstream.StartAsync();
        await using var candidate = await StubChatUpstream.StartAsync();
        stable.Answer = (_, _) => "from stable";
        candidate.Answer = (_, _) => "from candidate";
        var (deployment, _) = await DeployAsync(stable, candidate, weight: 50);
        candidate.Broken = true;
        var routes = new List<string>();
        for (var i = 0; i < 40; i++)
        {
            using var response = await server.Client().PostAsJsonAsync("/v1/chat/completions",
                new { model = deployment, messages = new[] { new { role = "user", content = "hi" } } });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains("from stable", await response.Content.ReadAsStringAsync());
            routes.Add(response.Headers.GetValues("x-modelgate-route").Single());
        }
        Assert.Contains("fallback", routes);
        Assert.Contains("stable", routes);
        Assert.NotEmpty(candidate.Requests);
    }

    [Fact]
    public async Task FlushingTheRequestLog_AfterAResponse_FindsItsRecord()
    {
        // The record of an OpenAI request is made on the thread pool after its response: a flush must still wait for it.
        await using var upstream = await StubChatUpstream.StartAsync();
        upstream.Answer = (_, _) => "hello";
        var (deployment, _) = await DeployAsync(upstream);
        var client = server.Client();
        for (var i = 0; i < 20; i++)
        {
            using var response = await client.PostAsJsonAsync("/v1/chat/completions",
                new { model = deployment, messages = new[] { new { role = "user", content = $"q{i}" } } }, TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var id = response.Headers.GetValues("x-modelgate-request-id").Single();

            await server.FlushRequestLogAsync();

            Assert.Equal(1, await server.WithDbAsync(db => Task.FromResult(db.RequestLogs.Count(r => r.RequestId == id))));
        }
    }

    [Fact]
    public async Task Shadow_GetsACopy_ButNeitherChangesTheAnswerNorHoldsTheClient()
    {
        await using var stable = await StubChatUpstream.StartAsync();
        await using var shadow = await StubChatUpstream.StartAsync();
        using var release = new SemaphoreSlim(0);
        stable.Answer = (_, _) => "from stable";
        shadow.Answer = (_, _) =>
        {
            release.Wait(TimeSpan.FromSeconds(30)); // the shadow hangs until the test lets it go
            return "from shadow";
        };
        var (deployment, _) = await DeployAsync(stable, shadow, shadowPercent: 100);
        for (var i = 0; i < 5; i++)
        {
            using var response = await server.Client().PostAsJsonAsync("/v1/chat/completions",
                new { model = deployment, messages = new[] { new { role = "user", content = $"q{i}" } } });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains("from stable", await response.Content.ReadAsStringAsync());
            Assert.Equal("stable", response.Headers.GetValues("x-modelgate-route").Single());
        }
        // All five answered while every shadow call was still held: the client never waited for the shadow.
        await shadow.Received.WaitForAsync(5);
        Assert.Equal(5, shadow.Requests.Count);
        release.Release(5);
        await server.FlushRequestLogAsync();
        var shadowed = await server.WithDbAsync(db => Task.FromResult(db.RequestLogs.Count(r => r.Deployment == deployment && r.Route == "shadow" && r.Status == 200)));
        Assert.Equal(5, shadowed);
    }

    [Fact]
    public async Task KillingTheCandidatesUpstream_UnderLoad_FailsNoClientRequest()
    {
        await using var stable = await StubChatUpstream.StartAsync();
        var candidate = await StubChatUpstream.StartAsync();
        stable.Answer = (_, _) => "from stable";
        candidate.Answer = (_, _) => "from candidate";
        var (deployment, _) = await DeployAsync(stable, candidate, weight: 50);
        var statuses = new System.Collections.Concurrent.ConcurrentBag<(HttpStatusCode Status, string Route, bool AfterKill)>();
        var canaries = new CountSignal();
        var answered = new CountSignal();
        var killed = false;
        using var stop = new CancellationTokenSource();
        var load = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            var client = server.Client();
            while (!stop.IsCancellationRequested)
            {
                var sentAfterKill = Volatile.Read(ref killed);
                using var response = await client.PostAsJsonAsync("/v1/chat/completions",
                    new { model = deployment, messages = new[] { new { role = "user", content = "hi" } } });
                var route = response.Headers.GetValues("x-modelgate-route").Single();
                statuses.Add((response.StatusCode, route, sentAfterKill));
                if (route == "canary")
                {
                    canaries.Increment();
                }
                answered.Increment();
            }
        })).ToList();
        await canaries.WaitForAsync(10);
        await candidate.DisposeAsync();
        Volatile.Write(ref killed, true);
        await answered.WaitForAsync(answered.Count + 60);
        await stop.CancelAsync();
        await Task.WhenAll(load);
        Assert.All(statuses, s => Assert.Equal(HttpStatusCode.OK, s.Status));
        Assert.Contains(statuses, s => s.AfterKill && s.Route == "fallback");
    }

    [Fact]
    public async Task CircuitBreaker_StopsTryingAFailingCandidate_ThenTriesItAgainAfterTheCooldown()
    {
        await using var stable = await StubChatUpstream.StartAsync();
        await using var candidate = await StubChatUpstream.StartAsync();
        stable.Answer = (_, _) => "from stable";
        candidate.Answer = (_, _) => "from candidate";
        var (deployment, _) = await DeployAsync(stable, candidate, weight: 100);
        candidate.Broken = true;

        async Task<string> Call()
        {
            using var response = await server.Client().PostAsJsonAsync("/v1/chat/completions",
                new { model = deployment, messages = new[] { new { role = "user", content = "hi" } } });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return response.Headers.GetValues("x-modelgate-route").Single();
        }

        for (var i = 0; i < 20; i++)
        {
            Assert.Equal("fallback", await Call());
        }
        // Five failures open the circuit; the other fifteen requests never reach the dead candidate.
        Assert.Equal(ModelGate.Gateway.CircuitBreakers.FailureThreshold, candidate.Requests.Count);

        server.Time.Advance(ModelGate.Gateway.CircuitBreakers.OpenFor + TimeSpan.FromSeconds(1));
        Assert.Equal("fallback", await Call()); // the half-open trial fails and reopens the circuit
        Assert.Equal(ModelGate.Gateway.CircuitBreakers.FailureThreshold + 1, candidate.Requests.Count);
        Assert.Equal("fallback", await Call());
        Assert.Equal(ModelGate.Gateway.CircuitBreakers.FailureThreshold + 1, candidate.Requests.Count);

        candidate.Broken = false;
        server.Time.Advance(ModelGate.Gateway.CircuitBreakers.OpenFor + TimeSpan.FromSeconds(1));
        Assert.Equal("canary", await Call()); // the trial succeeds and closes the circuit
        Assert.Equal("canary", await Call());
    }

    [Fact]
    public async Task TokenAndCostLimits_AreChargedFromUsage_AndAnsweredWith429()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        upstream.Answer = (_, _) => "one two three four";
        var (deployment, _) = await DeployAsync(upstream, inputPrice: 1.0, outputPrice: 1.0);
        // The stand-in reports prompt_tokens = len(user)/4 = 33/4 = 8 and completion_tokens = 18/4 = 4: 12 tokens, cost 0.012 a request.
        const string prompt = "hello there my friend how are you";
        var tokenKey = await server.Api().CreateKeyAsync(new CreateKeyRequest("tpm", ["viewer"], TokensPerMinute: 10));
        var budgetKey = await server.Api().CreateKeyAsync(new CreateKeyRequest("budget", ["viewer"], CostBudget: 0.015));

        async Task<HttpResponseMessage> Call(string key) => await server.Client(key).PostAsJsonAsync("/v1/chat/completions",
            new { model = $"{deployment}@1.0.0", messages = new[] { new { role = "user", content = prompt } } });

        using (var first = await Call(tokenKey.Key!))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }
        using (var limited = await Call(tokenKey.Key!))
        {
            await ProblemAssert.IsProblem(limited, HttpStatusCode.TooManyRequests, "rate_limited");
            // 10 − 12 = −2 tokens left; one token needs (1 + 2) ÷ (10/60 per s) = 18 s.
            Assert.Equal(TimeSpan.FromSeconds(18), limited.Headers.RetryAfter!.Delta);
        }
        server.Time.Advance(TimeSpan.FromSeconds(18));
        using (var again = await Call(tokenKey.Key!))
        {
            Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        }

        using (var one = await Call(budgetKey.Key!))
        {
            Assert.Equal(HttpStatusCode.OK, one.StatusCode); // spent 0 < 0.015
        }
        using (var two = await Call(budgetKey.Key!))
        {
            Assert.Equal(HttpStatusCode.OK, two.StatusCode); // spent 0.012 < 0.015
        }
        using var three = await Call(budgetKey.Key!);
        var problem = await ProblemAssert.IsProblem(three, HttpStatusCode.TooManyRequests, "budget_exhausted"); // spent 0.024
        Assert.Equal(0.024, problem.GetProperty("spent").GetDouble(), 9);
    }

    [Fact]
    public async Task CostBudget_AFailedLookupOfPastSpending_IsAskedAgain_NotRememberedAsAFailure()
    {
        var failing = new FailingOnceScopes(server.App.Services.GetRequiredService<IServiceScopeFactory>());
        var guard = new ModelGate.Gateway.DataPlaneGuard(server.Time, failing, Microsoft.Extensions.Options.Options.Create(new ModelGate.Gateway.GatewayOptions()));
        var context = new Microsoft.AspNetCore.Http.DefaultHttpContext();
        context.Items[typeof(ModelGate.Security.AuthenticatedKey)] =
            new ModelGate.Security.AuthenticatedKey("key_" + Guid.NewGuid().ToString("N")[..12], "budgeted", ["viewer"], null, CostBudget: 1.0);

        var first = await Assert.ThrowsAsync<InvalidOperationException>(async () => await guard.CheckAsync(context, "any", pinned: false));
        Assert.Contains("database unavailable", first.Message);
        Assert.Null(await guard.CheckAsync(context, "any", pinned: false)); // asked again, and the key has spent nothing
        Assert.Equal(2, failing.Created);
        Assert.Null(await guard.CheckAsync(context, "any", pinned: false));
        Assert.Equal(2, failing.Created); // once known, the spending is counted in memory
    }

    private sealed class FailingOnceScopes(IServiceScopeFactory inner) : IServiceScopeFactory
    {
        private int _created;

        public int Created => Volatile.Read(ref _created);

        public IServiceScope CreateScope() => Interlocked.Increment(ref _created) == 1
            ? throw new InvalidOperationException("database unavailable (test)")
            : inner.CreateScope();
    }

    [Fact]
    public async Task AnUpstreamGoingIdleMidAnswer_CutsTheClientsConnection_AndIsLoggedAs504()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        upstream.Answer = (_, _) => "an answer that never arrives in full";
        upstream.StallAfterBytes = 40;
        var (deployment, _) = await DeployAsync(upstream, idleTimeoutSeconds: 0.5);
        foreach (var stream in new[] { false, true })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
            {
                Content = JsonContent.Create(new { model = $"{deployment}@1.0.0", stream, messages = new[] { new { role = "user", content = "hi" } } }),
            };
            using var response = await server.Client().SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode); // the status line went out before the upstream stalled
            var id = response.Headers.GetValues("x-modelgate-request-id").Single();
            // Neither a plain answer shorter than its Content-Length nor a stream without its end reads as complete.
            var cut = await Assert.ThrowsAnyAsync<Exception>(() => response.Content.ReadAsStringAsync());
            Assert.True(cut is IOException or HttpRequestException, $"{stream}: {cut.GetType().Name}: {cut.Message}");

            await server.FlushRequestLogAsync();
            var status = await server.WithDbAsync(db => Task.FromResult(db.RequestLogs.Where(r => r.RequestId == id).Select(r => (int?)r.Status).FirstOrDefault()));
            Assert.Equal(504, status);
        }
    }

    [Fact]
    public async Task AClientThatGoesAway_IsLogged499_AgainstTheVersionItWasRoutedTo()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var upstream = await StubChatUpstream.StartAsync();
        using var held = new ManualResetEventSlim();
        upstream.Answer = (_, user) =>
        {
            if (user == "wait")
            {
                held.Wait(TimeSpan.FromSeconds(30));
            }
            return "part of an answer that is never read in full";
        };
        var (deployment, _) = await DeployAsync(upstream);

        // Gone while the upstream is still thinking (no status line yet), then gone in the middle of a stream.
        using (var gone = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            var call = server.Client().PostAsJsonAsync("/v1/chat/completions",
                new { model = deployment, messages = new[] { new { role = "user", content = "wait" } } }, gone.Token);
            await upstream.Received.WaitForAsync(1);
            await gone.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
        }
        upstream.StallAfterBytes = 200; // one whole chunk and part of the next
        using (var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = JsonContent.Create(new { model = deployment, stream = true, messages = new[] { new { role = "user", content = "go" } } }),
        })
        {
            using var response = await server.Client().SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("1.0.0", response.Headers.GetValues("x-modelgate-version").Single());
        } // disposed unread: the client leaves mid-stream
        held.Set();

        var rows = await WaitForLogAsync(deployment, 2);
        Assert.All(rows, r =>
        {
            Assert.Equal(499, r.Status);
            Assert.Equal("1.0.0", r.Version);
            Assert.Equal("stable", r.Route);
        });
        // The abandoned stream is still charged for what the upstream sent (it carried no usage, so it is counted).
        Assert.Single(rows, r => r.UsageSource == "tokenizer" && r.CompletionTokens > 0);
    }

    [Fact]
    public async Task UpstreamKeys_AreEncryptedAtRest_AndNeverReturned()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        var (deployment, _) = await DeployAsync(upstream);
        var stored = await server.WithDbAsync(db => Task.FromResult(db.Deployments.Single(d => d.Name == deployment).Routing));
        Assert.DoesNotContain("sk-stable-secret", stored);
        Assert.DoesNotContain("sk-candidate-secret", stored);
        Assert.Contains("v1:", stored);

        using var shown = await server.Client().GetAsync($"/api/v1/deployments/{deployment}");
        var text = await shown.Content.ReadAsStringAsync();
        Assert.DoesNotContain("sk-", text);
        Assert.DoesNotContain("v1:", text);
        Assert.Contains("\"hasApiKey\":true", text);
        var audit = System.Text.Json.JsonSerializer.Serialize(await server.Api().ListAuditAsync(subject: $"deployments/{deployment}"));
        Assert.DoesNotContain("sk-", audit);
        Assert.DoesNotContain("v1:", audit);

        // Changing the route without re-sending the key keeps it.
        var current = await server.Api().GetDeploymentAsync(deployment);
        await server.Api().SetRoutingAsync(deployment, current.Routing with { Candidates = [new CandidateRoute("1.1.0", 5)] });
        upstream.Answer = (_, _) => "still authorised";
        using var response = await server.Client().PostAsJsonAsync("/v1/chat/completions",
            new { model = $"{deployment}@1.0.0", messages = new[] { new { role = "user", content = "hi" } } });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Bearer sk-stable-secret", upstream.Authorizations.Last());
    }

    [Fact]
    public async Task Accounting_CountsTokensFromUsage_PlainAndStreamed_AndPricesThem()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        upstream.Answer = (_, user) => "one two three four";
        var (deployment, _) = await DeployAsync(upstream, inputPrice: 0.5, outputPrice: 1.5);
        var chat = Sdk().GetChatClient(deployment);
        var prompt = "contact me at someone@example.com about card 4111 1111 1111 1111";
        await chat.CompleteChatAsync([new UserChatMessage(prompt)]);
        await foreach (var _ in chat.CompleteChatStreamingAsync([new UserChatMessage("stream")]))
        {
        }

        // The stand-in reports prompt_tokens = len(user)/4 and completion_tokens = len(answer)/4 when plain; 3 and one per word when streamed.
        long plainPrompt = prompt.Length / 4, plainCompletion = "one two three four".Length / 4, streamPrompt = 3, streamCompletion = 4;
        var expectedCost = (plainPrompt + streamPrompt) / 1000.0 * 0.5 + (plainCompletion + streamCompletion) / 1000.0 * 1.5;
        await server.FlushRequestLogAsync();
        var usage = await server.Client().GetFromJsonAsync<UsageDto>($"/api/v1/usage?deployment={deployment}&groupBy=deployment,version", ModelGateJson.Options);
        var row = usage!.Rows.SingleOrDefault();
        Assert.NotNull(row);
        Assert.Equal(2, row.Requests);
        Assert.Equal("1.0.0", row.Version);
        Assert.Equal(plainPrompt + streamPrompt, row.PromptTokens);
        Assert.Equal(plainCompletion + streamCompletion, row.CompletionTokens);
        Assert.Equal(expectedCost, row.Cost, 9);

        var payloads = await server.WithDbAsync(db => Task.FromResult(db.RequestLogs.Where(r => r.Deployment == deployment).Select(r => r.Payload).ToList()));
        Assert.All(payloads, p => Assert.NotNull(p));
        Assert.Contains(payloads, p => p!.Contains("[EMAIL]") && p.Contains("[CARD]"));
        Assert.DoesNotContain(payloads, p => p!.Contains("someone@example.com") || p.Contains("4111 1111"));
    }

    [Fact]
    public async Task Accounting_WithoutUpstreamUsage_CountsTokensWithTheTokenizer_PlainAndStreamed()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        upstream.ReportsUsage = false;
        upstream.Answer = (_, user) => $"you said {user}";
        var model = ServerFixture.UniqueName("chat");
        var api = server.Api();
        await api.CreateModelAsync(new CreateModelRequest(model, "assistants", "low", "llm-chat"));
        var config = await server.UploadAsync(Encoding.UTF8.GetBytes($"serving config {model}"));
        await api.CreateVersionAsync(model, new CreateVersionRequest("1.0.0", [new ArtifactRef(config, "serving.json")], Fixtures.Attestation() with { Architecture = "upstream" }));
        var deployment = ServerFixture.UniqueName("chat");
        await api.CreateDeploymentAsync(new CreateDeploymentRequest(deployment, "development", model, new RoutingTable("1.0.0", Backend: "upstream",
            Upstreams: new Dictionary<string, UpstreamBackend> { ["1.0.0"] = new(upstream.BaseUrl, "stub", "sk-x", InputPricePer1K: 1, OutputPricePer1K: 2) })));
        var chat = Sdk().GetChatClient(deployment);

        ChatCompletion plain = await chat.CompleteChatAsync([new UserChatMessage("hello world")]);
        Assert.Equal("you said hello world", plain.Content[0].Text);
        var streamed = new StringBuilder();
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("hello world")]))
        {
            streamed.Append(string.Concat(update.ContentUpdate.Select(p => p.Text)));
        }
        Assert.Equal("you said hello world", streamed.ToString());

        // o200k_base: "hello world" is 2 tokens ("hello", " world"), "user" 1; a chat prompt adds 3 per message and 3 for
        // the reply (OpenAI cookbook): 3 + (3 + 1 + 2) = 9. The answer "you said hello world" is 4 tokens.
        var rows = await WaitForLogAsync(deployment, 2);
        Assert.All(rows, r =>
        {
            Assert.Equal("tokenizer", r.UsageSource);
            Assert.Equal(9, r.PromptTokens);
            Assert.Equal(4, r.CompletionTokens);
            Assert.Equal(9 / 1000.0 * 1 + 4 / 1000.0 * 2, r.Cost!.Value, 12);
        });
        // The drift monitor's view of LLM traffic: prompt and completion lengths and token counts, per exchange.
        var (columns, samples) = server.App.Services.GetRequiredService<ModelGate.Gateway.Telemetry.InputSamples>().Read(deployment, "1.0.0", DateTime.MinValue);
        Assert.Equal(["prompt_chars", "completion_chars", "prompt_tokens", "completion_tokens"], columns);
        Assert.All(samples, row => Assert.Equal(["11", "20", "9", "4"], row.Values));
        Assert.Equal(2, samples.Count);
    }

    private async Task<List<ModelGate.Storage.Gateway.RequestLogEntity>> WaitForLogAsync(string deployment, int count)
    {
        await server.FlushRequestLogAsync();
        var rows = await server.WithDbAsync(db => Task.FromResult(db.RequestLogs.Where(r => r.Deployment == deployment).ToList()));
        Assert.Equal(count, rows.Count);
        return rows;
    }

    [Fact]
    public async Task ChatCli_StreamsTheAnswer_AndReportsTheVersion()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        upstream.Answer = (_, user) => $"echo {user}";
        var (deployment, _) = await DeployAsync(upstream);
        var output = new StringWriter();
        var error = new StringWriter();
        var env = new Dictionary<string, string?> { ["MODELGATE_URL"] = "http://localhost", ["MODELGATE_TOKEN"] = ServerFixture.AdminKey };
        var exit = await ModelGate.Cli.CliApp.RunAsync(["chat", deployment, "hello gateway"],
            new ModelGate.Cli.CliContext(output, error, false, server.Handler(), name => env.GetValueOrDefault(name)));
        Assert.True(exit == 0, error.ToString());
        Assert.Equal("echo hello gateway", output.ToString().Trim());
        Assert.Contains("(1.0.0, stable)", error.ToString());
        Assert.True((bool)upstream.Requests.Last()["stream"]!);

        var missing = await ModelGate.Cli.CliApp.RunAsync(["chat", "no-such-deployment", "hi"],
            new ModelGate.Cli.CliContext(new StringWriter(), new StringWriter(), false, server.Handler(), name => env.GetValueOrDefault(name)));
        Assert.Equal(ModelGate.Cli.ExitCodes.NotFound, missing);
    }

    [Fact]
    public async Task BadRequests_AreProblems()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        var (deployment, _) = await DeployAsync(upstream);
        var client = server.Client();
        await ProblemAssert.IsProblem(await client.PostAsync("/v1/chat/completions", new StringContent("{\"model\":", Encoding.UTF8, "application/json")),
            HttpStatusCode.BadRequest, "malformed_json");
        await ProblemAssert.IsProblem(await client.PostAsJsonAsync("/v1/chat/completions", new { messages = Array.Empty<object>() }),
            HttpStatusCode.BadRequest, "validation_failed");
        await ProblemAssert.IsProblem(await client.PostAsJsonAsync("/v1/chat/completions", new { model = "nowhere", messages = Array.Empty<object>() }),
            HttpStatusCode.NotFound, "deployment_not_found");
        await ProblemAssert.IsProblem(await server.Client("mg_wrong-key-000000000000000000000000000").PostAsJsonAsync("/v1/chat/completions",
            new { model = deployment }), HttpStatusCode.Unauthorized, "unauthenticated");
        upstream.Broken = true;
        await ProblemAssert.IsProblem(await client.PostAsJsonAsync("/v1/chat/completions",
            new { model = $"{deployment}@1.0.0", messages = new[] { new { role = "user", content = "hi" } } }), HttpStatusCode.BadGateway, "upstream_unavailable");
    }

    /// <summary>
    /// The OpenAI routes are answered ahead of the general middleware (OpenAiApi.UseOpenAiFastPath); a trailing slash
    /// takes the same request through routing, authentication and authorization to the mapped endpoint instead. Both must
    /// answer alike: the same keys refused with the same problems, the same body limit, the same answer.
    /// </summary>
    [Fact]
    public async Task TheFastPath_AndTheMappedEndpoint_AnswerAlike()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        upstream.Answer = (_, user) => $"echo {user}";
        var (deployment, _) = await DeployAsync(upstream);
        var revoked = await server.CreateKeyAsync(Roles.Viewer);
        var revokedId = (await server.Api().ListKeysAsync()).Single(k => revoked.StartsWith(k.Prefix, StringComparison.Ordinal)).Id;
        await server.Api().RevokeKeyAsync(revokedId);
        var viewer = await server.CreateKeyAsync(Roles.Viewer);
        object body = new { model = deployment, messages = new[] { new { role = "user", content = "same" } } };

        foreach (var path in new[] { "/v1/chat/completions", "/v1/chat/completions/" })
        {
            foreach (var (client, reason) in new (HttpClient, string)[]
                     {
                         (server.Client(token: null), "an API key is required"),
                         (server.Client("mg_wrong-key-000000000000000000000000000"), "not valid"),
                         (server.Client(revoked), "not valid"),
                     })
            {
                var refused = await client.PostAsJsonAsync(path, body);
                var problem = await ProblemAssert.IsProblem(refused, HttpStatusCode.Unauthorized, "unauthenticated");
                Assert.Contains(reason, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
                Assert.Equal("Bearer", refused.Headers.WwwAuthenticate.Single().Scheme);
            }
            var basic = server.Client(token: null);
            basic.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic", "dXNlcjpwYXNz");
            var basicProblem = await ProblemAssert.IsProblem(await basic.PostAsJsonAsync(path, body), HttpStatusCode.Unauthorized, "unauthenticated");
            Assert.Contains("must be 'Bearer <api key>'", basicProblem.GetProperty("detail").GetString(), StringComparison.Ordinal);

            var tooLarge = new string('x', (int)ServerFixture.MaxRequestBodyBytes);
            await ProblemAssert.IsProblem(await server.Client(viewer).PostAsJsonAsync(path, new { model = deployment, prompt = tooLarge }),
                HttpStatusCode.RequestEntityTooLarge, "body_too_large");

            var answered = await server.Client(viewer).PostAsJsonAsync(path, body);
            Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
            Assert.Equal("1.0.0", answered.Headers.GetValues("x-modelgate-version").Single());
            var answer = await answered.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>();
            Assert.Equal("echo same", answer.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        }
    }

    [Fact]
    public async Task ToolsResponseFormatNAndLogprobs_PassThroughUnchanged_AndAreAccounted_FromUsageOrCountedWithoutIt()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        const string Answer = """
            {"id":"chatcmpl-tools","object":"chat.completion","model":"stub-large","choices":[
              {"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},"logprobs":{"content":[{"token":"x","logprob":-0.1,"top_logprobs":[]}]},"finish_reason":"tool_calls"},
              {"index":1,"message":{"role":"assistant","content":"It is sunny in Paris."},"logprobs":null,"finish_reason":"stop"}]USAGE}
            """;
        var usage = true;
        upstream.RawAnswer = _ => Answer.Replace("USAGE", usage ? ""","usage":{"prompt_tokens":41,"completion_tokens":17,"total_tokens":58}""" : "");
        var (deployment, _) = await DeployAsync(upstream);
        var tools = """[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]""";
        var body = $$$"""{"model":"{{{deployment}}}","messages":[{"role":"user","content":"Weather in Paris?"}],"tools":{{{tools}}},"tool_choice":"auto","response_format":{"type":"json_object"},"n":2,"logprobs":true,"top_logprobs":0}""";

        foreach (var withUsage in new[] { true, false })
        {
            usage = withUsage;
            using var response = await server.Client().PostAsync("/v1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var answered = System.Text.Json.Nodes.JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            Assert.Equal("get_weather", (string?)answered["choices"]![0]!["message"]!["tool_calls"]![0]!["function"]!["name"]);
            Assert.Equal(-0.1, (double)answered["choices"]![0]!["logprobs"]!["content"]![0]!["logprob"]!);
            Assert.Equal(2, answered["choices"]!.AsArray().Count);

            // What the upstream got: every field as the client sent it, with its own model name.
            var sent = upstream.Requests.Last();
            Assert.True(System.Text.Json.Nodes.JsonNode.DeepEquals(System.Text.Json.Nodes.JsonNode.Parse(tools), sent["tools"]));
            Assert.Equal(("auto", "json_object", 2, true), ((string?)sent["tool_choice"], (string?)sent["response_format"]!["type"], (int)sent["n"]!, (bool)sent["logprobs"]!));

            var id = response.Headers.GetValues("x-modelgate-request-id").Single();
            await server.FlushRequestLogAsync();
            var record = await server.WithDbAsync(db => db.RequestLogs.SingleAsync(r => r.RequestId == id && r.Route != "failed_attempt"));
            if (withUsage)
            {
                Assert.Equal((41L, 17L), (record.PromptTokens, record.CompletionTokens));
            }
            else
            {
                // Counted as the gateway counts when an upstream reports none: every choice's text and every tool call's name and arguments.
                var o200k = Microsoft.ML.Tokenizers.TiktokenTokenizer.CreateForEncoding("o200k_base");
                Assert.Equal(o200k.CountTokens("get_weather" + "{\"city\":\"Paris\"}" + "It is sunny in Paris."), record.CompletionTokens);
            }
        }
    }
}
