namespace ModelGate.Evaluation.Metrics;

/// <summary>
/// The Porter stemmer as NLTK's <c>PorterStemmer()</c> runs it by default (mode <c>NLTK_EXTENSIONS</c>), because that
/// is the stemmer Google's rouge-score uses: Porter's 1980 algorithm plus the changes Martin Porter later endorsed
/// and NLTK's own (a table of irregular forms; "ies"/"ied" on four-letter words; y → i only after a consonant; the
/// "alli" rule applied first; "fulli" and "logi" in step 2; the two-letter vowel-consonant *o case; words of one or
/// two letters left alone). Rules within a step are tried in NLTK's order and the first rule whose suffix matches
/// ends the step even when its condition fails, as NLTK's <c>_apply_rule_list</c> does.
/// Meant for the lower-case ASCII tokens the ROUGE tokenizer produces; other characters count as consonants.
/// </summary>
public static class PorterStemmer
{
    private static readonly Dictionary<string, string> IrregularForms = new(StringComparer.Ordinal)
    {
        ["sky"] = "sky",
        ["skies"] = "sky",
        ["dying"] = "die",
        ["lying"] = "lie",
        ["tying"] = "tie",
        ["news"] = "news",
        ["innings"] = "inning",
        ["inning"] = "inning",
        ["outings"] = "outing",
        ["outing"] = "outing",
        ["cannings"] = "canning",
        ["canning"] = "canning",
        ["howe"] = "howe",
        ["proceed"] = "proceed",
        ["exceed"] = "exceed",
        ["succeed"] = "succeed",
    };

    public static string Stem(string word)
    {
        ArgumentNullException.ThrowIfNull(word);
        if (IrregularForms.TryGetValue(word, out var irregular)) return irregular;
        var stem = word.ToLowerInvariant();
        if (word.Length <= 2) return stem;
        stem = Step1A(stem);
        stem = Step1B(stem);
        stem = Step1C(stem);
        stem = Step2(stem);
        stem = Step3(stem);
        stem = Step4(stem);
        stem = Step5A(stem);
        return Step5B(stem);
    }

    private static string Step1A(string word)
    {
        if (word.Length == 4 && word.EndsWith("ies", StringComparison.Ordinal)) return word[..^3] + "ie";
        _ = Rule(ref word, "sses", "ss", null)
            || Rule(ref word, "ies", "i", null)
            || Rule(ref word, "ss", "ss", null)
            || Rule(ref word, "s", "", null);
        return word;
    }

    private static string Step1B(string word)
    {
        if (word.EndsWith("ied", StringComparison.Ordinal)) return word[..^3] + (word.Length == 4 ? "ie" : "i");
        if (word.EndsWith("eed", StringComparison.Ordinal))
            return Measure(word.AsSpan(0, word.Length - 3)) > 0 ? word[..^1] : word;

        string stem;
        if (word.EndsWith("ed", StringComparison.Ordinal) && ContainsVowel(word.AsSpan(0, word.Length - 2))) stem = word[..^2];
        else if (word.EndsWith("ing", StringComparison.Ordinal) && ContainsVowel(word.AsSpan(0, word.Length - 3))) stem = word[..^3];
        else return word;

        if (Rule(ref stem, "at", "ate", null) || Rule(ref stem, "bl", "ble", null) || Rule(ref stem, "iz", "ize", null)) return stem;
        if (EndsWithDoubleConsonant(stem)) return stem[^1] is 'l' or 's' or 'z' ? stem : stem[..^1];
        return Measure(stem) == 1 && EndsCvc(stem) ? stem + "e" : stem;
    }

    private static string Step1C(string word) =>
        word.Length > 2 && word[^1] == 'y' && IsConsonant(word, word.Length - 2) ? word[..^1] + "i" : word;

    private static string Step2(string word)
    {
        // NLTK tries "alli" ahead of the published order and, on success, runs step 2 again on the result,
        // so "-tionalli" reaches "-tion" like "-tional" does.
        if (word.EndsWith("alli", StringComparison.Ordinal) && Measure(word.AsSpan(0, word.Length - 4)) > 0)
            return Step2(word[..^2]);

        _ = Rule(ref word, "ational", "ate", PositiveMeasure)
            || Rule(ref word, "tional", "tion", PositiveMeasure)
            || Rule(ref word, "enci", "ence", PositiveMeasure)
            || Rule(ref word, "anci", "ance", PositiveMeasure)
            || Rule(ref word, "izer", "ize", PositiveMeasure)
            || Rule(ref word, "bli", "ble", PositiveMeasure)
            || Rule(ref word, "alli", "al", PositiveMeasure)
            || Rule(ref word, "entli", "ent", PositiveMeasure)
            || Rule(ref word, "eli", "e", PositiveMeasure)
            || Rule(ref word, "ousli", "ous", PositiveMeasure)
            || Rule(ref word, "ization", "ize", PositiveMeasure)
            || Rule(ref word, "ation", "ate", PositiveMeasure)
            || Rule(ref word, "ator", "ate", PositiveMeasure)
            || Rule(ref word, "alism", "al", PositiveMeasure)
            || Rule(ref word, "iveness", "ive", PositiveMeasure)
            || Rule(ref word, "fulness", "ful", PositiveMeasure)
            || Rule(ref word, "ousness", "ous", PositiveMeasure)
            || Rule(ref word, "aliti", "al", PositiveMeasure)
            || Rule(ref word, "iviti", "ive", PositiveMeasure)
            || Rule(ref word, "biliti", "ble", PositiveMeasure)
            || Rule(ref word, "fulli", "ful", PositiveMeasure)
            // The "l" stays with the stem when measuring, so short stems such as "geo" and "theo" qualify.
            || Rule(ref word, "logi", "log", static stem => PositiveMeasure(stem) || EndsWithVowel(stem));
        return word;
    }

