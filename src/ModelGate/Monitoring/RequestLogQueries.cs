using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Storage;
using ModelGate.Storage.Gateway;

namespace ModelGate.Monitoring;

/// <summary>The request log's shared filters, so that the SLO, the spike monitor and the dashboards count the same requests.</summary>
public static class RequestLogQueries
{
    /// <summary>
    /// The records of answers a client received: not shadow copies (mirrored, never served) and not failed attempts (a chosen
    /// version's error that the stable version answered instead, recorded again as that answer). The SLO's own rule.
    /// </summary>
    public static IQueryable<RequestLogEntity> Served(this IQueryable<RequestLogEntity> rows) =>
        rows.Where(r => r.Route != RouteKinds.Shadow && r.Route != RouteKinds.FailedAttempt);

    /// <summary>The records of the window (<paramref name="from"/>, <paramref name="to"/>]: after its start, up to and including its end.</summary>
    public static IQueryable<RequestLogEntity> Within(this IQueryable<RequestLogEntity> rows, DateTime from, DateTime to) =>
        rows.Where(r => r.Time > from && r.Time <= to);

    /// <summary>Windows at least this long are aggregated by reading the table through (see <see cref="ToAggregate"/>).</summary>
    public static readonly TimeSpan LongWindow = TimeSpan.FromDays(7);

    /// <summary>
    /// The request log, to aggregate a window of <paramref name="window"/>'s length. On SQLite a long window is read by a
    /// table scan (<c>NOT INDEXED</c>): SQLite plans any time range through the <c>Time</c> (or <c>Deployment, Time</c>)
    /// index and then fetches every row from the table one by one, which over a month of a million rows took 4.2 s against a
    /// fraction of that by a scan (bench/README, "Web console render time"). Short windows keep the index. PostgreSQL plans
    /// by its own statistics.
    /// </summary>
    public static IQueryable<RequestLogEntity> ToAggregate(ModelGateDbContext db, TimeSpan window)
    {
        if (window >= LongWindow && db.Database.ProviderName == "Microsoft.EntityFrameworkCore.Sqlite")
        {
            var table = db.Model.FindEntityType(typeof(RequestLogEntity))!.GetTableName();
            var scan = "SELECT * FROM \"" + table + "\" NOT INDEXED"; // the model's own table name: no input in it
            return db.RequestLogs.FromSqlRaw(scan).AsNoTracking();
        }
        return db.RequestLogs.AsNoTracking();
    }
}
