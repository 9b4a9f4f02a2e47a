using System.Text.Json;
using System.Text.Json.Nodes;
using ModelGate.Errors;

namespace ModelGate.Gateway;

/// <summary>
/// An OpenAI-compatible request body as the gateway sees it: the raw bytes, validated as one JSON object in a single
/// pass of <see cref="Utf8JsonReader"/>, and where in them the fields the gateway reads or rewrites are (<c>model</c>,
/// <c>stream</c>, <c>stream_options</c>, <c>user</c>, <c>messages</c>, <c>prompt_variables</c>, and for the Responses API
/// <c>input</c>). The body sent upstream is these bytes with those
/// few spans replaced, so every field the gateway does not know passes through byte for byte, and no JSON DOM is built
/// on the hot path (<see cref="Json"/> builds one on demand, for the rare uses that need it).
/// </summary>
public sealed class OpenAiRequest
{
    /// <summary>The longest <c>model</c> taken: a deployment name (64) and <c>@version</c> (128) fit; a longer one is 400 <c>value_too_long</c>.</summary>
    public const int MaxModelLength = 200;

    private readonly byte[] _body;
    private readonly int _length;
    private (int Start, int End) _model;
    private (int Start, int End)? _streamOptions;
    private int? _messagesOpen;
    private bool _messagesEmpty;
    private int _closingBrace;
    private (int Start, int End)? _promptVariables;
    private (int Start, int End, JsonTokenType Type)? _input;
    private bool _inputEmpty;
    private JsonObject? _json;

    private OpenAiRequest(byte[] body, int length, bool responses)
    {
        _body = body;
        _length = length;
        Responses = responses;
    }

    /// <summary>
    /// Whether the body is a Responses API request (<c>POST /v1/responses</c>): the version's prompt goes first in its <c>input</c>,
    /// and a stream gets no <c>stream_options</c> (the Responses API has none; its usage comes in <c>response.completed</c>).
    /// </summary>
    public bool Responses { get; }

    /// <summary>The value of <c>model</c>; null when it is missing or not a string.</summary>
    public string? Model { get; private set; }

    /// <summary>Whether <c>stream</c> is <c>true</c>.</summary>
    public bool Stream { get; private set; }

    /// <summary>The value of <c>user</c> when it is a string.</summary>
    public string? User { get; private set; }

    /// <summary>
    /// <c>prompt_variables</c>: the values of the version's prompt-template variables (an object of strings), taken out of the
    /// body before it is forwarded; null when the body has none.
    /// </summary>
    public IReadOnlyDictionary<string, string>? PromptVariables { get; private set; }

    /// <summary>Whether the body has a <c>messages</c> array.</summary>
    public bool HasMessages => _messagesOpen is not null;

    public ReadOnlySpan<byte> Bytes => _body.AsSpan(0, _length);

    /// <summary>The body as a JSON object, parsed on first use (token counting, payload capture, length sampling).</summary>
    public JsonObject Json => _json ??= (JsonObject)JsonNode.Parse(Bytes)!;

