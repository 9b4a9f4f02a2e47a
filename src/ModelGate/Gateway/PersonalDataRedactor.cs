using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace ModelGate.Gateway;

/// <summary>
/// Removes personal data from payloads before they are stored: e-mail addresses, payment card numbers (13–19 digits
/// passing the Luhn check), IBANs, US social security numbers, IPv6 and IPv4 addresses and phone numbers. It works on
/// whole texts: each string of a request or response as it was before JSON escaping, and for a stream the text its
/// chunks add up to, so that no datum escapes by being split or escaped.
/// </summary>
public static partial class PersonalDataRedactor
{
    [GeneratedRegex(@"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}", RegexOptions.CultureInvariant)]
    private static partial Regex Email();

    [GeneratedRegex(@"(?<!\d)(?:\d[ \-]?){12,18}\d(?!\d)", RegexOptions.CultureInvariant)]
    private static partial Regex CardCandidate();

    [GeneratedRegex(@"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b", RegexOptions.CultureInvariant)]
    private static partial Regex Iban();

    [GeneratedRegex(@"\b\d{3}-\d{2}-\d{4}\b", RegexOptions.CultureInvariant)]
    private static partial Regex Ssn();

    /// <summary>Anything shaped like an IPv6 address (full, compressed with <c>::</c>, or ending in an IPv4 address); parsed to confirm.</summary>
    [GeneratedRegex(@"(?<![0-9A-Za-z:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}|[0-9A-Fa-f]{0,4})(?:%[0-9A-Za-z]+)?(?![0-9A-Za-z:])",
        RegexOptions.CultureInvariant)]
    private static partial Regex IPv6Candidate();

    [GeneratedRegex(@"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b", RegexOptions.CultureInvariant)]
    private static partial Regex IPv4();

    [GeneratedRegex(@"(?<![\w])(?:\+\d{1,3}[ .\-]?)?(?:\(\d{1,4}\)[ .\-]?)?\d{2,4}(?:[ .\-]?\d{2,4}){2,4}(?![\w])", RegexOptions.CultureInvariant)]
    private static partial Regex Phone();

    public static string Redact(string text)
    {
        text = Email().Replace(text, "[EMAIL]");
        text = IPv6Candidate().Replace(text, m => IsIPv6(m.Value) ? "[IP]" : m.Value);
        text = CardCandidate().Replace(text, m => Luhn(m.Value) ? "[CARD]" : m.Value);
        text = Iban().Replace(text, "[IBAN]");
        text = Ssn().Replace(text, "[SSN]");
        text = IPv4().Replace(text, "[IP]");
        text = Phone().Replace(text, m => m.Value.Count(char.IsAsciiDigit) >= 9 ? "[PHONE]" : m.Value);
        return text;
    }

    /// <summary>
    /// What is stored of a sampled exchange: the request with each of its strings (and numbers) redacted, and the response —
    /// a plain one the same way, a stream as the text its chunks add up to (<paramref name="completion"/>, when the caller
    /// has it already), redacted as a whole. The stream's chunks themselves are not kept: a datum split across them would
    /// be in none of them whole.
    /// </summary>
    public static string Payload(JsonObject request, CaptureBuffer? response, string? completion = null)
    {
        JsonNode? answer = null;
        if (response is not null)
        {
            if (response.Streamed)
            {
                answer = new JsonObject
                {
                    ["stream"] = true,
                    ["content"] = Redact(completion ?? ChatText.Completion(response.Text(), streamed: true)),
                };
            }
            else
            {
                var text = response.Text();
                JsonNode? parsed = null;
                try
                {
                    parsed = JsonNode.Parse(text);
                }
                catch (JsonException)
                {
                }
                answer = parsed is null ? Redact(text) : RedactStrings(parsed);
            }
        }
        return new JsonObject { ["request"] = RedactStrings(request), ["response"] = answer }.ToJsonString();
    }

    /// <summary>A copy of <paramref name="node"/> with every string and number redacted (a number that held a datum becomes a string).</summary>
    public static JsonNode? RedactStrings(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                var copy = new JsonObject();
                foreach (var (name, value) in o)
                {
                    copy[name] = RedactStrings(value);
                }
                return copy;
            case JsonArray a:
                var items = new JsonArray();
                foreach (var item in a)
                {
                    items.Add(RedactStrings(item));
                }
                return items;
            case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                return JsonValue.Create(Redact(v.GetValue<string>()));
            case JsonValue v when v.GetValueKind() == JsonValueKind.Number:
                var raw = v.ToJsonString();
                var redacted = Redact(raw);
                return ReferenceEquals(raw, redacted) || raw == redacted ? v.DeepClone() : JsonValue.Create(redacted);
            default:
                return node?.DeepClone();
        }
    }

    private static bool IsIPv6(string candidate) =>
        candidate.Any(char.IsAsciiHexDigit) && IPAddress.TryParse(candidate, out var address) && address.AddressFamily == AddressFamily.InterNetworkV6;

    private static bool Luhn(string candidate)
    {
        var digits = candidate.Where(char.IsAsciiDigit).Select(c => c - '0').ToArray();
        if (digits.Length is < 13 or > 19)
        {
            return false;
        }
        var sum = 0;
        for (var i = 0; i < digits.Length; i++)
        {
            var d = digits[digits.Length - 1 - i];
            if (i % 2 == 1)
            {
                d *= 2;
                if (d > 9)
                {
                    d -= 9;
                }
            }
            sum += d;
        }
        return sum % 10 == 0;
    }
}
