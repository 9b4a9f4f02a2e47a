using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace ModelGate.Tests.Lifecycle.Cards;

/// <summary>
/// The part of JSON Schema draft-07 that the CycloneDX 1.6 schemas use, as assertions (formats are annotations, as
/// draft-07 has them by default): $ref within and across the schema files, type, enum, const, properties, required,
/// additionalProperties, items/additionalItems, allOf/anyOf/oneOf, if/then/else, pattern, min/max length, items and
/// values, uniqueItems. Enough to check a document against the real schema without a package.
/// </summary>
public sealed class JsonSchemaValidator
{
    private readonly string _directory;
    private readonly Dictionary<string, JsonElement> _documents = new(StringComparer.Ordinal);

    private JsonSchemaValidator(string directory) => _directory = directory;

    public static JsonSchemaValidator CycloneDx16() => new(SchemaDirectory());

    /// <summary>Every violation, as "path: reason"; empty when the document is valid.</summary>
    public IReadOnlyList<string> Validate(JsonElement instance, string schemaFile = "bom-1.6.SNAPSHOT.schema.json")
    {
        var errors = new List<string>();
        Check(instance, Load(schemaFile), schemaFile, "$", errors);
        return errors;
    }

    private JsonElement Load(string file)
    {
        if (!_documents.TryGetValue(file, out var doc))
        {
            doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(_directory, file))).RootElement.Clone();
            _documents[file] = doc;
        }
        return doc;
    }

    private (JsonElement Schema, string File) Resolve(string reference, string currentFile)
    {
        var hash = reference.IndexOf('#');
        var file = hash == 0 ? currentFile : hash < 0 ? reference : reference[..hash];
        var pointer = hash < 0 ? "" : reference[(hash + 1)..];
        var node = Load(file);
        foreach (var part in pointer.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            node = node.GetProperty(part.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal));
        }
        return (node, file);
    }

    private void Check(JsonElement value, JsonElement schema, string file, string path, List<string> errors)
    {
        if (schema.ValueKind == JsonValueKind.True)
        {
            return;
        }
        if (schema.ValueKind == JsonValueKind.False)
        {
            errors.Add($"{path}: not allowed");
            return;
        }
        if (schema.TryGetProperty("$ref", out var reference))
        {
            // Draft-07: $ref ignores its sibling keywords.
            var (target, targetFile) = Resolve(reference.GetString()!, file);
            Check(value, target, targetFile, path, errors);
            return;
        }
        if (schema.TryGetProperty("type", out var type) && !HasType(value, type))
        {
            errors.Add($"{path}: expected {type.GetRawText()}, got {value.ValueKind}");
            return;
        }
        if (schema.TryGetProperty("enum", out var enumeration) && !enumeration.EnumerateArray().Any(e => JsonElement.DeepEquals(e, value)))
        {
            errors.Add($"{path}: {value.GetRawText()} is not one of the schema's enum values");
        }
        if (schema.TryGetProperty("const", out var constant) && !JsonElement.DeepEquals(constant, value))
        {
            errors.Add($"{path}: must be {constant.GetRawText()}");
        }

        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                CheckObject(value, schema, file, path, errors);
                break;
            case JsonValueKind.Array:
                CheckArray(value, schema, file, path, errors);
                break;
            case JsonValueKind.String:
                var text = value.GetString()!;
                var length = text.EnumerateRunes().Count();
                if (schema.TryGetProperty("minLength", out var minLength) && length < minLength.GetInt32())
                {
                    errors.Add($"{path}: shorter than {minLength.GetInt32()}");
                }
                if (schema.TryGetProperty("maxLength", out var maxLength) && length > maxLength.GetInt32())
                {
                    errors.Add($"{path}: longer than {maxLength.GetInt32()}");
                }
                if (schema.TryGetProperty("pattern", out var pattern) && !Regex.IsMatch(text, pattern.GetString()!))
                {
                    errors.Add($"{path}: '{text}' does not match {pattern.GetString()}");
                }
                break;
            case JsonValueKind.Number:
                var number = value.GetDouble();
                if (schema.TryGetProperty("minimum", out var minimum) && number < minimum.GetDouble())
                {
                    errors.Add($"{path}: below {minimum.GetDouble()}");
                }
                if (schema.TryGetProperty("maximum", out var maximum) && number > maximum.GetDouble())
                {
                    errors.Add($"{path}: above {maximum.GetDouble()}");
                }
                break;
        }

        if (schema.TryGetProperty("allOf", out var allOf))
        {
            foreach (var s in allOf.EnumerateArray())
            {
                Check(value, s, file, path, errors);
            }
        }
        if (schema.TryGetProperty("anyOf", out var anyOf) && !anyOf.EnumerateArray().Any(s => Valid(value, s, file, path)))
        {
            errors.Add($"{path}: matches none of anyOf");
        }
        if (schema.TryGetProperty("oneOf", out var oneOf))
        {
            var matches = oneOf.EnumerateArray().Count(s => Valid(value, s, file, path));
            if (matches != 1)
            {
                errors.Add($"{path}: matches {matches} of oneOf, not exactly one");
            }
        }
        if (schema.TryGetProperty("if", out var condition))
        {
            var branch = Valid(value, condition, file, path) ? "then" : "else";
            if (schema.TryGetProperty(branch, out var consequence))
            {
                Check(value, consequence, file, path, errors);
            }
        }
    }

    private void CheckObject(JsonElement value, JsonElement schema, string file, string path, List<string> errors)
    {
        if (schema.TryGetProperty("required", out var required))
        {
            foreach (var name in required.EnumerateArray().Select(r => r.GetString()!))
            {
                if (!value.TryGetProperty(name, out _))
                {
                    errors.Add($"{path}: required property '{name}' is missing");
                }
            }
        }
        var properties = schema.TryGetProperty("properties", out var p) ? p : default;
        var additional = schema.TryGetProperty("additionalProperties", out var a) ? a : default;
        foreach (var property in value.EnumerateObject())
        {
            if (properties.ValueKind == JsonValueKind.Object && properties.TryGetProperty(property.Name, out var propertySchema))
            {
                Check(property.Value, propertySchema, file, $"{path}.{property.Name}", errors);
            }
            else if (additional.ValueKind != JsonValueKind.Undefined)
            {
                Check(property.Value, additional, file, $"{path}.{property.Name}", errors);
            }
        }
    }

    private void CheckArray(JsonElement value, JsonElement schema, string file, string path, List<string> errors)
    {
        var items = value.EnumerateArray().ToList();
        if (schema.TryGetProperty("minItems", out var minItems) && items.Count < minItems.GetInt32())
        {
            errors.Add($"{path}: fewer than {minItems.GetInt32()} items");
        }
        if (schema.TryGetProperty("maxItems", out var maxItems) && items.Count > maxItems.GetInt32())
        {
            errors.Add($"{path}: more than {maxItems.GetInt32()} items");
        }
        if (schema.TryGetProperty("uniqueItems", out var unique) && unique.GetBoolean())
        {
            for (var i = 0; i < items.Count; i++)
            {
                for (var j = i + 1; j < items.Count; j++)
                {
                    if (JsonElement.DeepEquals(items[i], items[j]))
                    {
                        errors.Add($"{path}: items {i} and {j} are equal");
                    }
                }
            }
        }
        if (!schema.TryGetProperty("items", out var itemSchema))
        {
            return;
        }
        if (itemSchema.ValueKind == JsonValueKind.Array)
        {
            var tuple = itemSchema.EnumerateArray().ToList();
            for (var i = 0; i < items.Count; i++)
            {
                if (i < tuple.Count)
                {
                    Check(items[i], tuple[i], file, $"{path}[{i}]", errors);
                }
                else if (schema.TryGetProperty("additionalItems", out var additionalItems))
                {
                    Check(items[i], additionalItems, file, $"{path}[{i}]", errors);
                }
            }
            return;
        }
        for (var i = 0; i < items.Count; i++)
        {
            Check(items[i], itemSchema, file, $"{path}[{i}]", errors);
        }
    }

    private bool Valid(JsonElement value, JsonElement schema, string file, string path)
    {
        var errors = new List<string>();
        Check(value, schema, file, path, errors);
        return errors.Count == 0;
    }

    private static bool HasType(JsonElement value, JsonElement type) =>
        type.ValueKind == JsonValueKind.Array ? type.EnumerateArray().Any(t => HasType(value, t)) : type.GetString() switch
        {
            "object" => value.ValueKind == JsonValueKind.Object,
            "array" => value.ValueKind == JsonValueKind.Array,
            "string" => value.ValueKind == JsonValueKind.String,
            "boolean" => value.ValueKind is JsonValueKind.True or JsonValueKind.False,
            "null" => value.ValueKind == JsonValueKind.Null,
            "number" => value.ValueKind == JsonValueKind.Number,
            "integer" => value.ValueKind == JsonValueKind.Number && double.IsInteger(value.GetDouble()),
            var other => throw new NotSupportedException($"schema type '{other}'"),
        };

    /// <summary>The schema files beside this source file (found from the source path, or by walking up from the test binaries).</summary>
    private static string SchemaDirectory([CallerFilePath] string sourceFile = "")
    {
        var beside = Path.Combine(Path.GetDirectoryName(sourceFile) ?? "", "Schemas");
        if (File.Exists(Path.Combine(beside, "bom-1.6.SNAPSHOT.schema.json")))
        {
            return beside;
        }
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "Lifecycle", "Cards", "Schemas");
            if (File.Exists(Path.Combine(candidate, "bom-1.6.SNAPSHOT.schema.json")))
            {
                return candidate;
            }
        }
        throw new FileNotFoundException("the CycloneDX schemas (tests/ModelGate.Tests/Lifecycle/Cards/Schemas) were not found");
    }
}
