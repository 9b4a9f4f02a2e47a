namespace ModelGate.Evaluation.Metrics;

/// <summary>
/// Exact-match and containment of short answers after ROUGE normalisation (<see cref="RougeTokenizer"/> without
/// stemming): lower-cased, every run of characters outside [a-z0-9] treated as one space, leading and trailing
/// separators ignored. So "The Eiffel-Tower!" equals "the eiffel tower", while "naïve" does not equal "naive" (the ï
/// is a separator, giving "na ve"). Comparison is token by token, so containment respects word boundaries.
/// </summary>
public static class TextMatch
{
    /// <summary>Both texts normalise to the same token sequence (two texts with no tokens at all match).</summary>
    public static bool ExactMatch(string target, string prediction)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(prediction);
        return RougeTokenizer.Tokenize(target).SequenceEqual(RougeTokenizer.Tokenize(prediction), StringComparer.Ordinal);
    }

    /// <summary>
    /// The target's tokens occur as a contiguous run of the prediction's tokens: "Paris" is in "It is Paris, France"
    /// but not in "Parisian". A target with no tokens is contained only in a prediction with none, so an empty
    /// reference cannot be satisfied by every answer.
    /// </summary>
    public static bool Contains(string target, string prediction)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(prediction);
        var needle = RougeTokenizer.Tokenize(target);
        var haystack = RougeTokenizer.Tokenize(prediction);
        if (needle.Count == 0) return haystack.Count == 0;
        for (var start = 0; start + needle.Count <= haystack.Count; start++)
        {
            var i = 0;
            while (i < needle.Count && string.Equals(haystack[start + i], needle[i], StringComparison.Ordinal)) i++;
            if (i == needle.Count) return true;
        }
        return false;
    }
}
