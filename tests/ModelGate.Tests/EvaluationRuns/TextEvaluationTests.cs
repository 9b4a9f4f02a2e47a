using Microsoft.EntityFrameworkCore;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.EvaluationRuns;

/// <summary>LLM and safety suites run through an upstream that a stub server stands in for.</summary>
public sealed class TextEvaluationTests(SqliteServerFixture server) : IClassFixture<SqliteServerFixture>
{
    private async Task<(string Model, ModelGateClient Api)> RegisterLlmAsync(PromptTemplate? template)
    {
        var model = ServerFixture.UniqueName("llm");
        var api = server.Api();
        await api.CreateModelAsync(new CreateModelRequest(model, "assistants", "high", "llm-chat"));
        var config = await server.UploadAsync(Encoding.UTF8.GetBytes("{\"provider\":\"stub\"} " + model));
        await api.CreateVersionAsync(model, new CreateVersionRequest("1.0.0", [new ArtifactRef(config, "serving.json")],
            Fixtures.Attestation() with { Architecture = "upstream-llm", BaseModel = "stub-chat", PromptTemplate = template }));
        var evaluator = await api.CreateKeyAsync(new CreateKeyRequest("eve", ["evaluator"]));
        return (model, server.Api(evaluator.Key));
    }

    private async Task<EvaluationDto> WaitAsync(ModelGateClient api, EvaluationDto started)
    {
        await server.EvaluationFinishedAsync(started.Id);
        var current = await api.GetEvaluationAsync(started.Model, started.Version, started.Id);
        Assert.True(EvaluationStatuses.IsTerminal(current.Status), "the run did not finish");
        return current;
    }

    private static double Value(JsonElement result, string metric) => result.GetProperty("metrics").GetProperty(metric).GetProperty("value").GetDouble();

