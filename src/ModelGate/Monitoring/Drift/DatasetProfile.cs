using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json.Serialization;

namespace ModelGate.Monitoring.Drift;

[JsonConverter(typeof(JsonStringEnumConverter<ColumnKind>))]
public enum ColumnKind
{
    Numeric,
    Categorical,
}

/// <summary>How a reference table is profiled.</summary>
public sealed record ProfileOptions
{
    /// <summary>Declared column kinds; a column not named here is numeric when every non-empty value parses as a number.</summary>
    public IReadOnlyDictionary<string, ColumnKind>? ColumnKinds { get; init; }

    /// <summary>
    /// The most (value, count) points kept per numeric column. A column with more distinct values is compressed to
    /// this many equal-count groups of its sorted values, each represented by its middle value; at least 1,000, so
    /// that a reference small enough for the KS test (≤ 1,000 values, Evidently's rule) is always kept exactly.
    /// </summary>
    public int MaxNumericPoints { get; init; } = 10_000;

    /// <summary>The most categories kept per categorical column, the most frequent first; the rest are counted in <see cref="CategoricalSummary.OtherCount"/>.</summary>
    public int MaxCategories { get; init; } = 10_000;
}

/// <summary>
/// A baseline profile of a reference table: per column its kind, missing rate and distribution — enough to run
/// Evidently's drift tests against a live window without the reference data. Plain data: serialize it with
/// System.Text.Json to store it with the model version.
/// </summary>
public sealed record DatasetProfile
{
    public int FormatVersion { get; init; } = 1;
    public int RowCount { get; init; }
    public required IReadOnlyList<ColumnProfile> Columns { get; init; }

    public ColumnProfile? Column(string name)
    {
        foreach (var column in Columns)
        {
            if (column.Name == name) return column;
        }
        return null;
    }

    /// <summary>Profiles a table given as a header and rows of strings ("" or null = missing).</summary>
    public static DatasetProfile FromRows(IReadOnlyList<string> header, IEnumerable<IReadOnlyList<string?>> rows, ProfileOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(header);
        ArgumentNullException.ThrowIfNull(rows);
        var columns = new List<string?>[header.Count];
        for (var c = 0; c < columns.Length; c++) columns[c] = [];
        var rowNumber = 0;
        foreach (var row in rows)
        {
            rowNumber++;
            if (row.Count != header.Count)
            {
                throw new ArgumentException($"row {rowNumber} has {row.Count} values, the header has {header.Count}", nameof(rows));
            }
            for (var c = 0; c < columns.Length; c++) columns[c].Add(row[c]);
        }
        return FromColumns(header.Select((name, c) => new KeyValuePair<string, IReadOnlyList<string?>>(name, columns[c])).ToList(), options);
    }

    /// <summary>Profiles a table given column by column (all columns the same length; "" or null = missing).</summary>
    public static DatasetProfile FromColumns(IReadOnlyList<KeyValuePair<string, IReadOnlyList<string?>>> columns, ProfileOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(columns);
        options ??= new ProfileOptions();
        if (options.MaxNumericPoints < 1000) throw new ArgumentOutOfRangeException(nameof(options), "MaxNumericPoints must be at least 1000");
        if (options.MaxCategories < 1) throw new ArgumentOutOfRangeException(nameof(options), "MaxCategories must be positive");
        var rowCount = columns.Count == 0 ? 0 : columns[0].Value.Count;
        var names = new HashSet<string>(StringComparer.Ordinal);
        var profiles = new List<ColumnProfile>(columns.Count);
        foreach (var (name, values) in columns)
        {
            if (!names.Add(name)) throw new ArgumentException($"the column '{name}' appears twice", nameof(columns));
            if (values.Count != rowCount) throw new ArgumentException($"the column '{name}' has {values.Count} values, not {rowCount}", nameof(columns));
            var kind = options.ColumnKinds is not null && options.ColumnKinds.TryGetValue(name, out var declared) ? declared : InferKind(values);
            profiles.Add(kind == ColumnKind.Numeric ? ProfileNumeric(name, values, options) : ProfileCategorical(name, values, options));
        }
        return new DatasetProfile { RowCount = rowCount, Columns = profiles };
    }

