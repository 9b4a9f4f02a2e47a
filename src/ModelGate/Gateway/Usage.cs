using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML.Tokenizers;

namespace ModelGate.Gateway;

/// <summary>
/// Keeps what accounting needs of a response while it streams to the client: the whole body up to 1 MiB; past that, a
/// plain response keeps its first MiB and a stream its last 64 KiB (where the usage chunk comes last).
/// </summary>
public sealed class CaptureBuffer(bool streamed)
{
    private const int Limit = 1 << 20;
    private const int StreamTail = 64 << 10;
    private readonly MemoryStream _bytes = new();

    public bool Streamed { get; } = streamed;

    /// <summary>Whether part of the body was not kept (token counts from it are then a lower bound).</summary>
    public bool Truncated { get; private set; }

    public void Append(ReadOnlySpan<byte> chunk)
    {
        if (_bytes.Length + chunk.Length <= Limit)
        {
            _bytes.Write(chunk);
            return;
        }
        Truncated = true;
        if (!Streamed)
        {
            return;
        }
        _bytes.Write(chunk);
        if (_bytes.Length > Limit)
        {
            var tail = _bytes.ToArray().AsSpan((int)_bytes.Length - StreamTail);
            _bytes.SetLength(0);
            _bytes.Write(tail);
        }
    }

    public string Text() => Encoding.UTF8.GetString(_bytes.GetBuffer(), 0, (int)_bytes.Length);

    public ReadOnlyMemory<byte> Bytes => _bytes.GetBuffer().AsMemory(0, (int)_bytes.Length);
}

public static class UsageSources
{
    public const string Upstream = "upstream";
    public const string Tokenizer = "tokenizer";
}

/// <summary>
/// Reads OpenAI <c>usage</c> (prompt and completion tokens) from a response body or the last usage event of a stream: chat's
/// <c>prompt_tokens</c>/<c>completion_tokens</c>, or the Responses API's <c>input_tokens</c>/<c>output_tokens</c> (in a stream, the
/// <c>response</c> of its <c>response.completed</c> event).
/// </summary>
public static class Usage
{
    /// <summary>From the captured response: a plain body is parsed as it is (UTF-8), a stream's text is searched for its last usage event.</summary>
    public static (long? Prompt, long? Completion) Read(CaptureBuffer captured) =>
        captured.Streamed ? Read(captured.Text(), streamed: true) : Parse(captured.Bytes);

    public static (long? Prompt, long? Completion) Read(string body, bool streamed)
    {
        if (!streamed)
        {
            return Parse(body);
        }
        foreach (var line in body.Split('\n').Reverse())
        {
            var data = line.Trim();
            if (data.StartsWith("data:", StringComparison.Ordinal) && data.Contains("\"usage\"", StringComparison.Ordinal))
            {
                var parsed = Parse(data[5..].Trim());
                if (parsed.Prompt is not null)
                {
                    return parsed;
                }
            }
        }
        return (null, null);
    }

    private static (long? Prompt, long? Completion) Parse(string json) => Parse(Encoding.UTF8.GetBytes(json));

    private static (long? Prompt, long? Completion) Parse(ReadOnlyMemory<byte> json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Object && (UsageOf(root) ?? (root.TryGetProperty("response", out var response) ? UsageOf(response) : null)) is { } usage)
            {
                long? Get(string name) => usage.TryGetProperty(name, out var v) && v.TryGetInt64(out var n) ? n : null;
                var prompt = Get("prompt_tokens") ?? Get("input_tokens");
                var completion = Get("completion_tokens") ?? Get("output_tokens") ?? (prompt is not null && Get("total_tokens") is { } total ? total - prompt : null);
                return (prompt, completion);
            }
        }
        catch (JsonException)
        {
        }
        return (null, null);
    }

    private static JsonElement? UsageOf(JsonElement holder) =>
        holder.ValueKind == JsonValueKind.Object && holder.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object ? usage : null;
}

/// <summary>
/// Counts tokens when the upstream reports none, with the o200k_base BPE (the GPT-4o family's tokenizer). For other
/// model families it is an estimate, recorded as such (<c>usage_source = tokenizer</c>). Chat messages are counted as
/// OpenAI's cookbook does: 3 tokens of framing per message, its role and content (and name, plus one), and 3 that prime
/// the reply.
/// </summary>
public static class TokenCounter
{
    private static readonly Lazy<Tokenizer> Bpe = new(() => TiktokenTokenizer.CreateForEncoding("o200k_base"));

