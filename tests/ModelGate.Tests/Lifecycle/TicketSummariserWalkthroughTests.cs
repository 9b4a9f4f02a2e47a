using System.ClientModel;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using ModelGate.Client;
using ModelGate.Evaluation.Text;
using ModelGate.Gateway;
using ModelGate.Lifecycle.Archives;
using ModelGate.Rollouts;
using ModelGate.Tests.Infrastructure;
using OpenAI.Chat;

namespace ModelGate.Tests.Lifecycle;

/// <summary>
/// Seed 000's ticket summariser end to end, <b>under the default policy with no policy written</b>, through the
/// <c>modelgate</c> CLI (as each person would type it) and the official OpenAI .NET SDK (as the application would call it),
/// with the files of <c>examples/ticket-summariser</c> that the README's walk-through uses: prompt 1.0.0 → ROUGE and judge
/// evaluation against human references with latency and cost requirements → card → staging verification → two approvals →
/// production; prompt 1.1.0 → evaluation compared with production → the same gates → a 10 % canary judged on feedback, a
/// business metric and cost → promotion → 1.0.0 retired with its archive verified. The upstream LLM and its judge are a stub
/// at the HTTP boundary; the rollout's clock is the fixture's fake clock.
/// </summary>
public sealed class TicketSummariserWalkthroughTests(SqliteServerFixture server, ITestOutputHelper output) : IClassFixture<SqliteServerFixture>
{
    private static readonly string Example = Path.Combine(AppContext.BaseDirectory, "examples", "ticket-summariser");

    private sealed record Row(string Id, string Ticket, string Reference);

    private static List<Row> Rows() => File.ReadLines(Path.Combine(Example, "tickets.jsonl")).Where(l => l.Length > 0).Select(l =>
    {
        using var row = JsonDocument.Parse(l);
        var r = row.RootElement;
        return new Row(r.GetProperty("id").GetString()!, r.GetProperty("variables").GetProperty("ticket").GetString()!, r.GetProperty("reference").GetString()!);
    }).ToList();

    /// <summary>ROUGE-1 F1 of an answer that is its reference plus one word no reference has: recall 1, precision n/(n+1).</summary>
    private static double OneExtraWordF1(string reference)
    {
        var n = Regex.Matches(reference.ToLowerInvariant(), "[a-z0-9]+").Count;
        return 2.0 * n / (2 * n + 1);
    }

    private static double Metric(EvaluationDto run, string metric) => run.Result!.Value.GetProperty("metrics").GetProperty(metric).GetProperty("value").GetDouble();

