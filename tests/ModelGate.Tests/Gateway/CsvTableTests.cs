using ModelGate.Evaluation.Datasets;

namespace ModelGate.Tests.Gateway;

public sealed class CsvTableTests
{
    [Fact]
    public void Parse_HandlesQuotesEmbeddedCommasNewlinesAndMissingValues()
    {
        var table = CsvTable.Parse("a,b,c\r\n1,\"x, \"\"quoted\"\"\",\n2,\"multi\nline\",3.5\n");
        Assert.Equal(["a", "b", "c"], table.ColumnNames);
        Assert.Equal(2, table.RowCount);
        Assert.Equal(["x, \"quoted\"", "multi\nline"], table.Strings("b"));
        Assert.Equal(["", "3.5"], table.Strings("c"));
        var floats = table.Floats("c");
        Assert.True(float.IsNaN(floats[0]));
        Assert.Equal(3.5f, floats[1]);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("a,b\n1\n", "has 1 fields")]
    [InlineData("a,a\n1,2\n", "twice")]
    [InlineData("a\n\"open\n", "quoted")]
    public void Parse_BadCsv_SaysWhatIsWrong(string text, string expected) =>
        Assert.Contains(expected, Assert.Throws<FormatException>(() => CsvTable.Parse(text)).Message);

    [Fact]
    public void Floats_NonNumber_NamesColumnAndRow()
    {
        var error = Assert.Throws<FormatException>(() => CsvTable.Parse("x\n1\nabc\n").Floats("x"));
        Assert.Contains("column 'x' row 2", error.Message);
        Assert.Throws<KeyNotFoundException>(() => CsvTable.Parse("x\n1\n").Strings("y"));
    }
}
