using System.Globalization;
using System.Text.Json;
using ModelGate.Client;
using ModelGate.Evaluation.Datasets;
using ModelGate.Monitoring.Drift;

namespace ModelGate.Tests.Monitoring;

/// <summary>The UCI Adult tables, loaded once: train.csv profiled as the baseline, test.csv as the source of windows.</summary>
public sealed class AdultDriftFixture
{
    public AdultDriftFixture()
    {
        Train = CsvTable.Parse(File.ReadAllText(Locate("train.csv")));
        Test = CsvTable.Parse(File.ReadAllText(Locate("test.csv")));
        Profile = DatasetProfile.FromColumns(Columns(Train));
    }

    public CsvTable Train { get; }
    public CsvTable Test { get; }
    public DatasetProfile Profile { get; }

    public static IReadOnlyList<KeyValuePair<string, IReadOnlyList<string?>>> Columns(CsvTable table, int take = int.MaxValue) =>
        table.ColumnNames.Select(n => new KeyValuePair<string, IReadOnlyList<string?>>(n, table.Strings(n).Take(take).ToArray())).ToList();

    /// <summary>Rows [start, start + count) of test.csv as a window, every column as strings.</summary>
    public DriftWindow Window(int start, int count, Action<string, string[]>? edit = null)
    {
        var window = new DriftWindow(count);
        foreach (var name in Test.ColumnNames)
        {
            var values = Test.Strings(name).AsSpan(start, count).ToArray();
            edit?.Invoke(name, values);
            window.Add(name, values);
        }
        return window;
    }

    private static string Locate(string file)
    {
        var relative = Path.Combine("fixtures", "datasets", "adult", file);
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, relative);
            if (File.Exists(candidate)) return candidate;
        }
        throw new FileNotFoundException($"{relative} not found next to or above the test binaries");
    }
}

/// <summary>
/// Drift on real data: a train.csv baseline (32,561 rows, so Evidently picks Wasserstein and Jensen-Shannon) against
/// windows of test.csv, untouched and shifted on purpose.
/// </summary>
public sealed class AdultDriftTests(AdultDriftFixture adult) : IClassFixture<AdultDriftFixture>
{
    private const int WindowSize = 2000;

    [Fact]
    public void Profile_TrainCsv_KindsCountsAndMissingRates()
    {
        var profile = adult.Profile;
        Assert.Equal(32_561, profile.RowCount);
        Assert.Equal(15, profile.Columns.Count);
        string[] numeric = ["age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week", "income"];
        Assert.All(profile.Columns, c => Assert.Equal(numeric.Contains(c.Name) ? ColumnKind.Numeric : ColumnKind.Categorical, c.Kind));
        // The UCI documentation's counts of "?" in adult.data: workclass 1,836, occupation 1,843, native-country 583.
        Assert.Equal(1836, profile.Column("workclass")!.MissingCount);
        Assert.Equal(1843, profile.Column("occupation")!.MissingCount);
        Assert.Equal(583, profile.Column("native_country")!.MissingCount);
        Assert.Equal(17, profile.Column("age")!.Numeric!.Min);
        Assert.Equal(90, profile.Column("age")!.Numeric!.Max);
        Assert.Equal(7841, profile.Column("income")!.Numeric!.Counts[1]); // 7,841 incomes above 50K (UCI: 24.08 %)
    }

    [Fact]
    public void Compare_EveryTestCsvWindow_DriftsOnNoColumn()
    {
        for (var start = 0; start + WindowSize <= adult.Test.RowCount; start += WindowSize)
        {
            var report = DriftDetector.Compare(adult.Profile, adult.Window(start, WindowSize));
            Assert.Equal(15, report.TestedColumns);
            Assert.True(report.FlaggedColumns.Count == 0, $"rows {start}..{start + WindowSize}: {Describe(report)}");
            Assert.False(report.DatasetDrift);
            Assert.All(report.Columns, c => Assert.Equal(c.Kind == ColumnKind.Numeric && c.Column != "income" ? DriftTest.Wasserstein : DriftTest.JensenShannon, c.Test));
        }
    }

