using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Unicode;
using Microsoft.AspNetCore.Mvc;

namespace ModelGate.Errors;

/// <summary>
/// A value in a request body that breaks a rule for client input (<see cref="ClientText"/>, a number that is not finite, a
/// string past the length limit). A <see cref="JsonException"/>, so that the serializer fills in <see cref="JsonException.Path"/>;
/// answered 400 with <see cref="Code"/>, naming the field (<see cref="ClientJson.Problem"/>).
/// </summary>
public sealed class ClientInputException(string code, string reason, string innerPath = "", string? knownField = null) : JsonException(reason)
{
    public string Code { get; } = code;

    /// <summary>Where below <see cref="JsonException.Path"/> the fault is (inside a free-form JSON value).</summary>
    public string InnerPath { get; } = innerPath;

    /// <summary>The field, as a JSON path without the leading <c>$.</c> (<c>steps[1]</c>, <c>attestation.hyperparameters.lr</c>).</summary>
    public string Field => knownField ?? ClientJson.FieldOf(Path) + InnerPath;
}

/// <summary>
/// The rules for client input applied where every control-plane body is read: converters for <see cref="string"/> (text
/// rule and length, as values and as dictionary keys), <see cref="double"/> and <see cref="float"/> (finite only, also when
/// read from a string as the web defaults allow) and <see cref="JsonElement"/> (every string, property name and number in
/// a free-form value). Added to the HTTP JSON options (<c>ModelGateHost</c>) and to any options a handler reads a body with.
/// </summary>
public static class ClientJson
{
    /// <summary>The default of <c>Limits:MaxStringLength</c>.</summary>
    public const int DefaultMaxStringLength = 65_536;

    public static void AddInputRules(JsonSerializerOptions options, int maxStringLength)
    {
        options.Converters.Add(new CleanStringConverter(maxStringLength));
        options.Converters.Add(new FiniteDoubleConverter());
        options.Converters.Add(new FiniteSingleConverter());
        options.Converters.Add(new CheckedElementConverter(maxStringLength));
    }

    /// <summary>
    /// The OpenAPI schemas of the types these converters read: the document generator cannot see through a custom converter
    /// and would describe a <c>double</c> or a <c>string</c> as "anything".
    /// </summary>
    public static Task DescribeConvertedTypes(Microsoft.OpenApi.OpenApiSchema schema, Microsoft.AspNetCore.OpenApi.OpenApiSchemaTransformerContext context,
        CancellationToken cancellationToken)
    {
        var type = Nullable.GetUnderlyingType(context.JsonTypeInfo.Type) ?? context.JsonTypeInfo.Type;
        var nullable = Nullable.GetUnderlyingType(context.JsonTypeInfo.Type) is not null ? Microsoft.OpenApi.JsonSchemaType.Null : 0;
        if (type == typeof(double) || type == typeof(float))
        {
            schema.Type = Microsoft.OpenApi.JsonSchemaType.Number | nullable;
            schema.Format = type == typeof(double) ? "double" : "float";
        }
        else if (type == typeof(string))
        {
            schema.Type = Microsoft.OpenApi.JsonSchemaType.String;
        }
        return Task.CompletedTask;
    }

    /// <summary>The 400 problem for <paramref name="e"/>: its code, the field in <c>errors</c> (which the OpenAI shape reports as <c>param</c>).</summary>
    public static ProblemDetails Problem(ClientInputException e) => Problem(e.Code, e.Field, e.Message);

