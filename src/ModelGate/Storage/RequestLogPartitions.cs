using System.Globalization;
using Microsoft.EntityFrameworkCore;

namespace ModelGate.Storage;

/// <summary>What one pass of <see cref="RequestLogPartitions.MaintainAsync"/> did.</summary>
/// <param name="Created">The day partitions created (named <c>request_logs_pYYYYMMDD</c>).</param>
/// <param name="MovedFromDefault">Rows of a created day that had landed in the DEFAULT partition, moved into it.</param>
/// <param name="Dropped">The day partitions dropped, wholly past the retention.</param>
/// <param name="DeletedFromDefault">Rows of the DEFAULT partition past the retention, deleted one by one.</param>
public sealed record RequestLogMaintenance(IReadOnlyList<string> Created, long MovedFromDefault, IReadOnlyList<string> Dropped, long DeletedFromDefault);

/// <summary>
/// The PostgreSQL request log's partitions (migration <c>RequestLogPartitionedByDay</c>): one per UTC day and a DEFAULT one.
/// The leader's hourly retention step creates the coming days ahead and drops the days past the retention, whole: a day's
/// partition goes once its last instant is older than the cutoff, so the day holding the cutoff keeps all its rows (up to
/// a day more than the retention) until it is wholly past. Rows that landed in the DEFAULT partition (a day with no
/// partition yet, or older than the migration's year) are moved into their day's partition when it is created, and deleted
/// row by row when past the retention.
/// </summary>
public static class RequestLogPartitions
{
    public const string Table = "request_logs";
    public const string DefaultPartition = "request_logs_default";
    public const string DayPrefix = "request_logs_p";

    /// <summary>Days created ahead of today: an hourly step that fails a few times in a row still leaves today's partition in place.</summary>
    public const int DaysAhead = 3;

    private const string PostgresProvider = "Npgsql.EntityFrameworkCore.PostgreSQL";

    // Two leaders during a handover must not race to create or drop the same day.
    private const long LockKey = 0x4D47_524C; // "MGRL"

    // A DDL statement queued behind a long query would hold up every insert queued behind it: give up instead, retry next pass.
    private const string LockTimeout = "5s";

    /// <summary>The partition that holds <paramref name="day"/> (a UTC date).</summary>
    public static string PartitionOf(DateOnly day) => DayPrefix + day.ToString("yyyyMMdd", CultureInfo.InvariantCulture);

    /// <summary>Whether the store's request log is partitioned: PostgreSQL, migrated by <c>RequestLogPartitionedByDay</c>.</summary>
    public static async Task<bool> IsPartitionedAsync(ModelGateDbContext db, CancellationToken cancellationToken) =>
        db.Database.ProviderName == PostgresProvider
        && await db.Database.SqlQueryRaw<int>($"SELECT count(*)::int AS \"Value\" FROM pg_partitioned_table WHERE partrelid = to_regclass('{Table}')")
            .SingleAsync(cancellationToken) == 1;

