using ModelGate.Evaluation.Metrics;

namespace ModelGate.Tests.Evaluation;

public sealed class TextMatchTests
{
    [Theory]
    [InlineData("The Eiffel-Tower!", "the eiffel tower", true)]
    [InlineData("  Paris ", "paris.", true)]
    [InlineData("42", "42.0", false)] // "42 0" has two tokens
    [InlineData("naive", "naïve", false)] // ï is a separator: "na ve"
    [InlineData("", "...", true)] // both normalise to nothing
    [InlineData("Paris", "Paris, France", false)]
    public void ExactMatch_AfterNormalisation_ComparesTokens(string target, string prediction, bool expected)
    {
        Assert.Equal(expected, TextMatch.ExactMatch(target, prediction));
    }

    [Theory]
    [InlineData("Paris", "It is PARIS, France.", true)]
    [InlineData("new york", "I love New-York city", true)]
    [InlineData("York New", "New York", false)] // order matters
    [InlineData("Paris", "Parisian cafes", false)] // whole tokens only
    [InlineData("cat", "concatenate", false)]
    [InlineData("", "anything", false)] // an empty reference is not satisfied by any answer
    [InlineData("", "", true)]
    public void Contains_AfterNormalisation_FindsContiguousTokenRun(string target, string prediction, bool expected)
    {
        Assert.Equal(expected, TextMatch.Contains(target, prediction));
    }
}
