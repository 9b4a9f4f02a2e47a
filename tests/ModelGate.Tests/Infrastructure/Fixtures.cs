using System.Text.Json;
using ModelGate.Client;

namespace ModelGate.Tests.Infrastructure;

/// <summary>The real Adult-income models and their reference figures, copied into the repository under fixtures/.</summary>
public static class Fixtures
{
    public static string ModelsDirectory => Path.Combine(AppContext.BaseDirectory, "fixtures", "models", "adult-income");

    public static string ModelPath(string name) => Path.Combine(ModelsDirectory, name + ".onnx");

    public static byte[] ModelBytes(string name) => File.ReadAllBytes(ModelPath(name));

    /// <summary>The SHA-256 that reference-metrics.json lists for a model (computed independently of ModelGate).</summary>
    public static string ReferenceSha256(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(ModelsDirectory, "reference-metrics.json")));
        return doc.RootElement.GetProperty("models").GetProperty(name).GetProperty("sha256").GetString()!;
    }

    /// <summary>SHA-256 of fixtures/datasets/adult/train.csv.</summary>
    public const string TrainCsvSha256 = "97459af3eb1789802fbce3e6ead4a945fede750f70ab083684f92567c46d74a7";

    public static Attestation Attestation(string trainer = "alice", string datasetSha = TrainCsvSha256, string? baseModel = null) => new(
        Datasets: [new DatasetRef("adult-train", "file:fixtures/datasets/adult/train.csv", datasetSha)],
        Code: new CodeRef("https://git.example/ml/adult", "9f1c2d3"),
        Environment: new EnvironmentRef("sha256:" + new string('e', 64), new Dictionary<string, string> { ["scikit-learn"] = "1.5.2" }),
        Architecture: "logistic-regression",
        BaseModel: baseModel,
        Hyperparameters: new Dictionary<string, JsonElement> { ["C"] = JsonSerializer.SerializeToElement(1.0) },
        Metrics: new Dictionary<string, double> { ["train_accuracy"] = 0.85 },
        LogSummary: new LogSummary(0, 2),
        Trainer: trainer,
        StartedAt: new DateTimeOffset(2026, 10, 30, 9, 0, 0, TimeSpan.Zero),
        FinishedAt: new DateTimeOffset(2026, 10, 30, 9, 4, 0, TimeSpan.Zero));

    /// <summary>A retirement archive's entries (.tar.gz) by path, with their bytes.</summary>
    public static Dictionary<string, byte[]> ReadArchive(byte[] archive)
    {
        var entries = new Dictionary<string, byte[]>();
        using var gzip = new System.IO.Compression.GZipStream(new MemoryStream(archive), System.IO.Compression.CompressionMode.Decompress);
        using var reader = new System.Formats.Tar.TarReader(gzip);
        while (reader.GetNextEntry() is { } entry)
        {
            using var content = new MemoryStream();
            entry.DataStream?.CopyTo(content);
            entries[entry.Name] = content.ToArray();
        }
        return entries;
    }
}
