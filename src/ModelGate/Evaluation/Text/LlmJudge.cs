using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using ModelGate.Client;

namespace ModelGate.Evaluation.Text;

/// <summary>One judged row: the score on the rubric's scale and the judge's reasoning, or why the judge's answer was not usable.</summary>
public sealed record JudgeVerdict(double? Score, string? Reasoning, string? Error);

/// <summary>
/// LLM-as-judge: asks the suite's judge model to score an answer against the rubric (temperature 0, the same prompt for the same
/// row, so a fixed judge gives the same scores), and reads its answer robustly — a JSON object with <c>score</c> and
/// <c>reasoning</c>, possibly inside prose or a code fence, or failing that a "score: N" line. An answer with no score on the
/// scale is a counted row error, never a failed run.
/// </summary>
public static partial class LlmJudge
{
    public const string SystemPrompt =
        "You are an impartial evaluator. Score the assistant's answer strictly by the criteria, on the given integer scale. " +
        "Answer with one JSON object and nothing else: {\"score\": <integer>, \"reasoning\": \"<one or two sentences>\"}.";

    /// <summary>The judge's user message for one row.</summary>
    public static string Prompt(JudgeSpec judge, string question, string answer, string? reference)
    {
        var text = $"Criteria: {judge.Criteria}\nScale: {judge.ScaleMin} (worst) to {judge.ScaleMax} (best)\n\n" +
                   $"Question or task given to the assistant:\n{question}\n\nThe assistant's answer:\n{answer}\n";
        return judge.UseReference && reference is not null ? text + $"\nA human-written reference answer:\n{reference}\n" : text;
    }

    public static async Task<JudgeVerdict> JudgeAsync(UpstreamChatClient client, JudgeSpec judge, JudgeEndpoint endpoint, string question, string answer,
        string? reference, CancellationToken cancellationToken)
    {
        string content;
        try
        {
            var messages = Registry.PromptRenderer.Plain(SystemPrompt, Prompt(judge, question, answer, reference));
            var answered = await client.CompleteAsync(endpoint.Target, messages, 256, cancellationToken, endpoint.Via);
            if (answered.ServedBy is { } version)
            {
                endpoint.ServedBy.TryAdd(version, 0);
            }
            content = answered.Content;
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is HttpRequestException or InvalidDataException or JsonException
                                      or TaskCanceledException)
        {
            return new JudgeVerdict(null, null, $"the judge failed: {e.Message}");
        }
        return Parse(content, judge.ScaleMin, judge.ScaleMax);
    }

    [GeneratedRegex(@"\{.*\}", RegexOptions.Singleline)]
    private static partial Regex JsonObject();

    [GeneratedRegex(@"score\W{0,3}(-?\d+(?:\.\d+)?)", RegexOptions.IgnoreCase)]
    private static partial Regex ScoreLine();

    /// <summary>The verdict in a judge's answer, or an error saying why there is none.</summary>
    public static JudgeVerdict Parse(string content, int min, int max)
    {
        double? score = null;
        string? reasoning = null;
        if (JsonObject().Match(content) is { Success: true } json)
        {
            try
            {
                if (JsonNode.Parse(json.Value) is JsonObject o)
                {
                    score = o["score"] switch
                    {
                        JsonValue v when v.TryGetValue<double>(out var d) => d,
                        JsonValue v when v.TryGetValue<string>(out var t) && double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => d,
                        _ => null,
                    };
                    reasoning = o["reasoning"] is JsonValue r && r.TryGetValue<string>(out var text) ? text : null;
                }
            }
            catch (JsonException)
            {
                // Not JSON after all: try the plain form below.
            }
        }
        if (score is null && ScoreLine().Match(content) is { Success: true } line)
        {
            score = double.Parse(line.Groups[1].Value, CultureInfo.InvariantCulture);
        }
        if (score is not { } s || !double.IsFinite(s))
        {
            return new JudgeVerdict(null, null, $"the judge's answer has no score: {Clip(content)}");
        }
        if (s < min || s > max)
        {
            return new JudgeVerdict(null, reasoning, $"the judge's score {s.ToString(CultureInfo.InvariantCulture)} is outside the scale {min}–{max}");
        }
        return new JudgeVerdict(s, reasoning ?? Clip(content), null);
    }

    private static string Clip(string text) => text.Length <= 300 ? text : text[..300] + "…";
}
