using System.Buffers;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using ModelGate.Monitoring.Statistics;

namespace ModelGate.Monitoring.Drift;

/// <summary>
/// Compares a live window with a reference <see cref="DatasetProfile"/> column by column, choosing the test as
/// Evidently's <c>_get_default_stattest</c> does (stattests/registry.py) on the non-missing values of each side:
/// <list type="bullet">
/// <item>reference with ≤ 1,000 values: numeric — KS (p ≤ 0.05), or for ≤ 5 distinct values chi-square (p &lt; 0.05)
/// and for ≤ 2 the two-proportion Z-test; categorical — chi-square, or the Z-test for ≤ 2 distinct values;</item>
/// <item>larger references: numeric — Wasserstein distance / reference std (≥ 0.1), or Jensen-Shannon for ≤ 5
/// distinct values; categorical — Jensen-Shannon distance (≥ 0.1);</item>
/// <item>PSI (≥ 0.1), or any other test, on request per column or for all.</item>
/// </list>
/// Jensen-Shannon and PSI bucket a numeric column with more than 20 distinct reference values into numpy's
/// Sturges bins over the pooled range (as Evidently's get_binned_data), and anything else by value. Missing values
/// are left out of the tests and tracked on their own: a column is flagged when its missing rate jumps or the window
/// holds categories the reference never had. The window is parsed and sorted once per column, with buffers from
/// the shared pool and no per-row allocation.
/// </summary>
public static class DriftDetector
{
    private static readonly ConditionalWeakTable<CategoricalSummary, Dictionary<string, int>> CategoryIndexes = new();

    public static DriftReport Compare(DatasetProfile profile, DriftWindow window, DriftOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(window);
        options ??= new DriftOptions();
        var results = new List<ColumnDriftResult>(profile.Columns.Count);
        var absent = new List<string>();
        foreach (var column in profile.Columns)
        {
            if (!window.TryGet(column.Name, out var data))
            {
                absent.Add(column.Name);
                continue;
            }
            results.Add(column.Kind == ColumnKind.Numeric
                ? CompareNumeric(column, data, window.RowCount, options)
                : CompareCategorical(column, data, window.RowCount, options));
        }
        var tested = results.Count(r => r.Test is not null);
        var drifted = results.Count(r => r.Drifted);
        var share = tested == 0 ? 0 : (double)drifted / tested;
        return new DriftReport
        {
            ReferenceRows = profile.RowCount,
            WindowRows = window.RowCount,
            Columns = results,
            TestedColumns = tested,
            DriftedColumns = drifted,
            DriftShare = share,
            DatasetDriftShare = options.DatasetDriftShare,
            DatasetDrift = tested > 0 && share >= options.DatasetDriftShare,
            FlaggedColumns = results.Where(r => r.Flagged).Select(r => r.Column).ToList(),
            MissingColumns = absent,
        };
    }

    private static DriftTest? RequestedTest(string column, DriftOptions options) =>
        options.ColumnTests is not null && options.ColumnTests.TryGetValue(column, out var test) ? test : options.Test;

    private static double Threshold(string column, DriftTest test, DriftOptions options) =>
        options.ColumnThresholds is not null && options.ColumnThresholds.TryGetValue(column, out var threshold)
            ? threshold
            : DriftOptions.DefaultThreshold(test);

    private static bool IsDrift(DriftTest test, double score, double threshold) => test switch
    {
        DriftTest.KolmogorovSmirnov => score <= threshold,
        DriftTest.ChiSquare or DriftTest.ZTest => score < threshold,
        _ => score >= threshold,
    };

    private static bool Jump(double referenceRate, double windowRate, DriftOptions options) =>
        windowRate - referenceRate >= options.MissingRateIncrease;

    // ---------------------------------------------------------------- numeric

