using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Options;

namespace ModelGate.Gateway.Telemetry;

/// <summary>One sampled input row: the column values as text ("" for missing), and when it was served.</summary>
public sealed record SampledRow(DateTime Time, string[] Values);

/// <summary>
/// Sampled inference inputs per deployment and version, for the drift monitor: for OIP v2 the rows of the input tensors
/// (one column per input), for LLM deployments the prompt and completion lengths and token counts. Each version keeps the
/// most recent <see cref="GatewayOptions.InputSampleCapacity"/> rows in a ring; older rows are overwritten.
/// </summary>
public sealed class InputSamples(IOptions<GatewayOptions> options)
{
    public static readonly string[] ChatColumns = ["prompt_chars", "completion_chars", "prompt_tokens", "completion_tokens"];

    private readonly ConcurrentDictionary<(string Deployment, string Version), Ring> _rings = new();

    /// <summary>Whether this request's inputs should be kept (the sample rate, and monitoring on).</summary>
    public bool ShouldSample(bool chat = false)
    {
        var rate = chat ? options.Value.ChatSampleRate : options.Value.InputSampleRate;
        return options.Value.Monitoring && rate > 0 && (rate >= 1 || Random.Shared.NextDouble() < rate);
    }

    /// <summary>Adds the rows of an OIP v2 request (column arrays as the model takes them, first dimension = rows).</summary>
    public void AddTensorRows(string deployment, string version, DateTime time, IReadOnlyDictionary<string, Array> columns, int rows)
    {
        var names = columns.Keys.Order(StringComparer.Ordinal).ToArray();
        var ring = RingFor(deployment, version, names);
        if (ring is null)
        {
            return;
        }
        var arrays = ring.Columns.Select(c => columns[c]).ToArray();
        for (var row = 0; row < rows; row++)
        {
            var values = new string[arrays.Length];
            for (var c = 0; c < arrays.Length; c++)
            {
                values[c] = Format(arrays[c], arrays[c].Length / Math.Max(rows, 1) * row);
            }
            ring.Add(new SampledRow(time, values));
        }
    }

    /// <summary>Adds one LLM exchange as a row of <see cref="ChatColumns"/>.</summary>
    public void AddChat(string deployment, string version, DateTime time, long promptChars, long completionChars, long? promptTokens, long? completionTokens)
    {
        RingFor(deployment, version, ChatColumns)?.Add(new SampledRow(time, [
            promptChars.ToString(CultureInfo.InvariantCulture),
            completionChars.ToString(CultureInfo.InvariantCulture),
            promptTokens?.ToString(CultureInfo.InvariantCulture) ?? "",
            completionTokens?.ToString(CultureInfo.InvariantCulture) ?? "",
        ]));
    }

    /// <summary>The kept rows of one version served at or after <paramref name="since"/>, oldest first, with their column names.</summary>
    public (IReadOnlyList<string> Columns, IReadOnlyList<SampledRow> Rows) Read(string deployment, string version, DateTime since)
    {
        if (!_rings.TryGetValue((deployment, version), out var ring))
        {
            return ([], []);
        }
        return (ring.Columns, ring.Snapshot().Where(r => r.Time >= since).ToList());
    }

    public void Clear(string deployment, string version) => _rings.TryRemove((deployment, version), out _);

    private Ring? RingFor(string deployment, string version, string[] columns)
    {
        var ring = _rings.GetOrAdd((deployment, version), _ => new Ring(columns, options.Value.InputSampleCapacity));
        // A version's inputs do not change shape; rows of another shape (a different model behind the same version) are not mixed in.
        return ring.Columns.AsSpan().SequenceEqual(columns) ? ring : null;
    }

    private static string Format(Array column, int index) => column switch
    {
        float[] f => float.IsNaN(f[index]) ? "" : f[index].ToString("R", CultureInfo.InvariantCulture),
        double[] d => double.IsNaN(d[index]) ? "" : d[index].ToString("R", CultureInfo.InvariantCulture),
        long[] l => l[index].ToString(CultureInfo.InvariantCulture),
        int[] i => i[index].ToString(CultureInfo.InvariantCulture),
        string[] s => s[index] ?? "",
        _ => Convert.ToString(column.GetValue(index), CultureInfo.InvariantCulture) ?? "",
    };

    private sealed class Ring(string[] columns, int capacity)
    {
        private readonly SampledRow?[] _rows = new SampledRow?[capacity];
        private long _next;

        public string[] Columns { get; } = columns;

        public void Add(SampledRow row)
        {
            var index = Interlocked.Increment(ref _next) - 1;
            Volatile.Write(ref _rows[index % _rows.Length], row);
        }

        public IEnumerable<SampledRow> Snapshot()
        {
            var end = Interlocked.Read(ref _next);
            var start = Math.Max(0, end - _rows.Length);
            for (var i = start; i < end; i++)
            {
                if (Volatile.Read(ref _rows[i % _rows.Length]) is { } row)
                {
                    yield return row;
                }
            }
        }
    }
}