    public static int Count(string text) => text.Length == 0 ? 0 : Bpe.Value.CountTokens(text);

    /// <summary>
    /// Prompt tokens of an OpenAI request body as the upstream receives it: chat messages (with the system prompt the gateway
    /// puts first, if any), a completion prompt or embedding input, or a Responses API request (<paramref name="responses"/>).
    /// </summary>
    public static long CountPrompt(JsonObject body, IEnumerable<(string Role, string Content)>? leading = null, bool responses = false)
    {
        var added = leading?.ToList() ?? [];
        if (responses)
        {
            return CountResponsesPrompt(body, added);
        }
        if (body["messages"] is JsonArray messages || added.Count > 0)
        {
            long total = 3;
            foreach (var (role, content) in added)
            {
                total += 3 + Count(role) + Count(content);
            }
            foreach (var message in (body["messages"] as JsonArray ?? []).OfType<JsonObject>())
            {
                total += 3 + Count(ChatText.Content(message["content"]));
                if (message["role"] is JsonValue role && role.TryGetValue<string>(out var r))
                {
                    total += Count(r);
                }
                if (message["name"] is JsonValue name && name.TryGetValue<string>(out var n))
                {
                    total += 1 + Count(n);
                }
            }
            return total;
        }
        return ChatText.Strings(body["prompt"] ?? body["input"]).Sum(s => (long)Count(s));
    }

    /// <summary>
    /// A Responses API prompt counted as the chat messages it amounts to: <c>instructions</c> a system message, a string
    /// <c>input</c> a user message, each input item a message (a tool call or its output by its texts).
    /// </summary>
    private static long CountResponsesPrompt(JsonObject body, List<(string Role, string Content)> added)
    {
        long total = 3;
        foreach (var (role, content) in added)
        {
            total += 3 + Count(role) + Count(content);
        }
        if (body["instructions"] is JsonValue instructions && instructions.TryGetValue<string>(out var system))
        {
            total += 3 + Count("system") + Count(system);
        }
        if (body["input"] is JsonValue input && input.TryGetValue<string>(out var user))
        {
            total += 3 + Count("user") + Count(user);
        }
        foreach (var item in (body["input"] as JsonArray ?? []).OfType<JsonObject>())
        {
            total += 3 + Count(ChatText.Content(item["content"]));
            foreach (var text in new[] { "role", "name", "arguments", "output" })
            {
                if (item[text] is JsonValue value && value.TryGetValue<string>(out var t))
                {
                    total += Count(t);
                }
            }
        }
        return total;
    }
}

/// <summary>The text of OpenAI requests and responses, for token counting and input sampling.</summary>
public static class ChatText
{
    /// <summary>The characters of a request's prompt (messages, prompt or input: strings, or the Responses API's items).</summary>
    public static long PromptLength(JsonObject body) => (body["messages"] ?? body["input"]) is JsonArray messages && messages.Any(m => m is JsonObject)
        ? messages.OfType<JsonObject>().Sum(m => (long)Content(m["content"]).Length)
        : Strings(body["prompt"] ?? body["input"]).Sum(s => (long)s.Length);

    /// <summary>A message's content: a string, or the text parts of a content array.</summary>
    public static string Content(JsonNode? content) => content switch
    {
        JsonValue v when v.TryGetValue<string>(out var text) => text,
        JsonArray parts => string.Concat(parts.OfType<JsonObject>().Select(p => p["text"] is JsonValue t && t.TryGetValue<string>(out var x) ? x : "")),
        _ => "",
    };

    public static IEnumerable<string> Strings(JsonNode? node) => node switch
    {
        JsonValue v when v.TryGetValue<string>(out var text) => [text],
        JsonArray a => a.OfType<JsonValue>().Select(x => x.TryGetValue<string>(out var t) ? t : null).OfType<string>(),
        _ => [],
    };

