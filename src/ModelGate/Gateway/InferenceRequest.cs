using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using ModelGate.Errors;
using ModelGate.Gateway.Onnx;

namespace ModelGate.Gateway;

/// <summary>Reads an OIP v2 infer request into column arrays, checking every input against the model's graph.</summary>
public static class InferenceRequest
{
    public static (Dictionary<string, Array>? Columns, int Rows, ProblemHttpResult? Problem) Read(JsonElement root, OnnxModel model)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("inputs", out var inputs) || inputs.ValueKind != JsonValueKind.Array)
        {
            return (null, 0, Bad(null, "the body must be an object with an 'inputs' array"));
        }
        var columns = new Dictionary<string, Array>(StringComparer.Ordinal);
        var rows = -1;
        foreach (var input in inputs.EnumerateArray())
        {
            var name = input.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : null;
            if (name is null)
            {
                return (null, 0, Bad(null, "every input needs a 'name'"));
            }
            var spec = model.Inputs.FirstOrDefault(i => i.Name == name);
            if (spec is null)
            {
                return (null, 0, Bad(name, $"'{ClientText.Echo(name)}' is not an input of the model; its inputs are {string.Join(", ", model.Inputs.Select(i => i.Name))}"));
            }
            if (columns.ContainsKey(name))
            {
                return (null, 0, Bad(name, $"input '{name}' is given twice"));
            }
            var datatype = input.TryGetProperty("datatype", out var dt) && dt.ValueKind == JsonValueKind.String ? dt.GetString() : null;
            if (datatype != spec.Datatype)
            {
                return (null, 0, Bad(name, $"input '{name}' has datatype {spec.Datatype}, not {datatype ?? "(none)"}"));
            }
            if (!input.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array ||
                shapeElement.EnumerateArray().Any(d => d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var x) || x < 0))
            {
                return (null, 0, Bad(name, $"input '{name}' needs a shape: an array of non-negative integers"));
            }
            var shape = shapeElement.EnumerateArray().Select(d => d.GetInt64()).ToArray();
            if (shape.Length != spec.Shape.Count || shape.Where((d, i) => spec.Shape[i] >= 0 && d != spec.Shape[i]).Any())
            {
                return (null, 0, Bad(name, $"input '{name}' has shape [{string.Join(", ", shape)}]; the model takes [{string.Join(", ", spec.Shape.Select(d => d < 0 ? "-1" : d.ToString(System.Globalization.CultureInfo.InvariantCulture)))}]"));
            }
            if (rows >= 0 && shape[0] != rows)
            {
                return (null, 0, Bad(name, $"input '{name}' has {shape[0]} rows; the other inputs have {rows}"));
            }
            rows = (int)shape[0];
            var count = shape.Aggregate(1L, (a, b) => a * b);
            if (!input.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Array)
            {
                return (null, 0, Bad(name, $"input '{name}' needs 'data'"));
            }
            var flat = new List<JsonElement>((int)Math.Min(count, 1 << 20));
            Flatten(data, flat);
            if (flat.Count != count)
            {
                return (null, 0, Bad(name, $"input '{name}' has {flat.Count} values; its shape [{string.Join(", ", shape)}] needs {count}"));
            }
            Array? column = spec.Datatype switch
            {
                "FP32" when flat.All(e => e.ValueKind == JsonValueKind.Number) => flat.Select(e => e.GetSingle()).ToArray(),
                "INT64" when flat.All(e => e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out _)) => flat.Select(e => e.GetInt64()).ToArray(),
                "BYTES" when flat.All(e => e.ValueKind == JsonValueKind.String) => flat.Select(e => e.GetString()!).ToArray(),
                _ => null,
            };
            if (column is null)
            {
                return (null, 0, Bad(name, $"input '{name}' ({spec.Datatype}) holds values of another type"));
            }
            columns[name] = column;
        }
        var missing = model.Inputs.Where(i => !columns.ContainsKey(i.Name)).Select(i => i.Name).ToList();
        if (missing.Count > 0)
        {
            return (null, 0, Bad(missing[0], $"input(s) {string.Join(", ", missing)} are missing"));
        }
        return (columns, rows, null);
    }

    public static HashSet<string>? RequestedOutputs(JsonElement root) =>
        root.TryGetProperty("outputs", out var outputs) && outputs.ValueKind == JsonValueKind.Array
            ? outputs.EnumerateArray().Where(o => o.TryGetProperty("name", out _)).Select(o => o.GetProperty("name").GetString()!).ToHashSet(StringComparer.Ordinal)
            : null;

    private static void Flatten(JsonElement element, List<JsonElement> into)
    {
        foreach (var e in element.EnumerateArray())
        {
            if (e.ValueKind == JsonValueKind.Array)
            {
                Flatten(e, into);
            }
            else
            {
                into.Add(e);
            }
        }
    }

    private static ProblemHttpResult Bad(string? input, string detail) =>
        Problems.Result(400, InferenceProtocolApi.InvalidInput, "The inference request does not fit the model.", detail,
            new Dictionary<string, object?> { ["input"] = input is null ? null : ClientText.Echo(input) });
}