    /// <summary>
    /// Reads the body; a <see cref="JsonException"/> says why it is not one JSON object with at most one of each rewritten
    /// field, a <see cref="ClientInputException"/> which text breaks the rule for client input (<see cref="ClientText"/>:
    /// invalid UTF-8, an escaped NUL, control character or lone surrogate anywhere in the body, which is forwarded as it came)
    /// or that <c>model</c> is not one clean line of at most <see cref="MaxModelLength"/> characters.
    /// </summary>
    public static OpenAiRequest Parse(byte[] body, int length, bool responses = false)
    {
        var request = new OpenAiRequest(body, length, responses);
        if (body.AsSpan(0, length).Trim(" \t\r\n"u8).IsEmpty)
        {
            throw new JsonException("the body is empty; it must be a JSON object");
        }
        if (ClientText.CheckJson(body.AsSpan(0, length)) is { } fault)
        {
            throw new ClientInputException(ProblemCodes.InvalidText, fault.Reason, knownField: FieldOfFault(body.AsSpan(0, length)));
        }
        var reader = new Utf8JsonReader(body.AsSpan(0, length));
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException("the body must be a JSON object");
        }
        var seen = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var field = reader.ValueTextEquals("model"u8) ? Field.Model
                : reader.ValueTextEquals("stream"u8) ? Field.Stream
                : reader.ValueTextEquals("stream_options"u8) ? Field.StreamOptions
                : reader.ValueTextEquals("user"u8) ? Field.User
                : reader.ValueTextEquals("messages"u8) ? Field.Messages
                : reader.ValueTextEquals("prompt_variables"u8) ? Field.PromptVariables
                : responses && reader.ValueTextEquals("input"u8) ? Field.Input
                : Field.Other;
            if (field != Field.Other)
            {
                if ((seen & (int)field) != 0)
                {
                    throw new JsonException($"'{reader.GetString()}' appears more than once");
                }
                seen |= (int)field;
            }
            var nameStart = (int)reader.TokenStartIndex;
            reader.Read();
            var start = (int)reader.TokenStartIndex;
            var type = reader.TokenType;
            switch (field)
            {
                case Field.Model:
                    request.Model = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                    break;
                case Field.Stream:
                    request.Stream = reader.TokenType == JsonTokenType.True;
                    break;
                case Field.User:
                    request.User = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                    break;
                case Field.Messages when reader.TokenType == JsonTokenType.StartArray:
                    request._messagesOpen = (int)reader.BytesConsumed;
                    break;
                case Field.PromptVariables:
                    request.PromptVariables = ReadVariables(ref reader);
                    break;
            }
            reader.Skip();
            var end = (int)reader.BytesConsumed;
            if (field == Field.Model)
            {
                request._model = (start, end);
            }
            else if (field == Field.StreamOptions)
            {
                request._streamOptions = (start, end);
            }
            else if (field == Field.Messages && request._messagesOpen is { } open)
            {
                request._messagesEmpty = body.AsSpan(open, end - 1 - open).Trim(" \t\r\n"u8).IsEmpty;
            }
            else if (field == Field.PromptVariables)
            {
                request._promptVariables = Member(body.AsSpan(0, length), nameStart, end);
            }
            else if (field == Field.Input)
            {
                request._input = (start, end, type);
                request._inputEmpty = type == JsonTokenType.StartArray && body.AsSpan(start + 1, end - 2 - start).Trim(" \t\r\n"u8).IsEmpty;
            }
        }
        if (reader.TokenType != JsonTokenType.EndObject)
        {
            throw new JsonException("the body must be a JSON object");
        }
        request._closingBrace = (int)reader.TokenStartIndex;
        if (reader.Read())
        {
            throw new JsonException("unexpected data after the JSON object");
        }
        if (request.Model is { } model)
        {
            if (ClientText.Check(model, singleLine: true) is { } reason)
            {
                throw new ClientInputException(ProblemCodes.InvalidText, reason, knownField: "model");
            }
            if (model.Length > MaxModelLength)
            {
                throw new ClientInputException(ProblemCodes.ValueTooLong, $"must be at most {MaxModelLength} characters (a deployment, or deployment@version)",
                    knownField: "model");
            }
        }
        return request;
    }

    /// <summary>The longest value of one prompt variable (characters); a longer one is 400 <c>value_too_long</c>.</summary>
    public const int MaxVariableLength = 100_000;

    /// <summary><c>prompt_variables</c>: an object whose members are strings (reader on its first token, left on its last).</summary>
    private static Dictionary<string, string> ReadVariables(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new ClientInputException(ProblemCodes.Validation, "must be an object of strings: {\"name\": \"value\"}", knownField: "prompt_variables");
        }
        var variables = new Dictionary<string, string>(StringComparer.Ordinal);
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = reader.GetString()!;
            reader.Read();
            if (reader.TokenType != JsonTokenType.String)
            {
                throw new ClientInputException(ProblemCodes.Validation, "must be a string", knownField: $"prompt_variables.{ClientText.Echo(name)}");
            }
            var value = reader.GetString()!;
            if (value.Length > MaxVariableLength)
            {
                throw new ClientInputException(ProblemCodes.ValueTooLong, $"must be at most {MaxVariableLength} characters", knownField: $"prompt_variables.{ClientText.Echo(name)}");
            }
            if (!variables.TryAdd(name, value))
            {
                throw new JsonException($"prompt_variables.{ClientText.Echo(name)} appears more than once");
            }
        }
        return variables;
    }

    /// <summary>The span that removes one member (name to value end) of the top-level object with one of the commas around it.</summary>
    private static (int Start, int End) Member(ReadOnlySpan<byte> body, int nameStart, int valueEnd)
    {
        var after = valueEnd;
        while (after < body.Length && body[after] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
        {
            after++;
        }
        if (after < body.Length && body[after] == (byte)',')
        {
            return (nameStart, after + 1);
        }
        var before = nameStart - 1;
        while (before >= 0 && body[before] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
        {
            before--;
        }
        return before >= 0 && body[before] == (byte)',' ? (before, valueEnd) : (nameStart, valueEnd);
    }

    /// <summary>Where in a body the first fault of the text rule is, as a JSON path (<c>messages[0].content</c>); only on the error path.</summary>
    private static string FieldOfFault(ReadOnlySpan<byte> body)
    {
        try
        {
            using var document = JsonDocument.Parse(body.ToArray());
            return ClientJson.Find(document.RootElement, int.MaxValue) is { Path: { Length: > 0 } path } ? path : "body";
        }
        catch (JsonException)
        {
            return "body";
        }
    }

    /// <summary>
    /// The body for <paramref name="route"/>'s upstream: <c>model</c> replaced by the upstream's model name; for a chat or
    /// completion stream, <c>stream_options.include_usage</c> set so that streams are accounted too; <c>prompt_variables</c> taken
    /// out; the version's prompt (<see cref="Registry.PromptRenderer"/>: its system prompt and rendered user template), if any,
    /// put first in <c>messages</c> — on the chat path, a body without <c>messages</c> gets them — or, for the Responses API,
    /// first in <c>input</c> as the same message items (a string input becomes the user item after them). Everything else is
    /// copied as it came. The caller has checked that the route's template has its variables (<see cref="CanRender"/>).
    /// </summary>
    public byte[] UpstreamBody(VersionRoute route, bool chat)
    {
        var upstream = route.Upstream ?? throw new InvalidOperationException($"version {route.Version} has no upstream");
        Span<(int Start, int End, ReadOnlyMemory<byte> With)> edits = new (int, int, ReadOnlyMemory<byte>)[5];
        var count = 0;
        edits[count++] = (_model.Start, _model.End, upstream.EncodedModel);
        if (Stream && !Responses)
        {
            edits[count++] = _streamOptions is { } options
                ? (options.Start, options.End, StreamOptionsWithUsage(_body.AsSpan(options.Start, options.End - options.Start)))
                : (_closingBrace, _closingBrace, IncludeUsageField);
        }
        if (_promptVariables is { } variables)
        {
            edits[count++] = (variables.Start, variables.End, ReadOnlyMemory<byte>.Empty);
        }
        if (route.Prompt is { } prompt)
        {
            var messages = prompt.Messages(PromptVariables);
            if (Responses)
            {
                count = InputEdits(edits, count, messages, prompt.FixedAndComma);
            }
            else if (_messagesOpen is { } open)
            {
                edits[count++] = (open, open, _messagesEmpty ? messages : prompt.FixedAndComma ?? (byte[])[.. messages, (byte)',']);
            }
            else if (chat)
            {
                edits[count++] = (_closingBrace, _closingBrace, (byte[])[.. ""","messages":["""u8, .. messages, (byte)']']);
            }
        }
        edits = edits[..count];
        edits.Sort((x, y) => x.Start != y.Start ? x.Start.CompareTo(y.Start) : x.End.CompareTo(y.End));
        var length = _length;
        foreach (var (start, end, with) in edits)
        {
            length += with.Length - (end - start);
        }
        var output = new byte[length];
        int read = 0, written = 0;
        foreach (var (start, end, with) in edits)
        {
            _body.AsSpan(read, start - read).CopyTo(output.AsSpan(written));
            written += start - read;
            with.Span.CopyTo(output.AsSpan(written));
            written += with.Length;
            read = end;
        }
        _body.AsSpan(read, _length - read).CopyTo(output.AsSpan(written));
        return output;
    }

    private static readonly byte[] UserItemOpen = """{"role":"user","content":"""u8.ToArray();
    private static readonly byte[] UserItemClose = "}]"u8.ToArray();

    /// <summary>
    /// The edits that put the rendered <paramref name="messages"/> first in a Responses API <c>input</c>: into its list; before a
    /// string, which becomes the user item after them; as the whole list when there is none (or it is null).
    /// </summary>
    private int InputEdits(Span<(int Start, int End, ReadOnlyMemory<byte> With)> edits, int count, byte[] messages, byte[]? messagesAndComma)
    {
        switch (_input)
        {
            case { Type: JsonTokenType.StartArray } list:
                edits[count++] = (list.Start + 1, list.Start + 1, _inputEmpty ? messages : messagesAndComma ?? [.. messages, (byte)',']);
                break;
            case { Type: JsonTokenType.String } text:
                edits[count++] = (text.Start, text.Start, (byte[])[(byte)'[', .. messagesAndComma ?? [.. messages, (byte)','], .. UserItemOpen]);
                edits[count++] = (text.End, text.End, UserItemClose);
                break;
            case { } other:
                edits[count++] = (other.Start, other.End, (byte[])[(byte)'[', .. messages, (byte)']']);
                break;
            default:
                edits[count++] = (_closingBrace, _closingBrace, (byte[])[.. ""","input":["""u8, .. messages, (byte)']']);
                break;
        }
        return count;
    }

    /// <summary>Whether <paramref name="route"/>'s prompt template has every variable it takes in <see cref="PromptVariables"/>.</summary>
    public bool CanRender(VersionRoute route) =>
        route.Prompt is not { Variables.Count: > 0 } prompt || prompt.Variables.All(v => PromptVariables?.ContainsKey(v) == true);

    private static readonly ReadOnlyMemory<byte> IncludeUsageField = ""","stream_options":{"include_usage":true}"""u8.ToArray();

    private static byte[] StreamOptionsWithUsage(ReadOnlySpan<byte> value)
    {
        var options = JsonNode.Parse(value) as JsonObject ?? new JsonObject();
        options["include_usage"] = true;
        return JsonSerializer.SerializeToUtf8Bytes(options);
    }

    [Flags]
    private enum Field
    {
        Other = 0,
        Model = 1,
        Stream = 2,
        StreamOptions = 4,
        User = 8,
        Messages = 16,
        PromptVariables = 32,
        Input = 64,
    }
}
