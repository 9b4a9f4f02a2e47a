using System.Globalization;

namespace ModelGate.Monitoring.Drift;

/// <summary>One bin of a column's histogram: its label and how many reference and window values fall in it.</summary>
public sealed record HistogramCount(string Label, long Reference, long Current);

/// <summary>A column's reference and window distributions over the same bins (missing and invalid values left out).</summary>
public sealed record ColumnHistogram(string Column, ColumnKind Kind, IReadOnlyList<HistogramCount> Bins)
{
    public long ReferenceTotal => Bins.Sum(b => b.Reference);
    public long CurrentTotal => Bins.Sum(b => b.Current);
}

/// <summary>
/// The picture behind a drift report: per profile column, the reference's distribution and the window's over the same bins.
/// Numeric columns are binned at the reference's deciles (equal ties merged): (−∞, d₁], (d₁, d₂], …, (d₉, ∞), so the reference
/// fills each bin with about a tenth of its values and a shift shows as uneven bars; the reference is counted from its
/// kept (value, count) points. Categorical columns: the reference's most frequent categories, the rest pooled as
/// "(other)", and the window's categories the reference never had as "(unseen)".
/// </summary>
public static class DriftHistograms
{
    /// <summary>The most categories drawn per column; the others are pooled.</summary>
    public const int MaxCategories = 12;

    public const string Other = "(other)";
    public const string Unseen = "(unseen)";

    /// <summary>A histogram per profile column the window has, in the profile's order.</summary>
    public static IReadOnlyList<ColumnHistogram> Compute(DatasetProfile profile, DriftWindow window)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(window);
        var histograms = new List<ColumnHistogram>(profile.Columns.Count);
        foreach (var column in profile.Columns)
        {
            if (!window.TryGet(column.Name, out var data))
            {
                continue;
            }
            histograms.Add(column.Kind == ColumnKind.Numeric ? Numeric(column, data) : Categorical(column, data));
        }
        return histograms;
    }

    private static ColumnHistogram Numeric(ColumnProfile column, DriftWindow.WindowColumn data)
    {
        if (column.Numeric is not { } summary)
        {
            return new ColumnHistogram(column.Name, ColumnKind.Numeric, []);
        }
        var edges = summary.Deciles.Distinct().Order().ToArray();
        var reference = new long[edges.Length + 1];
        var current = new long[edges.Length + 1];
        for (var i = 0; i < summary.Values.Length; i++)
        {
            reference[Bin(edges, summary.Values[i])] += summary.Counts[i];
        }
        if (data.IsNumeric)
        {
            foreach (var v in data.Numbers.Span)
            {
                if (double.IsFinite(v)) current[Bin(edges, v)]++;
            }
        }
        else
        {
            foreach (var s in data.Strings.Span)
            {
                if (!DatasetProfile.IsMissing(s) && DatasetProfile.TryParseNumber(s!, out var v) && double.IsFinite(v)) current[Bin(edges, v)]++;
            }
        }
        var bins = new List<HistogramCount>(reference.Length);
        for (var b = 0; b < reference.Length; b++)
        {
            var label = edges.Length == 0 ? "all values"
                : b == 0 ? $"≤ {N(edges[0])}"
                : b == edges.Length ? $"> {N(edges[^1])}"
                : $"{N(edges[b - 1])}–{N(edges[b])}";
            bins.Add(new HistogramCount(label, reference[b], current[b]));
        }
        return new ColumnHistogram(column.Name, ColumnKind.Numeric, bins);
    }

    /// <summary>The bin of <paramref name="value"/>: the number of edges below it (bins are closed on the right).</summary>
    private static int Bin(double[] edges, double value)
    {
        int lo = 0, hi = edges.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) / 2;
            if (edges[mid] < value) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }

    private static ColumnHistogram Categorical(ColumnProfile column, DriftWindow.WindowColumn data)
    {
        var summary = column.Categorical ?? new CategoricalSummary { Categories = [] };
        var shown = summary.Categories.Take(MaxCategories).ToList();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var k = 0; k < shown.Count; k++) index[shown[k].Value] = k;
        var known = new HashSet<string>(summary.Categories.Select(c => c.Value), StringComparer.Ordinal);
        var truncated = summary.OtherCount > 0;
        var current = new long[shown.Count];
        long currentOther = 0, unseen = 0;

        void Count(string? value)
        {
            if (DatasetProfile.IsMissing(value)) return;
            if (index.TryGetValue(value!, out var k)) current[k]++;
            // A category the reference kept but the chart does not, or one beyond what the reference kept: pooled.
            else if (known.Contains(value!) || truncated) currentOther++;
            else unseen++;
        }

        if (data.IsNumeric)
        {
            foreach (var v in data.Numbers.Span) Count(double.IsFinite(v) ? v.ToString("R", CultureInfo.InvariantCulture) : null);
        }
        else
        {
            foreach (var s in data.Strings.Span) Count(s);
        }
        var bins = shown.Select((c, k) => new HistogramCount(c.Value, c.Count, current[k])).ToList();
        var referenceOther = summary.Categories.Skip(MaxCategories).Sum(c => c.Count) + summary.OtherCount;
        if (referenceOther > 0 || currentOther > 0)
        {
            bins.Add(new HistogramCount(Other, referenceOther, currentOther));
        }
        if (unseen > 0)
        {
            bins.Add(new HistogramCount(Unseen, 0, unseen));
        }
        return new ColumnHistogram(column.Name, ColumnKind.Categorical, bins);
    }

    /// <summary>A bin edge short enough for a chart's axis: three significant figures below 100, whole numbers above.</summary>
    private static string N(double value) => Math.Abs(value) switch
    {
        >= 100 => value.ToString("0", CultureInfo.InvariantCulture),
        >= 10 => value.ToString("0.#", CultureInfo.InvariantCulture),
        >= 1 => value.ToString("0.##", CultureInfo.InvariantCulture),
        _ => value.ToString("G3", CultureInfo.InvariantCulture),
    };
}
