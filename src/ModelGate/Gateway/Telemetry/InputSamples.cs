using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;

namespace ModelGate.Gateway.Telemetry;

/// <summary>One sampled input row: the column values as text ("" for missing), and when it was served.</summary>
public sealed record SampledRow(DateTime Time, string[] Values);

/// <summary>One sampled row as the shared store keeps it: when it was served, and its values as a JSON array of text ("" for missing).</summary>
internal readonly record struct StoredRow(DateTime Time, string Values);

/// <summary>Rows of one ring added after a position (<see cref="InputSamples"/>' flusher read): the ring, the position reached, its columns and the rows.</summary>
internal sealed record SampledSince(long Ring, long End, IReadOnlyList<string> Columns, IReadOnlyList<StoredRow> Rows);

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
        var arrays = names.Select(n => columns[n]).ToArray();
        var ring = _rings.GetOrAdd((deployment, version), _ => new Ring(names, [.. arrays.Select(a => Column.For(a, options.Value.InputSampleCapacity))], options.Value.InputSampleCapacity));
        // A version's inputs do not change shape; rows of another shape (a different model behind the same version) are not mixed in.
        if (ring.Fits(names, arrays))
        {
            ring.AddRows(time, arrays, rows);
        }
    }

    /// <summary>Adds one LLM exchange as a row of <see cref="ChatColumns"/>.</summary>
    public void AddChat(string deployment, string version, DateTime time, long promptChars, long completionChars, long? promptTokens, long? completionTokens)
    {
        var ring = _rings.GetOrAdd((deployment, version), _ => new Ring(ChatColumns, [.. ChatColumns.Select(_ => (Column)new IntegerColumn(options.Value.InputSampleCapacity))], options.Value.InputSampleCapacity));
        if (ring.Names == ChatColumns)
        {
            ring.AddIntegers(time, promptChars, completionChars, promptTokens ?? IntegerColumn.Missing, completionTokens ?? IntegerColumn.Missing);
        }
    }

    /// <summary>The kept rows of one version served at or after <paramref name="since"/>, oldest first, with their column names.</summary>
    public (IReadOnlyList<string> Columns, IReadOnlyList<SampledRow> Rows) Read(string deployment, string version, DateTime since) =>
        _rings.TryGetValue((deployment, version), out var ring) ? (ring.Names, ring.Read(since)) : ([], []);

    public void Clear(string deployment, string version) => _rings.TryRemove((deployment, version), out _);

    /// <summary>The versions that have a ring, for the shared store's flusher.</summary>
    internal ICollection<(string Deployment, string Version)> Versions => _rings.Keys;

    /// <summary>
    /// For the shared store's flusher: the rows of one version's ring added after <paramref name="position"/> (a count of rows
    /// ever added to the ring named <paramref name="ring"/>; 0 for another ring, as after <see cref="Clear"/>), at most the
    /// <paramref name="max"/> most recent, oldest first; with the ring's name and the position to pass next time.
    /// </summary>
    internal SampledSince ReadAfter(string deployment, string version, long ring, long position, int max)
    {
        if (!_rings.TryGetValue((deployment, version), out var found))
        {
            return new SampledSince(0, 0, [], []);
        }
        var (rows, end) = found.ReadAfter(found.Id == ring ? position : 0, max);
        return new SampledSince(found.Id, end, found.Names, rows);
    }

    /// <summary>
    /// The most recent rows of one version, column by column in arrays allocated once: a row is values in those arrays, not
    /// objects. At gateway rates a ring of row objects is overwritten within seconds, so every row outlived a few gen0
    /// collections and died in gen2: a replica's lab peak was 18-19 MB lower with chat sampling off than with the row
    /// objects (bench/README.md, runs 14-16).
    /// </summary>
    private sealed class Ring(string[] names, Column[] columns, int capacity)
    {
        private static long s_rings;
        private readonly Lock _gate = new();
        private readonly DateTime[] _times = new DateTime[capacity];
        private long _next;

        public string[] Names { get; } = names;

        /// <summary>Names this ring among every ring made by the process (a version's ring made again after a clear has another).</summary>
        public long Id { get; } = Interlocked.Increment(ref s_rings);

        public bool Fits(string[] names, Array[] arrays)
        {
            if (!Names.AsSpan().SequenceEqual(names))
            {
                return false;
            }
            for (var c = 0; c < columns.Length; c++)
            {
                if (!columns[c].Accepts(arrays[c]))
                {
                    return false;
                }
            }
            return true;
        }

        public void AddRows(DateTime time, Array[] arrays, int rows)
        {
            lock (_gate)
            {
                for (var row = 0; row < rows; row++)
                {
                    var slot = Reserve(time);
                    for (var c = 0; c < columns.Length; c++)
                    {
                        columns[c].Set(slot, arrays[c], arrays[c].Length / Math.Max(rows, 1) * row);
                    }
                }
            }
        }

        public void AddIntegers(DateTime time, long a, long b, long c, long d)
        {
            lock (_gate)
            {
                var slot = Reserve(time);
                ((IntegerColumn)columns[0]).Set(slot, a);
                ((IntegerColumn)columns[1]).Set(slot, b);
                ((IntegerColumn)columns[2]).Set(slot, c);
                ((IntegerColumn)columns[3]).Set(slot, d);
            }
        }

        private int Reserve(DateTime time)
        {
            var slot = (int)(_next++ % capacity);
            _times[slot] = time;
            return slot;
        }

            /// <summary>
        /// Rows added after the <paramref name="position"/>-th (those still kept), at most the <paramref name="max"/> most recent,
        /// each written as its JSON array, and the count added. Only those rows are copied under the lock (not the whole ring,
        /// which is mostly rows already read), and each is written straight from the copied columns: one string a row.
        /// </summary>
        public (IReadOnlyList<StoredRow> Rows, long End) ReadAfter(long position, int max)
        {
            DateTime[] times;
            Column[] copies;
            long end;
            lock (_gate)
            {
                end = _next;
                if (end <= position)
                {
                    return ([], end);
                }
                var start = Math.Max(Math.Max(0, position), Math.Max(end - capacity, end - max));
                var (first, count) = ((int)(start % capacity), (int)(end - start));
                times = new DateTime[count];
                CopyRange(_times, first, times);
                copies = new Column[columns.Length];
                for (var c = 0; c < columns.Length; c++)
                {
                    copies[c] = columns[c].CopyRange(first, count);
                }
            }
            var rows = new StoredRow[times.Length];
            var buffer = new ArrayBufferWriter<byte>(256);
            using var json = new Utf8JsonWriter(buffer);
            for (var i = 0; i < rows.Length; i++)
            {
                buffer.ResetWrittenCount();
                json.Reset();
                json.WriteStartArray();
                foreach (var column in copies)
                {
                    column.Write(json, i);
                }
                json.WriteEndArray();
                json.Flush();
                rows[i] = new StoredRow(times[i], Encoding.UTF8.GetString(buffer.WrittenSpan));
            }
            return (rows, end);
        }

        /// <summary>Copies <paramref name="into"/>.Length entries of the ring <paramref name="source"/> from <paramref name="first"/> on, wrapping at its end.</summary>
        internal static void CopyRange<T>(T[] source, int first, T[] into)
        {
            var head = Math.Min(into.Length, source.Length - first);
            Array.Copy(source, first, into, 0, head);
            Array.Copy(source, 0, into, head, into.Length - head);
        }

        public IReadOnlyList<SampledRow> Read(DateTime since)
        {
            // Copy under the lock, format outside it: a drift check never holds up the requests that add rows.
            DateTime[] times;
            Column[] copies;
            long end;
            lock (_gate)
            {
                end = _next;
                times = (DateTime[])_times.Clone();
                copies = [.. columns.Select(c => c.Copy())];
            }
            var rows = new List<SampledRow>();
            for (var i = Math.Max(0, end - capacity); i < end; i++)
            {
                var slot = (int)(i % capacity);
                if (times[slot] >= since)
                {
                    var values = new string[copies.Length];
                    for (var c = 0; c < copies.Length; c++)
                    {
                        values[c] = copies[c].Get(slot);
                    }
                    rows.Add(new SampledRow(times[slot], values));
                }
            }
            return rows;
        }
    }

    /// <summary>One sampled column, typed as the model takes it, formatted as text only when read.</summary>
    private abstract class Column
    {
        public static Column For(Array source, int capacity) => source switch
        {
            float[] => new FloatingColumn<float>(new float[capacity]),
            double[] => new FloatingColumn<double>(new double[capacity]),
            long[] or int[] => new IntegerColumn(capacity),
            _ => new TextColumn(new string?[capacity], new Dictionary<string, string>(StringComparer.Ordinal)),
        };

        public abstract bool Accepts(Array source);
        public abstract void Set(int slot, Array source, int index);
        public abstract string Get(int slot);
        public abstract Column Copy();

        /// <summary>The <paramref name="count"/> values from ring slot <paramref name="first"/> on (wrapping), as a column of that length.</summary>
        public abstract Column CopyRange(int first, int count);

        /// <summary>Writes the value <see cref="Get"/> reads, as a JSON string, without making that string.</summary>
        public abstract void Write(Utf8JsonWriter json, int slot);
    }

    /// <summary>FP32 or FP64 values, read back with the round-trip format; NaN (a missing value) reads as "".</summary>
    private sealed class FloatingColumn<T>(T[] values) : Column where T : struct, IBinaryFloatingPointIeee754<T>
    {
        private readonly T[] _values = values;
        public override bool Accepts(Array source) => source is T[];
        public override void Set(int slot, Array source, int index) => _values[slot] = ((T[])source)[index];
        public override string Get(int slot) => T.IsNaN(_values[slot]) ? "" : _values[slot].ToString("R", CultureInfo.InvariantCulture);
        public override Column Copy() => new FloatingColumn<T>((T[])_values.Clone());

        public override Column CopyRange(int first, int count)
        {
            var values = new T[count];
            Ring.CopyRange(_values, first, values);
            return new FloatingColumn<T>(values);
        }

        public override void Write(Utf8JsonWriter json, int slot)
        {
            Span<char> text = stackalloc char[64];
            if (T.IsNaN(_values[slot]))
            {
                json.WriteStringValue(ReadOnlySpan<char>.Empty);
            }
            else if (_values[slot].TryFormat(text, out var written, "R", CultureInfo.InvariantCulture))
            {
                json.WriteStringValue(text[..written]);
            }
            else
            {
                json.WriteStringValue(Get(slot));
            }
        }
    }

    private sealed class IntegerColumn(long[] values) : Column
    {
        public IntegerColumn(int capacity) : this(new long[capacity])
        {
        }

        /// <summary>A missing value (a token count the upstream did not give), read as "".</summary>
        public const long Missing = long.MinValue;

        private readonly long[] _values = values;
        public override bool Accepts(Array source) => source is long[] or int[];
        public override void Set(int slot, Array source, int index) => _values[slot] = source is long[] l ? l[index] : ((int[])source)[index];
        public void Set(int slot, long value) => _values[slot] = value;
        public override string Get(int slot) => _values[slot] == Missing ? "" : _values[slot].ToString(CultureInfo.InvariantCulture);
        public override Column Copy() => new IntegerColumn((long[])_values.Clone());

        public override Column CopyRange(int first, int count)
        {
            var values = new long[count];
            Ring.CopyRange(_values, first, values);
            return new IntegerColumn(values);
        }

        public override void Write(Utf8JsonWriter json, int slot)
        {
            Span<byte> text = stackalloc byte[20];
            if (_values[slot] == Missing)
            {
                json.WriteStringValue(ReadOnlySpan<byte>.Empty);
            }
            else
            {
                _values[slot].TryFormat(text, out var written, default, CultureInfo.InvariantCulture);
                json.WriteStringValue(text[..written]);
            }
        }
    }

    /// <summary>
    /// Text (BYTES) and any other element type, as text. A column's distinct values are few (categories), so each is kept
    /// once: the request's own strings are not held by the ring and die young with the request.
    /// </summary>
    private sealed class TextColumn(string?[] values, Dictionary<string, string> distinct) : Column
    {
        private const int MaxDistinct = 4_096;
        private readonly string?[] _values = values;
        private readonly Dictionary<string, string> _distinct = distinct;

        public override bool Accepts(Array source) => source is not (float[] or double[] or long[] or int[]);

        public override void Set(int slot, Array source, int index)
        {
            var value = source is string[] s ? s[index] ?? "" : Convert.ToString(source.GetValue(index), CultureInfo.InvariantCulture) ?? "";
            if (_distinct.TryGetValue(value, out var kept))
            {
                value = kept;
            }
            else if (_distinct.Count < MaxDistinct)
            {
                _distinct[value] = value;
            }
            _values[slot] = value;
        }

        public override string Get(int slot) => _values[slot] ?? "";
        public override Column Copy() => new TextColumn((string?[])_values.Clone(), _distinct);

        public override Column CopyRange(int first, int count)
        {
            var values = new string?[count];
            Ring.CopyRange(_values, first, values);
            return new TextColumn(values, _distinct);
        }

        public override void Write(Utf8JsonWriter json, int slot) => json.WriteStringValue(Get(slot));
    }
}
