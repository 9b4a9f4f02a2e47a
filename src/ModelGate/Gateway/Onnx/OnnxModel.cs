using System.Security.Cryptography;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using ModelGate.Storage;

namespace ModelGate.Gateway.Onnx;

/// <summary>An input or output of an ONNX graph, described with Open Inference Protocol v2 datatypes.</summary>
public sealed record TensorSpec(string Name, string Datatype, IReadOnlyList<long> Shape);

/// <summary>Thrown when inputs do not fit the graph; the message names the input.</summary>
public sealed class TensorInputException(string input, string message) : Exception(message)
{
    public string Input { get; } = input;
}

/// <summary>
/// One ONNX graph loaded into ONNX Runtime from a verified artifact. <see cref="InferenceSession.Run(IReadOnlyCollection{NamedOnnxValue})"/>
/// is thread-safe, so one instance serves every caller.
/// </summary>
public sealed class OnnxModel : IDisposable
{
    private readonly InferenceSession _session;

    private OnnxModel(string sha256, InferenceSession session)
    {
        Sha256 = sha256;
        _session = session;
        Inputs = session.InputMetadata.Select(kv => Describe(kv.Key, kv.Value)).ToList();
        Outputs = session.OutputMetadata.Select(kv => Describe(kv.Key, kv.Value)).ToList();
    }

    public string Sha256 { get; }
    public IReadOnlyList<TensorSpec> Inputs { get; }
    public IReadOnlyList<TensorSpec> Outputs { get; }

    /// <summary>Reads the artifact, refuses it unless its bytes hash to <paramref name="sha256"/>, and creates the session.</summary>
    public static async Task<OnnxModel> LoadAsync(IBlobStore blobs, string sha256, CancellationToken cancellationToken)
    {
        await using var stream = await blobs.OpenReadAsync(sha256, cancellationToken)
            ?? throw new FileNotFoundException($"no artifact is stored with digest {sha256}");
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer, cancellationToken);
        var bytes = buffer.ToArray();
        var actual = Convert.ToHexStringLower(SHA256.HashData(bytes));
        if (actual != sha256)
        {
            throw new Registry.ArtifactCorruptException(sha256, actual);
        }
        return FromBytes(sha256, bytes);
    }

    public static OnnxModel FromBytes(string sha256, byte[] bytes)
    {
        var options = new Microsoft.ML.OnnxRuntime.SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, InterOpNumThreads = 1 };
        return new OnnxModel(sha256, new InferenceSession(bytes, options));
    }

    /// <summary>
    /// Runs the graph on column data: each input gets a <c>float[]</c>, <c>long[]</c> or <c>string[]</c> of
    /// <paramref name="rows"/> values, shaped <c>[rows, 1]</c> (or <c>[rows]</c> for rank-1 inputs).
    /// </summary>
    public IReadOnlyDictionary<string, OnnxOutput> Run(IReadOnlyDictionary<string, Array> columns, int rows)
    {
        var inputs = new List<NamedOnnxValue>(Inputs.Count);
        foreach (var spec in Inputs)
        {
            if (!columns.TryGetValue(spec.Name, out var data))
            {
                throw new TensorInputException(spec.Name, $"input '{spec.Name}' ({spec.Datatype}) is missing");
            }
            if (data.Length != rows)
            {
                throw new TensorInputException(spec.Name, $"input '{spec.Name}' has {data.Length} values, expected {rows}");
            }
            int[] dims = spec.Shape.Count == 1 ? [rows] : [rows, 1];
            inputs.Add((spec.Datatype, data) switch
            {
                ("FP32", float[] f) => NamedOnnxValue.CreateFromTensor(spec.Name, new DenseTensor<float>(f, dims)),
                ("INT64", long[] l) => NamedOnnxValue.CreateFromTensor(spec.Name, new DenseTensor<long>(l, dims)),
                ("BYTES", string[] s) => NamedOnnxValue.CreateFromTensor(spec.Name, new DenseTensor<string>(s, dims)),
                _ => throw new TensorInputException(spec.Name, $"input '{spec.Name}' needs {spec.Datatype} values, got {data.GetType().GetElementType()?.Name}"),
            });
        }
        using var results = _session.Run(inputs);
        var outputs = new Dictionary<string, OnnxOutput>(StringComparer.Ordinal);
        foreach (var r in results)
        {
            outputs[r.Name] = r.Value switch
            {
                DenseTensor<float> t => new OnnxOutput("FP32", t.Dimensions.ToArray(), t.ToArray()),
                DenseTensor<long> t => new OnnxOutput("INT64", t.Dimensions.ToArray(), t.ToArray()),
                DenseTensor<string> t => new OnnxOutput("BYTES", t.Dimensions.ToArray(), t.ToArray()),
                Tensor<float> t => new OnnxOutput("FP32", t.Dimensions.ToArray(), t.ToArray()),
                Tensor<long> t => new OnnxOutput("INT64", t.Dimensions.ToArray(), t.ToArray()),
                _ => throw new NotSupportedException($"output '{r.Name}' has a type ModelGate does not serve ({r.ValueType})"),
            };
        }
        return outputs;
    }

    /// <summary>Runs one row of neutral values (0, empty string) so that the first real request does not pay for lazy initialisation.</summary>
    public void WarmUp()
    {
        var columns = Inputs.ToDictionary(i => i.Name, i => i.Datatype switch
        {
            "FP32" => (Array)new float[1],
            "INT64" => new long[1],
            "BYTES" => new[] { "" },
            _ => Array.Empty<object>(),
        });
        try
        {
            Run(columns, 1);
        }
        catch (Exception e) when (e is TensorInputException or OnnxRuntimeException or NotSupportedException)
        {
            // A graph that cannot take neutral values still serves real requests; warming up is an optimisation only.
        }
    }

    public void Dispose() => _session.Dispose();

    private static TensorSpec Describe(string name, NodeMetadata metadata) =>
        new(name, Datatype(metadata.ElementType), metadata.Dimensions.Select(d => (long)d).ToList());

    private static string Datatype(Type t) =>
        t == typeof(float) ? "FP32" :
        t == typeof(double) ? "FP64" :
        t == typeof(long) ? "INT64" :
        t == typeof(int) ? "INT32" :
        t == typeof(string) ? "BYTES" :
        t == typeof(bool) ? "BOOL" : t.Name.ToUpperInvariant();
}

/// <summary>One output tensor, flattened row-major.</summary>
public sealed record OnnxOutput(string Datatype, int[] Shape, Array Data);
