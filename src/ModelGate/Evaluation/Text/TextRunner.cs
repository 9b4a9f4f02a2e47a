using System.Diagnostics;

namespace ModelGate.Evaluation.Text;

/// <summary>One prompt's outcome: the answer, or null when the upstream failed for it; and how long it took.</summary>
public sealed record TextAnswer(TextRow Row, string? Output, double LatencyMs, string? Error);

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
                    var output = await client.CompleteAsync(suite.Upstream, row.Messages, suite.Suite.MaxTokens, ct);
                    answers[i] = new TextAnswer(row, output, clock.Elapsed.TotalMilliseconds, null);
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
