using System.Text.Json;
using ModelGate.Client;
using ModelGate.Monitoring.Drift;

namespace ModelGate.Tests.Monitoring;

/// <summary>
/// Evidently's test choice (the cases of its tests/stattests/test_registry.py), its chi-square expectation
/// (tests/stattests/test_stattests.py), the flags, and the profile's JSON form.
/// </summary>
public sealed class DriftDetectorTests
{
    private static DatasetProfile Profile(string column, IEnumerable<string> values, ColumnKind? kind = null) =>
        DatasetProfile.FromColumns(
            [new(column, values.ToArray())],
            kind is null ? null : new ProfileOptions { ColumnKinds = new Dictionary<string, ColumnKind> { [column] = kind.Value } });

    private static DriftWindow Window(string column, IEnumerable<string> values)
    {
        var array = values.ToArray();
        return new DriftWindow(array.Length).Add(column, array);
    }

    private static IEnumerable<string> Repeat(IEnumerable<object> values, int times) =>
        Enumerable.Repeat(values.Select(v => Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture)!), times).SelectMany(v => v);

    [Theory]
    // Evidently tests/stattests/test_registry.py test_get_default_stattest, case by case.
    [InlineData(new object[] { 1.0 }, 10, ColumnKind.Numeric, DriftTest.ZTest)]
    [InlineData(new object[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 }, 1, ColumnKind.Numeric, DriftTest.KolmogorovSmirnov)]
    [InlineData(new object[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 }, 1000, ColumnKind.Numeric, DriftTest.Wasserstein)]
    [InlineData(new object[] { 1, 2, 3, 4, 5 }, 1000, ColumnKind.Numeric, DriftTest.JensenShannon)]
    [InlineData(new object[] { "a", "b", "c" }, 10, ColumnKind.Categorical, DriftTest.ChiSquare)]
    [InlineData(new object[] { "a", "b" }, 10, ColumnKind.Categorical, DriftTest.ZTest)]
    [InlineData(new object[] { "a", "b" }, 10000, ColumnKind.Categorical, DriftTest.JensenShannon)]
    public void Compare_ChoosesEvidentlysDefaultTest(object[] values, int times, ColumnKind kind, DriftTest expected)
    {
        var data = Repeat(values, times).ToArray();
        var result = DriftDetector.Compare(Profile("x", data, kind), Window("x", data)).Columns.Single();
        Assert.Equal(expected, result.Test);
        Assert.False(result.Drifted);
    }

    [Fact]
    public void ChiSquare_EvidentlyExpectation()
    {
        // test_freq_obs_eq_freq_exp / test_freq_obs_not_eq_freq_exp: p = 0.67309 whether the reference is 88 or 176 rows.
        var reference = Expand(["1", "2", "3", "4", "5", "6"], [16, 18, 16, 14, 12, 12]);
        var current = Expand(["1", "2", "3", "4", "5", "6"], [16, 16, 16, 16, 16, 8]);
        foreach (var copies in new[] { 1, 2 })
        {
            var profile = Profile("c", Enumerable.Repeat(reference, copies).SelectMany(r => r), ColumnKind.Categorical);
            var result = DriftDetector.Compare(profile, Window("c", current)).Columns.Single();
            Assert.Equal(DriftTest.ChiSquare, result.Test);
            Assert.Equal(0.67309, result.PValue!.Value, 1e-5);
            Assert.False(result.Drifted);
        }
    }

    [Fact]
    public void Compare_MissingValues_LeftOutOfTestsAndRated()
    {
        // Evidently's test_cat_feature_with_nans: the same shares apart from missing values give p = 1.
        var reference = Expand(["a", "b", ""], [10, 10, 10]);
        var result = DriftDetector.Compare(Profile("c", reference), Window("c", reference)).Columns.Single();
        Assert.Equal(1.0, result.PValue!.Value, 1e-12);
        Assert.Equal(1.0 / 3, result.ReferenceMissingRate, 1e-15);
        Assert.Equal(20, result.ReferenceCount);
        Assert.False(result.MissingRateJump);
    }

    [Fact]
    public void Compare_OneUnseenCategory_FlagsWithoutDrift()
    {
        var reference = Expand(["a", "b", "c"], [4000, 3000, 3000]);
        var current = Expand(["a", "b", "c", "new"], [399, 300, 300, 1]);
        var result = DriftDetector.Compare(Profile("c", reference), Window("c", current)).Columns.Single();
        Assert.Equal(DriftTest.JensenShannon, result.Test);
        Assert.False(result.Drifted);
        Assert.Equal(1, result.UnseenCount);
        Assert.Equal([new CategoryCount("new", 1)], result.UnseenCategories);
        Assert.True(result.Flagged);
    }

    [Fact]
    public void Compare_UnseenCategoryWithSmallReference_ChiSquareIsInfinite()
    {
        // Evidently's chi-square divides by a zero expected count: statistic ∞, p = 0, drift.
        var reference = Expand(["a", "b", "c"], [40, 30, 30]);
        var current = Expand(["a", "b", "c", "new"], [39, 30, 30, 1]);
        var result = DriftDetector.Compare(Profile("c", reference), Window("c", current)).Columns.Single();
        Assert.Equal(DriftTest.ChiSquare, result.Test);
        Assert.Equal(double.PositiveInfinity, result.Statistic);
        Assert.Equal(0, result.PValue);
        Assert.True(result.Drifted);

        var json = JsonSerializer.Serialize(result, ModelGateJson.Options);
        Assert.Contains("\"statistic\":\"Infinity\"", json);
    }

    [Fact]
    public void Compare_MissingRateJumpOfAtLeastATenth_Flags()
    {
        var reference = Expand(["a", "b", ""], [45, 45, 10]);
        var below = DriftDetector.Compare(Profile("c", reference), Window("c", Expand(["a", "b", ""], [41, 40, 19]))).Columns.Single();
        var above = DriftDetector.Compare(Profile("c", reference), Window("c", Expand(["a", "b", ""], [40, 40, 20]))).Columns.Single();
        Assert.False(below.MissingRateJump);
        Assert.True(above.MissingRateJump);
        Assert.True(above.Flagged);
    }

    [Fact]
    public void Compare_NumericWindowAsNumbersOrStrings_GivesTheSameResult()
    {
        var random = new Random(11);
        var reference = Enumerable.Range(0, 3000).Select(_ => Math.Round(random.NextDouble() * 50, 2).ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        var numbers = Enumerable.Range(0, 500).Select(_ => Math.Round(random.NextDouble() * 50 + 3, 2)).ToArray();
        var strings = numbers.Select(n => n.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        var profile = Profile("n", reference);
        var fromNumbers = DriftDetector.Compare(profile, new DriftWindow(500).Add("n", numbers)).Columns.Single();
        var fromStrings = DriftDetector.Compare(profile, new DriftWindow(500).Add("n", strings)).Columns.Single();
        Assert.Equal(fromNumbers, fromStrings with { UnseenCategories = fromNumbers.UnseenCategories });
        Assert.Equal(DriftTest.Wasserstein, fromNumbers.Test);
        Assert.True(fromNumbers.Drifted); // a shift of 3 on a uniform [0, 50] has normalized W1 = 3 / 14.4 ≈ 0.21
    }

    [Fact]
    public void Compare_InvalidNumbers_CountedAndLeftOut()
    {
        var profile = Profile("n", ["1", "2", "3", "4", "5", "6", "7"]);
        var result = DriftDetector.Compare(profile, Window("n", ["1", "2", "x", "4", "5", "6", "7"])).Columns.Single();
        Assert.Equal(1, result.WindowInvalidCount);
        Assert.Equal(6, result.WindowCount);
    }

    [Fact]
    public void Compare_PsiOnRequest_UsesPsiThreshold()
    {
        var reference = Expand(["a", "b"], [500, 500]);
        var options = new DriftOptions { Test = DriftTest.Psi };
        var same = DriftDetector.Compare(Profile("c", reference), Window("c", Expand(["a", "b"], [50, 50])), options).Columns.Single();
        var shifted = DriftDetector.Compare(Profile("c", reference), Window("c", Expand(["a", "b"], [70, 30])), options).Columns.Single();
        Assert.Equal(DriftTest.Psi, same.Test);
        Assert.Equal(0.1, same.Threshold);
        Assert.Equal(0, same.Statistic!.Value, 1e-15);
        // (0.5 − 0.7) ln(0.5/0.7) + (0.5 − 0.3) ln(0.5/0.3) = 0.2 ln(7/3) = 0.169
        Assert.Equal(0.2 * Math.Log(7.0 / 3), shifted.Statistic!.Value, 1e-12);
        Assert.True(shifted.Drifted);
    }

    [Fact]
    public void Compare_KsAndWassersteinOnCategoricalColumn_Throw()
    {
        var profile = Profile("c", ["a", "b", "c"]);
        Assert.Throws<ArgumentException>(() => DriftDetector.Compare(profile, Window("c", ["a"]), new DriftOptions { Test = DriftTest.KolmogorovSmirnov }));
    }

    [Fact]
    public void Compare_DatasetDrift_WhenHalfTheTestedColumnsDrift()
    {
        var header = new[] { "a", "b" };
        string[][] referenceRows = [.. Enumerable.Range(0, 200).Select(i => new[] { (i % 20).ToString(System.Globalization.CultureInfo.InvariantCulture), (i % 10).ToString(System.Globalization.CultureInfo.InvariantCulture) })];
        string[][] windowRows = [.. Enumerable.Range(0, 200).Select(i => new[] { (i % 20 + 15).ToString(System.Globalization.CultureInfo.InvariantCulture), (i % 10).ToString(System.Globalization.CultureInfo.InvariantCulture) })];
        var report = DriftDetector.Compare(DatasetProfile.FromRows(header, referenceRows), DriftWindow.FromRows(header, windowRows));
        Assert.Equal(2, report.TestedColumns);
        Assert.Equal(1, report.DriftedColumns);
        Assert.Equal(0.5, report.DriftShare);
        Assert.True(report.DatasetDrift);
        Assert.Equal(["a"], report.FlaggedColumns);
    }

    [Fact]
    public void Compare_AbsentAndEmptyColumns_ReportedNotTested()
    {
        var profile = DatasetProfile.FromRows(["a", "b"], [["1", "x"], ["2", "y"]]);
        var report = DriftDetector.Compare(profile, new DriftWindow(2).Add("a", new[] { "", "" }));
        Assert.Equal(["b"], report.MissingColumns);
        var a = report.Columns.Single();
        Assert.Null(a.Test);
        Assert.NotNull(a.Note);
        Assert.True(a.MissingRateJump);
        Assert.Equal(0, report.TestedColumns);
        Assert.False(report.DatasetDrift);
    }

    [Fact]
    public void Profile_InfersKinds_AndKeepsSummaries()
    {
        var profile = DatasetProfile.FromRows(["n", "c"], [["1.5", "x"], ["", "y"], ["3", "x"], ["2", ""]]);
        var n = profile.Column("n")!;
        Assert.Equal(ColumnKind.Numeric, n.Kind);
        Assert.Equal(0.25, n.MissingRate);
        Assert.Equal(2.1666666666666665, n.Numeric!.Mean, 1e-15);
        Assert.Equal(Math.Sqrt((0.6666666666666666 * 0.6666666666666666 + 0.1666666666666667 * 0.1666666666666667 + 0.8333333333333335 * 0.8333333333333335) / 3), n.Numeric.StandardDeviation, 1e-15);
        Assert.Equal([1.5, 2, 3], n.Numeric.Values);
        Assert.Equal(ColumnKind.Categorical, profile.Column("c")!.Kind);
        Assert.Equal([new CategoryCount("x", 2), new CategoryCount("y", 1)], profile.Column("c")!.Categorical!.Categories);
    }

    [Fact]
    public void Profile_Deciles_AreNumpyLinearQuantiles()
    {
        // numpy.quantile(range(1, 12), 0.1..0.9) = 2, 3, …, 10 (position q·(n − 1)); of 1..10: 1.9, 2.8, …, 9.1.
        var profile = Profile("n", Enumerable.Range(1, 10).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        var expected = new[] { 1.9, 2.8, 3.7, 4.6, 5.5, 6.4, 7.3, 8.2, 9.1 };
        Assert.Equal(expected, profile.Column("n")!.Numeric!.Deciles.ToArray(), (a, b) => Math.Abs(a - b) < 1e-12);
    }

    [Fact]
    public void Profile_ManyDistinctValues_CompressedToBoundedWeightedPoints()
    {
        var values = Enumerable.Range(0, 50_000).Select(i => (i * 7919 % 50_000).ToString(System.Globalization.CultureInfo.InvariantCulture));
        var summary = Profile("n", values).Column("n")!.Numeric!;
        Assert.False(summary.Exact);
        Assert.Equal(10_000, summary.Values.Length);
        Assert.Equal(50_000, summary.Counts.Sum());
        Assert.Equal(50_000, summary.DistinctCount);
        Assert.Equal(0, summary.Min);
        Assert.Equal(49_999, summary.Max);
    }

    [Fact]
    public void Profile_RoundTripsThroughJson()
    {
        var profile = DatasetProfile.FromRows(["n", "c"], [["1.5", "x"], ["", "y"], ["3", "x"], ["2", ""]]);
        var json = JsonSerializer.Serialize(profile, ModelGateJson.Options);
        var back = JsonSerializer.Deserialize<DatasetProfile>(json, ModelGateJson.Options)!;
        Assert.Equal(json, JsonSerializer.Serialize(back, ModelGateJson.Options));
        Assert.Contains("\"kind\":\"Numeric\"", json);
    }

    private static string[] Expand(string[] values, int[] counts) =>
        values.Zip(counts).SelectMany(vc => Enumerable.Repeat(vc.First, vc.Second)).ToArray();
}