    /// <summary>
    /// The generated text of a response: choices' message content or text (the Responses API: its output's text and function
    /// calls), or for a stream the concatenated deltas (the Responses API: its text, refusal and call-argument delta events).
    /// </summary>
    public static string Completion(string body, bool streamed)
    {
        var text = new StringBuilder();
        if (!streamed)
        {
            Append(body, text, delta: false);
            return text.ToString();
        }
        foreach (var line in body.Split('\n'))
        {
            var data = line.Trim();
            if (data.StartsWith("data:", StringComparison.Ordinal) && data.Length > 5 && !data.EndsWith("[DONE]", StringComparison.Ordinal))
            {
                Append(data[5..].Trim(), text, delta: true);
            }
        }
        return text.ToString();
    }

    private static void Append(string json, StringBuilder into, bool delta)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                return;
            }
            if (!doc.RootElement.TryGetProperty("choices", out var choices) || choices.ValueKind != JsonValueKind.Array)
            {
                if (delta)
                {
                    AppendResponsesEvent(doc.RootElement, into);
                }
                else if (doc.RootElement.TryGetProperty("output", out var output) && output.ValueKind == JsonValueKind.Array)
                {
                    foreach (var item in output.EnumerateArray())
                    {
                        AppendResponsesItem(item, into);
                    }
                }
                return;
            }
            foreach (var choice in choices.EnumerateArray())
            {
                if (choice.ValueKind != JsonValueKind.Object)
                {
                    continue;
                }
                if (choice.TryGetProperty(delta ? "delta" : "message", out var message) && message.ValueKind == JsonValueKind.Object)
                {
                    if (message.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String)
                    {
                        into.Append(content.GetString());
                    }
                    // A tool call's name and arguments are generated tokens too (a stream sends them in pieces).
                    if (message.TryGetProperty("tool_calls", out var calls) && calls.ValueKind == JsonValueKind.Array)
                    {
                        foreach (var call in calls.EnumerateArray())
                        {
                            if (call.ValueKind == JsonValueKind.Object && call.TryGetProperty("function", out var function) && function.ValueKind == JsonValueKind.Object)
                            {
                                foreach (var part in new[] { "name", "arguments" })
                                {
                                    if (function.TryGetProperty(part, out var value) && value.ValueKind == JsonValueKind.String)
                                    {
                                        into.Append(value.GetString());
                                    }
                                }
                            }
                        }
                    }
                }
                else if (choice.TryGetProperty("text", out var text) && text.ValueKind == JsonValueKind.String)
                {
                    into.Append(text.GetString());
                }
            }
        }
        catch (JsonException)
        {
        }
    }

    /// <summary>A Responses API output item's generated text: a message's text (or refusal) parts, a function call's name and arguments.</summary>
    private static void AppendResponsesItem(JsonElement item, StringBuilder into)
    {
        if (item.ValueKind != JsonValueKind.Object || !item.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
        {
            return;
        }
        if (type.ValueEquals("message") && item.TryGetProperty("content", out var parts) && parts.ValueKind == JsonValueKind.Array)
        {
            foreach (var part in parts.EnumerateArray())
            {
                if (part.ValueKind == JsonValueKind.Object && (String(part, "text") ?? String(part, "refusal")) is { } text)
                {
                    into.Append(text);
                }
            }
        }
        else if (type.ValueEquals("function_call"))
        {
            into.Append(String(item, "name")).Append(String(item, "arguments"));
        }
    }

    /// <summary>
    /// A Responses API stream event's generated text: the deltas of text, refusals and call arguments, and a function call's
    /// name when its item is added (its arguments follow as deltas).
    /// </summary>
    private static void AppendResponsesEvent(JsonElement e, StringBuilder into)
    {
        if (!e.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
        {
            return;
        }
        if (type.ValueEquals("response.output_text.delta") || type.ValueEquals("response.refusal.delta") || type.ValueEquals("response.function_call_arguments.delta"))
        {
            into.Append(String(e, "delta"));
        }
        else if (type.ValueEquals("response.output_item.added") && e.TryGetProperty("item", out var item) && item.ValueKind == JsonValueKind.Object
            && item.TryGetProperty("type", out var itemType) && itemType.ValueKind == JsonValueKind.String && itemType.ValueEquals("function_call"))
        {
            into.Append(String(item, "name"));
        }
    }

    private static string? String(JsonElement holder, string name) =>
        holder.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
