using ModelGate.Registry;

namespace ModelGate.Tests.Registry;

public sealed class SemVersionTests
{
    [Theory]
    [InlineData("1.0.0", 1, 0, 0, null)]
    [InlineData("0.0.1", 0, 0, 1, null)]
    [InlineData("10.20.30", 10, 20, 30, null)]
    [InlineData("1.0.0-q4", 1, 0, 0, "q4")]
    [InlineData("1.0.0-alpha.1", 1, 0, 0, "alpha.1")]
    [InlineData("1.0.0-0.3.7", 1, 0, 0, "0.3.7")]
    [InlineData("1.0.0-x-y-z.--", 1, 0, 0, "x-y-z.--")]
    public void TryParse_ValidVersion_ReadsParts(string text, int major, int minor, int patch, string? pre)
    {
        Assert.True(SemVersion.TryParse(text, out var v, out _));
        Assert.Equal(new SemVersion(major, minor, patch, pre), v);
        Assert.Equal(text, v!.ToString());
    }

    [Theory]
    [InlineData("1.0")]
    [InlineData("1")]
    [InlineData("01.0.0")]
    [InlineData("1.0.0-")]
    [InlineData("1.0.0-01")]
    [InlineData("1.0.0-a..b")]
    [InlineData("v1.0.0")]
    [InlineData(" 1.0.0")]
    [InlineData("1.0.0+build.1")]
    [InlineData("../1.0.0")]
    [InlineData("")]
    public void TryParse_InvalidVersion_ExplainsWhy(string text)
    {
        Assert.False(SemVersion.TryParse(text, out _, out var error));
        Assert.False(string.IsNullOrWhiteSpace(error));
    }

    [Fact]
    public void CompareTo_FollowsSemVerPrecedenceExample()
    {
        // The precedence chain given in SemVer 2.0.0, section 11.
        string[] ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.9.0", "1.10.0", "2.0.0"];
        var parsed = ordered.Select(SemVersion.Parse).ToList();
        for (var i = 1; i < parsed.Count; i++)
        {
            Assert.True(parsed[i - 1] < parsed[i], $"{parsed[i - 1]} < {parsed[i]}");
        }
        var shuffled = parsed.OrderBy(_ => Guid.NewGuid()).ToList();
        shuffled.Sort();
        Assert.Equal(ordered, shuffled.Select(v => v.ToString()));
    }

    [Theory]
    [InlineData("1.0.1", new[] { "1.0.0" }, true)]
    [InlineData("1.0.0", new[] { "1.0.1" }, false)]
    [InlineData("1.0.0-q4", new[] { "1.0.0" }, true)]
    [InlineData("1.0.0-q4", new[] { "1.0.0", "1.1.0" }, true)]
    [InlineData("1.0.5-q4", new[] { "1.0.0", "1.1.0" }, false)]
    [InlineData("0.1.0", new string[0], true)]
    [InlineData("2.0.0-rc.1", new[] { "1.9.9" }, true)]
    public void CheckOrder_AcceptsGreaterOrQualifiedExistingRelease(string candidate, string[] existing, bool accepted)
    {
        var error = VersionsApi.CheckOrder(SemVersion.Parse(candidate), existing.Select(SemVersion.Parse).ToList());
        Assert.Equal(accepted, error is null);
    }
}