    [Fact]
    public async Task TicketSummariser_PromptV1ToProduction_V2ByCanary_V1Retired_UnderTheDefaultPolicy_ThroughTheCliAndTheOpenAiSdk()
    {
        var rows = Rows();
        var references = rows.ToDictionary(r => r.Ticket, r => r.Reference);
        const string V2Instruction = "Summarise this support ticket in one line of at most 15 words:";
        await using var upstream = await StubChatUpstream.StartAsync();
        // The model: prompt 1.0.0 gets "Summary: " + the human reference, prompt 1.1.0 the reference itself. The judge (the
        // same stub, told apart by its system prompt) gives the wordy answers 4 of 5 and the others 5 of 5.
        upstream.Answer = (system, user) =>
        {
            if (system == LlmJudge.SystemPrompt)
            {
                var answer = user.Split("The assistant's answer:\n")[1].Split('\n')[0];
                return answer.StartsWith("Summary: ", StringComparison.Ordinal)
                    ? """{"score": 4, "reasoning": "accurate, with a needless prefix"}"""
                    : """{"score": 5, "reasoning": "accurate and brief"}""";
            }
            var ticket = user[(user.IndexOf("\n\n", StringComparison.Ordinal) + 2)..];
            return user.StartsWith(V2Instruction, StringComparison.Ordinal) ? references[ticket] : "Summary: " + references[ticket];
        };

        // The people: each acts with their own key, and the approving roles are held by people.
        async Task<string> Person(string name, params string[] roles) => (await server.CreateKeyAsync(new CreateKeyRequest(name, roles))).Key!;
        var alice = await Person("alice", Roles.Trainer);      // writes the prompts and cards
        var eve = await Person("eve", Roles.Evaluator);        // evaluates
        var lee = await Person("lee", Roles.MlLead);           // asks for the promotions
        var mo = await Person("mo", Roles.MlLead);             // approves as ml-lead
        var pat = await Person("pat", Roles.ProductOwner);     // approves as product owner
        var dan = await Person("dan", Roles.Deployer);         // deployments, staging checks, the rollout

        var work = Directory.CreateTempSubdirectory("modelgate-tickets-").FullName;
        try
        {
            var suite = Path.Combine(work, "suite.json");
            await File.WriteAllTextAsync(suite, (await File.ReadAllTextAsync(Path.Combine(Example, "suite.json")))
                .Replace("JUDGE_URL", upstream.BaseUrl, StringComparison.Ordinal).Replace("JUDGE_MODEL", "stub-judge", StringComparison.Ordinal));
            var environment = new Dictionary<string, string?> { ["UPSTREAM_KEY"] = "sk-upstream", ["JUDGE_KEY"] = "sk-judge" };
            async Task<string> Mg(string token, params string[] args)
            {
                var (exit, stdout, stderr) = await server.CliAsync(args, token, environment);
                output.WriteLine($"$ modelgate {string.Join(' ', args)}\n{stdout}{stderr}");
                Assert.True(exit == 0, $"modelgate {string.Join(' ', args)} exited {exit}:\n{stderr}\n{stdout}");
                return stdout;
            }
            async Task<T> MgJson<T>(string token, params string[] args) =>
                JsonSerializer.Deserialize<T>(await Mg(token, [.. args, "--output", "json"]), ModelGateJson.Options)!;
            string Ex(string file) => Path.Combine(Example, file);
            var model = ServerFixture.UniqueName("tickets");
            var staging = $"{model}-staging";
            var production = $"{model}-prod";
            string[] Upstream() => ["--upstream-url", upstream.BaseUrl, "--upstream-model", "stub-chat", "--api-key-env", "UPSTREAM_KEY",
                "--input-price", "0.00015", "--output-price", "0.0006"];
            string[] EvalRun(string version) => ["eval", "run", $"{model}@{version}", "--suite", suite, "--dataset", Ex("tickets.jsonl"),
                "--upstream", upstream.BaseUrl, "--upstream-model", "stub-chat", "--upstream-key-env", "UPSTREAM_KEY",
                "--input-price", "0.00015", "--output-price", "0.0006", "--judge-key-env", "JUDGE_KEY"];
            string[] Approve(string version, string role, params string[] evidence) => ["approve", $"{model}@{version}", "--role", role, "--evidence", .. evidence,
                "--risks", "A summary can drop a secondary request.", "--monitoring-plan", "Feedback score and error-rate alerts on the production deployment.",
                "--rollback-plan", "modelgate rollback to the previous prompt version.", "--next-review", "2027-12-01"];

            // 1.0.0: a prompt-only version, its template stored by the server as a content-addressed artifact.
            await Mg(alice, "model", "create", model, "--owner", "support-tools", "--risk-tier", "medium", "--task", "llm-chat", "--license", "proprietary",
                "--description", "One-line summaries of support tickets");
            await Mg(alice, "version", "create", model, "1.0.0", "--attestation", Ex("attestation-v1.json"));
            var v1 = await server.Api().GetVersionAsync(model, "1.0.0");
            Assert.Equal("prompt-template.json", Assert.Single(v1.Artifacts).FileName);

            // Evaluated: ROUGE against the human references, the judge's rubric, latency and cost per 1,000 requests.
            var v1Eval = await MgJson<EvaluationDto>(eve, EvalRun("1.0.0"));
            Assert.True(v1Eval.Status == EvaluationStatuses.Succeeded, v1Eval.Error);
            Assert.True(v1Eval.Result!.Value.GetProperty("passed").GetBoolean());
            Assert.Equal(rows.Average(r => OneExtraWordF1(r.Reference)), Metric(v1Eval, "rouge1"), 9);
            Assert.Equal((4.0 - 1) / (5 - 1), Metric(v1Eval, "judge_score"), 12);
            var records = v1Eval.Result!.Value.GetProperty("rowRecords").EnumerateArray().ToList();
            Assert.Equal(rows.Count, records.Count);
            Assert.Equal(records.Average(r => r.GetProperty("promptTokens").GetDouble() * 0.00015 / 1000 + r.GetProperty("completionTokens").GetDouble() * 0.0006 / 1000) * 1000,
                Metric(v1Eval, "cost_per_1k_requests"), 12);
            Assert.Equal(["cost_per_1k_requests", "judge_score", "latency_p95", "rouge1"],
                v1Eval.Result!.Value.GetProperty("thresholds").EnumerateArray().Where(t => t.GetProperty("passed").GetBoolean()).Select(t => t.GetProperty("metric").GetString()).Order());
            await Mg(lee, "promote", $"{model}@1.0.0", "--to", Stages.Evaluated);

            // Registered: the card.
            await Mg(alice, "model", "card", "set", $"{model}@1.0.0", Ex("card.yaml"));
            await Mg(lee, "promote", $"{model}@1.0.0", "--to", Stages.Registered);

            // Staging: a staging deployment on the upstream, then the verification through it (smoke prompts from the suite's
            // dataset, latency, request log, telemetry; no earlier version to drill a rollback to yet).
            await Mg(dan, ["deployment", "create", staging, "--environment", DeploymentEnvironments.Staging, "--model", model, "--stable", "1.0.0",
                "--backend", "upstream", .. Upstream()]);
            await Mg(lee, "promote", $"{model}@1.0.0", "--to", Stages.Staging);
            var v1Staging = await MgJson<StagingVerificationDto>(dan, "staging", "verify", $"{model}@1.0.0", "--requests", "20");
            Assert.True(v1Staging.Passed, string.Join("; ", v1Staging.Checks.Select(c => $"{c.Check}: {c.Passed} {c.Detail}")));

            // Production: medium risk needs a product owner and an ml-lead, neither of whom registered, evaluated or asked for it.
            var (refusedExit, refused, _) = await server.CliAsync(["promote", $"{model}@1.0.0", "--to", Stages.Production], lee, environment);
            Assert.Equal(5, refusedExit);
            Assert.Contains("approval:product-owner", refused);
            Assert.Contains("approval:ml-lead", refused);
            await Mg(mo, Approve("1.0.0", Roles.MlLead, v1Eval.Id, v1Staging.Id));
            await Mg(pat, Approve("1.0.0", Roles.ProductOwner, v1Eval.Id, v1Staging.Id));
            await Mg(lee, "promote", $"{model}@1.0.0", "--to", Stages.Production);
            await Mg(dan, ["deployment", "create", production, "--environment", DeploymentEnvironments.Production, "--model", model, "--stable", "1.0.0",
                "--backend", "upstream", .. Upstream()]);

            // The application: the OpenAI SDK, unchanged, with a key scoped to the production deployment, passing the ticket as a
            // prompt variable; the answer is what the evaluation scored for that ticket.
            var appKey = (await server.CreateKeyAsync(new CreateKeyRequest("ticket-app", [Roles.Viewer], Deployments: [production]))).Key!;
            var chat = new OpenAI.OpenAIClient(new ApiKeyCredential(appKey), new OpenAI.OpenAIClientOptions
            {
                Endpoint = new Uri("http://localhost/v1"),
                Transport = new System.ClientModel.Primitives.HttpClientPipelineTransport(new HttpClient(server.Handler())),
            }).GetChatClient(production);
            async Task<(string Id, string Version, string Answer)> SummariseAsync(Row row)
            {
                // The SDK insists on at least one message; the version's prompt is the whole conversation here, so the
                // messages are sent empty (the SDK's patch, as for any member it has no property for) and the ticket goes
                // as a prompt variable.
                var options = new ChatCompletionOptions();
#pragma warning disable SCME0001
                options.Patch.Set("$.prompt_variables.ticket"u8, row.Ticket);
                options.Patch.Set("$.messages"u8, BinaryData.FromString("[]"));
#pragma warning restore SCME0001
                var completion = await chat.CompleteChatAsync([new UserChatMessage("(the ticket is a prompt variable)")], options);
                var headers = completion.GetRawResponse().Headers;
                Assert.True(headers.TryGetValue(InferenceProtocolApi.RequestIdHeader, out var id));
                Assert.True(headers.TryGetValue(InferenceProtocolApi.VersionHeader, out var version));
                return (id!, version!, completion.Value.Content[0].Text);
            }
            var served = await SummariseAsync(rows[0]);
            Assert.Equal(("1.0.0", "Summary: " + rows[0].Reference), (served.Version, served.Answer));

            // 1.1.0: a new prompt, and the diff the reviewers read.
            await Mg(alice, "version", "create", model, "1.1.0", "--attestation", Ex("attestation-v2.json"));
            var diff = await Mg(lee, "version", "diff", $"{model}@1.0.0", $"{model}@1.1.0");
            Assert.Contains("- Summarise this support ticket in one line:\n", diff);
            Assert.Contains("+ " + V2Instruction + "\n", diff);
            Assert.Contains("the changes need a patch bump", diff);

            // Evaluated: compared with production (1.0.0) on the same rows, its answers reused from its stored run.
            var v2Eval = await MgJson<EvaluationDto>(eve, EvalRun("1.1.0"));
            Assert.True(v2Eval.Status == EvaluationStatuses.Succeeded, v2Eval.Error);
            Assert.Equal("1.0.0", v2Eval.Baseline);
            var baseline = v2Eval.Result!.Value.GetProperty("baseline");
            Assert.Equal(v1Eval.Id, baseline.GetProperty("reusedFrom").GetString());
            Assert.Equal(1, Metric(v2Eval, "rouge1"), 12);
            Assert.Equal(1, Metric(v2Eval, "judge_score"), 12);
            Assert.Equal(1 - Metric(v1Eval, "rouge1"), baseline.GetProperty("deltas").GetProperty("rouge1").GetProperty("value").GetDouble(), 9);
            Assert.Equal(1 - 0.75, baseline.GetProperty("deltas").GetProperty("judge_score").GetProperty("value").GetDouble(), 12);
            var evaluated = await MgJson<TransitionDto>(lee, "promote", $"{model}@1.1.0", "--to", Stages.Evaluated);
            Assert.Contains(evaluated.Report.Checks, c => c.Check == "regression:rouge1" && c.Passed && c.Actual.StartsWith('+'));
            Assert.Contains(evaluated.Report.Checks, c => c.Check == "regression:judge_score" && c.Passed && c.Actual == "+0.25");
            await Mg(alice, "model", "card", "set", $"{model}@1.1.0", Ex("card.yaml"));
            await Mg(lee, "promote", $"{model}@1.1.0", "--to", Stages.Registered);

            // Staging: 1.1.0 on the staging deployment; its verification drills the rollback to 1.0.0 and back.
            await Mg(dan, ["deployment", "set-upstream", staging, "1.1.0", .. Upstream()]);
            await Mg(dan, "deployment", "set-route", staging, "--stable", "1.1.0", "--candidate", "1.0.0=0");
            await Mg(lee, "promote", $"{model}@1.1.0", "--to", Stages.Staging);
            var v2Staging = await MgJson<StagingVerificationDto>(dan, "staging", "verify", $"{model}@1.1.0", "--requests", "20");
            Assert.True(v2Staging.Passed, string.Join("; ", v2Staging.Checks.Select(c => $"{c.Check}: {c.Passed} {c.Detail}")));
            var drill = v2Staging.Checks.Single(c => c.Check == "rollback_drill");
            Assert.Equal("1.0.0", drill.Figures!.Value.GetProperty("answeredAfterRollback").GetString());
            await Mg(mo, Approve("1.1.0", Roles.MlLead, v2Eval.Id, v2Staging.Id));
            await Mg(pat, Approve("1.1.0", Roles.ProductOwner, v2Eval.Id, v2Staging.Id));
            await Mg(lee, "promote", $"{model}@1.1.0", "--to", Stages.Production);

            // The canary: 10 % of production to 1.1.0, judged on the default metrics (errors, latency, cost per token), the
            // feedback score and the business metric "resolved" (a ticket closed without being reopened).
            await Mg(dan, ["deployment", "set-upstream", production, "1.1.0", .. Upstream()]);
            var rollout = await MgJson<RolloutDto>(dan, "rollout", "start", production, "--candidate", "1.1.0", "--steps", "10", "--interval", "120",
                "--metric", "resolved:decrease:critical");
            var api = server.Api();
            var counts = new Dictionary<string, int>();
            for (var interval = 0; interval < 4 && RolloutStatuses.IsActive(rollout.Status); interval++)
            {
                var sent = new List<(string Id, string Version)>();
                for (var slot = 0; slot < 12; slot++)
                {
                    for (var i = 0; i < 80; i++)
                    {
                        var answer = await SummariseAsync(rows[(slot * 80 + i) % rows.Count]);
                        sent.Add((answer.Id, answer.Version));
                    }
                    server.Time.Advance(TimeSpan.FromSeconds(10));
                }
                await server.FlushRequestLogAsync();
                // What the support team reports back: 1.1.0's summaries are rated and resolve tickets a little more often.
                using var client = server.Client(appKey);
                foreach (var (id, version) in sent)
                {
                    var k = counts[version] = counts.GetValueOrDefault(version) + 1;
                    var better = version == "1.1.0";
                    using var response = await client.PostAsync("/api/v1/feedback", JsonContent(new FeedbackRequest(id,
                        Score: k % 10 < (better ? 8 : 7) ? 1 : 0, Metric: "resolved", Value: k % 10 < (better ? 4 : 3) ? 1 : 0)));
                    Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
                }
                await server.App.Services.GetRequiredService<RolloutController>().TickAsync(CancellationToken.None);
                rollout = await api.GetRolloutAsync(production, rollout.Id);
            }
            await Mg(dan, "rollout", "status", production, "--all");
            Assert.True(rollout.Status == RolloutStatuses.Promoted, $"{rollout.Status}: {rollout.Reason}");
            var judged = rollout.Analyses!.Last(a => a.Outcome == AnalysisOutcomes.Pass).Metrics.ToDictionary(m => m.Name);
            foreach (var name in new[] { "error_rate", "cost_per_token", "feedback_score", "resolved" })
            {
                Assert.True(judged.TryGetValue(name, out var metric) && metric.Candidate is not null && metric.Stable is not null, $"{name} was not judged on data");
            }
            Assert.True(judged["cost_per_token"].Candidate > 0 && judged["cost_per_token"].Stable > 0, "the deployment's prices were not applied");
            Assert.True(judged["resolved"].Candidate > judged["resolved"].Stable);
            Assert.Equal("1.1.0", (await api.GetDeploymentAsync(production)).Routing.Stable);
            Assert.Equal("1.1.0", (await SummariseAsync(rows[1])).Version);

            // Retirement of 1.0.0: 1.1.0 takes what still routes it (the staging deployment's 0 % candidate), and the archive
            // keeps the prompt, the evaluations, the approvals, the staging checks and the request log.
            var retired = await MgJson<TransitionDto>(lee, "retire", $"{model}@1.0.0", "--trigger", RetirementTriggers.Replaced, "--replacement", "1.1.0");
            Assert.Equal(Stages.Retired, retired.To);
            var after = await SummariseAsync(rows[2]);
            Assert.Equal(("1.1.0", rows[2].Reference), (after.Version, after.Answer));
            Assert.Contains("archive verified", await Mg(ServerFixture.AdminKey, "archive", "verify", retired.ArchiveSha256!));
            using var archive = new MemoryStream();
            await api.PullArtifactAsync(retired.ArchiveSha256!, archive);
            var entries = Fixtures.ReadArchive(archive.ToArray());
            using (var prompt = JsonDocument.Parse(entries[RetirementArchiveLayout.PromptTemplate]))
            {
                Assert.Equal("Summarise this support ticket in one line:\n\n{{ticket}}", prompt.RootElement.GetProperty("template").GetString());
            }
            Assert.Contains(RetirementArchiveLayout.Evaluation(v1Eval.Id), entries.Keys);
            Assert.Contains(RetirementArchiveLayout.StagingCheck(v1Staging.Id), entries.Keys);
            Assert.Equal(2, entries.Keys.Count(k => k.StartsWith("approvals/", StringComparison.Ordinal)));
            var logged = Encoding.UTF8.GetString(entries[RetirementArchiveLayout.RequestLogs]).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(counts["1.0.0"] + 1, logged.Count(l => l.Contains($"\"deployment\":\"{production}\"", StringComparison.Ordinal)));

            // Nothing was weakened on the way: no policy was ever written, and the audit chain verifies.
            using (var admin = server.Client())
            {
                Assert.Equal("[]", await admin.GetStringAsync("/api/v1/policies/default/revisions"));
                Assert.Equal("[]", await admin.GetStringAsync($"/api/v1/policies/{model}/revisions"));
            }
            await Mg(ServerFixture.AdminKey, "audit", "verify");
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static StringContent JsonContent<T>(T value) => new(JsonSerializer.Serialize(value, ModelGateJson.Options), Encoding.UTF8, "application/json");
}