    private static ColumnDriftResult CompareNumeric(ColumnProfile column, DriftWindow.WindowColumn data, int rows, DriftOptions options)
    {
        var buffer = ArrayPool<double>.Shared.Rent(Math.Max(rows, 1));
        try
        {
            int count = 0, missing = 0, invalid = 0;
            if (data.IsNumeric)
            {
                foreach (var v in data.Numbers.Span)
                {
                    if (double.IsFinite(v)) buffer[count++] = v;
                    else missing++;
                }
            }
            else
            {
                foreach (var s in data.Strings.Span)
                {
                    if (DatasetProfile.IsMissing(s)) missing++;
                    else if (!DatasetProfile.TryParseNumber(s!, out var v)) invalid++;
                    else if (double.IsFinite(v)) buffer[count++] = v;
                    else missing++;
                }
            }
            var window = buffer.AsSpan(0, count);
            window.Sort();

            var windowMissingRate = rows == 0 ? 0 : (double)missing / rows;
            var result = new ColumnDriftResult
            {
                Column = column.Name,
                Kind = ColumnKind.Numeric,
                ReferenceCount = column.ValueCount,
                WindowCount = count,
                ReferenceMissingRate = column.MissingRate,
                WindowMissingRate = windowMissingRate,
                MissingRateJump = rows > 0 && Jump(column.MissingRate, windowMissingRate, options),
                WindowInvalidCount = invalid,
                UnseenCategories = [],
            };
            var summary = column.Numeric;
            if (summary is null) return result with { Note = "the reference has no values in this column" };
            if (count == 0) return result with { Note = "the window has no values in this column" };

            var union = UnionDistinct(summary.Values, window);
            var small = summary.Count <= DriftOptions.SmallReference;
            var test = RequestedTest(column.Name, options)
                ?? (small
                    ? union <= 5 ? (union > 2 ? DriftTest.ChiSquare : DriftTest.ZTest) : DriftTest.KolmogorovSmirnov
                    : union <= 5 ? DriftTest.JensenShannon : DriftTest.Wasserstein);
            var threshold = Threshold(column.Name, test, options);

            double statistic;
            double? pValue = null;
            switch (test)
            {
                case DriftTest.KolmogorovSmirnov:
                {
                    var ks = KolmogorovSmirnov.TwoSampleSorted(summary.Values, summary.Counts, window);
                    statistic = ks.Statistic;
                    pValue = ks.PValue;
                    break;
                }
                case DriftTest.Wasserstein:
                    statistic = DriftStatistics.Wasserstein(summary.Values, summary.Counts, window) / Math.Max(summary.StandardDeviation, 0.001);
                    break;
                case DriftTest.ChiSquare or DriftTest.ZTest:
                    (statistic, pValue) = KeyedTest(test, ByValue(summary, window, union));
                    break;
                default:
                    // Jensen-Shannon and PSI: Sturges bins over the pooled range for more than 20 distinct reference values.
                    var buckets = summary.DistinctCount > 20 ? ByBin(summary, window) : ByValue(summary, window, union);
                    statistic = KeyedTest(test, buckets).Statistic;
                    break;
            }
            var score = pValue ?? statistic;
            var note = summary.Exact ? null : $"the reference is kept as {summary.Values.Length} weighted points of {summary.Count} values";
            return result with
            {
                Test = test,
                Statistic = statistic,
                PValue = pValue,
                Threshold = threshold,
                Drifted = IsDrift(test, score, threshold),
                Note = note,
            };
        }
        finally
        {
            ArrayPool<double>.Shared.Return(buffer);
        }
    }

    private static int UnionDistinct(ReadOnlySpan<double> referenceValues, ReadOnlySpan<double> window)
    {
        int i = 0, j = 0, count = 0;
        while (i < referenceValues.Length || j < window.Length)
        {
            var v = j >= window.Length || (i < referenceValues.Length && referenceValues[i] <= window[j]) ? referenceValues[i] : window[j];
            count++;
            while (i < referenceValues.Length && referenceValues[i] == v) i++;
            while (j < window.Length && window[j] == v) j++;
        }
        return count;
    }

    // Counts per distinct value of the union, ascending (Evidently's value keys; sorted keys for the Z-test).
    private static Buckets ByValue(NumericSummary summary, ReadOnlySpan<double> window, int union)
    {
        var reference = new double[union];
        var current = new double[union];
        int i = 0, j = 0, k = 0;
        while (i < summary.Values.Length || j < window.Length)
        {
            var v = j >= window.Length || (i < summary.Values.Length && summary.Values[i] <= window[j]) ? summary.Values[i] : window[j];
            while (i < summary.Values.Length && summary.Values[i] == v) reference[k] += summary.Counts[i++];
            while (j < window.Length && window[j] == v) { current[k]++; j++; }
            k++;
        }
        return new Buckets(reference, current, summary.Count, window.Length, ReferenceDistinct: summary.DistinctCount, WindowDistinct: CountDistinct(window));
    }