    [Fact]
    public void Compare_WholeTestCsv_DriftsOnNoColumn()
    {
        var report = DriftDetector.Compare(adult.Profile, adult.Window(0, adult.Test.RowCount));
        Assert.Empty(report.FlaggedColumns);
        Assert.All(report.Columns, c => Assert.True(c.Statistic < 0.05, $"{c.Column}: {c.Statistic}"));
    }

    [Fact]
    public void Compare_OlderAndLongerHours_FlagsExactlyAgeAndHours()
    {
        // Numbers passed as numbers, as sampled tensor inputs would be.
        var window = new DriftWindow(WindowSize);
        foreach (var name in adult.Test.ColumnNames)
        {
            var strings = adult.Test.Strings(name).AsSpan(0, WindowSize).ToArray();
            if (name is "age" or "hours_per_week")
            {
                var shift = name == "age" ? 15 : 10;
                window.Add(name, strings.Select(s => double.Parse(s, CultureInfo.InvariantCulture) + shift).ToArray());
            }
            else
            {
                window.Add(name, strings);
            }
        }
        var report = DriftDetector.Compare(adult.Profile, window);

        Assert.Equal(["age", "hours_per_week"], report.FlaggedColumns);
        var age = report.Columns.Single(c => c.Column == "age");
        var hours = report.Columns.Single(c => c.Column == "hours_per_week");
        Assert.True(age.Drifted && hours.Drifted);
        // A pure shift moves W1 by the shift itself: 15 / std(age) and 10 / std(hours), give or take the sample.
        Assert.Equal(15 / adult.Profile.Column("age")!.Numeric!.StandardDeviation, age.Statistic!.Value, 0.05);
        Assert.Equal(10 / adult.Profile.Column("hours_per_week")!.Numeric!.StandardDeviation, hours.Statistic!.Value, 0.05);
        Assert.False(report.DatasetDrift);
    }

    [Fact]
    public void Compare_NewWorkclass_FlagsWorkclassOnly()
    {
        // Every fifth row gets a workclass train.csv never had.
        var report = DriftDetector.Compare(adult.Profile, adult.Window(0, WindowSize, (name, values) =>
        {
            if (name != "workclass") return;
            for (var i = 0; i < values.Length; i += 5) values[i] = "Gig-economy";
        }));

        Assert.Equal(["workclass"], report.FlaggedColumns);
        var workclass = report.Columns.Single(c => c.Column == "workclass");
        Assert.Equal(400, workclass.UnseenCount);
        Assert.Equal([new CategoryCount("Gig-economy", 400)], workclass.UnseenCategories);
        Assert.True(workclass.Drifted); // a fifth of the mass on a new category: Jensen-Shannon ≈ 0.3
        Assert.False(workclass.MissingRateJump);
    }

    [Fact]
    public void Compare_SixtyPercentOccupationBlank_FlagsOccupationMissingRateOnly()
    {
        var report = DriftDetector.Compare(adult.Profile, adult.Window(0, WindowSize, (name, values) =>
        {
            if (name != "occupation") return;
            for (var i = 0; i < values.Length; i++)
            {
                if (i % 5 < 3) values[i] = "";
            }
        }));

        Assert.Equal(["occupation"], report.FlaggedColumns);
        var occupation = report.Columns.Single(c => c.Column == "occupation");
        Assert.True(occupation.MissingRateJump);
        Assert.InRange(occupation.WindowMissingRate, 0.6, 0.65);
        Assert.Equal(0.0566, occupation.ReferenceMissingRate, 1e-4);
        Assert.False(occupation.Drifted); // the values that remain still look like train.csv
        Assert.Equal(0, occupation.UnseenCount);
    }

