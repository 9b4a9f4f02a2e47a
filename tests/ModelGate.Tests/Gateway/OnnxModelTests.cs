using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.Options;
using ModelGate.Evaluation.Datasets;
using ModelGate.Gateway.Onnx;
using ModelGate.Storage;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Gateway;

/// <summary>The four real Adult-income models served by ONNX Runtime, checked against the scikit-learn reference.</summary>
public sealed class OnnxModelTests
{
    private static readonly string[] NumericColumns = ["age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"];
    private static readonly string[] CategoryColumns = ["workclass", "education", "marital_status", "occupation", "relationship", "race", "sex", "native_country"];
    private static readonly Lazy<CsvTable> TestSet = new(() =>
        CsvTable.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "fixtures", "datasets", "adult", "test.csv"))));

    private static JsonElement Reference(string model)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.ModelsDirectory, "reference-metrics.json")));
        return doc.RootElement.GetProperty("models").GetProperty(model).Clone();
    }

    private static Dictionary<string, Array> Columns(CsvTable table)
    {
        var columns = new Dictionary<string, Array>();
        foreach (var c in NumericColumns)
        {
            columns[c] = table.Floats(c);
        }
        foreach (var c in CategoryColumns)
        {
            columns[c] = table.Strings(c);
        }
        return columns;
    }

    [Fact]
    public void Metadata_DescribesOneInputPerColumnAndBothOutputs()
    {
        using var model = OnnxModel.FromBytes(Fixtures.ReferenceSha256("v1-logreg"), Fixtures.ModelBytes("v1-logreg"));
        Assert.Equal(NumericColumns.Order(), model.Inputs.Where(i => i.Datatype == "FP32").Select(i => i.Name).Order());
        Assert.Equal(CategoryColumns.Order(), model.Inputs.Where(i => i.Datatype == "BYTES").Select(i => i.Name).Order());
        Assert.All(model.Inputs, i => Assert.Equal(2, i.Shape.Count));
        Assert.Equal("INT64", model.Outputs.Single(o => o.Name == "label").Datatype);
        Assert.Equal("FP32", model.Outputs.Single(o => o.Name == "probabilities").Datatype);
    }

    [Theory]
    [InlineData("v1-logreg")]
    [InlineData("v2-mlp")]
    [InlineData("v3-biased")]
    [InlineData("v4-broken")]
    public void Run_OnTestCsv_ReproducesReferenceProbabilitiesAndAccuracy(string name)
    {
        var reference = Reference(name);
        using var model = OnnxModel.FromBytes(Fixtures.ReferenceSha256(name), Fixtures.ModelBytes(name));
        var table = TestSet.Value;
        var outputs = model.Run(Columns(table), table.RowCount);

        var probabilities = (float[])outputs["probabilities"].Data;
        Assert.Equal([table.RowCount, 2], outputs["probabilities"].Shape);
        var first5 = reference.GetProperty("first5_probability_of_gt50k").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        for (var i = 0; i < first5.Length; i++)
        {
            Assert.Equal(first5[i], probabilities[i * 2 + 1], 6);
        }

        // Accuracy and positive rate counted here directly, compared with scikit-learn's figures.
        var labels = (long[])outputs["label"].Data;
        var truth = table.Strings("income");
        var correct = labels.Where((l, i) => l.ToString(System.Globalization.CultureInfo.InvariantCulture) == truth[i]).Count();
        var metrics = reference.GetProperty("metrics");
        Assert.Equal(metrics.GetProperty("accuracy").GetDouble(), (double)correct / table.RowCount, 1e-4);
        Assert.Equal(metrics.GetProperty("positive_rate").GetDouble(), labels.Average(l => (double)l), 1e-4);
    }

    [Fact]
    public void Run_MissingOrMistypedInput_NamesTheInput()
    {
        using var model = OnnxModel.FromBytes(Fixtures.ReferenceSha256("v1-logreg"), Fixtures.ModelBytes("v1-logreg"));
        var table = TestSet.Value;
        var columns = Columns(table);
        columns.Remove("age");
        var missing = Assert.Throws<TensorInputException>(() => model.Run(columns, table.RowCount));
        Assert.Equal("age", missing.Input);

        columns = Columns(table);
        columns["sex"] = table.Floats("age");
        var mistyped = Assert.Throws<TensorInputException>(() => model.Run(columns, table.RowCount));
        Assert.Equal("sex", mistyped.Input);
        Assert.Contains("BYTES", mistyped.Message);
    }

    [Fact]
    public async Task LoadAsync_VerifiesTheDigest_AndRefusesACorruptArtifact()
    {
        var root = Directory.CreateTempSubdirectory("modelgate-onnx-").FullName;
        try
        {
            var store = new FileSystemBlobStore(Options.Create(new DataOptions { Directory = root }), Options.Create(new ArtifactStoreOptions()));
            var bytes = Fixtures.ModelBytes("v2-mlp");
            var sha = Fixtures.ReferenceSha256("v2-mlp");
            await store.WriteAsync(new MemoryStream(bytes), sha, long.MaxValue, TestContext.Current.CancellationToken);
            var cache = new OnnxModelCache(store);
            var loaded = await cache.GetAsync(sha, TestContext.Current.CancellationToken);
            Assert.Same(loaded, await cache.GetAsync(sha, TestContext.Current.CancellationToken));

            // Flip one byte on disk behind the store's back: loading must refuse it.
            var other = Fixtures.ReferenceSha256("v1-logreg");
            var corrupt = Fixtures.ModelBytes("v1-logreg");
            corrupt[^10] ^= 0xFF;
            var path = Path.Combine(root, "artifacts", "sha256", other[..2], other);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await File.WriteAllBytesAsync(path, corrupt, TestContext.Current.CancellationToken);
            var refused = await Assert.ThrowsAsync<ModelGate.Registry.ArtifactCorruptException>(() => cache.GetAsync(other, TestContext.Current.CancellationToken));
            Assert.Contains(Convert.ToHexStringLower(SHA256.HashData(corrupt)), refused.Message);
            cache.Dispose();
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
