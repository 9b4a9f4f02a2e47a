using System.Text;
using System.Text.Json;

namespace ModelGate.Gateway;

/// <summary>
/// Keeps what accounting needs of a response while it streams to the client: the whole body up to 1 MiB for a plain
/// response, the last 64 KiB for a stream (where the usage chunk comes last).
/// </summary>
public sealed class CaptureBuffer(bool streamed)
{
    private const int PlainLimit = 1 << 20;
    private const int StreamTail = 64 << 10;
    private readonly MemoryStream _bytes = new();

    public bool Streamed { get; } = streamed;

    public void Append(ReadOnlySpan<byte> chunk)
    {
        if (!Streamed)
        {
            if (_bytes.Length + chunk.Length <= PlainLimit)
            {
                _bytes.Write(chunk);
            }
            return;
        }
        _bytes.Write(chunk);
        if (_bytes.Length > 2 * StreamTail)
        {
            var tail = _bytes.ToArray().AsSpan((int)_bytes.Length - StreamTail);
            _bytes.SetLength(0);
            _bytes.Write(tail);
        }
    }

    public string Text() => Encoding.UTF8.GetString(_bytes.GetBuffer(), 0, (int)_bytes.Length);
}

/// <summary>Reads OpenAI <c>usage</c> (prompt and completion tokens) from a response body or the last usage event of a stream.</summary>
public static class Usage
{
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

    private static (long? Prompt, long? Completion) Parse(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
            {
                long? Get(string name) => usage.TryGetProperty(name, out var v) && v.TryGetInt64(out var n) ? n : null;
                var prompt = Get("prompt_tokens");
                var completion = Get("completion_tokens") ?? (prompt is not null && Get("total_tokens") is { } total ? total - prompt : null);
                return (prompt, completion);
            }
        }
        catch (JsonException)
        {
        }
        return (null, null);
    }
}
