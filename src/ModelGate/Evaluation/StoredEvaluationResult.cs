using System.Text.Json;

namespace ModelGate.Evaluation;

/// <summary>A metric as stored: its value and, when the run computed one, its 95 % interval.</summary>
public readonly record struct StoredMetric(double Value, double? Lower = null, double? Upper = null)
{
    public bool HasInterval => Lower is not null && Upper is not null;
}

/// <summary>A threshold check as stored: the metric, its bounds, the measured figure and whether it passed.</summary>
public sealed record StoredThreshold(string Metric, double? Min, double? Max, double? Actual, bool Passed);

/// <summary>One segment of a slice column (e.g. <c>sex</c> = <c>Female</c>) and its figures (<c>rows</c> and each metric).</summary>
public sealed record StoredSlice(string Column, string Segment, IReadOnlyList<KeyValuePair<string, double>> Figures);

/// <summary>
/// The one reader of an evaluation's stored result (the <c>evaluations.result</c> column, an <see cref="EvaluationResult"/>
/// as JSON, or an external run's metrics): its suite, pass/fail and threshold checks, headline metrics with intervals,
/// fairness figures, and the comparison with a baseline (deltas with their paired intervals). Gates, cards and the console
/// read results through it. A metric is stored as a number or as <c>{ "value": …, "ci": [lower, upper] }</c>.
/// </summary>
public sealed class StoredEvaluationResult
{
    private StoredEvaluationResult()
    {
    }

    public string? Suite { get; private init; }

    /// <summary>The stored <c>passed</c>, if any.</summary>
    public bool? Passed { get; private init; }

    /// <summary>The threshold checks: metric and whether it passed, in the stored order.</summary>
    public IReadOnlyList<(string Metric, bool Passed)> Thresholds { get; private init; } = [];

    /// <summary>The threshold checks with their bounds and measured figures, in the stored order.</summary>
    public IReadOnlyList<StoredThreshold> ThresholdChecks { get; private init; } = [];

    /// <summary>Rows in the dataset and rows scored (null for an external run).</summary>
    public long? Rows { get; private init; }

    public long? RowsScored { get; private init; }

    /// <summary>The headline metrics by name, in the stored order.</summary>
    public IReadOnlyList<KeyValuePair<string, StoredMetric>> Metrics { get; private init; } = [];

    /// <summary>The fairness figures that are numbers, by their stored (camelCase) names.</summary>
    public IReadOnlyDictionary<string, double> Fairness { get; private init; } = new Dictionary<string, double>();

    /// <summary>The sensitive column fairness was measured over, if it was.</summary>
    public string? Sensitive { get; private init; }

    /// <summary>The selection rate (share predicted positive) of each group of the sensitive column, in the stored order.</summary>
    public IReadOnlyList<KeyValuePair<string, double>> SelectionRateByGroup { get; private init; } = [];

    /// <summary>
    /// The fairness measures by their snake_case names (<c>demographic_parity_difference</c>, …) with their bootstrap
    /// intervals when the run computed them.
    /// </summary>
    public IReadOnlyList<KeyValuePair<string, StoredMetric>> FairnessMeasures { get; private init; } = [];

    /// <summary>Each slice column's segments with their figures, in the stored order.</summary>
    public IReadOnlyList<StoredSlice> Slices { get; private init; } = [];

    /// <summary>The baseline version the run was compared with, if it was.</summary>
    public string? BaselineVersion { get; private init; }

    /// <summary>The baseline's own metrics on the rows both scored.</summary>
    public IReadOnlyDictionary<string, double> BaselineMetrics { get; private init; } = new Dictionary<string, double>();

    /// <summary>Candidate − baseline per metric, with the paired bootstrap interval when one was computed.</summary>
    public IReadOnlyDictionary<string, StoredMetric> Deltas { get; private init; } = new Dictionary<string, StoredMetric>();

    /// <summary>A headline metric by name, or a fairness figure by its snake_case name (<c>demographic_parity_difference</c>).</summary>
    public double? Metric(string name)
    {
        foreach (var (metric, value) in Metrics)
        {
            if (metric == name)
            {
                return value.Value;
            }
        }
        return Fairness.TryGetValue(CamelCase(name), out var figure) ? figure : null;
    }

    public StoredMetric? Delta(string name) => Deltas.TryGetValue(name, out var delta) ? delta : null;