    private static Buckets ByBin(NumericSummary summary, ReadOnlySpan<double> window)
    {
        var edges = DriftStatistics.SturgesEdges(Math.Min(summary.Min, window[0]), Math.Max(summary.Max, window[^1]), summary.Count + window.Length);
        var referenceCounts = new long[edges.Length - 1];
        var windowCounts = new long[edges.Length - 1];
        DriftStatistics.Histogram(summary.Values, summary.Counts, edges, referenceCounts);
        DriftStatistics.Histogram(window, [], edges, windowCounts);
        return new Buckets(
            Array.ConvertAll(referenceCounts, c => (double)c),
            Array.ConvertAll(windowCounts, c => (double)c),
            summary.Count,
            window.Length,
            summary.DistinctCount,
            CountDistinct(window));
    }

    private static int CountDistinct(ReadOnlySpan<double> sorted)
    {
        var count = sorted.Length == 0 ? 0 : 1;
        for (var i = 1; i < sorted.Length; i++)
        {
            if (sorted[i] != sorted[i - 1]) count++;
        }
        return count;
    }

    // ---------------------------------------------------------------- categorical

    private static ColumnDriftResult CompareCategorical(ColumnProfile column, DriftWindow.WindowColumn data, int rows, DriftOptions options)
    {
        var summary = column.Categorical ?? new CategoricalSummary { Categories = [] };
        var index = CategoryIndexes.GetValue(summary, BuildIndex);
        var truncated = summary.OtherCount > 0;
        var windowCounts = new long[summary.Categories.Count + (truncated ? 1 : 0)];
        Dictionary<string, long>? unseen = null;
        var missing = 0;
        long count = 0;

        void Count(string? value)
        {
            if (DatasetProfile.IsMissing(value))
            {
                missing++;
                return;
            }
            count++;
            if (index.TryGetValue(value!, out var k)) windowCounts[k]++;
            else if (truncated) windowCounts[^1]++;
            else CollectionsMarshal.GetValueRefOrAddDefault(unseen ??= new Dictionary<string, long>(StringComparer.Ordinal), value!, out _)++;
        }

        if (data.IsNumeric)
        {
            foreach (var v in data.Numbers.Span) Count(double.IsFinite(v) ? v.ToString("R", CultureInfo.InvariantCulture) : null);
        }
        else
        {
            foreach (var s in data.Strings.Span) Count(s);
        }

        var windowMissingRate = rows == 0 ? 0 : (double)missing / rows;
        var unseenList = unseen is null
            ? []
            : unseen.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal)
                .Take(options.MaxUnseenCategoriesListed).Select(kv => new CategoryCount(kv.Key, kv.Value)).ToList();
        var result = new ColumnDriftResult
        {
            Column = column.Name,
            Kind = ColumnKind.Categorical,
            ReferenceCount = summary.Count,
            WindowCount = count,
            ReferenceMissingRate = column.MissingRate,
            WindowMissingRate = windowMissingRate,
            MissingRateJump = rows > 0 && Jump(column.MissingRate, windowMissingRate, options),
            UnseenCount = unseen?.Values.Sum() ?? 0,
            UnseenCategories = unseenList,
            Note = truncated ? "the reference keeps only its most frequent categories: the others are pooled and unseen categories are not reported" : null,
        };
        if (summary.Count == 0) return result with { Note = "the reference has no values in this column" };
        if (count == 0) return result with { Note = "the window has no values in this column" };

        // Buckets: the reference's categories (and its pooled remainder), then each unseen category on its own.
        var extra = unseen?.Count ?? 0;
        var reference = new double[windowCounts.Length + extra];
        var current = new double[windowCounts.Length + extra];
        for (var k = 0; k < summary.Categories.Count; k++) reference[k] = summary.Categories[k].Count;
        if (truncated) reference[summary.Categories.Count] = summary.OtherCount;
        for (var k = 0; k < windowCounts.Length; k++) current[k] = windowCounts[k];
        if (unseen is not null)
        {
            var k = windowCounts.Length;
            foreach (var (_, c) in unseen) current[k++] = c;
        }

