namespace ModelGate.Monitoring.Drift;

/// <summary>
/// A live window of rows to compare with a <see cref="DatasetProfile"/>, held column by column: strings as they
/// arrive ("" or null = missing) or numbers (NaN = missing) where the inputs already are numeric tensors. The
/// window only references the arrays it is given.
/// </summary>
public sealed class DriftWindow
{
    private readonly Dictionary<string, WindowColumn> _columns = new(StringComparer.Ordinal);

    public DriftWindow(int rowCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rowCount);
        RowCount = rowCount;
    }

    public int RowCount { get; }

    public IEnumerable<string> ColumnNames => _columns.Keys;

    /// <summary>Adds a column of strings ("" or null = missing); numeric profile columns parse them with the invariant culture.</summary>
    public DriftWindow Add(string name, ReadOnlyMemory<string> values)
    {
        Check(name, values.Length);
        _columns[name] = new WindowColumn(values, default);
        return this;
    }

    /// <summary>Adds a column of numbers (NaN and ±∞ count as missing).</summary>
    public DriftWindow Add(string name, ReadOnlyMemory<double> values)
    {
        Check(name, values.Length);
        _columns[name] = new WindowColumn(default, values);
        return this;
    }

    /// <summary>A window from a header and rows of strings.</summary>
    public static DriftWindow FromRows(IReadOnlyList<string> header, IReadOnlyList<IReadOnlyList<string?>> rows)
    {
        ArgumentNullException.ThrowIfNull(header);
        ArgumentNullException.ThrowIfNull(rows);
        var window = new DriftWindow(rows.Count);
        for (var c = 0; c < header.Count; c++)
        {
            var values = new string[rows.Count];
            for (var r = 0; r < rows.Count; r++)
            {
                if (rows[r].Count != header.Count)
                {
                    throw new ArgumentException($"row {r + 1} has {rows[r].Count} values, the header has {header.Count}", nameof(rows));
                }
                values[r] = rows[r][c]!;
            }
            window.Add(header[c], values);
        }
        return window;
    }

    internal bool TryGet(string name, out WindowColumn column) => _columns.TryGetValue(name, out column);

    private void Check(string name, int length)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (length != RowCount) throw new ArgumentException($"the column '{name}' has {length} values, the window {RowCount} rows");
    }

    internal readonly record struct WindowColumn(ReadOnlyMemory<string> Strings, ReadOnlyMemory<double> Numbers)
    {
        public bool IsNumeric => Strings.IsEmpty && !Numbers.IsEmpty;
    }
}
