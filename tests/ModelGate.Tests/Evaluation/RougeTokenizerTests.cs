using ModelGate.Evaluation.Metrics;

namespace ModelGate.Tests.Evaluation;

/// <summary>
/// rouge-score's tokenize(): text.lower(), re.sub(r"[^a-z0-9]+", " ", …), re.split(r"\s+", …), stem tokens longer
/// than 3 characters, keep tokens matching ^[a-z0-9]+$. Expected tokens below follow from those Python semantics.
/// </summary>
public sealed class RougeTokenizerTests
{
    [Theory]
    // tokenize_test.py (google-research rouge): both give ['one', 'two', 'three'].
    [InlineData("one Two three", new[] { "one", "two", "three" })]
    [InlineData("one\n Two \nthree", new[] { "one", "two", "three" })]
    // Punctuation runs become one separator; an apostrophe splits the word.
    [InlineData("Hello, world!!! It's", new[] { "hello", "world", "it", "s" })]
    [InlineData("  --leading and trailing--  ", new[] { "leading", "and", "trailing" })]
    // Digits are kept; a hyphen splits.
    [InlineData("COVID-19 in 2020", new[] { "covid", "19", "in", "2020" })]
    // Underscore is not in [a-z0-9].
    [InlineData("snake_case\tTAB", new[] { "snake", "case", "tab" })]
    // Non-ASCII letters are separators after lower-casing: "café" -> "caf ", "naïve" -> "na ve".
    [InlineData("Café naïve", new[] { "caf", "na", "ve" })]
    // Full-width and non-Latin letters are dropped entirely.
    [InlineData("ＡＢＣ ελληνικά 東京", new string[0])]
    [InlineData("", new string[0])]
    [InlineData(" \n\t ", new string[0])]
    public void Tokenize_WithoutStemmer_MatchesRougeScore(string text, string[] expected)
    {
        Assert.Equal(expected, RougeTokenizer.Tokenize(text));
    }

    [Fact]
    public void Tokenize_KelvinSign_LowerCasesToAsciiK()
    {
        // Python: "\u212a".lower() == "k" (UnicodeData simple lowercase mapping of KELVIN SIGN is U+006B).
        Assert.Equal(["kelvin"], RougeTokenizer.Tokenize("\u212Aelvin"));
    }

    [Fact]
    public void Tokenize_CapitalIWithDotAbove_SplitsAfterTheI()
    {
        // Python: "İ".lower() == "i\u0307" (SpecialCasing.txt full mapping), and U+0307 is outside [a-z0-9],
        // so "İstanbul" tokenizes as ["i", "stanbul"].
        Assert.Equal(["i", "stanbul"], RougeTokenizer.Tokenize("İstanbul"));
    }

    [Fact]
    public void Tokenize_WithStemmer_StemsOnlyTokensLongerThanThree()
    {
        // "was" (3 letters) is left alone although Porter would give "wa"; "cats" -> "cat", "running" -> "run".
        Assert.Equal(["the", "cat", "was", "run"], RougeTokenizer.Tokenize("The cats was running", useStemmer: true));
    }
}
