using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using ModelGate.Client;

namespace ModelGate.Registry;

/// <summary>
/// The one renderer of a version's prompt template, used by evaluation and by the gateway alike, so that what is evaluated
/// is what is served: the system prompt and the user template with their <c>{{variables}}</c> filled in, written as the
/// leading chat messages (<c>{"role":"system",…},{"role":"user",…}</c>, UTF-8 JSON, comma-separated, without brackets).
/// The variables a template takes are those it declares and every placeholder in its texts; each must be given.
/// </summary>
public sealed partial class PromptRenderer
{
    private readonly PromptTemplate _template;
    private readonly byte[]? _fixed;

    private PromptRenderer(PromptTemplate template)
    {
        _template = template;
        var names = new SortedSet<string>(template.Variables ?? [], StringComparer.Ordinal);
        foreach (var text in new[] { template.System, template.Template })
        {
            if (text is not null)
            {
                foreach (Match m in Placeholder().Matches(text))
                {
                    names.Add(m.Groups[1].Value);
                }
            }
        }
        Variables = names;
        _fixed = names.Count == 0 ? Write(template.System, template.Template, EmptyVariables, null) : null;
        FixedAndComma = _fixed is null ? null : [.. _fixed, (byte)','];
        _fixedAddedBytes = names.Count == 0 ? CountAddedBytes(EmptyVariables) : -1;
    }

    private readonly long _fixedAddedBytes;

    /// <summary>Framing of an added message, as <c>TokenCounter.CountPrompt</c> counts it: 3, its role (≤ 6 bytes), one spare.</summary>
    public const int MessageFraming = 10;

    /// <summary>
    /// The UTF-8 bytes of the rendered messages' texts plus their framing: with the request body's size, an upper bound of the
    /// prompt tokens (a BPE token covers at least a byte). Computed once for a template without variables.
    /// </summary>
    public long AddedBytes(IReadOnlyDictionary<string, string>? variables) => _fixedAddedBytes >= 0 ? _fixedAddedBytes : CountAddedBytes(variables);

    private long CountAddedBytes(IReadOnlyDictionary<string, string>? variables)
    {
        long bytes = 0;
        foreach (var (_, content) in Texts(variables))
        {
            bytes += Encoding.UTF8.GetByteCount(content) + MessageFraming;
        }
        return bytes;
    }

    /// <summary>The renderer of a template that has something to render (a system prompt or a user template); null otherwise.</summary>
    public static PromptRenderer? For(PromptTemplate? template) => PromptArtifact.Describes(template) ? new PromptRenderer(template!) : null;

    /// <summary>Every variable the template takes, in ordinal order.</summary>
    public IReadOnlySet<string> Variables { get; }

    public string? System => _template.System is { Length: > 0 } s ? s : null;

    /// <summary>Whether the template writes the user message itself (it has a user template).</summary>
    public bool WritesUserMessage => _template.Template is { Length: > 0 };

    /// <summary>The messages of a template without variables, rendered once.</summary>
    public byte[]? Fixed => _fixed;

    /// <summary><see cref="Fixed"/> followed by a comma, to go before the client's own messages.</summary>
    public byte[]? FixedAndComma { get; }

    [GeneratedRegex(@"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")]
    private static partial Regex Placeholder();

    private static readonly IReadOnlyDictionary<string, string> EmptyVariables = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>The variables the template takes that <paramref name="given"/> lacks (empty when none).</summary>
    public IReadOnlyList<string> Missing(IReadOnlyDictionary<string, string>? given) =>
        Variables.Where(v => given is null || !given.ContainsKey(v)).ToList();

    /// <summary>
    /// The leading messages for <paramref name="variables"/> (which must hold every one in <see cref="Variables"/>; others are
    /// ignored). <paramref name="user"/>: a user message to write after them when the template has no user template of its own
    /// (evaluation's row prompt); the gateway passes null, the client's own messages following.
    /// </summary>
    public byte[] Messages(IReadOnlyDictionary<string, string>? variables, string? user = null)
    {
        if (_fixed is not null && (user is null || WritesUserMessage))
        {
            return _fixed;
        }
        if (Missing(variables) is { Count: > 0 } missing)
        {
            throw new ArgumentException($"the prompt template needs variable(s) {string.Join(", ", missing)}", nameof(variables));
        }
        return Write(_template.System, _template.Template, variables ?? EmptyVariables, WritesUserMessage ? null : user);
    }

    /// <summary>The rendered texts (role, content), for token counting.</summary>
    public IEnumerable<(string Role, string Content)> Texts(IReadOnlyDictionary<string, string>? variables)
    {
        var given = variables ?? EmptyVariables;
        if (System is { } system)
        {
            yield return ("system", Fill(system, given));
        }
        if (_template.Template is { Length: > 0 } template)
        {
            yield return ("user", Fill(template, given));
        }
    }

    /// <summary>Messages written without a template: an optional system prompt and a user message.</summary>
    public static byte[] Plain(string? system, string user) => Write(system, null, EmptyVariables, user);

    /// <summary><paramref name="text"/> with each <c>{{name}}</c> replaced by its value; a placeholder without a value stays as written.</summary>
    public static string Fill(string text, IReadOnlyDictionary<string, string> variables) =>
        Placeholder().Replace(text, m => variables.TryGetValue(m.Groups[1].Value, out var v) ? v : m.Value);

    private static byte[] Write(string? system, string? template, IReadOnlyDictionary<string, string> variables, string? user)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        var first = true;
        void Message(string role, string content)
        {
            if (!first)
            {
                buffer.Write(","u8);
            }
            first = false;
            using var writer = new Utf8JsonWriter(buffer);
            writer.WriteStartObject();
            writer.WriteString("role"u8, role);
            writer.WriteString("content"u8, content);
            writer.WriteEndObject();
        }
        if (system is { Length: > 0 })
        {
            Message("system", Fill(system, variables));
        }
        if (template is { Length: > 0 })
        {
            Message("user", Fill(template, variables));
        }
        else if (user is not null)
        {
            Message("user", user);
        }
        return buffer.WrittenSpan.ToArray();
    }
}
