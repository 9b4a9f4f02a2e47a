using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using ModelGate.Hosting;
using ModelGate.Storage;

namespace ModelGate.Gateway.Telemetry;

/// <summary>
/// The sampled inputs of a version across replicas, for drift: this process's ring and the rows other replicas wrote to
/// <c>input_samples</c> (<see cref="SharedTelemetry"/>), the most recent <see cref="GatewayOptions.InputSampleCapacity"/>
/// by time — what one ring would hold had one process served all the traffic. With no other replica's rows it is exactly
/// the ring's read.
/// </summary>
public sealed class SharedSamples(InputSamples samples, IOptions<ServerOptions> server, IOptions<GatewayOptions> gateway)
{
    /// <summary>The rows of one version served at or after <paramref name="since"/>, oldest first, with their column names.</summary>
    public async Task<(IReadOnlyList<string> Columns, IReadOnlyList<SampledRow> Rows)> ReadAsync(ModelGateDbContext db, string deployment, string version,
        DateTime since, CancellationToken cancellationToken)
    {
        var (columns, rows) = samples.Read(deployment, version, since);
        var capacity = gateway.Value.InputSampleCapacity;
        var replica = server.Value.Replica;
        var stored = await db.InputSamples.AsNoTracking()
            .Where(s => s.Deployment == deployment && s.Version == version && s.Time >= since && s.Replica != replica)
            .OrderByDescending(s => s.Time).ThenByDescending(s => s.Id)
            .Take(capacity)
            .Select(s => new { s.Time, s.Columns, s.Values })
            .ToListAsync(cancellationToken);
        if (stored.Count == 0)
        {
            return (columns, rows);
        }
        // Rows of another shape (another model behind the same version on some replica) are not mixed in, as in a ring.
        var shape = columns.Count > 0 ? ColumnsJson(columns) : stored[0].Columns;
        if (columns.Count == 0)
        {
            columns = JsonSerializer.Deserialize<string[]>(shape) ?? [];
        }
        var merged = new List<SampledRow>(rows.Count + stored.Count);
        merged.AddRange(rows);
        for (var i = stored.Count - 1; i >= 0; i--)
        {
            if (stored[i].Columns == shape && JsonSerializer.Deserialize<string[]>(stored[i].Values) is { } values && values.Length == columns.Count)
            {
                merged.Add(new SampledRow(DateTime.SpecifyKind(stored[i].Time, DateTimeKind.Utc), values));
            }
        }
        // A stable sort: rows of one time keep this ring's order, then the store's (by id).
        var ordered = merged.OrderBy(r => r.Time).ToList();
        return (columns, ordered.Count > capacity ? ordered.GetRange(ordered.Count - capacity, capacity) : ordered);
    }

    /// <summary>The one way a row's column names are written (and compared): a JSON array of strings.</summary>
    internal static string ColumnsJson(IReadOnlyList<string> columns) => JsonSerializer.Serialize(columns);
}
