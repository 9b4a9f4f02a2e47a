using ModelGate.Evaluation.Metrics;

namespace ModelGate.Tests.Evaluation;

/// <summary>
/// Cases from rouge-score's rouge_scorer_test.py (google-research/google-research, rouge/). Its
/// assertAlmostEqual defaults to 7 places (|d| &lt; 5e-8) and uses 5 or 3 places where the test says so; the same
/// tolerances are used here. Arguments are in rouge-score's order, target first.
/// </summary>
public sealed class RougeTests
{
    private const double Places7 = 5e-8;
    private const double Places5 = 5e-6;
    private const double Places3 = 5e-4;

    private static void AssertScore(double precision, double recall, double fmeasure, RougeScore actual, double tolerance)
    {
        Assert.Equal(precision, actual.Precision, tolerance);
        Assert.Equal(recall, actual.Recall, tolerance);
        Assert.Equal(fmeasure, actual.FMeasure, tolerance);
    }

    [Fact]
    public void Rouge1_TestingAgainstTestingOneTwo_IsP1R3rdF05()
    {
        // testRouge1
        AssertScore(1, 1.0 / 3, 1.0 / 2, Rouge.RougeN("testing one two", "testing", 1), Places7);
    }

    [Fact]
    public void Rouge2_TestingOneAgainstTestingOneTwo_IsP1RHalfF2Thirds()
    {
        // testRouge2
        AssertScore(1, 1.0 / 2, 2.0 / 3, Rouge.RougeN("testing one two", "testing one", 2), Places7);
    }

    [Fact]
    public void RougeL_ConsecutiveTokens_IsP1R2ThirdsF08()
    {
        // testRougeLConsecutive; testMultipleRougeTypes gives rouge1 the same figures on this pair.
        AssertScore(1, 2.0 / 3, 4.0 / 5, Rouge.RougeL("testing one two", "testing one"), Places7);
        AssertScore(1, 2.0 / 3, 4.0 / 5, Rouge.RougeN("testing one two", "testing one", 1), Places7);
    }

    [Fact]
    public void RougeL_NonConsecutiveTokens_IsP1R2ThirdsF08()
    {
        // testRougeLNonConsecutive: "testing two" is a subsequence, not a substring.
        AssertScore(1, 2.0 / 3, 4.0 / 5, Rouge.RougeL("testing one two", "testing two"), Places7);
    }

    [Fact]
    public void AllTypes_EmptyPrediction_AreZero()
    {
        // testRougeEmpty
        AssertScore(0, 0, 0, Rouge.RougeN("testing one two", "", 1), Places7);
        AssertScore(0, 0, 0, Rouge.RougeN("testing one two", "", 2), Places7);
        AssertScore(0, 0, 0, Rouge.RougeL("testing one two", ""), Places7);
        AssertScore(0, 0, 0, Rouge.RougeLsum("testing one two", ""), Places7);
    }

    [Theory]
    // testRouge1AgainstRouge155 and ...WithStemming: (line, stem, recall, precision, f)
    [InlineData(0, false, 0.40741, 0.68750, 0.51163)]
    [InlineData(1, false, 0.40476, 0.65385, 0.50000)]
    [InlineData(0, true, 0.40741, 0.68750, 0.51163)]
    [InlineData(1, true, 0.42857, 0.69231, 0.52941)]
    public void Rouge1_Rouge155Data_MatchesPerlScript(int line, bool stem, double recall, double precision, double f)
    {
        AssertScore(precision, recall, f, Rouge.RougeN(RougeTestData.Targets[line], RougeTestData.Predictions[line], 1, stem), Places5);
    }

    [Theory]
    // testRouge2AgainstRouge155 and ...WithStemming
    [InlineData(0, false, 0.30769, 0.53333, 0.39024)]
    [InlineData(1, false, 0.29268, 0.48000, 0.36364)]
    [InlineData(0, true, 0.30769, 0.53333, 0.39024)]
    [InlineData(1, true, 0.29268, 0.48000, 0.36364)]
    public void Rouge2_Rouge155Data_MatchesPerlScript(int line, bool stem, double recall, double precision, double f)
    {
        AssertScore(precision, recall, f, Rouge.RougeN(RougeTestData.Targets[line], RougeTestData.Predictions[line], 2, stem), Places5);
    }

    [Theory]
    // testRougeLAgainstRouge155
    [InlineData(0, 0.40741, 0.68750, 0.51163)]
    [InlineData(1, 0.40476, 0.65385, 0.50000)]
    public void RougeL_Rouge155Data_MatchesPerlScript(int line, double recall, double precision, double f)
    {
        AssertScore(precision, recall, f, Rouge.RougeL(RougeTestData.Targets[line], RougeTestData.Predictions[line]), Places5);
    }