    internal static bool IsMissing(string? value) => string.IsNullOrEmpty(value);

    internal static bool TryParseNumber(string value, out double number) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out number);

    private static ColumnKind InferKind(IReadOnlyList<string?> values)
    {
        var any = false;
        foreach (var value in values)
        {
            if (IsMissing(value)) continue;
            if (!TryParseNumber(value!, out _)) return ColumnKind.Categorical;
            any = true;
        }
        return any ? ColumnKind.Numeric : ColumnKind.Categorical;
    }

    private static ColumnProfile ProfileNumeric(string name, IReadOnlyList<string?> values, ProfileOptions options)
    {
        var numbers = new double[values.Count];
        int count = 0, missing = 0, invalid = 0;
        foreach (var value in values)
        {
            if (IsMissing(value)) { missing++; continue; }
            if (!TryParseNumber(value!, out var number)) { invalid++; continue; }
            // Evidently replaces ±inf with NaN and drops NaN before testing.
            if (!double.IsFinite(number)) { missing++; continue; }
            numbers[count++] = number;
        }
        var sorted = numbers.AsSpan(0, count);
        sorted.Sort();
        return new ColumnProfile
        {
            Name = name,
            Kind = ColumnKind.Numeric,
            RowCount = values.Count,
            MissingCount = missing,
            InvalidCount = invalid,
            Numeric = count == 0 ? null : NumericSummary.FromSorted(sorted, options.MaxNumericPoints),
        };
    }

    private static ColumnProfile ProfileCategorical(string name, IReadOnlyList<string?> values, ProfileOptions options)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        var missing = 0;
        foreach (var value in values)
        {
            if (IsMissing(value)) { missing++; continue; }
            CollectionsMarshal.GetValueRefOrAddDefault(counts, value!, out _)++;
        }
        var ordered = counts.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        var kept = ordered.Take(options.MaxCategories).Select(kv => new CategoryCount(kv.Key, kv.Value)).ToList();
        var other = ordered.Skip(options.MaxCategories).Sum(kv => kv.Value);
        return new ColumnProfile
        {
            Name = name,
            Kind = ColumnKind.Categorical,
            RowCount = values.Count,
            MissingCount = missing,
            Categorical = new CategoricalSummary
            {
                Count = values.Count - missing,
                DistinctCount = counts.Count,
                Categories = kept,
                OtherCount = other,
            },
        };
    }
}

/// <summary>One column of a <see cref="DatasetProfile"/>.</summary>
public sealed record ColumnProfile
{
    public required string Name { get; init; }
    public required ColumnKind Kind { get; init; }
    public int RowCount { get; init; }

    /// <summary>Empty (or non-finite numeric) values.</summary>
    public int MissingCount { get; init; }

    /// <summary>Values of a declared-numeric column that are not numbers (left out of the distribution).</summary>
    public int InvalidCount { get; init; }

    public double MissingRate => RowCount == 0 ? 0 : (double)MissingCount / RowCount;

    /// <summary>Set for numeric columns with at least one value.</summary>
    public NumericSummary? Numeric { get; init; }

    /// <summary>Set for categorical columns.</summary>
    public CategoricalSummary? Categorical { get; init; }

    /// <summary>Values in the distribution (non-missing, valid).</summary>
    public long ValueCount => Numeric?.Count ?? Categorical?.Count ?? 0;
}

/// <summary>The distribution of a numeric column.</summary>
public sealed record NumericSummary
{
    public long Count { get; init; }
    public double Mean { get; init; }

    /// <summary>Population standard deviation (numpy's default ddof = 0, which Evidently's Wasserstein normalization uses).</summary>
    public double StandardDeviation { get; init; }

    public double Min { get; init; }
    public double Max { get; init; }
    public int DistinctCount { get; init; }

    /// <summary>The 10 %, 20 %, …, 90 % quantiles (numpy's linear interpolation): the decile bins of the reference.</summary>
    public required IReadOnlyList<double> Deciles { get; init; }

