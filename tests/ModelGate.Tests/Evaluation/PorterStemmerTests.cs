using ModelGate.Evaluation.Metrics;

namespace ModelGate.Tests.Evaluation;

public sealed class PorterStemmerTests
{
    [Theory]
    // nltk/test/stem.doctest (nltk/nltk), "Test the stemmer on various pluralised words" with PorterStemmer():
    // caress fli die mule deni die agre own humbl size meet state siez item sensat tradit refer colon plot
    [InlineData("caresses", "caress")]
    [InlineData("flies", "fli")]
    [InlineData("dies", "die")]
    [InlineData("mules", "mule")]
    [InlineData("denied", "deni")]
    [InlineData("died", "die")]
    [InlineData("agreed", "agre")]
    [InlineData("owned", "own")]
    [InlineData("humbled", "humbl")]
    [InlineData("sized", "size")]
    [InlineData("meeting", "meet")]
    [InlineData("stating", "state")]
    [InlineData("siezing", "siez")]
    [InlineData("itemization", "item")]
    [InlineData("sensational", "sensat")]
    [InlineData("traditional", "tradit")]
    [InlineData("reference", "refer")]
    [InlineData("colonizer", "colon")]
    [InlineData("plotted", "plot")]
    // nltk/test/unit/test_stem.py: test_oed_bug ('oed' -> 'o') and test_lowercase_option.
    [InlineData("oed", "o")]
    [InlineData("On", "on")]
    [InlineData("I", "i")]
    [InlineData("Github", "github")]
    public void Stem_NltkPublishedExamples_MatchNltk(string word, string stem)
    {
        Assert.Equal(stem, PorterStemmer.Stem(word));
    }

    [Theory]
    // NLTK_EXTENSIONS irregular-forms table in nltk/stem/porter.py (looked up before any rule runs).
    [InlineData("skies", "sky")]
    [InlineData("sky", "sky")]
    [InlineData("dying", "die")]
    [InlineData("lying", "lie")]
    [InlineData("tying", "tie")]
    [InlineData("news", "news")]
    [InlineData("innings", "inning")]
    [InlineData("outings", "outing")]
    [InlineData("cannings", "canning")]
    [InlineData("howe", "howe")]
    [InlineData("proceed", "proceed")]
    [InlineData("exceed", "exceed")]
    [InlineData("succeed", "succeed")]
    public void Stem_IrregularForm_UsesNltkTable(string word, string stem)
    {
        Assert.Equal(stem, PorterStemmer.Stem(word));
    }

    [Theory]
    // Martin Porter's sample vocabulary and its stemmed output (tartarus.org/martin/PorterStemmer/voc.txt and
    // output.txt, the files NLTK's porter_test data is built from), restricted to words no NLTK-only rule touches,
    // where NLTK_EXTENSIONS and Porter's own output agree.
    [InlineData("abandoned", "abandon")]
    [InlineData("abase", "abas")]
    [InlineData("abate", "abat")]
    [InlineData("abatement", "abat")]
    [InlineData("abbominable", "abbomin")]
    [InlineData("abbreviated", "abbrevi")]
    [InlineData("abergavenny", "abergavenni")]
    [InlineData("abetting", "abet")]
    [InlineData("abhorring", "abhor")]
    [InlineData("abide", "abid")]
    [InlineData("abilities", "abil")]
    [InlineData("abjectly", "abjectli")]
    [InlineData("abominably", "abomin")]
    [InlineData("abruptly", "abruptli")]
    [InlineData("absence", "absenc")]
    [InlineData("absolutely", "absolut")]
    [InlineData("abundantly", "abundantli")]
    [InlineData("accessary", "accessari")]
    [InlineData("accidentally", "accident")]
    [InlineData("accompanied", "accompani")]
    [InlineData("accordingly", "accordingli")]
    [InlineData("accoutrements", "accoutr")]
    [InlineData("accrue", "accru")]
    public void Stem_PorterVocabulary_MatchesPublishedOutput(string word, string stem)
    {
        Assert.Equal(stem, PorterStemmer.Stem(word));
    }

    [Theory]
    // Published NLTK PorterStemmer() outputs in tutorials: Codecademy "Stemming" lesson (NBC example) and the
    // Stack Overflow Documentation "nltk: Stemming" page (python/pythoner/... example).
    [InlineData("founded", "found")]
    [InlineData("makes", "make")]
    [InlineData("oldest", "oldest")]
    [InlineData("broadcast", "broadcast")]
    [InlineData("network", "network")]
    [InlineData("1926", "1926")]
    [InlineData("pythoner", "python")]
    [InlineData("pythoning", "python")]
    [InlineData("pythoned", "python")]
    [InlineData("pythonly", "pythonli")]
    [InlineData("important", "import")]
    [InlineData("very", "veri")]
    [InlineData("poorly", "poorli")]
    [InlineData("once", "onc")]
    public void Stem_TutorialExamples_MatchNltkOutput(string word, string stem)
    {
        Assert.Equal(stem, PorterStemmer.Stem(word));
    }

    [Theory]
    // NLTK-only rules read off nltk/stem/porter.py and worked by hand.
    // Step 1c: y -> i only after a consonant ("enjoy" keeps its y; Porter's paper would give "enjoi").
    [InlineData("enjoy", "enjoy")]
    [InlineData("happy", "happi")]
    // Step 2: "alli" is tried first and step 2 re-run, so -tionalli reaches -tion: conditionalli -> conditional
    // -> condition (tional -> tion), then step 4 leaves "condit" (ion after t, m > 1).
    [InlineData("conditionally", "condit")]
    // Step 2 "logi": the l stays with the stem when measuring: "geologi" has m("geol") = 1 > 0 -> "geolog".
    [InlineData("geology", "geolog")]
    // Step 2 "fulli" -> "ful", then step 3 "ful" -> "": hopefulli -> hopeful -> hope, step 5a keeps the e (m = 1, *o).
    [InlineData("hopefully", "hope")]
    // The first rule whose suffix matches ends the step even if its condition fails: step 4 "ement" matches
    // "element" with m("el") = 1, so nothing is removed, although "ent" alone would leave m("elem") = 2.
    [InlineData("element", "element")]
    public void Stem_NltkExtensions_FollowNltkRules(string word, string stem)
    {
        Assert.Equal(stem, PorterStemmer.Stem(word));
    }
}