    /// <summary>The day partitions there are, by day.</summary>
    public static async Task<SortedDictionary<DateOnly, string>> DaysAsync(ModelGateDbContext db, CancellationToken cancellationToken)
    {
        var names = await db.Database.SqlQueryRaw<string>(
                $"SELECT c.relname::text AS \"Value\" FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass('{Table}')")
            .ToListAsync(cancellationToken);
        var days = new SortedDictionary<DateOnly, string>();
        foreach (var name in names)
        {
            if (name.StartsWith(DayPrefix, StringComparison.Ordinal)
                && DateOnly.TryParseExact(name[DayPrefix.Length..], "yyyyMMdd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day))
            {
                days[day] = name;
            }
        }
        return days;
    }

    /// <summary>
    /// Creates the partitions of today and the <see cref="DaysAhead"/> next days that are missing, drops the day partitions
    /// wholly older than <paramref name="now"/> − <paramref name="retention"/>, and deletes the DEFAULT partition's rows older
    /// than that. Each change is its own short transaction; running it again changes nothing.
    /// </summary>
    public static async Task<RequestLogMaintenance> MaintainAsync(ModelGateDbContext db, DateTime now, TimeSpan retention, CancellationToken cancellationToken)
    {
        var today = DateOnly.FromDateTime(now);
        var existing = await DaysAsync(db, cancellationToken);
        var created = new List<string>();
        var moved = 0L;
        for (var day = today; day <= today.AddDays(DaysAhead); day = day.AddDays(1))
        {
            if (!existing.ContainsKey(day))
            {
                var (name, rows) = await CreateAsync(db, day, cancellationToken);
                if (name is not null)
                {
                    created.Add(name);
                    moved += rows;
                }
            }
        }

        var cutoff = now - retention;
        var dropped = new List<string>();
        foreach (var (day, name) in existing)
        {
            if (End(day) <= cutoff && await DropAsync(db, name, cancellationToken))
            {
                dropped.Add(name);
            }
        }
        var deleted = await ExecuteAsync(db, $"DELETE FROM {DefaultPartition} WHERE \"Time\" < {Literal(cutoff)}", cancellationToken);
        return new RequestLogMaintenance(created, moved, dropped, deleted);
    }

    /// <summary>
    /// Creates <paramref name="day"/>'s partition apart, moves into it the day's rows that landed in the DEFAULT partition,
    /// then attaches it: attaching locks the parent only against other DDL (an insert goes on), where <c>CREATE TABLE …
    /// PARTITION OF</c> would lock it out entirely, and fails on rows of the day left in DEFAULT.
    /// </summary>
    private static async Task<(string? Name, long Moved)> CreateAsync(ModelGateDbContext db, DateOnly day, CancellationToken cancellationToken)
    {
        var name = PartitionOf(day);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        await LockAsync(db, cancellationToken);
        if ((await DaysAsync(db, cancellationToken)).ContainsKey(day))
        {
            return (null, 0); // another leader made it meanwhile
        }
        var (from, to) = (Literal(Start(day)), Literal(End(day)));
        await ExecuteAsync(db, $"CREATE TABLE {name} (LIKE {Table})", cancellationToken);
        var moved = await ExecuteAsync(db,
            $"WITH moved AS (DELETE FROM {DefaultPartition} WHERE \"Time\" >= {from} AND \"Time\" < {to} RETURNING *) INSERT INTO {name} SELECT * FROM moved",
            cancellationToken);
        await ExecuteAsync(db, $"ALTER TABLE {Table} ATTACH PARTITION {name} FOR VALUES FROM ({from}) TO ({to})", cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return (name, moved);
    }

    private static async Task<bool> DropAsync(ModelGateDbContext db, string name, CancellationToken cancellationToken)
    {
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        await LockAsync(db, cancellationToken);
        if (!await ExistsAsync(db, name, cancellationToken))
        {
            return false;
        }
        await ExecuteAsync(db, $"DROP TABLE {name}", cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    private static async Task<bool> ExistsAsync(ModelGateDbContext db, string table, CancellationToken cancellationToken) =>
        await db.Database.SqlQuery<int>($"SELECT count(*)::int AS \"Value\" FROM pg_class WHERE oid = to_regclass({table})").SingleAsync(cancellationToken) == 1;

    // Every statement is made of this class's constants, partition names it made from dates, and UTC instants it computed:
    // never client input. (DDL takes no parameters.)
    private static Task<int> ExecuteAsync(ModelGateDbContext db, string sql, CancellationToken cancellationToken) =>
        db.Database.ExecuteSqlRawAsync(sql, cancellationToken);

    private static async Task LockAsync(ModelGateDbContext db, CancellationToken cancellationToken)
    {
        await ExecuteAsync(db, $"SET LOCAL lock_timeout = '{LockTimeout}'", cancellationToken);
        await ExecuteAsync(db, $"SELECT pg_advisory_xact_lock({LockKey})", cancellationToken);
    }

    private static DateTime Start(DateOnly day) => day.ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc);

    private static DateTime End(DateOnly day) => Start(day.AddDays(1));

    // Partition bounds are DDL, which takes no parameters: a UTC instant we computed, never client input.
    private static string Literal(DateTime utc) => "'" + utc.ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture) + "+00'";
}