    [Fact]
    public void Compare_AllShiftsTogether_FlagExactlyTheShiftedColumns()
    {
        var report = DriftDetector.Compare(adult.Profile, adult.Window(4000, WindowSize, (name, values) =>
        {
            for (var i = 0; i < values.Length; i++)
            {
                switch (name)
                {
                    case "age": values[i] = (int.Parse(values[i], CultureInfo.InvariantCulture) + 15).ToString(CultureInfo.InvariantCulture); break;
                    case "hours_per_week": values[i] = (int.Parse(values[i], CultureInfo.InvariantCulture) + 10).ToString(CultureInfo.InvariantCulture); break;
                    case "workclass" when i % 5 == 0: values[i] = "Gig-economy"; break;
                    case "occupation" when i % 5 < 3: values[i] = ""; break;
                }
            }
        }));

        Assert.Equal(["age", "workclass", "occupation", "hours_per_week"], report.FlaggedColumns);
        Assert.Equal(3, report.DriftedColumns); // age, workclass, hours_per_week; occupation is flagged for its missing rate
        Assert.Equal(3.0 / 15, report.DriftShare, 1e-15);
        Assert.False(report.DatasetDrift);
    }

    [Fact]
    public void Compare_PsiOnRequest_NaturalWindowBelowThresholdShiftedAgeAbove()
    {
        var options = new DriftOptions { Test = DriftTest.Psi };
        var natural = DriftDetector.Compare(adult.Profile, adult.Window(0, WindowSize), options);
        Assert.True(natural.FlaggedColumns.Count == 0, Describe(natural));
        Assert.All(natural.Columns, c => Assert.Equal(DriftTest.Psi, c.Test));

        var shifted = DriftDetector.Compare(adult.Profile, adult.Window(0, WindowSize, (name, values) =>
        {
            if (name != "age") return;
            for (var i = 0; i < values.Length; i++) values[i] = (int.Parse(values[i], CultureInfo.InvariantCulture) + 15).ToString(CultureInfo.InvariantCulture);
        }), options);
        Assert.Equal(["age"], shifted.FlaggedColumns);
    }

    [Fact]
    public void Compare_SmallReference_UsesKsForNumericColumns()
    {
        // 1,000 reference rows: Evidently switches numeric columns to the KS test (p ≤ 0.05).
        var small = DatasetProfile.FromColumns(AdultDriftFixture.Columns(adult.Train, 1000));
        var natural = DriftDetector.Compare(small, adult.Window(0, WindowSize));
        var numeric = natural.Columns.Where(c => c.Kind == ColumnKind.Numeric && c.Column != "income").ToList();
        Assert.All(numeric, c => Assert.Equal(DriftTest.KolmogorovSmirnov, c.Test));
        Assert.All(numeric, c => Assert.False(c.Drifted, $"{c.Column}: p = {c.PValue}"));

        var shifted = DriftDetector.Compare(small, adult.Window(0, WindowSize, (name, values) =>
        {
            if (name != "hours_per_week") return;
            for (var i = 0; i < values.Length; i++) values[i] = (int.Parse(values[i], CultureInfo.InvariantCulture) + 10).ToString(CultureInfo.InvariantCulture);
        }));
        var hours = shifted.Columns.Single(c => c.Column == "hours_per_week");
        Assert.True(hours.Drifted);
        Assert.True(hours.PValue < 1e-10);
    }

    [Fact]
    public void Compare_StoredProfile_GivesTheSameReport()
    {
        var json = JsonSerializer.Serialize(adult.Profile, ModelGateJson.Options);
        var stored = JsonSerializer.Deserialize<DatasetProfile>(json, ModelGateJson.Options)!;
        var window = adult.Window(2000, WindowSize);
        Assert.Equal(
            JsonSerializer.Serialize(DriftDetector.Compare(adult.Profile, window), ModelGateJson.Options),
            JsonSerializer.Serialize(DriftDetector.Compare(stored, window), ModelGateJson.Options));
        Assert.InRange(json.Length, 10_000, 1_000_000);
    }

    private static string Describe(DriftReport report) =>
        string.Join("; ", report.Columns.Select(c => $"{c.Column} {c.Test} {c.Statistic:G4} drifted={c.Drifted} missing {c.ReferenceMissingRate:F3}->{c.WindowMissingRate:F3} unseen={c.UnseenCount}"));
}
