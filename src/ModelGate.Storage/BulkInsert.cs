using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Storage;

namespace ModelGate.Storage;

/// <summary>
/// Appends many rows of one entity type: the request log's write path, where EF Core's change tracking cost more CPU than
/// the database did. On PostgreSQL the rows go in one binary <c>COPY</c> (one round trip per batch; a prepared INSERT per
/// row made the writer wait for one round trip per row, about 3,000 rows/s here); elsewhere (SQLite, in process) a single
/// prepared <c>INSERT</c> is re-executed per row in one transaction. Columns, value conversions and parameter types come
/// from the EF model, so the rows are exactly what <c>SaveChanges</c> would write. Store-generated keys are left to the database.
/// As an upsert (<c>upsert: true</c>) a row whose primary key exists replaces the stored one's other columns: the prepared
/// <c>INSERT … ON CONFLICT (key) DO UPDATE</c> on both providers (COPY cannot upsert).
/// </summary>
public sealed class BulkInsert<T> where T : class
{
    private readonly (IProperty Property, RelationalTypeMapping Mapping)[] _columns;
    private readonly string _sql;
    private readonly string _table;
    private readonly string[] _names;

    private readonly bool _upsert;

    public BulkInsert(ModelGateDbContext db, bool upsert = false)
    {
        _upsert = upsert;
        var entity = db.Model.FindEntityType(typeof(T)) ?? throw new InvalidOperationException($"{typeof(T).Name} is not in the model");
        var table = StoreObjectIdentifier.Table(entity.GetTableName()!, entity.GetSchema());
        _columns = entity.GetProperties()
            .Where(p => p.ValueGenerated == ValueGenerated.Never || !p.IsPrimaryKey())
            .Select(p => (p, (RelationalTypeMapping)p.GetTypeMapping()))
            .ToArray();
        var helper = db.GetService<ISqlGenerationHelper>();
        _names = [.. _columns.Select(c => helper.DelimitIdentifier(c.Property.GetColumnName(table)!))];
        _table = helper.DelimitIdentifier(table.Name, table.Schema);
        var values = string.Join(", ", _columns.Select((_, i) => "@p" + i));
        _sql = $"INSERT INTO {_table} ({string.Join(", ", _names)}) VALUES ({values})";
        if (upsert)
        {
            var key = entity.FindPrimaryKey()!.Properties;
            string Column(IProperty p) => helper.DelimitIdentifier(p.GetColumnName(table)!);
            var updated = _columns.Select(c => c.Property).Where(p => !key.Contains(p)).Select(Column);
            _sql += $" ON CONFLICT ({string.Join(", ", key.Select(Column))}) DO UPDATE SET {string.Join(", ", updated.Select(c => $"{c} = excluded.{c}"))}";
        }
    }

    public async Task InsertAsync(ModelGateDbContext db, IReadOnlyList<T> rows, CancellationToken cancellationToken)
    {
        if (rows.Count == 0)
        {
            return;
        }
        await db.Database.OpenConnectionAsync(cancellationToken);
        try
        {
            if (!_upsert && await db.CopyAsync(_table, _names, rows.Select(Values), cancellationToken))
            {
                return;
            }
            var connection = db.Database.GetDbConnection();
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = _sql;
            var parameters = new DbParameter[_columns.Length];
            for (var i = 0; i < _columns.Length; i++)
            {
                parameters[i] = _columns[i].Mapping.CreateParameter(command, "@p" + i, null, _columns[i].Property.IsNullable);
                command.Parameters.Add(parameters[i]);
            }
            await command.PrepareAsync(cancellationToken);
            foreach (var row in rows)
            {
                for (var i = 0; i < _columns.Length; i++)
                {
                    parameters[i].Value = Value(row, i) ?? DBNull.Value;
                }
                await command.ExecuteNonQueryAsync(cancellationToken);
            }
            await transaction.CommitAsync(cancellationToken);
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
    }

    /// <summary>The row's column values as the database stores them (after the model's value conversions), in column order.</summary>
    private object?[] Values(T row)
    {
        var values = new object?[_columns.Length];
        for (var i = 0; i < _columns.Length; i++)
        {
            values[i] = Value(row, i);
        }
        return values;
    }

    private object? Value(T row, int column)
    {
        var (property, mapping) = _columns[column];
        var value = property.GetGetter().GetClrValue(row);
        if (value is not null && (mapping.Converter ?? property.GetValueConverter()) is { } converter)
        {
            value = converter.ConvertToProvider(value);
        }
        return value;
    }
}
