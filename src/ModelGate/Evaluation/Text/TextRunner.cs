using System.Diagnostics;

namespace ModelGate.Evaluation.Text;

/// <summary>
/// One prompt's outcome: the answer, or null when the upstream failed for it; how long it took; its tokens (as the upstream
/// reported them, or counted with the gateway's tokenizer when it reported none) and, when the upstream is priced, its cost.
/// </summary>
public sealed record TextAnswer(TextRow Row, string? Output, double LatencyMs, string? Error, long? PromptTokens = null, long? CompletionTokens = null,
    double? Cost = null, JudgeVerdict? Judged = null);

public static class TextRunner
{
    /// <summary>Sends every row through the upstream with bounded concurrency; a failed row is counted and kept, not dropped.</summary>
    public static async Task<IReadOnlyList<TextAnswer>> AskAllAsync(EvaluationJob job, PreparedTextSuite suite, UpstreamChatClient client,
        CancellationToken cancellationToken)
    {
        var answers = new TextAnswer[suite.Rows.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, suite.Rows.Count),
            new ParallelOptions { MaxDegreeOfParallelism = suite.Suite.Concurrency, CancellationToken = cancellationToken },
            async (i, ct) =>
            {
                var row = suite.Rows[i];
                var clock = Stopwatch.StartNew();
                try
                {
                    var answer = await client.CompleteAsync(suite.Upstream, row.Messages, suite.Suite.MaxTokens, ct);
                    var latency = clock.Elapsed.TotalMilliseconds;
                    // The gateway's rule when an upstream reports no usage: count what was sent and what came back.
                    var prompt = answer.PromptTokens ?? Gateway.TokenCounter.CountPrompt(
                        new System.Text.Json.Nodes.JsonObject { ["messages"] = System.Text.Json.Nodes.JsonNode.Parse([.. "["u8, .. row.Messages, .. "]"u8]) });
                    var completion = answer.CompletionTokens ?? Gateway.TokenCounter.Count(answer.Content);
                    var (input, output) = (suite.Upstream.InputPricePer1K, suite.Upstream.OutputPricePer1K);
                    double? cost = input is null && output is null ? null : prompt / 1000.0 * (input ?? 0) + completion / 1000.0 * (output ?? 0);
                    var judged = suite.Suite.Judge is { } judge && suite.Judge is { } endpoint
                        ? await LlmJudge.JudgeAsync(client, judge, endpoint, row.Question, answer.Content, row.Reference, ct)
                        : null;
                    answers[i] = new TextAnswer(row, answer.Content, latency, null, prompt, completion, cost, judged);
                    job.AddDone(1, 0);
                }
                catch (Exception e) when (!ct.IsCancellationRequested && e is HttpRequestException or InvalidDataException or System.Text.Json.JsonException
                                              or TaskCanceledException)
                {
                    answers[i] = new TextAnswer(row, null, clock.Elapsed.TotalMilliseconds, e.Message);
                    job.AddDone(1, 1);
                }
            });
        return answers;
    }
}
