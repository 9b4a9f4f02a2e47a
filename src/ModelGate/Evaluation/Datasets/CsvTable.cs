using System.Globalization;
using System.Text;

namespace ModelGate.Evaluation.Datasets;

/// <summary>
/// A CSV file read into columns of strings (RFC 4180 quoting; the first row names the columns; an empty field is
/// a missing value). Typed views convert on demand.
/// </summary>
public sealed class CsvTable
{
    private readonly Dictionary<string, string[]> _columns;

    private CsvTable(IReadOnlyList<string> names, Dictionary<string, string[]> columns, int rows)
    {
        ColumnNames = names;
        _columns = columns;
        RowCount = rows;
    }

    public IReadOnlyList<string> ColumnNames { get; }
    public int RowCount { get; }

    public bool HasColumn(string name) => _columns.ContainsKey(name);

    public string[] Strings(string column) =>
        _columns.TryGetValue(column, out var values) ? values : throw new KeyNotFoundException($"the dataset has no column '{column}'");

    /// <summary>The column as float32; a missing value becomes NaN. Throws naming the row for a value that is not a number.</summary>
    public float[] Floats(string column)
    {
        var source = Strings(column);
        var result = new float[source.Length];
        for (var i = 0; i < source.Length; i++)
        {
            if (source[i].Length == 0)
            {
                result[i] = float.NaN;
            }
            else if (!float.TryParse(source[i], NumberStyles.Float, CultureInfo.InvariantCulture, out result[i]))
            {
                throw new FormatException($"column '{column}' row {i + 1}: '{source[i]}' is not a number");
            }
        }
        return result;
    }

    public static async Task<CsvTable> ReadAsync(Stream stream, CancellationToken cancellationToken)
    {
        using var reader = new StreamReader(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: true, bufferSize: 64 * 1024);
        var text = await reader.ReadToEndAsync(cancellationToken);
        return Parse(text);
    }

    public static CsvTable Parse(string text)
    {
        var rows = new List<List<string>>();
        var row = new List<string>();
        var field = new StringBuilder();
        var quoted = false;
        var fieldStarted = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quoted)
            {
                if (c == '"')
                {
                    if (i + 1 < text.Length && text[i + 1] == '"')
                    {
                        field.Append('"');
                        i++;
                    }
                    else
                    {
                        quoted = false;
                    }
                }
                else
                {
                    field.Append(c);
                }
                continue;
            }
            switch (c)
            {
                case '"' when field.Length == 0:
                    quoted = true;
                    fieldStarted = true;
                    break;
                case ',':
                    row.Add(field.ToString());
                    field.Clear();
                    fieldStarted = true;
                    break;
                case '\r':
                    break;
                case '\n':
                    if (fieldStarted || field.Length > 0 || row.Count > 0)
                    {
                        row.Add(field.ToString());
                        rows.Add(row);
                    }
                    row = [];
                    field.Clear();
                    fieldStarted = false;
                    break;
                default:
                    field.Append(c);
                    fieldStarted = true;
                    break;
            }
        }
        if (quoted)
        {
            throw new FormatException("the CSV ends inside a quoted field");
        }
        if (fieldStarted || field.Length > 0 || row.Count > 0)
        {
            row.Add(field.ToString());
            rows.Add(row);
        }
        if (rows.Count == 0)
        {
            throw new FormatException("the CSV is empty: it needs a header row");
        }
        var header = rows[0];
        if (header.Distinct(StringComparer.Ordinal).Count() != header.Count)
        {
            throw new FormatException("the CSV header names a column twice");
        }
        var columns = header.ToDictionary(h => h, _ => new string[rows.Count - 1], StringComparer.Ordinal);
        for (var r = 1; r < rows.Count; r++)
        {
            if (rows[r].Count != header.Count)
            {
                throw new FormatException($"CSV row {r + 1} has {rows[r].Count} fields, the header has {header.Count}");
            }
            for (var c = 0; c < header.Count; c++)
            {
                columns[header[c]][r - 1] = rows[r][c];
            }
        }
        return new CsvTable(header, columns, rows.Count - 1);
    }
}
