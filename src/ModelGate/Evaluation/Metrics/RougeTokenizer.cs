using System.Buffers;

namespace ModelGate.Evaluation.Metrics;

/// <summary>
/// The tokenizer of Google's rouge-score (<c>rouge/tokenize.py</c>): lower-case with Python's <c>str.lower()</c>,
/// replace every run of characters outside [a-z0-9] with a space, split on whitespace, optionally Porter-stem
/// (<see cref="PorterStemmer"/>) the tokens longer than three characters, drop empty tokens.
/// Non-ASCII letters are therefore separators ("café" gives "caf"), with the two exceptions Python's full case mapping
/// creates: U+212A KELVIN SIGN lower-cases to "k", and U+0130 (İ) to "i" followed by a combining dot, which splits
/// the word after the "i".
/// </summary>
public static class RougeTokenizer
{
    private const char KelvinSign = '\u212A';
    private const char CapitalIWithDotAbove = '\u0130';

    public static IReadOnlyList<string> Tokenize(ReadOnlySpan<char> text, bool useStemmer = false)
    {
        var tokens = new List<string>();
        var buffer = ArrayPool<char>.Shared.Rent(Math.Max(text.Length, 1));
        try
        {
            var length = 0;
            foreach (var ch in text)
            {
                var mapped = ch switch
                {
                    >= 'a' and <= 'z' or >= '0' and <= '9' => ch,
                    >= 'A' and <= 'Z' => (char)(ch + ('a' - 'A')),
                    KelvinSign => 'k',
                    CapitalIWithDotAbove => 'i',
                    _ => '\0',
                };
                if (mapped != '\0') buffer[length++] = mapped;
                if (mapped == '\0' || ch == CapitalIWithDotAbove)
                {
                    Flush(tokens, buffer, length, useStemmer);
                    length = 0;
                }
            }
            Flush(tokens, buffer, length, useStemmer);
            return tokens;
        }
        finally
        {
            ArrayPool<char>.Shared.Return(buffer);
        }
    }

    private static void Flush(List<string> tokens, char[] buffer, int length, bool useStemmer)
    {
        if (length == 0) return;
        var token = new string(buffer, 0, length);
        if (useStemmer && token.Length > 3) token = PorterStemmer.Stem(token);
        if (token.Length > 0) tokens.Add(token);
    }
}
