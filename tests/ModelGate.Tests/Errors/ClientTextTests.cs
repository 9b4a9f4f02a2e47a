using System.Text;
using ModelGate.Errors;

namespace ModelGate.Tests.Errors;

public sealed class ClientTextTests
{
    [Theory]
    [InlineData("plain", false, true)]
    [InlineData("line\nbreak\tand\rreturn", false, true)]
    [InlineData("line\nbreak", true, false)]
    [InlineData("caf\u00e9 \ud83d\ude00", false, true)]
    [InlineData("nul\0", false, false)]
    [InlineData("bell\u0007", false, false)]
    public void Check_RefusesControlsAndLoneSurrogates_AndAllowsWhitespaceInFreeText(string text, bool singleLine, bool clean) =>
        Assert.Equal(clean, ClientText.Check(text, singleLine) is null);

    [Fact]
    public void Check_RefusesLoneSurrogates()
    {
        // Built here: theory data with a lone surrogate does not survive the runner's serialization.
        foreach (var text in new[] { "lone " + '\ud800' + " high", "lone " + '\udc00' + " low", "ends high " + '\ud83d', "" + '\ude00' + '\ud83d' })
        {
            Assert.NotNull(ClientText.Check(text));
        }
        Assert.Null(ClientText.Check("pair " + '\ud83d' + '\ude00' + " and " + '\ud83d' + '\ude01'));
    }

    [Theory]
    [InlineData("""{"a":"plain \u00e9 \ud83d\ude00 \n\t\r \\u0000 \" \/"}""", true)]
    [InlineData("""{"a":"\u0000"}""", false)]
    [InlineData("""{"a":"\u001B"}""", false)]
    [InlineData("""{"a":"\b"}""", false)]
    [InlineData("""{"a":"\f"}""", false)]
    [InlineData("""{"a":"\ud800"}""", false)]
    [InlineData("""{"a":"\ud800\u0041"}""", false)]
    [InlineData("""{"a":"\udc00"}""", false)]
    [InlineData("""{"\u0000":1}""", false)]
    public void CheckJson_FindsEscapedControlsAndLoneSurrogates_NotEscapedBackslashes(string json, bool clean) =>
        Assert.Equal(clean, ClientText.CheckJson(Encoding.UTF8.GetBytes(json)) is null);

    [Fact]
    public void CheckJson_RefusesInvalidUtf8_AtItsOffset()
    {
        var bytes = Encoding.UTF8.GetBytes("""{"a":"ok#"}""");
        bytes[8] = 0xFF;
        Assert.Equal((8, ClientText.InvalidUtf8Message), ClientText.CheckJson(bytes));
        Assert.NotNull(ClientText.CheckJson([(byte)'"', 0xED, 0xA0, 0x80, (byte)'"'])); // an encoded surrogate
    }

    [Fact]
    public void Bound_CutsWithAnEllipsis_WithoutSplittingASurrogatePair()
    {
        Assert.Equal("short", ClientText.Bound("short", 10));
        Assert.Equal("abcdefghi…", ClientText.Bound("abcdefghijklmnop", 10));
        var emoji = new string('a', 8) + "\ud83d\ude00" + "zzz";
        Assert.Equal(new string('a', 8) + "…", ClientText.Bound(emoji, 10));
        Assert.Equal(ClientText.MaxEchoLength, ClientText.Echo(new string('x', 10_000)).Length);
    }
}
