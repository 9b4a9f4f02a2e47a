using System.Text.Json;

namespace ModelGate.Evaluation;

/// <summary>A metric as stored: its value and, when the run computed one, its 95 % interval.</summary>
public readonly record struct StoredMetric(double Value, double? Lower = null, double? Upper = null)
{
    public bool HasInterval => Lower is not null && Upper is not null;
}

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

    /// <summary>The headline metrics by name, in the stored order.</summary>
    public IReadOnlyList<KeyValuePair<string, StoredMetric>> Metrics { get; private init; } = [];

    /// <summary>The fairness figures that are numbers, by their stored (camelCase) names.</summary>
    public IReadOnlyDictionary<string, double> Fairness { get; private init; } = new Dictionary<string, double>();

    /// <summary>The baseline version the run was compared with, if it was.</summary>
    public string? BaselineVersion { get; private init; }

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
            return new StoredEvaluationResult
            {
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