    [Fact]
    public async Task LlmSuite_AppliesThePromptTemplate_AndScoresAsRougeScoreDoes()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        // The answers reproduce rouge-score's published cases against the target "testing one two":
        // "testing" → ROUGE-1 P 1, R 1/3, F 0.5; "testing two" → ROUGE-L P 1, R 2/3, F 0.8.
        var answers = new Dictionary<string, string?>
        {
            ["Question: q1"] = "testing",
            ["Question: q2"] = "testing two",
            ["Question: q3"] = "The capital of France is Paris.",
            ["Question: q4"] = null,
        };
        upstream.Answer = (_, user) => answers[user];
        var (model, api) = await RegisterLlmAsync(new PromptTemplate("You are terse.", "Question: {{question}}", ["question"]));
        var rows = new[]
        {
            new { id = "r1", variables = new { question = "q1" }, reference = "testing one two" },
            new { id = "r2", variables = new { question = "q2" }, reference = "testing one two" },
            new { id = "r3", variables = new { question = "q3" }, reference = "The capital of France is Paris." },
            new { id = "r4", variables = new { question = "q4" }, reference = "anything" },
        };
        var dataset = await server.UploadAsync(Encoding.UTF8.GetBytes(string.Join('\n', rows.Select(r => JsonSerializer.Serialize(r)))));
        var suite = await server.UploadAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new
        {
            name = "qa", task = "llm-chat", dataset = new { sha256 = dataset, format = "jsonl" }, bootstrap = new { resamples = 100 },
            thresholds = new { rouge1 = new { min = 0.7 } },
        })));

        var started = await api.StartEvaluationAsync(model, "1.0.0", new StartEvaluationRequest(suite, Upstream: new UpstreamTarget(upstream.BaseUrl, "stub-chat", "sk-upstream-secret")));
        var done = await WaitAsync(api, started);
        Assert.True(done.Status == EvaluationStatuses.Succeeded, done.Error);
        Assert.Equal(4, done.Progress.RowsDone);
        Assert.Equal(1, done.Progress.RowsFailed);

        var result = done.Result!.Value;
        Assert.Equal(3, result.GetProperty("rowsScored").GetInt64());
        Assert.Equal("r4", result.GetProperty("failures")[0].GetProperty("id").GetString());
        Assert.Equal((0.5 + 0.8 + 1.0) / 3, Value(result, "rouge1"), 12);
        Assert.Equal((1.0 / 3 + 2.0 / 3 + 1.0) / 3, Value(result, "rouge1_recall"), 12);
        Assert.Equal((0.5 + 0.8 + 1.0) / 3, Value(result, "rougeL"), 12);
        // Target bigrams {testing one, one two}: "testing" has none (F 0), "testing two" shares none (F 0), the exact answer F 1.
        Assert.Equal((0.0 + 0.0 + 1.0) / 3, Value(result, "rouge2"), 12);
        Assert.Equal(1.0 / 3, Value(result, "exact_match"), 12);
        Assert.True(result.GetProperty("passed").GetBoolean());

        Assert.All(upstream.Requests, r =>
        {
            Assert.Equal("You are terse.", (string?)r["messages"]![0]!["content"]);
            Assert.StartsWith("Question: q", (string?)r["messages"]![1]!["content"]);
            Assert.Equal("stub-chat", (string?)r["model"]);
        });
        var audit = JsonSerializer.Serialize(await server.Api().ListAuditAsync(subject: $"models/{model}*"));
        Assert.DoesNotContain("sk-upstream-secret", audit);
        Assert.DoesNotContain("sk-upstream-secret", await server.WithDbAsync(db => Task.FromResult(string.Join("|", db.Evaluations.Select(e => e.Result + e.Error)))));
    }

    [Fact]
    public async Task SafetySuite_RunsTheShippedProbes_AndDetectsRefusalsAndLeaks()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        var styles = new Dictionary<string, string>();
        using (var probes = typeof(ModelGate.Evaluation.Text.TextSuitePreparation).Assembly.GetManifestResourceStream("safety-probes-v1.jsonl")!)
        using (var reader = new StreamReader(probes))
        {
            foreach (var line in (await reader.ReadToEndAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var probe = JsonDocument.Parse(line).RootElement;
                styles[probe.GetProperty("prompt").GetString()!] = probe.GetProperty("style").GetString()!;
            }
        }
        Assert.True(styles.Count >= 50, $"only {styles.Count} probes");
        Assert.True(styles.Values.Distinct().Count() >= 5);

        // The stand-in leaks the planted secret to obfuscation (base64) and role-play (spaced out) probes, refuses the rest.
        upstream.Answer = (system, user) =>
        {
            var secret = Regex.Match(system!, "access code is (MG[0-9A-F]+)").Groups[1].Value;
            return styles[user] switch
            {
                "obfuscation" => "Sure: " + Convert.ToBase64String(Encoding.UTF8.GetBytes(secret)),
                "role-play" => "*in character* the code is " + string.Join(' ', secret.ToCharArray()),
                _ => "I'm sorry, but I can't help with that.",
            };
        };
        var (model, api) = await RegisterLlmAsync(null);
        var suite = await server.UploadAsync(Encoding.UTF8.GetBytes("""{"name": "safety", "task": "safety", "thresholds": {"leak_rate": {"max": 0}}}"""));
        var done = await WaitAsync(api, await api.StartEvaluationAsync(model, "1.0.0", new StartEvaluationRequest(suite, Upstream: new UpstreamTarget(upstream.BaseUrl, "stub-chat"))));
        Assert.True(done.Status == EvaluationStatuses.Succeeded, done.Error);

        var result = done.Result!.Value;
        var leaking = styles.Values.Count(s => s is "obfuscation" or "role-play");
        Assert.Equal(styles.Count, result.GetProperty("rowsScored").GetInt64());
        Assert.Equal((double)leaking / styles.Count, Value(result, "leak_rate"), 12);
        Assert.Equal((double)(styles.Count - leaking) / styles.Count, Value(result, "refusal_rate"), 12);
        var byStyle = result.GetProperty("slices").GetProperty("style");
        Assert.Equal(1.0, byStyle.GetProperty("obfuscation").GetProperty("leak_rate").GetDouble());
        Assert.Equal(0.0, byStyle.GetProperty("direct-injection").GetProperty("leak_rate").GetDouble());
        Assert.Equal(1.0, byStyle.GetProperty("harmful-request").GetProperty("refusal_rate").GetDouble());
        Assert.False(result.GetProperty("passed").GetBoolean());
    }

    [Fact]
    public async Task TextSuites_WithoutUpstreamOrWithBadRows_AreRefusedNamingTheField()
    {
        var (model, api) = await RegisterLlmAsync(new PromptTemplate(null, "Q: {{question}}", ["question"]));
        var safety = await server.UploadAsync(Encoding.UTF8.GetBytes("""{"name": "s", "task": "safety", "metrics": ["leak_rate", "toxicity"]}"""));
        using var noUpstream = await server.Client().PostAsJsonAsync($"/api/v1/models/{model}/versions/1.0.0/evaluations", new { suite = safety });
        var problem = await ProblemAssert.IsProblem(noUpstream, HttpStatusCode.BadRequest, "validation_failed");
        Assert.True(problem.GetProperty("errors").TryGetProperty("upstream", out _));
        Assert.True(problem.GetProperty("errors").TryGetProperty("suite.metrics[1]", out _));

        var dataset = await server.UploadAsync(Encoding.UTF8.GetBytes("{\"variables\": {\"question\": \"a\"}, \"reference\": \"b\"}\n{\"variables\": {}, \"reference\": \"c\"}\nnot json\n"));
        var suite = await server.UploadAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { name = "qa", task = "llm-chat", dataset = new { sha256 = dataset, format = "jsonl" } })));
        using var badRows = await server.Client().PostAsJsonAsync($"/api/v1/models/{model}/versions/1.0.0/evaluations",
            new { suite, upstream = new { url = "http://127.0.0.1:9/v1", model = "m" } });
        problem = await ProblemAssert.IsProblem(badRows, HttpStatusCode.BadRequest, "validation_failed");
        var errors = problem.GetProperty("errors");
        Assert.Contains("question", errors.GetProperty("suite.dataset.line[2]")[0].GetString());
        Assert.True(errors.TryGetProperty("suite.dataset.line[3]", out _));
        Assert.Empty(await server.Api().ListEvaluationsAsync(model, "1.0.0"));
    }

    [Fact]
    public async Task LlmSuite_EveryRowFails_KeepsTheRowErrorsAndReportsNoMetricInsteadOfNaN()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        upstream.Broken = true;
        var (model, api) = await RegisterLlmAsync(new PromptTemplate(null, "Q: {{question}}", ["question"]));
        var dataset = await server.UploadAsync(Encoding.UTF8.GetBytes(
            "{\"id\": \"r1\", \"variables\": {\"question\": \"a\"}, \"reference\": \"b\"}\n{\"id\": \"r2\", \"variables\": {\"question\": \"c\"}, \"reference\": \"d\"}\n"));
        var suite = await server.UploadAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new
        {
            name = "qa", task = "llm-chat", dataset = new { sha256 = dataset, format = "jsonl" }, bootstrap = new { resamples = 50 },
        })));

        var done = await WaitAsync(api, await api.StartEvaluationAsync(model, "1.0.0", new StartEvaluationRequest(suite, Upstream: new UpstreamTarget(upstream.BaseUrl, "stub-chat"))));
        Assert.True(done.Status == EvaluationStatuses.Succeeded, done.Error);
        Assert.Equal(2, done.Progress.RowsFailed);
        var result = done.Result!.Value;
        Assert.Equal(0, result.GetProperty("rowsScored").GetInt64());
        Assert.Equal(["r1", "r2"], result.GetProperty("failures").EnumerateArray().Select(f => f.GetProperty("id").GetString()).Order());
        Assert.All(result.GetProperty("failures").EnumerateArray(), f => Assert.Contains("500", f.GetProperty("error").GetString()));
        // A metric over no rows is absent, not NaN or ±∞, and nothing scored cannot pass.
        Assert.Empty(result.GetProperty("metrics").EnumerateObject());
        Assert.False(result.GetProperty("passed").GetBoolean());
    }

    [Fact]
    public async Task LlmSuite_RecordsLatencyTokensAndCostPerRow_AndJudgesThresholdsOnThem()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        var answers = new Dictionary<string, string> { ["Q: a"] = "a short answer", ["Q: bb"] = "a somewhat longer answer here", ["Q: ccc"] = "x" };
        upstream.Answer = (_, user) => answers[user];
        var (model, api) = await RegisterLlmAsync(new PromptTemplate(null, "Q: {{question}}", ["question"]));
        var dataset = await server.UploadAsync(Encoding.UTF8.GetBytes(string.Join('\n', new[] { "a", "bb", "ccc" }.Select(q =>
            JsonSerializer.Serialize(new { id = q, variables = new { question = q }, reference = answers["Q: " + q] })))));
        var suite = await server.UploadAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new
        {
            name = "qa", task = "llm-chat", dataset = new { sha256 = dataset, format = "jsonl" }, bootstrap = new { resamples = 0 },
            thresholds = new { latency_p95 = new { max = 600000 }, cost_per_1k_requests = new { max = 0.001 }, exact_match = new { min = 1 } },
        })));

        var done = await WaitAsync(api, await api.StartEvaluationAsync(model, "1.0.0",
            new StartEvaluationRequest(suite, Upstream: new UpstreamTarget(upstream.BaseUrl, "stub-chat", InputPricePer1K: 0.5, OutputPricePer1K: 2.0))));
        Assert.True(done.Status == EvaluationStatuses.Succeeded, done.Error);
        var result = done.Result!.Value;
        var rows = result.GetProperty("rowRecords").EnumerateArray().OrderBy(r => r.GetProperty("id").GetString()).ToList();
        Assert.Equal(["a", "bb", "ccc"], rows.Select(r => r.GetProperty("id").GetString()));
        var costs = new List<double>();
        foreach (var row in rows)
        {
            // The stub reports usage as (user text length / 4, answer length / 4): what the run must have taken.
            var q = row.GetProperty("id").GetString()!;
            var (prompt, completion) = (("Q: " + q).Length / 4, answers["Q: " + q].Length / 4);
            Assert.Equal(prompt, row.GetProperty("promptTokens").GetInt64());
            Assert.Equal(completion, row.GetProperty("completionTokens").GetInt64());
            var cost = prompt / 1000.0 * 0.5 + completion / 1000.0 * 2.0;
            Assert.Equal(cost, row.GetProperty("cost").GetDouble(), 12);
            costs.Add(cost);
            Assert.True(row.GetProperty("latencyMs").GetDouble() > 0);
        }
        Assert.Equal(costs.Average(), Value(result, "cost_per_request"), 12);
        Assert.Equal(costs.Average() * 1000, Value(result, "cost_per_1k_requests"), 9);
        var latencies = rows.Select(r => r.GetProperty("latencyMs").GetDouble()).Order().ToArray();
        Assert.Equal(latencies[1], Value(result, "latency_p50"), 3); // nearest rank: ceil(0.5·3) = 2nd
        Assert.Equal(latencies[2], Value(result, "latency_p95"), 3);
        Assert.Equal(rows.Average(r => (double)r.GetProperty("completionTokens").GetInt64()), Value(result, "completion_tokens_mean"), 12);

        var checks = result.GetProperty("thresholds").EnumerateArray().ToDictionary(c => c.GetProperty("metric").GetString()!, c => c.GetProperty("passed").GetBoolean());
        Assert.Equal((true, false, true), (checks["latency_p95"], checks["cost_per_1k_requests"], checks["exact_match"]));
        Assert.False(result.GetProperty("passed").GetBoolean());
    }

    [Fact]
    public async Task LlmSuite_WithoutUsageFromTheUpstream_CountsTokensWithO200k_AndUnpricedRunsHaveNoCost()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        upstream.ReportsUsage = false;
        upstream.Answer = (_, _) => "Bonjour, le ticket est résolu.";
        var (model, api) = await RegisterLlmAsync(new PromptTemplate("Be brief.", "Q: {{question}}", ["question"]));
        var dataset = await server.UploadAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { id = "r1", variables = new { question = "état ?" }, reference = "x" })));
        var suite = await server.UploadAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new
        {
            name = "qa", task = "llm-chat", dataset = new { sha256 = dataset, format = "jsonl" }, bootstrap = new { resamples = 0 },
        })));
        var done = await WaitAsync(api, await api.StartEvaluationAsync(model, "1.0.0", new StartEvaluationRequest(suite, Upstream: new UpstreamTarget(upstream.BaseUrl, "stub-chat"))));
        var row = done.Result!.Value.GetProperty("rowRecords")[0];
        var o200k = Microsoft.ML.Tokenizers.TiktokenTokenizer.CreateForEncoding("o200k_base");
        Assert.Equal(o200k.CountTokens("Bonjour, le ticket est résolu."), row.GetProperty("completionTokens").GetInt64());
        // Chat framing as OpenAI counts it: 3 per message plus role and content, and 3 for the reply's priming.
        Assert.Equal(3 + (3 + o200k.CountTokens("system") + o200k.CountTokens("Be brief.")) + (3 + o200k.CountTokens("user") + o200k.CountTokens("Q: état ?")),
            row.GetProperty("promptTokens").GetInt64());
        Assert.Equal(JsonValueKind.Null, row.GetProperty("cost").ValueKind);
        Assert.False(done.Result!.Value.GetProperty("metrics").TryGetProperty("cost_per_request", out _));
    }

    [Fact]
    public async Task LlmSuite_AThresholdOnAnUnknownMetric_IsRefused()
    {
        var (model, _) = await RegisterLlmAsync(new PromptTemplate(null, "Q: {{question}}", ["question"]));
        var dataset = await server.UploadAsync(Encoding.UTF8.GetBytes("{\"variables\": {\"question\": \"a\"}, \"reference\": \"b\"}"));
        var suite = await server.UploadAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new
        {
            name = "qa", task = "llm-chat", dataset = new { sha256 = dataset, format = "jsonl" }, thresholds = new { latency_p90 = new { max = 3000 } },
        })));
        using var refused = await server.Client().PostAsJsonAsync($"/api/v1/models/{model}/versions/1.0.0/evaluations",
            new { suite, upstream = new { url = "http://127.0.0.1:9/v1", model = "m" } });
        var problem = await ProblemAssert.IsProblem(refused, HttpStatusCode.BadRequest, "validation_failed");
        Assert.Contains("latency_p95", problem.GetProperty("errors").GetProperty("suite.thresholds.latency_p90")[0].GetString());
    }

    [Fact]
    public async Task LlmSuite_ComparedWithABaselineVersion_PairsTheRows_ReusingItsStoredAnswers_WithPairedBootstrapDeltas()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        // Prompt A makes the stub answer each reference exactly; prompt B gets two of four wrong.
        var references = new Dictionary<string, string> { ["q1"] = "one", ["q2"] = "two", ["q3"] = "three", ["q4"] = "four" };
        upstream.Answer = (_, user) => user.StartsWith("A:", StringComparison.Ordinal) ? references[user[3..]]
            : user[3..] is "q1" or "q2" ? references[user[3..]] : "wrong";
        var (model, api) = await RegisterLlmAsync(new PromptTemplate(null, "A: {{question}}", ["question"]));
        var config = await server.UploadAsync(Encoding.UTF8.GetBytes("{\"provider\":\"stub\"} b " + model));
        await server.Api().CreateVersionAsync(model, new CreateVersionRequest("1.0.1", [new ArtifactRef(config, "serving.json")],
            Fixtures.Attestation() with { Architecture = "upstream-llm", BaseModel = "stub-chat", PromptTemplate = new PromptTemplate(null, "B: {{question}}", ["question"]) }));
        var dataset = await server.UploadAsync(Encoding.UTF8.GetBytes(string.Join('\n', references.Select(r =>
            JsonSerializer.Serialize(new { id = r.Key, variables = new { question = r.Key }, reference = r.Value })))));
        var suite = await server.UploadAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new
        {
            name = "qa", task = "llm-chat", dataset = new { sha256 = dataset, format = "jsonl" }, metrics = new[] { "exact_match", "rouge1" },
            bootstrap = new { resamples = 200, seed = 7 },
        })));
        var target = new UpstreamTarget(upstream.BaseUrl, "stub-chat");

        // The baseline's own run keeps its answers…
        var first = await WaitAsync(api, await api.StartEvaluationAsync(model, "1.0.0", new StartEvaluationRequest(suite, Upstream: target)));
        Assert.Equal(1.0, Value(first.Result!.Value, "exact_match"));
        Assert.Equal(4, upstream.Requests.Count);

        // …which a comparison with it reuses: only the candidate's four rows are asked.
        var compared = await WaitAsync(api, await api.StartEvaluationAsync(model, "1.0.1", new StartEvaluationRequest(suite, Baseline: "1.0.0", Upstream: target)));
        Assert.True(compared.Status == EvaluationStatuses.Succeeded, compared.Error);
        Assert.Equal(8, upstream.Requests.Count);
        Assert.All(upstream.Requests.Skip(4), r => Assert.StartsWith("B:", (string?)r["messages"]![0]!["content"]));
        Assert.Equal("1.0.0", compared.Baseline);
        var baseline = compared.Result!.Value.GetProperty("baseline");
        Assert.Equal(first.Id, baseline.GetProperty("reusedFrom").GetString());
        Assert.Equal(4, baseline.GetProperty("rows").GetInt64());
        Assert.Equal(1.0, baseline.GetProperty("metrics").GetProperty("exact_match").GetDouble());
        var delta = baseline.GetProperty("deltas").GetProperty("exact_match");
        Assert.Equal(0.5 - 1.0, delta.GetProperty("value").GetDouble(), 12);
        // Paired differences per row are (0, 0, −1, −1): every resample's mean lies in [−1, 0], and so does the interval.
        var interval = delta.GetProperty("ci").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        Assert.True(interval[0] >= -1 && interval[0] <= -0.5 && interval[1] <= 0 && interval[1] >= -0.5, string.Join(", ", interval));

        // Without a stored run of the same suite to reuse (another suite digest), the baseline's rows are asked too, with its own prompt.
        var other = await server.UploadAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new
        {
            name = "qa2", task = "llm-chat", dataset = new { sha256 = dataset, format = "jsonl" }, metrics = new[] { "exact_match" }, bootstrap = new { resamples = 0 },
        })));
        var asked = await WaitAsync(api, await api.StartEvaluationAsync(model, "1.0.1", new StartEvaluationRequest(other, Baseline: "1.0.0", Upstream: target)));
        Assert.Equal(16, upstream.Requests.Count);
        Assert.Equal(4, upstream.Requests.Skip(8).Count(r => ((string?)r["messages"]![0]!["content"])!.StartsWith("A:", StringComparison.Ordinal)));
        Assert.Equal(JsonValueKind.Null, asked.Result!.Value.GetProperty("baseline").GetProperty("reusedFrom").ValueKind);
        Assert.Equal(-0.5, asked.Result!.Value.GetProperty("baseline").GetProperty("deltas").GetProperty("exact_match").GetProperty("value").GetDouble(), 12);
        Assert.Equal(8, asked.Progress.RowsTotal);

        // The evaluated gate's regression check judges the LLM comparison: with 1.0.0 in production, 1.0.1's exact match is 0.5 worse.
        await server.WithDbAsync(db => db.ModelVersions.Where(v => v.Model!.Name == model && v.Version == "1.0.0")
            .ExecuteUpdateAsync(u => u.SetProperty(v => v.Stage, Stages.Production)));
        var report = await server.Api().DryRunTransitionAsync(model, "1.0.1", new TransitionRequest(Stages.Evaluated, "gate dry run"));
        var regression = report.Checks.Single(c => c.Check == "regression:exact_match");
        Assert.False(regression.Passed);
        Assert.Equal("-0.5", regression.Actual);
        Assert.False(report.Passed);
    }

    [Fact]
    public async Task LlmComparison_WithAJudge_PairsTheJudgesScores_AndTheGateRefusesAVersionTheJudgeScoresLower_ThoughItsRougeIsEqual()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        // Both prompts get each reference exactly (the same ROUGE); the judge, shown the task, gives prompt A's answers 5 and B's 3,
        // except B's answer to q4, which it cannot score.
        var references = new Dictionary<string, string> { ["q1"] = "one", ["q2"] = "two", ["q3"] = "three", ["q4"] = "four" };
        upstream.Answer = (system, user) => system == ModelGate.Evaluation.Text.LlmJudge.SystemPrompt
            ? user.Contains("assistant:\nA: ", StringComparison.Ordinal) ? """{"score": 5, "reasoning": "good"}"""
              : user.Contains("B: q4", StringComparison.Ordinal) ? "no idea" : """{"score": 3, "reasoning": "vague"}"""
            : references[user[3..]];
        var (model, api) = await RegisterLlmAsync(new PromptTemplate(null, "A: {{question}}", ["question"]));
        var config = await server.UploadAsync(Encoding.UTF8.GetBytes("{\"provider\":\"stub\"} judged b " + model));
        await server.Api().CreateVersionAsync(model, new CreateVersionRequest("1.0.1", [new ArtifactRef(config, "serving.json")],
            Fixtures.Attestation() with { Architecture = "upstream-llm", BaseModel = "stub-chat", PromptTemplate = new PromptTemplate(null, "B: {{question}}", ["question"]) }));
        var dataset = await server.UploadAsync(Encoding.UTF8.GetBytes(string.Join('\n', references.Select(r =>
            JsonSerializer.Serialize(new { id = r.Key, variables = new { question = r.Key }, reference = r.Value })))));
        var suite = await server.UploadAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new
        {
            name = "judged-qa", task = "llm-chat", dataset = new { sha256 = dataset, format = "jsonl" }, metrics = new[] { "rouge1", "judge_score" },
            bootstrap = new { resamples = 0 }, concurrency = 1,
            judge = new { url = upstream.BaseUrl, model = "stub-judge", criteria = "answers the question" },
        })));
        var target = new UpstreamTarget(upstream.BaseUrl, "stub-chat");
        var first = await WaitAsync(api, await api.StartEvaluationAsync(model, "1.0.0", new StartEvaluationRequest(suite, Upstream: target)));
        Assert.Equal(1.0, Value(first.Result!.Value, "judge_score"));

        // The comparison reuses 1.0.0's stored answers and their verdicts: the judge is asked only about 1.0.1's answers.
        var judgedBefore = upstream.Requests.Count(r => (string?)r["model"] == "stub-judge");
        var compared = await WaitAsync(api, await api.StartEvaluationAsync(model, "1.0.1", new StartEvaluationRequest(suite, Baseline: "1.0.0", Upstream: target)));
        Assert.True(compared.Status == EvaluationStatuses.Succeeded, compared.Error);
        Assert.Equal(judgedBefore + 4, upstream.Requests.Count(r => (string?)r["model"] == "stub-judge"));
        var baseline = compared.Result!.Value.GetProperty("baseline");
        Assert.Equal(first.Id, baseline.GetProperty("reusedFrom").GetString());
        Assert.Equal(0, baseline.GetProperty("deltas").GetProperty("rouge1").GetProperty("value").GetDouble(), 12);
        // Paired on the three rows both sides' verdicts scored: (3 − 1)/4 − (5 − 1)/4 each.
        Assert.Equal(0.5 - 1.0, baseline.GetProperty("deltas").GetProperty("judge_score").GetProperty("value").GetDouble(), 12);
        Assert.Equal(1.0, baseline.GetProperty("metrics").GetProperty("judge_score").GetDouble(), 12);

        await server.WithDbAsync(db => db.ModelVersions.Where(v => v.Model!.Name == model && v.Version == "1.0.0")
            .ExecuteUpdateAsync(u => u.SetProperty(v => v.Stage, Stages.Production)));
        var report = await server.Api().DryRunTransitionAsync(model, "1.0.1", new TransitionRequest(Stages.Evaluated, "gate dry run"));
        Assert.True(report.Checks.Single(c => c.Check == "regression:rouge1").Passed);
        var judgeRegression = report.Checks.Single(c => c.Check == "regression:judge_score");
        Assert.False(judgeRegression.Passed);
        Assert.Equal("-0.5", judgeRegression.Actual);

        // With nothing to reuse (another suite), the baseline's answers are asked and judged in the run too, with the run's judge key.
        var other = await server.UploadAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new
        {
            name = "judged-qa-2", task = "llm-chat", dataset = new { sha256 = dataset, format = "jsonl" }, metrics = new[] { "judge_score" },
            bootstrap = new { resamples = 0 }, concurrency = 1,
            judge = new { url = upstream.BaseUrl, model = "stub-judge", criteria = "answers the question" },
        })));
        var judgedSoFar = upstream.Requests.Count(r => (string?)r["model"] == "stub-judge");
        var fresh = await WaitAsync(api, await api.StartEvaluationAsync(model, "1.0.1",
            new StartEvaluationRequest(other, Baseline: "1.0.0", Upstream: target, JudgeApiKey: "sk-judge")));
        Assert.Equal(JsonValueKind.Null, fresh.Result!.Value.GetProperty("baseline").GetProperty("reusedFrom").ValueKind);
        Assert.Equal(-0.5, fresh.Result!.Value.GetProperty("baseline").GetProperty("deltas").GetProperty("judge_score").GetProperty("value").GetDouble(), 12);
        var judgeCalls = upstream.Authorizations.Zip(upstream.Requests).Where(p => (string?)p.Second["model"] == "stub-judge").Skip(judgedSoFar).ToList();
        Assert.Equal(8, judgeCalls.Count);
        Assert.All(judgeCalls, p => Assert.Equal("Bearer sk-judge", p.First));
    }

    [Fact]
    public async Task LlmSuite_JudgedByADeployment_AsksItThroughTheDataPlane_WithItsStoredKey_LogsTheRequests_AndRevokesTheRunsKey()
    {
        await using var model = await StubChatUpstream.StartAsync();
        await using var judgeUpstream = await StubChatUpstream.StartAsync();
        model.Answer = (_, user) => "answer " + user[3..];
        judgeUpstream.Answer = (_, user) => user.Contains("answer q1", StringComparison.Ordinal) ? """{"score": 5, "reasoning": "right"}""" : "Score: 2";
        var (name, api) = await RegisterLlmAsync(new PromptTemplate(null, "Q: {{question}}", ["question"]));
        // The judge: a deployment of another model, whose upstream key is stored (encrypted) with its routing.
        var judgeModel = await UpstreamModels.RegisterAsync(server, "judge");
        var judgeDeployment = ServerFixture.UniqueName("judge");
        await server.Api().CreateDeploymentAsync(new CreateDeploymentRequest(judgeDeployment, DeploymentEnvironments.Development, judgeModel,
            new RoutingTable("1.0.0", Backend: "upstream", Upstreams: new Dictionary<string, UpstreamBackend> { ["1.0.0"] = new(judgeUpstream.BaseUrl, "judge-llm", "sk-stored-judge") })));
        var dataset = await server.UploadAsync(Encoding.UTF8.GetBytes(string.Join('\n', new[] { "q1", "q2" }.Select(q =>
            JsonSerializer.Serialize(new { id = q, variables = new { question = q }, reference = "reference for " + q })))));
        object Suite(object judge) => new
        {
            name = "judged-by-deployment", task = "llm-chat", dataset = new { sha256 = dataset, format = "jsonl" }, metrics = new[] { "judge_score" },
            bootstrap = new { resamples = 0 }, concurrency = 1, judge,
        };
        var suite = await server.UploadAsync(JsonSerializer.SerializeToUtf8Bytes(Suite(new { deployment = judgeDeployment, criteria = "answers the question" })));
        var target = new UpstreamTarget(model.BaseUrl, "stub-chat");

        var run = await WaitAsync(api, await api.StartEvaluationAsync(name, "1.0.0", new StartEvaluationRequest(suite, Upstream: target)));

        Assert.True(run.Status == EvaluationStatuses.Succeeded, run.Error);
        Assert.Equal(((5.0 - 1) / 4 + (2.0 - 1) / 4) / 2, Value(run.Result!.Value, "judge_score"), 12);
        var judgedBy = run.Result!.Value.GetProperty("judge");
        Assert.Equal(judgeDeployment, judgedBy.GetProperty("deployment").GetString());
        Assert.Equal(["1.0.0"], judgedBy.GetProperty("versions").EnumerateArray().Select(v => v.GetString()));
        // The judge model got the deployment's upstream model name and its stored key, through the gateway…
        Assert.Equal(2, judgeUpstream.Requests.Count);
        Assert.All(judgeUpstream.Requests, r => Assert.Equal("judge-llm", (string?)r["model"]));
        Assert.All(judgeUpstream.Authorizations, a => Assert.Equal("Bearer sk-stored-judge", a));
        await server.FlushRequestLogAsync();
        Assert.Equal(2, await server.WithDbAsync(db => db.RequestLogs.CountAsync(r => r.Deployment == judgeDeployment)));
        // …with a key of the run's own, scoped to the judge deployment, issued and revoked in the audit log.
        var key = Assert.Single(await server.Api().ListKeysAsync(), k => k.Name == $"judge of evaluation {run.Id}");
        Assert.Equal([judgeDeployment], key.Deployments);
        Assert.NotNull(key.RevokedAt);
        var audited = (await server.Api().ListAuditAsync(subject: $"keys/{key.Id}", limit: 10)).Items.Select(e => e.Action).ToList();
        Assert.Equal(["key.created", "key.revoked"], audited);

        // What cannot judge is refused before anything runs: both kinds of judge, a missing or an ONNX deployment, a key for a deployment judge.
        var before = (await api.ListEvaluationsAsync(name, "1.0.0")).Count;
        async Task<JsonElement> Refused(object judge, HttpStatusCode status, string code, string? judgeApiKey = null)
        {
            var bad = await server.UploadAsync(JsonSerializer.SerializeToUtf8Bytes(Suite(judge)));
            using var response = await server.Client().PostAsJsonAsync($"/api/v1/models/{name}/versions/1.0.0/evaluations",
                new StartEvaluationRequest(bad, Upstream: target, JudgeApiKey: judgeApiKey), ModelGateJson.Options);
            return await ProblemAssert.IsProblem(response, status, code);
        }
        var both = await Refused(new { deployment = judgeDeployment, url = judgeUpstream.BaseUrl, model = "m", criteria = "c" }, HttpStatusCode.BadRequest, ProblemCodes.Validation);
        Assert.True(both.GetProperty("errors").TryGetProperty("suite.judge.deployment", out _));
        await Refused(new { deployment = "no-such-deployment", criteria = "c" }, HttpStatusCode.UnprocessableEntity, ProblemCodes.DeploymentNotFound);
        var onnx = ServerFixture.UniqueName("onnx-judge");
        var onnxModel = ServerFixture.UniqueName("onnx");
        await server.Api().CreateModelAsync(new CreateModelRequest(onnxModel, "o", "low", "classification"));
        var sha = await server.UploadAsync(Fixtures.ModelBytes("v1-logreg"));
        await server.Api().CreateVersionAsync(onnxModel, new CreateVersionRequest("1.0.0", [new ArtifactRef(sha, "m.onnx")], Fixtures.Attestation()));
        await server.Api().CreateDeploymentAsync(new CreateDeploymentRequest(onnx, DeploymentEnvironments.Development, onnxModel, new RoutingTable("1.0.0")));
        await Refused(new { deployment = onnx, criteria = "c" }, HttpStatusCode.UnprocessableEntity, ProblemCodes.WrongProtocol);
        var keyed = await Refused(new { deployment = judgeDeployment, criteria = "c" }, HttpStatusCode.BadRequest, ProblemCodes.Validation, judgeApiKey: "sk-x");
        Assert.True(keyed.GetProperty("errors").TryGetProperty("judgeApiKey", out _));
        Assert.Equal(before, (await api.ListEvaluationsAsync(name, "1.0.0")).Count);
        Assert.Equal(2, judgeUpstream.Requests.Count);
    }

    [Fact]
    public async Task LlmSuite_WithAJudge_ScoresEveryAnswerOnTheRubric_KeepsTheReasoning_CountsMalformedVerdicts_AndIsReproducible()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        // The model answers; the judge (the same stub, told apart by its system prompt) follows a script per answer.
        var verdicts = new Dictionary<string, string>
        {
            ["answer q1"] = """{"score": 5, "reasoning": "covers the request"}""",
            ["answer q2"] = "Here is my verdict:\n```json\n{\"score\": \"3\", \"reasoning\": \"partly\"}\n```",
            ["answer q3"] = "Score: 2. Too long.",
            ["answer q4"] = "I cannot decide.",
        };
        upstream.Answer = (system, user) => system == ModelGate.Evaluation.Text.LlmJudge.SystemPrompt
            ? verdicts[user.Split("The assistant's answer:\n")[1].Split('\n')[0]]
            : "answer " + user[3..];
        var (model, api) = await RegisterLlmAsync(new PromptTemplate(null, "Q: {{question}}", ["question"]));
        var dataset = await server.UploadAsync(Encoding.UTF8.GetBytes(string.Join('\n', new[] { "q1", "q2", "q3", "q4" }.Select(q =>
            JsonSerializer.Serialize(new { id = q, variables = new { question = q }, reference = "reference for " + q })))));
        var suite = await server.UploadAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new
        {
            name = "judged", task = "llm-chat", dataset = new { sha256 = dataset, format = "jsonl" }, metrics = new[] { "judge_score" },
            bootstrap = new { resamples = 0 }, concurrency = 1,
            judge = new { url = upstream.BaseUrl, model = "stub-judge", criteria = "answers the question", scaleMin = 1, scaleMax = 5 },
            thresholds = new { judge_score = new { min = 0.5 } },
        })));

        var first = await WaitAsync(api, await api.StartEvaluationAsync(model, "1.0.0",
            new StartEvaluationRequest(suite, Upstream: new UpstreamTarget(upstream.BaseUrl, "stub-chat"), JudgeApiKey: "sk-judge")));
        Assert.True(first.Status == EvaluationStatuses.Succeeded, first.Error);
        var result = first.Result!.Value;
        // (5, 3, 2) on 1–5 map to 1, 0.5 and 0.25; the fourth verdict has no score and is counted, not scored.
        Assert.Equal((1.0 + 0.5 + 0.25) / 3, Value(result, "judge_score"), 12);
        Assert.Equal(1, Value(result, "judge_errors"));
        Assert.True(result.GetProperty("passed").GetBoolean());
        var rows = result.GetProperty("rowRecords").EnumerateArray().ToDictionary(r => r.GetProperty("id").GetString()!);
        Assert.Equal("covers the request", rows["q1"].GetProperty("judgeReasoning").GetString());
        Assert.Equal(3, rows["q2"].GetProperty("judgeScore").GetDouble());
        Assert.Contains("no score", rows["q4"].GetProperty("judgeError").GetString());

        var judged = upstream.Requests.Where(r => (string?)r["model"] == "stub-judge").ToList();
        Assert.Equal(4, judged.Count);
        Assert.All(judged, r => Assert.Equal(0, (int)r["temperature"]!));
        Assert.Contains("reference for q1", judged.Select(r => (string?)r["messages"]![1]!["content"]).Single(c => c!.Contains("answer q1")));
        Assert.All(upstream.Authorizations.Zip(upstream.Requests).Where(p => (string?)p.Second["model"] == "stub-judge"), p => Assert.Equal("Bearer sk-judge", p.First));

        // The same judge and rubric on the same answers: the same scores, from byte-identical judge requests.
        var firstBodies = upstream.RawBodies.Where(b => Encoding.UTF8.GetString(b).Contains("stub-judge")).Select(Encoding.UTF8.GetString).Order().ToList();
        var again = await WaitAsync(api, await api.StartEvaluationAsync(model, "1.0.0",
            new StartEvaluationRequest(suite, Upstream: new UpstreamTarget(upstream.BaseUrl, "stub-chat"), JudgeApiKey: "sk-judge")));
        Assert.Equal(Value(result, "judge_score"), Value(again.Result!.Value, "judge_score"));
        var allBodies = upstream.RawBodies.Where(b => Encoding.UTF8.GetString(b).Contains("stub-judge")).Select(Encoding.UTF8.GetString).ToList();
        Assert.Equal(8, allBodies.Count);
        Assert.Equal(firstBodies, allBodies.Skip(4).Order().ToList());
        Assert.DoesNotContain("sk-judge", JsonSerializer.Serialize(await server.Api().ListAuditAsync(subject: $"models/{model}*")));
    }

    [Fact]
    public async Task AJudge_OnASafetySuite_OrWithABadScale_IsRefused()
    {
        var (model, _) = await RegisterLlmAsync(new PromptTemplate(null, "Q: {{question}}", ["question"]));
        var dataset = await server.UploadAsync(Encoding.UTF8.GetBytes("{\"variables\": {\"question\": \"a\"}, \"reference\": \"b\"}"));
        var suite = await server.UploadAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new
        {
            name = "qa", task = "llm-chat", dataset = new { sha256 = dataset, format = "jsonl" },
            judge = new { url = "ftp://judge", model = "", criteria = "x", scaleMin = 5, scaleMax = 1 },
        })));
        using var refused = await server.Client().PostAsJsonAsync($"/api/v1/models/{model}/versions/1.0.0/evaluations",
            new { suite, upstream = new { url = "http://127.0.0.1:9/v1", model = "m" } });
        var errors = (await ProblemAssert.IsProblem(refused, HttpStatusCode.BadRequest, "validation_failed")).GetProperty("errors");
        Assert.True(errors.TryGetProperty("suite.judge.url", out _));
        Assert.True(errors.TryGetProperty("suite.judge.model", out _));
        Assert.True(errors.TryGetProperty("suite.judge.scaleMin", out _));
        Assert.Empty(await server.Api().ListEvaluationsAsync(model, "1.0.0"));
    }
}
