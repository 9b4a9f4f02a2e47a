using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ModelGate.Client;
using ModelGate.Evaluation.Datasets;

namespace ModelGate.Tests.Infrastructure;

/// <summary>The real Adult models registered and deployed for serving, and OIP v2 requests built from rows of <c>test.csv</c>.</summary>
public static class AdultServing
{
    public static readonly Lazy<CsvTable> TestSet = new(() =>
        CsvTable.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "fixtures", "datasets", "adult", "test.csv"))));

    public static readonly string[] Numeric = ["age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"];

    /// <summary>A model with <c>1.0.0</c> = v1-logreg and <c>1.1.0</c> = v2-mlp.</summary>
    public static async Task<string> RegisterAsync(ServerFixture server)
    {
        var model = ServerFixture.UniqueName("served");
        var api = server.Api();
        await api.CreateModelAsync(new CreateModelRequest(model, "o", "low", "classification"));
        foreach (var (version, onnx) in new[] { ("1.0.0", "v1-logreg"), ("1.1.0", "v2-mlp") })
        {
            var sha = await server.UploadAsync(Fixtures.ModelBytes(onnx));
            await api.CreateVersionAsync(model, new CreateVersionRequest(version, [new ArtifactRef(sha, onnx + ".onnx")], Fixtures.Attestation()));
        }
        return model;
    }

    public static async Task<string> DeployAsync(ServerFixture server, string model, object routing, string environment = "development")
    {
        var name = ServerFixture.UniqueName("dep");
        using var response = await server.Client().PostAsJsonAsync("/api/v1/deployments", new { name, environment, model, routing });
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        return name;
    }

    /// <summary>An OIP v2 infer body of <paramref name="count"/> rows of test.csv from <paramref name="first"/>, one input per column.</summary>
    public static JsonObject Request(int first, int count) => Request(first, count, null);

    /// <summary>As <see cref="Request(int, int)"/>, with each value passed through <paramref name="shift"/> (column, row, value) first.</summary>
    public static JsonObject Request(int first, int count, Func<string, int, string, string>? shift)
    {
        var table = TestSet.Value;
        var inputs = new JsonArray();
        foreach (var column in table.ColumnNames.Where(c => c != "income"))
        {
            var numeric = Numeric.Contains(column);
            string Value(int i) => shift is null ? table.Strings(column)[i] : shift(column, i, table.Strings(column)[i]);
            var values = Enumerable.Range(first, count).Select(i => numeric
                ? (JsonNode)JsonValue.Create(float.Parse(Value(i), System.Globalization.CultureInfo.InvariantCulture))
                : JsonValue.Create(Value(i))).ToArray();
            inputs.Add(new JsonObject
            {
                ["name"] = column,
                ["shape"] = new JsonArray(count, 1),
                ["datatype"] = numeric ? "FP32" : "BYTES",
                ["data"] = new JsonArray(values),
            });
        }
        return new JsonObject { ["id"] = $"rows-{first}", ["inputs"] = inputs };
    }
}
