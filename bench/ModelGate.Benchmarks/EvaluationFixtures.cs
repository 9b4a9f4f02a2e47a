using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ModelGate.Benchmarks;

/// <summary>One ONNX model of fixtures/models/adult-income.</summary>
internal sealed record FixtureModel(string Name, string FileName, byte[] Bytes, string Sha256);

/// <summary>A suite document as uploaded: its bytes, digest and bootstrap resamples.</summary>
internal sealed record SuiteVariant(string Label, byte[] Bytes, string Sha256, int Resamples);

/// <summary>
/// The evaluation benchmark's inputs, read from the repository's fixtures: the adult test set, the adult classification
/// suite (and a copy of it with the bootstrap turned off) and the four adult-income ONNX models.
/// </summary>
internal sealed class EvaluationFixtures
{
    public const string DatasetPath = "datasets/adult/test.csv";
    public const string TrainPath = "datasets/adult/train.csv";
    public const string SuitePath = "suites/adult-classification.json";
    public const string ModelsPath = "models/adult-income";
    public static readonly IReadOnlyList<string> ModelNames = ["v1-logreg", "v2-mlp", "v3-biased", "v4-broken"];

    private EvaluationFixtures(string directory, byte[] dataset, string trainSha256, SuiteVariant suite, SuiteVariant noBootstrap,
        SuiteVariant serverDefault, IReadOnlyList<FixtureModel> models)
    {
        Directory = directory;
        Dataset = dataset;
        DatasetSha256 = Sha256(dataset);
        TrainSha256 = trainSha256;
        Suite = suite;
        NoBootstrap = noBootstrap;
        ServerDefault = serverDefault;
        Models = models;
    }

    public string Directory { get; }
    public byte[] Dataset { get; }
    public string DatasetSha256 { get; }
    public string TrainSha256 { get; }
    /// <summary>The suite exactly as stored in the repository.</summary>
    public SuiteVariant Suite { get; }
    /// <summary>The same suite with <c>bootstrap.resamples</c> set to 0: no confidence intervals.</summary>
    public SuiteVariant NoBootstrap { get; }
    /// <summary>The same suite without its <c>bootstrap</c> section: the server's default number of resamples applies.</summary>
    public SuiteVariant ServerDefault { get; }
    public IReadOnlyList<FixtureModel> Models { get; }

    public static EvaluationFixtures Load(string directory)
    {
        string PathOf(string relative)
        {
            var path = Path.Combine(directory, relative);
            return File.Exists(path) ? path : throw new FileNotFoundException($"fixture {path} not found (use --fixtures <dir>)", path);
        }

        var dataset = File.ReadAllBytes(PathOf(DatasetPath));
        var trainSha = Sha256(File.ReadAllBytes(PathOf(TrainPath)));
        var suiteBytes = File.ReadAllBytes(PathOf(SuitePath));
        var suiteJson = JsonNode.Parse(suiteBytes)?.AsObject() ?? throw new InvalidDataException($"{SuitePath} is not a JSON object");
        var declared = suiteJson["dataset"]?["sha256"]?.GetValue<string>();
        if (!string.Equals(declared, Sha256(dataset), StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidDataException($"{SuitePath} names dataset {declared}, but {DatasetPath} hashes to {Sha256(dataset)}");
        }
        var resamples = suiteJson["bootstrap"]?["resamples"]?.GetValue<int>()
                        ?? throw new InvalidDataException($"{SuitePath} sets no bootstrap.resamples; the benchmark compares it with 0");
        var suite = new SuiteVariant($"suite ({resamples} resamples)", suiteBytes, Sha256(suiteBytes), resamples);

        var indented = new JsonSerializerOptions { WriteIndented = true };
        suiteJson["bootstrap"]!["resamples"] = 0;
        var noBootstrapBytes = JsonSerializer.SerializeToUtf8Bytes(suiteJson, indented);
        var noBootstrap = new SuiteVariant("no bootstrap (0 resamples)", noBootstrapBytes, Sha256(noBootstrapBytes), 0);

        suiteJson.Remove("bootstrap");
        var serverDefaultBytes = JsonSerializer.SerializeToUtf8Bytes(suiteJson, indented);
        var defaultResamples = new Client.BootstrapSpec().Resamples;
        var serverDefault = new SuiteVariant($"no `bootstrap` section ({defaultResamples} resamples)", serverDefaultBytes, Sha256(serverDefaultBytes),
            defaultResamples);

        var models = ModelNames.Select(name =>
        {
            var fileName = name + ".onnx";
            var bytes = File.ReadAllBytes(PathOf(Path.Combine(ModelsPath, fileName)));
            return new FixtureModel(name, fileName, bytes, Sha256(bytes));
        }).ToList();
        return new EvaluationFixtures(directory, dataset, trainSha, suite, noBootstrap, serverDefault, models);
    }

    /// <summary>fixtures/ of the repository this binary was built from (found by ModelGate.slnx above the output directory), else ./fixtures.</summary>
    public static string DefaultDirectory()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "ModelGate.slnx")))
                {
                    return Path.Combine(dir.FullName, "fixtures");
                }
            }
        }
        return Path.Combine(Environment.CurrentDirectory, "fixtures");
    }

    public static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));
}
