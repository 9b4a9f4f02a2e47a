using System.Globalization;
using System.Text.Json;
using ModelGate.Evaluation.Metrics;

namespace ModelGate.Tests.Evaluation;

/// <summary>
/// Checks against fixtures/models/adult-income/reference-metrics.json, which scikit-learn and Fairlearn computed for
/// four real models on the Adult test set. Their predictions are not in the repository, but the published figures pin
/// down the counts they came from: with n rows, P actual positives (counted from test.csv) and the published
/// positive rate, precision and recall, the confusion matrix is
///   predicted positives k = positive_rate * n,  tp = recall * P,  fp = k - tp,  fn = P - tp,  tn = n - P - fp,
/// and per-sex selected counts are rate_by_sex * group size. Rebuilding rows with exactly those counts and running
/// them through this library must reproduce every other figure that depends only on them: accuracy, F1, and the
/// demographic-parity difference and ratio. (ROC AUC, log loss and most equalized-odds figures need the actual scores
/// and so are checked on small published examples elsewhere.)
/// </summary>
public sealed class AdultReferenceTests
{
    public static TheoryData<string> Models => new() { "v1-logreg", "v2-mlp", "v3-biased", "v4-broken" };

    [Theory]
    [MemberData(nameof(Models))]
    public void ThresholdMetrics_CountsImpliedByReference_ReproduceSklearnFigures(string model)
    {
        var (reference, rows) = Load(model);
        var truth = rows.Select(r => r.Truth).ToArray();
        var predicted = rows.Select(r => r.Predicted).ToArray();

        var matrix = BinaryConfusionMatrix.FromLabels(truth, predicted);
        Assert.Equal(reference.GetProperty("accuracy").GetDouble(), matrix.Accuracy, 1e-15);
        Assert.Equal(reference.GetProperty("precision").GetDouble(), matrix.Precision, 1e-15);
        Assert.Equal(reference.GetProperty("recall").GetDouble(), matrix.Recall, 1e-15);
        Assert.Equal(reference.GetProperty("f1").GetDouble(), matrix.F1, 1e-15);
        Assert.Equal(reference.GetProperty("positive_rate").GetDouble(), matrix.PositiveRate, 1e-15);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void DemographicParity_CountsImpliedByReference_ReproduceFairlearnFigures(string model)
    {
        var (reference, rows) = Load(model);
        var truth = rows.Select(r => r.Truth).ToArray();
        var predicted = rows.Select(r => r.Predicted).ToArray();
        var sex = rows.Select(r => (string?)r.Sex).ToArray();

        var bySex = FairnessMetrics.SelectionRateByGroup(predicted, sex);
        foreach (var group in reference.GetProperty("positive_rate_by_sex").EnumerateObject())
            Assert.Equal(group.Value.GetDouble(), bySex[group.Name], 1e-15);
        Assert.Equal(reference.GetProperty("demographic_parity_difference_sex").GetDouble(),
            FairnessMetrics.DemographicParityDifference(truth, predicted, sex), 1e-15);
        Assert.Equal(reference.GetProperty("demographic_parity_ratio_sex").GetDouble(),
            FairnessMetrics.DemographicParityRatio(truth, predicted, sex), 1e-15);
    }

    [Fact]
    public void EqualizedOdds_BrokenModel_IsItsOneFalsePositiveOverMaleNegatives()
    {
        // v4-broken predicts one positive in 16281 rows, and its precision is 0, so that row is a false positive;
        // all of its selections are male. Every TPR is 0, female FPR is 0, male FPR is 1 / (male negatives),
        // so the worst-case gap is fixed by the data alone: 1 / 7604 per test.csv.
        var (reference, rows) = Load("v4-broken");
        var truth = rows.Select(r => r.Truth).ToArray();
        var predicted = rows.Select(r => r.Predicted).ToArray();
        var sex = rows.Select(r => (string?)r.Sex).ToArray();
        Assert.Equal(reference.GetProperty("equalized_odds_difference_sex").GetDouble(),
            FairnessMetrics.EqualizedOddsDifference(truth, predicted, sex), 1e-15);
    }

    private sealed record Row(int Truth, int Predicted, string Sex);

    private static (JsonElement Metrics, Row[] Rows) Load(string model)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(ReferencePath()));
        var metrics = doc.RootElement.GetProperty("models").GetProperty(model).GetProperty("metrics").Clone();
        var population = CountSexAndIncome();
        var n = population.Values.Sum();
        Assert.Equal(doc.RootElement.GetProperty("rows").GetInt32(), n);

        var positives = population.Where(p => p.Key.Income == 1).Sum(p => p.Value);
        var selected = Count(metrics.GetProperty("positive_rate").GetDouble() * n);
        var truePositives = Count(metrics.GetProperty("recall").GetDouble() * positives);
        var falsePositives = selected - truePositives;

        // Share the true and false positives out between the sexes so each sex gets its published selected count.
        var rows = new List<Row>(n);
        var tpLeft = truePositives;
        var fpLeft = falsePositives;
        foreach (var sex in new[] { "Female", "Male" })
        {
            int groupPositives = population[(sex, 1)], groupNegatives = population[(sex, 0)];
            var groupSelected = Count(metrics.GetProperty("positive_rate_by_sex").GetProperty(sex).GetDouble() * (groupPositives + groupNegatives));
            var tp = Math.Min(Math.Min(groupSelected, groupPositives), tpLeft);
            var fp = groupSelected - tp;
            Assert.InRange(fp, 0, Math.Min(groupNegatives, fpLeft));
            tpLeft -= tp;
            fpLeft -= fp;
            rows.AddRange(Enumerable.Repeat(new Row(1, 1, sex), tp));
            rows.AddRange(Enumerable.Repeat(new Row(1, 0, sex), groupPositives - tp));
            rows.AddRange(Enumerable.Repeat(new Row(0, 1, sex), fp));
            rows.AddRange(Enumerable.Repeat(new Row(0, 0, sex), groupNegatives - fp));
        }
        Assert.Equal((0, 0), (tpLeft, fpLeft));
        return (metrics, rows.ToArray());
    }

    private static int Count(double expected)
    {
        var count = Math.Round(expected);
        Assert.Equal(count, expected, 1e-6); // the published rates must be exact ratios of whole counts
        return (int)count;
    }

    private static Dictionary<(string Sex, int Income), int> CountSexAndIncome()
    {
        var counts = new Dictionary<(string, int), int>();
        using var reader = new StreamReader(TestCsvPath());
        var header = reader.ReadLine()!.Split(',');
        int sexColumn = Array.IndexOf(header, "sex"), incomeColumn = Array.IndexOf(header, "income");
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0) continue;
            var fields = line.Split(',');
            var key = (fields[sexColumn], int.Parse(fields[incomeColumn], CultureInfo.InvariantCulture));
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }
        return counts;
    }

    private static string ReferencePath() =>
        Path.Combine(AppContext.BaseDirectory, "fixtures", "models", "adult-income", "reference-metrics.json");

    private static string TestCsvPath()
    {
        var relative = Path.Combine("fixtures", "datasets", "adult", "test.csv");
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, relative);
            if (File.Exists(candidate)) return candidate;
        }
        throw new FileNotFoundException("fixtures/datasets/adult/test.csv not found next to or above the test binaries");
    }
}