    /// <summary>True when <see cref="Values"/> and <see cref="Counts"/> hold every distinct value; false when compressed.</summary>
    public bool Exact { get; init; }

    /// <summary>Ascending distinct values (or group representatives when not <see cref="Exact"/>).</summary>
    public required double[] Values { get; init; }

    /// <summary>How many reference values each entry of <see cref="Values"/> stands for; they sum to <see cref="Count"/>.</summary>
    public required long[] Counts { get; init; }

    internal static NumericSummary FromSorted(ReadOnlySpan<double> sorted, int maxPoints)
    {
        var n = sorted.Length;
        var distinct = 1;
        for (var i = 1; i < n; i++)
        {
            if (sorted[i] != sorted[i - 1]) distinct++;
        }

        // Neumaier-compensated sums for the mean and the population variance.
        double sum = 0, compensation = 0;
        foreach (var v in sorted) Neumaier(ref sum, ref compensation, v);
        var mean = (sum + compensation) / n;
        double squares = 0, squaresCompensation = 0;
        foreach (var v in sorted) Neumaier(ref squares, ref squaresCompensation, (v - mean) * (v - mean));
        var std = Math.Sqrt((squares + squaresCompensation) / n);

        var deciles = new double[9];
        for (var d = 1; d <= 9; d++)
        {
            var position = d / 10.0 * (n - 1);
            var lower = (int)Math.Floor(position);
            var upper = Math.Min(lower + 1, n - 1);
            deciles[d - 1] = sorted[lower] + (position - lower) * (sorted[upper] - sorted[lower]);
        }

        double[] values;
        long[] counts;
        var exact = distinct <= maxPoints;
        if (exact)
        {
            values = new double[distinct];
            counts = new long[distinct];
            var k = -1;
            for (var i = 0; i < n; i++)
            {
                if (i == 0 || sorted[i] != sorted[i - 1]) values[++k] = sorted[i];
                counts[k]++;
            }
        }
        else
        {
            // Equal-count groups of the sorted values, each stood for by its middle element: deterministic, bounded,
            // and within one group's span of the true quantile function everywhere.
            var groupValues = new List<double>(maxPoints);
            var groupCounts = new List<long>(maxPoints);
            for (var g = 0; g < maxPoints; g++)
            {
                var start = (int)((long)g * n / maxPoints);
                var end = (int)((long)(g + 1) * n / maxPoints);
                if (end <= start) continue;
                var representative = sorted[(start + end - 1) / 2];
                if (groupValues.Count > 0 && groupValues[^1] == representative) groupCounts[^1] += end - start;
                else
                {
                    groupValues.Add(representative);
                    groupCounts.Add(end - start);
                }
            }
            values = [.. groupValues];
            counts = [.. groupCounts];
        }

        return new NumericSummary
        {
            Count = n,
            Mean = mean,
            StandardDeviation = std,
            Min = sorted[0],
            Max = sorted[n - 1],
            DistinctCount = distinct,
            Deciles = deciles,
            Exact = exact,
            Values = values,
            Counts = counts,
        };
    }

    private static void Neumaier(ref double sum, ref double compensation, double value)
    {
        var t = sum + value;
        compensation += Math.Abs(sum) >= Math.Abs(value) ? (sum - t) + value : (value - t) + sum;
        sum = t;
    }
}

/// <summary>The distribution of a categorical column.</summary>
public sealed record CategoricalSummary
{
    /// <summary>Non-missing values.</summary>
    public long Count { get; init; }

    public int DistinctCount { get; init; }

    /// <summary>Categories with their counts, the most frequent first (ties in ordinal order).</summary>
    public required IReadOnlyList<CategoryCount> Categories { get; init; }

    /// <summary>Values in categories beyond <see cref="ProfileOptions.MaxCategories"/>; when non-zero, unseen-category detection is not reliable.</summary>
    public long OtherCount { get; init; }
}

/// <summary>A category and how many rows hold it.</summary>
public sealed record CategoryCount(string Value, long Count);
