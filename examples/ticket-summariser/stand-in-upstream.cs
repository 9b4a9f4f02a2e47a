#:sdk Microsoft.NET.Sdk.Web
#:property PublishAot=false
// A stand-in for an LLM server, so that the ticket-summariser walk-through runs on a machine with nothing but the .NET SDK:
// an OpenAI-compatible POST /v1/chat/completions (not streamed) on http://127.0.0.1:5199/v1 (or the URL given as the first
// argument) that summarises a ticket by its first sentence (cut to 15 words when the prompt asks for at most 15), and,
// asked with ModelGate's judge prompt, scores the answer 1–5 by how much of the reference's wording it shares.
// It is deterministic and knows nothing about tickets beyond the text it is sent. Point UPSTREAM_URL at a real server
// (vLLM, Ollama, llama.cpp, a hosted API) to use a real model instead.
//
//     dotnet run examples/ticket-summariser/stand-in-upstream.cs
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

var url = args.Length > 0 ? args[0] : "http://127.0.0.1:5199";
var builder = WebApplication.CreateSlimBuilder();
builder.WebHost.UseUrls(url);
builder.Logging.SetMinimumLevel(LogLevel.Warning);
var app = builder.Build();

app.MapPost("/v1/chat/completions", async (HttpRequest request) =>
{
    var body = (await JsonNode.ParseAsync(request.Body))?.AsObject();
    if (body?["messages"] is not JsonArray messages || messages.Count == 0)
    {
        return Results.Json(new { error = new { message = "messages is required", type = "invalid_request_error" } }, statusCode: 400);
    }
    var system = messages.FirstOrDefault(m => (string?)m?["role"] == "system")?["content"]?.GetValue<string>() ?? "";
    var user = messages.LastOrDefault(m => (string?)m?["role"] == "user")?["content"]?.GetValue<string>() ?? "";
    var answer = system.StartsWith("You are an impartial evaluator", StringComparison.Ordinal) ? Judge(user) : Summarise(user);
    var promptTokens = Words(string.Join(' ', messages.Select(m => m?["content"]?.ToString()))).Length;
    var completionTokens = Words(answer).Length;
    return Results.Json(new
    {
        id = "chatcmpl-" + Guid.NewGuid().ToString("N")[..12],
        @object = "chat.completion",
        created = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
        model = (string?)body["model"] ?? "stand-in",
        choices = new[] { new { index = 0, message = new { role = "assistant", content = answer }, finish_reason = "stop" } },
        usage = new { prompt_tokens = promptTokens, completion_tokens = completionTokens, total_tokens = promptTokens + completionTokens },
    });
});
Console.WriteLine($"stand-in upstream on {url}/v1 (Ctrl+C to stop)");
app.Run();

// The ticket is what follows the template's first blank line; its first sentence is the summary.
static string Summarise(string user)
{
    var blank = user.IndexOf("\n\n", StringComparison.Ordinal);
    var ticket = (blank < 0 ? user : user[(blank + 2)..]).Trim();
    var first = Regex.Match(ticket, @"^.*?[.!?](\s|$)").Value.Trim() is { Length: > 0 } sentence ? sentence : ticket;
    var words = first.Split(' ', StringSplitOptions.RemoveEmptyEntries);
    return user.Contains("at most 15 words", StringComparison.Ordinal) && words.Length > 15 ? string.Join(' ', words[..15]) + "…" : first;
}

// Scores the share of the reference's words that the answer uses, 1 (none) to 5 (all), as ModelGate's judge prompt asks.
static string Judge(string prompt)
{
    static string After(string text, string marker) =>
        text.IndexOf(marker, StringComparison.Ordinal) is var at and >= 0 ? text[(at + marker.Length)..].Split('\n')[0] : "";
    var answer = Words(After(prompt, "The assistant's answer:\n")).ToHashSet();
    var reference = Words(After(prompt, "A human-written reference answer:\n"));
    var shared = reference.Length == 0 ? 0 : reference.Count(answer.Contains) / (double)reference.Length;
    var score = 1 + (int)Math.Round(shared * 4);
    return JsonSerializer.Serialize(new { score, reasoning = $"uses {shared:P0} of the reference's words" });
}

static string[] Words(string text) => Regex.Matches(text.ToLowerInvariant(), "[a-z0-9]+").Select(m => m.Value).ToArray();
