using System.Text.RegularExpressions;

namespace ModelGate.Gateway;

/// <summary>
/// Removes personal data from payloads before they are stored: e-mail addresses, payment card numbers (13–19 digits
/// passing the Luhn check), IBANs, US social security numbers, IPv4 addresses and phone numbers.
/// </summary>
public static partial class PersonalDataRedactor
{
    [GeneratedRegex(@"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}", RegexOptions.CultureInvariant)]
    private static partial Regex Email();

    [GeneratedRegex(@"(?<!\d)(?:\d[ \-]?){12,18}\d(?!\d)", RegexOptions.CultureInvariant)]
    private static partial Regex CardCandidate();

    [GeneratedRegex(@"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b", RegexOptions.CultureInvariant)]
    private static partial Regex Iban();

    [GeneratedRegex(@"\b\d{3}-\d{2}-\d{4}\b", RegexOptions.CultureInvariant)]
    private static partial Regex Ssn();

    [GeneratedRegex(@"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b", RegexOptions.CultureInvariant)]
    private static partial Regex IPv4();

    [GeneratedRegex(@"(?<![\w])(?:\+\d{1,3}[ .\-]?)?(?:\(\d{1,4}\)[ .\-]?)?\d{2,4}(?:[ .\-]?\d{2,4}){2,4}(?![\w])", RegexOptions.CultureInvariant)]
    private static partial Regex Phone();

    public static string Redact(string text)
    {
        text = Email().Replace(text, "[EMAIL]");
        text = CardCandidate().Replace(text, m => Luhn(m.Value) ? "[CARD]" : m.Value);
        text = Iban().Replace(text, "[IBAN]");
        text = Ssn().Replace(text, "[SSN]");
        text = IPv4().Replace(text, "[IP]");
        text = Phone().Replace(text, m => m.Value.Count(char.IsAsciiDigit) >= 9 ? "[PHONE]" : m.Value);
        return text;
    }

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
