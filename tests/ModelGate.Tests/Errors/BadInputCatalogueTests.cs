using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Errors;

/// <summary>
/// The bad-input catalogue (issue 15, proof): every write endpoint the OpenAPI document lists × each kind of bad input,
/// on both providers. Every answer must be a 4xx <c>application/problem+json</c> with a <c>code</c>, never a 5xx, and the
/// store must stay as it was (the audit event count, and what a GET on the endpoint's own path lists).
/// </summary>
public abstract class BadInputCatalogueTests(ServerFixture fixture, ITestOutputHelper output) : ProviderTests(fixture)
{
    private const string Marker = "@@BAD@@";

    private sealed record Endpoint(string Method, string Template, JsonObject? BodySchema);

    private sealed record Input(string Category, string Label, HttpRequestMessage Request);

    private sealed class Tally
    {
        public int Tried, Refused, ServerErrors, Stored, Other;
    }

    [Fact]
    public async Task EveryWriteEndpoint_RefusesEveryKindOfBadInput_WithAProblem_AndChangesNothing()
    {
        var model = await AdultServing.RegisterAsync(Server);
        var deployment = await AdultServing.DeployAsync(Server, model, new { stable = "1.0.0" });
        var suite = await Server.UploadAsync(Encoding.UTF8.GetBytes($"catalogue suite {model}"));
        var valid = new Dictionary<string, string>
        {
            ["model"] = model, ["version"] = "1.0.0", ["name"] = deployment, ["scope"] = model, ["id"] = "no-such-id", ["sha256"] = suite,
        };
        var client = Server.Client();
        var document = (await client.GetFromJsonAsync<JsonObject>("/openapi/v1.json"))!;
        var endpoints = WriteEndpoints(document).ToList();
        Assert.True(endpoints.Count >= 20, $"the OpenAPI document lists only {endpoints.Count} write endpoints");

        var tallies = new SortedDictionary<string, Tally>(StringComparer.Ordinal);
        var failures = new List<string>();
        foreach (var endpoint in endpoints)
        {
            foreach (var input in Inputs(endpoint, document, valid))
            {
                var tally = tallies.TryGetValue(input.Category, out var t) ? t : tallies[input.Category] = new Tally();
                tally.Tried++;
                var auditBefore = await Server.AuditCountAsync();
                var listBefore = await ListAsync(client, endpoint, valid);
                using var response = await client.SendAsync(input.Request);
                var text = await response.Content.ReadAsStringAsync();
                var status = (int)response.StatusCode;
                var stored = status is >= 200 and < 300 || await Server.AuditCountAsync() != auditBefore || await ListAsync(client, endpoint, valid) != listBefore;
                string? problem = null;
                if (input.Category == "long-string" && status < 500)
                {
                    (stored ? ref tally.Stored : ref tally.Refused)++;
                }
                else if (status >= 500)
                {
                    tally.ServerErrors++;
                    problem = "5xx";
                }
                else if (stored)
                {
                    tally.Stored++;
                    problem = "stored";
                }
                else if (status is < 400 or >= 500 || response.Content.Headers.ContentType?.MediaType != "application/problem+json" || !HasCode(text))
                {
                    tally.Other++;
                    problem = "not a problem with a code";
                }
                else
                {
                    tally.Refused++;
                }
                if (problem is not null)
                {
                    failures.Add($"{input.Category}: {endpoint.Method} {endpoint.Template} ({input.Label}) → {status} {problem}: {Short(text)}");
                }
            }
        }

        var summary = new StringBuilder();
        summary.AppendLine($"Bad-input catalogue on {Server.Provider}: {endpoints.Count} write endpoints");
        var slo = endpoints.FirstOrDefault(e => e.Template.EndsWith("/slo", StringComparison.Ordinal));
        summary.AppendLine($"slo schema: {(slo?.BodySchema is { } schema ? Resolve(schema, document).ToJsonString() : "-")}");
        summary.AppendLine($"{"category",-18} {"tried",6} {"refused",8} {"5xx",5} {"stored",7} {"other",6}");
        foreach (var (category, t) in tallies)
        {
            summary.AppendLine($"{category,-18} {t.Tried,6} {t.Refused,8} {t.ServerErrors,5} {t.Stored,7} {t.Other,6}");
        }
        var all = tallies.Values;
        summary.AppendLine($"{"total",-18} {all.Sum(t => t.Tried),6} {all.Sum(t => t.Refused),8} {all.Sum(t => t.ServerErrors),5} {all.Sum(t => t.Stored),7} {all.Sum(t => t.Other),6}");
        summary.AppendLine("(long-string: 5,000 characters, within every documented bound: may be stored, never a 5xx)");
        foreach (var failure in failures.Take(60))
        {
            summary.AppendLine(failure);
        }
        output.WriteLine(summary.ToString());
        // Also kept next to the test binaries, so that the figures can be read after a run whose output is not shown.
        await File.WriteAllTextAsync(Path.Combine(AppContext.BaseDirectory, $"bad-input-catalogue-{Server.Provider}.txt"), summary.ToString());
        Assert.True(failures.Count == 0, $"{failures.Count} bad inputs were not refused with a problem:\n{string.Join("\n", failures.Take(25))}");
    }