        var union = summary.Categories.Count + extra + (truncated ? 1 : 0);
        var small = summary.Count <= DriftOptions.SmallReference;
        var test = RequestedTest(column.Name, options)
            ?? (small ? (union > 2 ? DriftTest.ChiSquare : DriftTest.ZTest) : DriftTest.JensenShannon);
        if (test is DriftTest.KolmogorovSmirnov or DriftTest.Wasserstein)
        {
            throw new ArgumentException($"the {test} test needs a numeric column; '{column.Name}' is categorical");
        }
        var threshold = Threshold(column.Name, test, options);
        if (test == DriftTest.ZTest) OrderForZTest(summary, unseen, truncated, reference, current);
        var windowDistinct = current.Count(c => c > 0);
        var (statistic, pValue) = KeyedTest(test, new Buckets(reference, current, summary.Count, count, summary.DistinctCount, windowDistinct));
        var score = pValue ?? statistic;
        return result with
        {
            Test = test,
            Statistic = statistic,
            PValue = pValue,
            Threshold = threshold,
            Drifted = IsDrift(test, score, threshold),
        };
    }

    private static Dictionary<string, int> BuildIndex(CategoricalSummary summary)
    {
        var index = new Dictionary<string, int>(summary.Categories.Count, StringComparer.Ordinal);
        for (var k = 0; k < summary.Categories.Count; k++) index[summary.Categories[k].Value] = k;
        return index;
    }

    // Evidently's Z-test compares the first of the sorted keys with all others: move that key to bucket 0.
    private static void OrderForZTest(CategoricalSummary summary, Dictionary<string, long>? unseen, bool truncated, double[] reference, double[] current)
    {
        var keys = new List<(string Key, int Bucket)>();
        for (var k = 0; k < summary.Categories.Count; k++) keys.Add((summary.Categories[k].Value, k));
        if (unseen is not null)
        {
            var k = summary.Categories.Count + (truncated ? 1 : 0);
            foreach (var key in unseen.Keys) keys.Add((key, k++));
        }
        if (keys.Count == 0) return;
        var first = keys.MinBy(k => k.Key, StringComparer.Ordinal).Bucket;
        (reference[0], reference[first]) = (reference[first], reference[0]);
        (current[0], current[first]) = (current[first], current[0]);
    }

    // ---------------------------------------------------------------- bucket tests

    private readonly record struct Buckets(double[] Reference, double[] Current, long ReferenceTotal, long CurrentTotal, int ReferenceDistinct, int WindowDistinct);

    private static (double Statistic, double? PValue) KeyedTest(DriftTest test, Buckets buckets)
    {
        switch (test)
        {
            case DriftTest.ChiSquare:
            {
                // Expected window counts from the reference shares (Evidently's k_norm = n_current / n_reference).
                var scale = (double)buckets.CurrentTotal / buckets.ReferenceTotal;
                var expected = new double[buckets.Reference.Length];
                for (var k = 0; k < expected.Length; k++) expected[k] = buckets.Reference[k] * scale;
                var (statistic, p) = DriftStatistics.ChiSquare(buckets.Current, expected);
                return (statistic, p);
            }
            case DriftTest.ZTest:
            {
                // Both sides one and the same value: Evidently's p = 1.
                if (buckets.ReferenceDistinct == 1 && buckets.WindowDistinct == 1 && buckets.Reference[0] > 0 && buckets.Current[0] > 0)
                {
                    return (0, 1);
                }
                var (z, p) = DriftStatistics.ProportionsZTest(
                    buckets.ReferenceTotal - (long)buckets.Reference[0], buckets.ReferenceTotal,
                    buckets.CurrentTotal - (long)buckets.Current[0], buckets.CurrentTotal);
                return (z, p);
            }
            case DriftTest.JensenShannon:
            {
                var p = Shares(buckets.Reference, buckets.ReferenceTotal);
                var q = Shares(buckets.Current, buckets.CurrentTotal);
                return (DriftStatistics.JensenShannonDistance(p, q), null);
            }
            case DriftTest.Psi:
            {
                var p = Shares(buckets.Reference, buckets.ReferenceTotal);
                var q = Shares(buckets.Current, buckets.CurrentTotal);
                DriftStatistics.FillZeroShares(p);
                DriftStatistics.FillZeroShares(q);
                return (DriftStatistics.PopulationStabilityIndex(p, q), null);
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(test), test, "not a bucket test");
        }
    }

    private static double[] Shares(double[] counts, long total)
    {
        var shares = new double[counts.Length];
        for (var k = 0; k < counts.Length; k++) shares[k] = counts[k] / total;
        return shares;
    }
}