    private static string Step3(string word)
    {
        _ = Rule(ref word, "icate", "ic", PositiveMeasure)
            || Rule(ref word, "ative", "", PositiveMeasure)
            || Rule(ref word, "alize", "al", PositiveMeasure)
            || Rule(ref word, "iciti", "ic", PositiveMeasure)
            || Rule(ref word, "ical", "ic", PositiveMeasure)
            || Rule(ref word, "ful", "", PositiveMeasure)
            || Rule(ref word, "ness", "", PositiveMeasure);
        return word;
    }

    private static string Step4(string word)
    {
        _ = Rule(ref word, "al", "", MeasureAboveOne)
            || Rule(ref word, "ance", "", MeasureAboveOne)
            || Rule(ref word, "ence", "", MeasureAboveOne)
            || Rule(ref word, "er", "", MeasureAboveOne)
            || Rule(ref word, "ic", "", MeasureAboveOne)
            || Rule(ref word, "able", "", MeasureAboveOne)
            || Rule(ref word, "ible", "", MeasureAboveOne)
            || Rule(ref word, "ant", "", MeasureAboveOne)
            || Rule(ref word, "ement", "", MeasureAboveOne)
            || Rule(ref word, "ment", "", MeasureAboveOne)
            || Rule(ref word, "ent", "", MeasureAboveOne)
            || Rule(ref word, "ion", "", static stem => Measure(stem) > 1 && stem[^1] is 's' or 't')
            || Rule(ref word, "ou", "", MeasureAboveOne)
            || Rule(ref word, "ism", "", MeasureAboveOne)
            || Rule(ref word, "ate", "", MeasureAboveOne)
            || Rule(ref word, "iti", "", MeasureAboveOne)
            || Rule(ref word, "ous", "", MeasureAboveOne)
            || Rule(ref word, "ive", "", MeasureAboveOne)
            || Rule(ref word, "ize", "", MeasureAboveOne);
        return word;
    }

    // Unlike the other steps both conditions are tried here: (m>1) E -> and (m=1 and not *o) E ->.
    private static string Step5A(string word)
    {
        if (!word.EndsWith('e')) return word;
        var stem = word[..^1];
        var m = Measure(stem);
        return m > 1 || (m == 1 && !EndsCvc(stem)) ? stem : word;
    }

    private static string Step5B(string word) =>
        word.EndsWith("ll", StringComparison.Ordinal) && Measure(word.AsSpan(0, word.Length - 1)) > 1 ? word[..^1] : word;

    /// <summary>
    /// Replaces <paramref name="suffix"/> when the remaining stem meets the condition. Returns whether the suffix
    /// matched at all, so a chain of rules stops at the first matching suffix whatever its condition said.
    /// </summary>
    private static bool Rule(ref string word, string suffix, string replacement, Func<string, bool>? condition)
    {
        if (!word.EndsWith(suffix, StringComparison.Ordinal)) return false;
        var stem = word[..^suffix.Length];
        if (condition is null || condition(stem)) word = stem + replacement;
        return true;
    }

    private static bool PositiveMeasure(string stem) => Measure(stem) > 0;

    private static bool MeasureAboveOne(string stem) => Measure(stem) > 1;

    // m(stem + "l") > 0 exactly when m(stem) > 0 or the stem ends in a vowel, since "l" is a consonant.
    private static bool EndsWithVowel(string stem) => stem.Length > 0 && !IsConsonant(stem, stem.Length - 1);

    /// <summary>A letter other than a, e, i, o, u, and other than a y that follows a consonant.</summary>
    private static bool IsConsonant(ReadOnlySpan<char> word, int i) => word[i] switch
    {
        'a' or 'e' or 'i' or 'o' or 'u' => false,
        'y' => i == 0 || !IsConsonant(word, i - 1),
        _ => true,
    };

    /// <summary>Porter's m: the number of vowel-run-then-consonant-run pairs, [C](VC)^m[V].</summary>
    private static int Measure(ReadOnlySpan<char> stem)
    {
        var m = 0;
        for (var i = 1; i < stem.Length; i++)
            if (!IsConsonant(stem, i - 1) && IsConsonant(stem, i)) m++;
        return m;
    }

    private static bool ContainsVowel(ReadOnlySpan<char> stem)
    {
        for (var i = 0; i < stem.Length; i++)
            if (!IsConsonant(stem, i)) return true;
        return false;
    }

    private static bool EndsWithDoubleConsonant(ReadOnlySpan<char> word) =>
        word.Length >= 2 && word[^1] == word[^2] && IsConsonant(word, word.Length - 1);

    /// <summary>Porter's *o: ends consonant-vowel-consonant, the last not w, x or y; NLTK adds a bare vowel-consonant.</summary>
    private static bool EndsCvc(ReadOnlySpan<char> word) =>
        (word.Length >= 3
            && IsConsonant(word, word.Length - 3)
            && !IsConsonant(word, word.Length - 2)
            && IsConsonant(word, word.Length - 1)
            && word[^1] is not ('w' or 'x' or 'y'))
        || (word.Length == 2 && !IsConsonant(word, 0) && IsConsonant(word, 1));
}