    private static bool HasCode(string text)
    {
        try
        {
            return JsonNode.Parse(text) is JsonObject o && o["code"] is JsonValue code && code.GetValue<string>().Length > 0;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static string Short(string text) => text.Length <= 300 ? text : text[..300] + "…";

    /// <summary>What a GET on the endpoint's own path (or its collection) answers, as the measure of "the store unchanged".</summary>
    private static async Task<string> ListAsync(HttpClient client, Endpoint endpoint, IReadOnlyDictionary<string, string> valid)
    {
        foreach (var path in new[] { Fill(endpoint.Template, valid), Fill(Parent(endpoint.Template), valid) })
        {
            if (path.StartsWith("/v1", StringComparison.Ordinal) || path.StartsWith("/v2", StringComparison.Ordinal))
            {
                continue;
            }
            using var response = await client.GetAsync(path);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                return $"{path}: {await response.Content.ReadAsStringAsync()}";
            }
        }
        return "";
    }

    private static string Parent(string template) => template.TrimEnd('/').LastIndexOf('/') is var i and > 0 ? template[..i] : template;

    private static string Fill(string template, IReadOnlyDictionary<string, string> values, string? replace = null, string? with = null)
    {
        var path = template;
        foreach (var (name, value) in values)
        {
            path = path.Replace("{" + name + "}", name == replace ? with : Uri.EscapeDataString(value), StringComparison.Ordinal);
        }
        return path.TrimEnd('/');
    }

    private static IEnumerable<Endpoint> WriteEndpoints(JsonObject document)
    {
        foreach (var (template, item) in document["paths"]!.AsObject())
        {
            foreach (var (method, operation) in item!.AsObject())
            {
                if (method is not ("post" or "put" or "patch" or "delete"))
                {
                    continue;
                }
                var schema = operation!["requestBody"]?["content"]?["application/json"]?["schema"] as JsonObject;
                yield return new Endpoint(method.ToUpperInvariant(), template, schema);
            }
        }
    }

    /// <summary>Follows <c>$ref</c> and picks the non-null branch of a nullable union.</summary>
    private static JsonObject Resolve(JsonObject? schema, JsonObject document)
    {
        for (var i = 0; schema is not null && i < 10; i++)
        {
            if (schema["$ref"]?.GetValue<string>() is { } reference)
            {
                schema = document["components"]!["schemas"]![reference.Split('/')[^1]] as JsonObject;
                continue;
            }
            if ((schema["anyOf"] ?? schema["oneOf"]) is JsonArray branches)
            {
                schema = branches.OfType<JsonObject>().FirstOrDefault(b => TypeOf(b) != "null") ?? new JsonObject();
                continue;
            }
            return schema;
        }
        return schema ?? new JsonObject();
    }

    private static string? TypeOf(JsonObject schema) => schema["type"] switch
    {
        JsonValue v => v.GetValue<string>(),
        JsonArray a => a.Select(x => x!.GetValue<string>()).FirstOrDefault(t => t is not ("null" or "string")) ?? a.Select(x => x!.GetValue<string>()).FirstOrDefault(t => t != "null"),
        _ => schema["properties"] is not null ? "object" : null,
    };

    /// <summary>A body of the schema's shape, and the paths of its string and number leaves (to put bad values in).</summary>
    private static JsonNode? Sample(JsonObject? raw, JsonObject document, string path, List<(string Path, string Kind)> leaves, int depth)
    {
        var schema = Resolve(raw, document);
        var type = TypeOf(schema);
        switch (type)
        {
            case "object" when depth < 4:
                var obj = new JsonObject();
                foreach (var (name, property) in schema["properties"]?.AsObject() ?? [])
                {
                    obj[name] = Sample(property as JsonObject, document, $"{path}.{name}", leaves, depth + 1);
                }
                if (schema["additionalProperties"] is JsonObject additional)
                {
                    obj["k"] = Sample(additional, document, $"{path}.k", leaves, depth + 1);
                }
                return obj;
            case "array" when depth < 4:
                return new JsonArray(Sample(schema["items"] as JsonObject, document, $"{path}[0]", leaves, depth + 1));
            case "integer":
                return 1;
            case "number":
                leaves.Add((path, "number"));
                return 1;
            case "boolean":
                return false;
            case "object" or "array":
                return null;
            default:
                leaves.Add((path, "string"));
                return schema["format"]?.GetValue<string>() == "date-time" ? "2027-01-01T00:00:00Z" : "x";
        }
    }

    private static JsonNode Replace(JsonNode body, string path, JsonNode? with)
    {
        var copy = body.DeepClone();
        var segments = path.TrimStart('$', '.').Replace("[0]", ".[0]", StringComparison.Ordinal).Split('.', StringSplitOptions.RemoveEmptyEntries);
        if (segments.Length == 0)
        {
            return with ?? JsonValue.Create(Marker)!;
        }
        var node = copy;
        foreach (var segment in segments[..^1])
        {
            node = segment == "[0]" ? node[0]! : node[segment]!;
        }
        if (segments[^1] == "[0]")
        {
            node[0] = with;
        }
        else
        {
            node[segments[^1]] = with;
        }
        return copy;
    }

    private static IEnumerable<Input> Inputs(Endpoint endpoint, JsonObject document, IReadOnlyDictionary<string, string> valid)
    {
        var path = Fill(endpoint.Template, valid);
        var method = new HttpMethod(endpoint.Method);
        HttpRequestMessage Request(string category, HttpContent? content, string? at = null) => new(method, at ?? path) { Content = content };
        Input Text(string category, string label, string body, string mediaType = "application/json") =>
            new(category, label, Request(category, new StringContent(body, Encoding.UTF8, mediaType)));

        // Names in the path: unknown ones, path tricks, control characters.
        foreach (var name in valid.Keys.Where(n => endpoint.Template.Contains("{" + n + "}", StringComparison.Ordinal)))
        {
            foreach (var (category, value) in new[]
                     {
                         ("unknown-name", "no-such-thing-0000"),
                         ("path-trick", "..%2F..%2Fetc%2Fpasswd"),
                         ("path-trick", "%2e%2e"),
                         ("path-trick", "a%2Fb"),
                         ("nul-c0", "a%01b"),
                         ("nul-c0", "a%1Bb"),
                         ("oversized", new string('n', 4000)),
                     })
            {
                yield return new(category, $"{{{name}}}={Short(value)}", Request(category, new StringContent("{}", Encoding.UTF8, "application/json"),
                    Fill(endpoint.Template, valid, name, value)));
            }
        }

        if (endpoint.BodySchema is null)
        {
            yield return Text("wrong-content-type", "text/plain", "{}", "text/plain");
            yield break;
        }
        var leaves = new List<(string Path, string Kind)>();
        var sample = Sample(endpoint.BodySchema, document, "$", leaves, 0) ?? new JsonObject();
        var sampleText = sample.ToJsonString();

        yield return Text("malformed-json", "truncated", sampleText[..Math.Max(1, sampleText.Length / 2)]);
        yield return Text("malformed-json", "not json", "model=x&name=y");
        yield return Text("malformed-json", "empty", "");
        yield return Text("wrong-types", "array for object", "[1,2,3]");
        yield return Text("wrong-types", "number for object", "42");
        yield return Text("wrong-content-type", "text/plain", sampleText, "text/plain");
        yield return Text("wrong-content-type", "form", sampleText, "application/x-www-form-urlencoded");
        if (sample is JsonObject)
        {
            var unknown = sample.DeepClone().AsObject();
            unknown["surpriseField"] = 1;
            yield return Text("unknown-field", "surpriseField", unknown.ToJsonString());
        }
        foreach (var (leaf, kind) in leaves)
        {
            if (kind == "number")
            {
                foreach (var bad in new[] { "\"NaN\"", "\"Infinity\"", "\"-Infinity\"", "1e400", "-1e400" })
                {
                    yield return Text("nan-infinity", $"{leaf}={bad}", Replace(sample, leaf, Marker).ToJsonString().Replace($"\"{Marker}\"", bad, StringComparison.Ordinal));
                }
                yield return Text("wrong-types", $"{leaf}=object", Replace(sample, leaf, new JsonObject { ["a"] = 1 }).ToJsonString());
                continue;
            }
            foreach (var (category, bad) in new[]
                     {
                         ("nul-c0", "\"a\\u0000b\""), ("nul-c0", "\"a\\u0007b\""), ("nul-c0", "\"a\\u001bb\""), ("nul-c0", "\"a\\bb\""),
                         ("lone-surrogate", "\"a\\ud800b\""), ("lone-surrogate", "\"a\\udc00\""),
                     })
            {
                yield return Text(category, $"{leaf}={bad}", Replace(sample, leaf, Marker).ToJsonString().Replace($"\"{Marker}\"", bad, StringComparison.Ordinal));
            }
            yield return Text("wrong-types", $"{leaf}=object", Replace(sample, leaf, new JsonObject { ["a"] = 1 }).ToJsonString());
            yield return Text("oversized", $"{leaf}=70000 chars", Replace(sample, leaf, new string('x', 70_000)).ToJsonString());
            // Long but within every documented bound: it may be stored, but never be a 5xx (a column shorter than the value).
            yield return Text("long-string", $"{leaf}=5000 chars", Replace(sample, leaf, new string('x', 5_000)).ToJsonString());
            var bytes = Encoding.UTF8.GetBytes(Replace(sample, leaf, Marker).ToJsonString());
            var at = bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(Marker));
            foreach (var invalid in new byte[][] { [0xFF], [0xC3], [0xED, 0xA0, 0x80] })
            {
                var spliced = bytes[..at].Concat(invalid).Concat(bytes[(at + Marker.Length)..]).ToArray();
                yield return new("invalid-utf8", $"{leaf}={Convert.ToHexString(invalid)}",
                    Request("invalid-utf8", new ByteArrayContent(spliced) { Headers = { ContentType = new("application/json") } }));
            }
        }
    }
}

public sealed class SqliteBadInputCatalogueTests(SqliteServerFixture fixture, ITestOutputHelper output)
    : BadInputCatalogueTests(fixture, output), IClassFixture<SqliteServerFixture>;

public sealed class PostgresBadInputCatalogueTests(PostgresServerFixture fixture, ITestOutputHelper output)
    : BadInputCatalogueTests(fixture, output), IClassFixture<PostgresServerFixture>;