    [Fact]
    public void RougeLsum_MultiLineRouge155DataWithStemming_MatchesPerlScript()
    {
        // testRougeLSumAgainstRouge155WithStemming
        AssertScore(0.66667, 0.36538, 0.47205, Rouge.RougeLsum(RougeTestData.TargetMulti, RougeTestData.PredictionMulti, useStemmer: true), Places5);
    }

    [Fact]
    public void RougeLsum_TwoPredictedSentences_TakesUnionOfTheirLcs()
    {
        // testRougeLsum (Lin 2004, section 3.2): LCS of the target with "w1 w2 w6 w7 w8" is w1 w2, with
        // "w1 w3 w8 w9 w5" is w1 w3 w5; union w1 w2 w3 w5 = 4 hits; R 4/5, P 4/10, F 0.5333.
        AssertScore(0.4, 0.8, 0.5333, Rouge.RougeLsum("w1 w2 w3 w4 w5", "w1 w2 w6 w7 w8\nw1 w3 w8 w9 w5"), Places3);
        Assert.Equal(0.8, Rouge.RougeLsum("w1 w2 w3 w4 w5", "w1 w2 w6 w7 w8\nw1 w3 w8 w9 w5").Recall, Places7);
    }

    [Theory]
    // testRougeLsum empty cases, including a summary of non-word characters only.
    [InlineData("w1 w2 w3 w4 w5", "")]
    [InlineData("", "w1")]
    [InlineData("w1 w2 w3 w4 w5", "/")]
    public void RougeLsum_NothingToCompare_IsZero(string target, string prediction)
    {
        AssertScore(0, 0, 0, Rouge.RougeLsum(target, prediction), Places3);
    }

    [Fact]
    public void RougeLsum_SummaryLevelLcsOnTokens_MatchesPaperExample()
    {
        // testSummaryLevelLcs: refs [[1,2,3,4,5]], cans [[1,2,6,7,8],[1,3,8,9,5]] -> R 0.8, P 0.4, F 0.5333;
        // and a candidate the tokenizer emptied ([["reference"]], [[]]) -> recall 0.
        var score = Rouge.RougeLsum(
            [["1", "2", "3", "4", "5"]],
            [["1", "2", "6", "7", "8"], ["1", "3", "8", "9", "5"]]);
        AssertScore(0.4, 0.8, 0.5333, score, Places3);
        Assert.Equal(0.0, Rouge.RougeLsum([["reference"]], [[]]).Recall);
    }

    [Fact]
    public void RougeLsum_RepeatedTokens_CountsEachCopyOnce()
    {
        // Hand-worked. Target sentences "a b" and "a b"; prediction "a b". Each target sentence's union LCS is
        // [a, b], but the prediction holds one a and one b, so only the first sentence scores: hits 2,
        // R 2/4, P 2/2, F 2*1*0.5/1.5 = 2/3 (rouge-score's double-counting guard, as in ROUGE-1.5.5).
        AssertScore(1, 0.5, 2.0 / 3, Rouge.RougeLsum("a b\na b", "a b"), Places7);
    }

    [Fact]
    public void RougeLsum_SeveralLongestSubsequences_PicksTheOneRougeScoreBacktracksTo()
    {
        // Hand-worked with rouge-score's _lcs_table/_backtrack_norec. Target "alpha beta"; prediction sentences
        // "beta alpha" and "beta". For "beta alpha" both "alpha" and "beta" are longest common subsequences; at the
        // final mismatch (beta vs alpha) the table's left and upper cells tie at 1, and rouge-score then moves up,
        // ending on "alpha". The second sentence contributes "beta", so the union is {alpha, beta}: hits 2,
        // R 2/2, P 2/3, F 2*(2/3)*1 / (2/3 + 1) = 0.8. Backtracking left on the tie would give {beta} and 1 hit.
        AssertScore(2.0 / 3, 1, 0.8, Rouge.RougeLsum("alpha beta", "beta alpha\nbeta"), Places7);
    }

    [Fact]
    public void RougeN_RepeatedNGrams_AreClipped()
    {
        // Hand-worked: target "the the cat" has the x2, cat x1; prediction "the the the the" has the x4.
        // Overlap min(2, 4) = 2: P 2/4, R 2/3, F 2*.5*(2/3)/(.5 + 2/3) = 4/7.
        AssertScore(0.5, 2.0 / 3, 4.0 / 7, Rouge.RougeN("the the cat", "the the the the", 1), Places7);
    }

    [Fact]
    public void RougeN_FewerTokensThanN_IsZero()
    {
        AssertScore(0, 0, 0, Rouge.RougeN("testing", "testing", 2), Places7);
    }

    [Fact]
    public void RougeN_NonPositiveN_Throws()
    {
        // testInvalidRougeTypes rejects rouge0.
        Assert.Throws<ArgumentOutOfRangeException>(() => Rouge.RougeN("testing one two", "testing", 0));
    }
}
