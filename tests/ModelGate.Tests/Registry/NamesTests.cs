using ModelGate.Registry;

namespace ModelGate.Tests.Registry;

public sealed class NamesTests
{
    [Theory]
    [InlineData("adult-income", true)]
    [InlineData("a", true)]
    [InlineData("m2", true)]
    [InlineData("Adult", false)]
    [InlineData("-adult", false)]
    [InlineData("adult-", false)]
    [InlineData("a--b", false)]
    [InlineData("a_b", false)]
    [InlineData("../etc", false)]
    [InlineData("a/b", false)]
    [InlineData("a.b", false)]
    [InlineData("", false)]
    [InlineData("é", false)]
    public void IsValidModelName_AcceptsOnlyLowerCaseSlugs(string name, bool valid) =>
        Assert.Equal(valid, Names.IsValidModelName(name));

    [Fact]
    public void IsValidModelName_LimitsLengthTo64() =>
        Assert.Equal((true, false), (Names.IsValidModelName(new string('a', 64)), Names.IsValidModelName(new string('a', 65))));

    [Theory]
    [InlineData("model.onnx", true)]
    [InlineData("weights-00001.safetensors", true)]
    [InlineData("../model.onnx", false)]
    [InlineData("dir/model.onnx", false)]
    [InlineData("dir\\model.onnx", false)]
    [InlineData("..", false)]
    [InlineData("", false)]
    [InlineData(" model.onnx", false)]
    [InlineData("a\nb", false)]
    public void IsValidFileName_RefusesPathsAndControlCharacters(string name, bool valid) =>
        Assert.Equal(valid, Names.IsValidFileName(name));

    [Theory]
    [InlineData("62E6E2B8F5A874EED82AB25B96ED7A165862EE090B81195BC7B89B18812E08A8", "62e6e2b8f5a874eed82ab25b96ed7a165862ee090b81195bc7b89b18812e08a8")]
    [InlineData("sha256:62e6e2b8f5a874eed82ab25b96ed7a165862ee090b81195bc7b89b18812e08a8", "62e6e2b8f5a874eed82ab25b96ed7a165862ee090b81195bc7b89b18812e08a8")]
    [InlineData("62e6e2b8", null)]
    [InlineData("zz e6e2b8f5a874eed82ab25b96ed7a165862ee090b81195bc7b89b18812e08a8", null)]
    public void Digests_Normalize(string input, string? expected) => Assert.Equal(expected, Digests.Normalize(input));
}