    public static ProblemDetails Problem(string code, string field, string reason) =>
        Problems.Create(StatusCodes.Status400BadRequest, code, Title(code), $"{field}: {reason}",
            new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { [field] = [reason] } });

    private static string Title(string code) => code switch
    {
        ProblemCodes.InvalidText => "The request holds text that is not allowed.",
        ProblemCodes.InvalidNumber => "The request holds a number that is not allowed.",
        ProblemCodes.ValueTooLong => "The request holds a value that is too long.",
        _ => "The request is not valid.",
    };

    internal static string FieldOf(string? path) =>
        path is null or "$" or "" ? "body" : path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');

    /// <summary>The first value in <paramref name="element"/> that breaks a rule, with its path below the element; null when all is clean.</summary>
    public static (string Path, string Code, string Reason)? Find(JsonElement element, int maxStringLength, string path = "")
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                return CheckString(element, maxStringLength) is { } fault ? (path, fault.Code, fault.Reason) : null;
            case JsonValueKind.Number:
                return element.TryGetDouble(out var number) && double.IsFinite(number) ? null : (path, ProblemCodes.InvalidNumber, FiniteMessage);
            case JsonValueKind.Array:
                var i = 0;
                foreach (var item in element.EnumerateArray())
                {
                    if (Find(item, maxStringLength, $"{path}[{i++}]") is { } inner)
                    {
                        return inner;
                    }
                }
                return null;
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    string name;
                    try
                    {
                        name = property.Name;
                    }
                    catch (InvalidOperationException)
                    {
                        return (path, ProblemCodes.InvalidText, "a property name " + ClientText.InvalidUtf8Message + " and hold no lone surrogate");
                    }
                    if (ClientText.Check(name) is { } reason)
                    {
                        return (path, ProblemCodes.InvalidText, "a property name " + reason);
                    }
                    if (name.Length > maxStringLength)
                    {
                        return (path, ProblemCodes.ValueTooLong, $"a property name is longer than {maxStringLength} characters");
                    }
                    if (Find(property.Value, maxStringLength, path.Length == 0 ? name : $"{path}.{name}") is { } inner)
                    {
                        return inner;
                    }
                }
                return null;
            default:
                return null;
        }
    }

    private const string FiniteMessage = "must be a finite number (not NaN, Infinity or out of range)";

    private static (string Code, string Reason)? CheckString(JsonElement element, int maxStringLength)
    {
        string value;
        try
        {
            value = element.GetString()!;
        }
        catch (InvalidOperationException)
        {
            return (ProblemCodes.InvalidText, ClientText.InvalidUtf8Message + " and must not contain a lone surrogate");
        }
        if (ClientText.Check(value) is { } reason)
        {
            return (ProblemCodes.InvalidText, reason);
        }
        return value.Length > maxStringLength ? (ProblemCodes.ValueTooLong, $"must be at most {maxStringLength} characters") : null;
    }

    private static string ReadCleanString(ref Utf8JsonReader reader, int maxStringLength)
    {
        if (reader.TokenType is not (JsonTokenType.String or JsonTokenType.PropertyName))
        {
            throw new JsonException(); // the serializer words it: "The JSON value could not be converted to System.String. Path: …"
        }
        string value;
        try
        {
            value = reader.GetString()!;
        }
        catch (InvalidOperationException)
        {
            var invalidUtf8 = !reader.HasValueSequence && !Utf8.IsValid(reader.ValueSpan);
            throw new ClientInputException(ProblemCodes.InvalidText, invalidUtf8 ? ClientText.InvalidUtf8Message : "must not contain a lone surrogate");
        }
        if (ClientText.Check(value) is { } reason)
        {
            throw new ClientInputException(ProblemCodes.InvalidText, reason);
        }
        if (value.Length > maxStringLength)
        {
            throw new ClientInputException(ProblemCodes.ValueTooLong, $"must be at most {maxStringLength} characters (Limits:MaxStringLength)");
        }
        return value;
    }

    private static double ReadFinite(ref Utf8JsonReader reader)
    {
        double value;
        if (reader.TokenType == JsonTokenType.Number)
        {
            value = reader.GetDouble();
        }
        else if (reader.TokenType == JsonTokenType.String)
        {
            // Numbers in strings are read as the web defaults read them ("0.5"); named literals and overflow are refused below.
            if (!double.TryParse(ReadCleanString(ref reader, 64), NumberStyles.Float, CultureInfo.InvariantCulture, out value))
            {
                throw new JsonException();
            }
        }
        else
        {
            throw new JsonException();
        }
        return double.IsFinite(value) ? value : throw new ClientInputException(ProblemCodes.InvalidNumber, FiniteMessage);
    }

    private sealed class CleanStringConverter(int maxStringLength) : JsonConverter<string>
    {
        public override string Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => ReadCleanString(ref reader, maxStringLength);

        public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WriteStringValue(value);

        public override string ReadAsPropertyName(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            ReadCleanString(ref reader, maxStringLength);

        public override void WriteAsPropertyName(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WritePropertyName(value);
    }

    /// <summary>Writes what is not finite as the named literal (<c>"NaN"</c>, <c>"Infinity"</c>), as <c>AllowNamedFloatingPointLiterals</c> would: a computed figure never fails a response.</summary>
    private sealed class FiniteDoubleConverter : JsonConverter<double>
    {
        public override double Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => ReadFinite(ref reader);

        public override void Write(Utf8JsonWriter writer, double value, JsonSerializerOptions options)
        {
            if (double.IsFinite(value))
            {
                writer.WriteNumberValue(value);
            }
            else
            {
                writer.WriteStringValue(value.ToString(CultureInfo.InvariantCulture));
            }
        }
    }

    private sealed class FiniteSingleConverter : JsonConverter<float>
    {
        public override float Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            var value = (float)ReadFinite(ref reader);
            return float.IsFinite(value) ? value : throw new ClientInputException(ProblemCodes.InvalidNumber, FiniteMessage);
        }

        public override void Write(Utf8JsonWriter writer, float value, JsonSerializerOptions options)
        {
            if (float.IsFinite(value))
            {
                writer.WriteNumberValue(value);
            }
            else
            {
                writer.WriteStringValue(value.ToString(CultureInfo.InvariantCulture));
            }
        }
    }

    private sealed class CheckedElementConverter(int maxStringLength) : JsonConverter<JsonElement>
    {
        public override JsonElement Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            var element = JsonElement.ParseValue(ref reader);
            if (Find(element, maxStringLength) is { } fault)
            {
                throw new ClientInputException(fault.Code, fault.Reason, fault.Path.Length == 0 || fault.Path[0] == '[' ? fault.Path : "." + fault.Path);
            }
            return element;
        }

        public override void Write(Utf8JsonWriter writer, JsonElement value, JsonSerializerOptions options) => value.WriteTo(writer);
    }
}