    /// <summary>The result as stored, or null for a run without one (or one that is not a JSON object).</summary>
    public static StoredEvaluationResult? Read(string? json)
    {
        if (string.IsNullOrEmpty(json))
        {
            return null;
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException)
        {
            return null;
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return null;
            }
            var baseline = Get(root, "baseline");
            var fairness = Get(root, "fairness") is { ValueKind: JsonValueKind.Object } fo ? fo : (JsonElement?)null;
            return new StoredEvaluationResult
            {
                ThresholdChecks = Get(root, "thresholds") is { ValueKind: JsonValueKind.Array } tc
                    ? tc.EnumerateArray().Where(c => c.ValueKind == JsonValueKind.Object && Get(c, "metric") is { ValueKind: JsonValueKind.String })
                        .Select(c => new StoredThreshold(c.GetProperty("metric").GetString()!, Number(Get(c, "min")), Number(Get(c, "max")), Number(Get(c, "actual")),
                            Get(c, "passed") is { ValueKind: JsonValueKind.True })).ToList()
                    : [],
                Rows = Number(Get(root, "rows")) is { } rows ? (long)rows : null,
                RowsScored = Number(Get(root, "rowsScored")) is { } scored ? (long)scored : null,
                Sensitive = fairness is { } fs && Get(fs, "sensitive") is { ValueKind: JsonValueKind.String } sensitive ? sensitive.GetString() : null,
                SelectionRateByGroup = fairness is { } fr ? Numbers(Get(fr, "selectionRateByGroup")) : [],
                FairnessMeasures = fairness is { } fm ? Measures(fm) : [],
                Slices = Get(root, "slices") is { ValueKind: JsonValueKind.Object } sl
                    ? sl.EnumerateObject().Where(c => c.Value.ValueKind == JsonValueKind.Object)
                        .SelectMany(c => c.Value.EnumerateObject().Where(x => x.Value.ValueKind == JsonValueKind.Object)
                            .Select(x => new StoredSlice(c.Name, x.Name, Numbers(x.Value)))).ToList()
                    : [],
                BaselineMetrics = Numbers(baseline is { ValueKind: JsonValueKind.Object } bm ? Get(bm, "metrics") : null).ToDictionary(x => x.Key, x => x.Value, StringComparer.Ordinal),
                Suite = Get(root, "suite") is { ValueKind: JsonValueKind.String } s ? s.GetString() : null,
                Passed = Get(root, "passed") is { ValueKind: JsonValueKind.True or JsonValueKind.False } p ? p.GetBoolean() : null,
                Thresholds = Get(root, "thresholds") is { ValueKind: JsonValueKind.Array } t
                    ? t.EnumerateArray().Where(c => c.ValueKind == JsonValueKind.Object && Get(c, "metric") is { ValueKind: JsonValueKind.String })
                        .Select(c => (c.GetProperty("metric").GetString()!, Get(c, "passed") is { ValueKind: JsonValueKind.True })).ToList()
                    : [],
                Metrics = Values(Get(root, "metrics")),
                Fairness = Get(root, "fairness") is { ValueKind: JsonValueKind.Object } f
                    ? f.EnumerateObject().Where(x => x.Value.ValueKind == JsonValueKind.Number).ToDictionary(x => x.Name, x => x.Value.GetDouble(), StringComparer.Ordinal)
                    : new Dictionary<string, double>(),
                BaselineVersion = baseline is { ValueKind: JsonValueKind.Object } b && Get(b, "version") is { ValueKind: JsonValueKind.String } v ? v.GetString() : null,
                Deltas = Values(baseline is { ValueKind: JsonValueKind.Object } bb ? Get(bb, "deltas") : null).ToDictionary(x => x.Key, x => x.Value, StringComparer.Ordinal),
            };
        }
    }

    /// <summary>The four fairness measures the scorer writes, each with its interval from the fairness object's <c>ci</c> (keyed by the snake_case name).</summary>
    private static List<KeyValuePair<string, StoredMetric>> Measures(JsonElement fairness)
    {
        var measures = new List<KeyValuePair<string, StoredMetric>>();
        var ci = Get(fairness, "ci");
        foreach (var name in (string[])["demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference", "equal_opportunity_difference"])
        {
            if (Number(Get(fairness, CamelCase(name))) is not { } value)
            {
                continue;
            }
            var interval = ci is { ValueKind: JsonValueKind.Object } c && Get(c, name) is { ValueKind: JsonValueKind.Array } pair && pair.GetArrayLength() == 2
                           && pair[0].ValueKind == JsonValueKind.Number && pair[1].ValueKind == JsonValueKind.Number ? pair : (JsonElement?)null;
            measures.Add(KeyValuePair.Create(name, new StoredMetric(value, interval?[0].GetDouble(), interval?[1].GetDouble())));
        }
        return measures;
    }

    /// <summary>An object's properties that are numbers, in the stored order.</summary>
    private static List<KeyValuePair<string, double>> Numbers(JsonElement? holder) =>
        holder is { ValueKind: JsonValueKind.Object } o
            ? o.EnumerateObject().Where(x => x.Value.ValueKind == JsonValueKind.Number).Select(x => KeyValuePair.Create(x.Name, x.Value.GetDouble())).ToList()
            : [];

    private static double? Number(JsonElement? e) => e is { ValueKind: JsonValueKind.Number } n ? n.GetDouble() : null;

    private static List<KeyValuePair<string, StoredMetric>> Values(JsonElement? holder)
    {
        var values = new List<KeyValuePair<string, StoredMetric>>();
        if (holder is not { ValueKind: JsonValueKind.Object } metrics)
        {
            return values;
        }
        foreach (var metric in metrics.EnumerateObject())
        {
            if (metric.Value.ValueKind == JsonValueKind.Number)
            {
                values.Add(KeyValuePair.Create(metric.Name, new StoredMetric(metric.Value.GetDouble())));
            }
            else if (metric.Value.ValueKind == JsonValueKind.Object && Get(metric.Value, "value") is { ValueKind: JsonValueKind.Number } value)
            {
                var ci = Get(metric.Value, "ci") is { ValueKind: JsonValueKind.Array } c && c.GetArrayLength() == 2
                         && c[0].ValueKind == JsonValueKind.Number && c[1].ValueKind == JsonValueKind.Number ? c : (JsonElement?)null;
                values.Add(KeyValuePair.Create(metric.Name, new StoredMetric(value.GetDouble(), ci?[0].GetDouble(), ci?[1].GetDouble())));
            }
        }
        return values;
    }

    private static JsonElement? Get(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) ? v : null;

    private static string CamelCase(string snake)
    {
        var parts = snake.Split('_');
        return parts[0] + string.Concat(parts.Skip(1).Select(p => p.Length == 0 ? p : char.ToUpperInvariant(p[0]) + p[1..]));
    }
}
