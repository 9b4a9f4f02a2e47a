using System.Buffers;
using System.Buffers.Text;
using System.Text.Unicode;

namespace ModelGate.Errors;

/// <summary>
/// The one rule for text a client sends (JSON strings and property names, names in paths and queries, the OpenAI and
/// OIP bodies): no NUL, no other C0 control character except tab, line feed and carriage return, no lone surrogate,
/// and valid UTF-8. PostgreSQL refuses NUL in <c>text</c> (so one such value failed a whole request-log batch), SQLite
/// stores it as is; a lone surrogate cannot be encoded at all. And the bounds on what of a client's text is kept:
/// echoed in an error message (<see cref="MaxEchoLength"/>) (a request-log record cuts each client-chosen string to its column's length).
/// </summary>
public static class ClientText
{
    /// <summary>At most this many characters of a client's input are echoed in an error message; longer input ends in "…".</summary>
    public const int MaxEchoLength = 128;

    private static readonly SearchValues<char> Controls = SearchValues.Create(
        "\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u0008\u000B\u000C\u000E\u000F\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001A\u001B\u001C\u001D\u001E\u001F");

    /// <summary>Null when <paramref name="text"/> is clean; otherwise why it is not. <paramref name="singleLine"/> refuses tab, LF and CR too.</summary>
    public static string? Check(ReadOnlySpan<char> text, bool singleLine = false)
    {
        var control = text.IndexOfAny(Controls);
        if (singleLine && text.IndexOfAny('\t', '\n', '\r') is var whitespace and >= 0 && (control < 0 || whitespace < control))
        {
            control = whitespace;
        }
        if (control >= 0)
        {
            return ControlMessage(text[control]);
        }
        var i = text.IndexOfAnyInRange('\uD800', '\uDFFF');
        while (i >= 0)
        {
            if (!char.IsHighSurrogate(text[i]) || i + 1 >= text.Length || !char.IsLowSurrogate(text[i + 1]))
            {
                return LoneSurrogateMessage(text[i]);
            }
            i += 2;
            var next = text[i..].IndexOfAnyInRange('\uD800', '\uDFFF');
            i = next < 0 ? -1 : i + next;
        }
        return null;
    }

    /// <summary>
    /// Checks the text of a JSON document as it came (UTF-8 bytes, already or later checked to be well-formed JSON): valid
    /// UTF-8, and no <c>\u</c> escape that stands for a control character (other than tab, LF, CR) or a lone surrogate.
    /// Raw control characters cannot occur inside a well-formed JSON string. Vectorised scans only, no allocation: this
    /// runs on every data-plane request.
    /// </summary>
    /// <returns>Null when clean; otherwise the offset of the first fault and why.</returns>
    public static (int Offset, string Reason)? CheckJson(ReadOnlySpan<byte> json)
    {
        if (!Utf8.IsValid(json))
        {
            Utf8.ToUtf16(json, new char[json.Length], out var read, out _, replaceInvalidSequences: false);
            return (read, InvalidUtf8Message);
        }
        var i = 0;
        while (i < json.Length)
        {
            var k = json[i..].IndexOf((byte)'\\');
            if (k < 0)
            {
                break;
            }
            i += k;
            if (i + 1 >= json.Length)
            {
                break;
            }
            var escaped = json[i + 1];
            if (escaped is (byte)'b' or (byte)'f')
            {
                return (i, ControlMessage(escaped == (byte)'b' ? '\b' : '\f'));
            }
            if (escaped != (byte)'u')
            {
                i += 2; // \" \\ \/ \n \r \t
                continue;
            }
            if (!TryHex4(json, i + 2, out var c))
            {
                i += 2;
                continue;
            }
            if (c < 0x20 && c is not ('\t' or '\n' or '\r'))
            {
                return (i, ControlMessage((char)c));
            }
            if (c is >= 0xD800 and <= 0xDBFF)
            {
                if (i + 12 <= json.Length && json[i + 6] == (byte)'\\' && json[i + 7] == (byte)'u' && TryHex4(json, i + 8, out var low)
                    && low is >= 0xDC00 and <= 0xDFFF)
                {
                    i += 12;
                    continue;
                }
                return (i, LoneSurrogateMessage((char)c));
            }
            if (c is >= 0xDC00 and <= 0xDFFF)
            {
                return (i, LoneSurrogateMessage((char)c));
            }
            i += 6;
        }
        return null;
    }

    /// <summary><paramref name="text"/> as an error message may quote it: at most <see cref="MaxEchoLength"/> characters.</summary>
    public static string Echo(string? text) => Bound(text, MaxEchoLength) ?? "";

    /// <summary><paramref name="text"/> cut to <paramref name="max"/> characters (the last one an ellipsis) when it is longer.</summary>
    public static string? Bound(string? text, int max)
    {
        if (text is null || text.Length <= max)
        {
            return text;
        }
        var keep = max - 1;
        if (char.IsHighSurrogate(text[keep - 1]))
        {
            keep--; // never split a surrogate pair
        }
        return string.Concat(text.AsSpan(0, keep), "…");
    }

    public const string InvalidUtf8Message = "must be valid UTF-8";

    private static string ControlMessage(char c) =>
        c == '\0' ? "must not contain NUL (U+0000)" : $"must not contain the control character U+{(int)c:X4}";

    private static string LoneSurrogateMessage(char c) => $"must not contain a lone surrogate (U+{(int)c:X4})";

    private static bool TryHex4(ReadOnlySpan<byte> json, int start, out int value)
    {
        value = 0;
        if (start + 4 > json.Length || !Utf8Parser.TryParse(json.Slice(start, 4), out ushort parsed, out var consumed, 'X') || consumed != 4)
        {
            return false;
        }
        value = parsed;
        return true;
    }
}
