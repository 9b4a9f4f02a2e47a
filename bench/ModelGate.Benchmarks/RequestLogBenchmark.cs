using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using ModelGate.Gateway;
using ModelGate.Storage;
using ModelGate.Storage.Gateway;
using Npgsql;

namespace ModelGate.Benchmarks;

/// <summary>
/// The PostgreSQL request log at volume, on a fresh database migrated by ModelGate (the host in-process): (a) the sustained
/// insert rate through the real <see cref="RequestLog"/> buffer and <see cref="BulkInsert{T}"/>; (b) a fill of
/// <see cref="BenchOptions.RequestLogRows"/> rows over the last 30 days by <c>INSERT … SELECT generate_series</c> into the
/// day partitions (made by <see cref="RequestLogPartitions"/>, as the leader's upkeep does), then the queries that read it —
/// usage for one day, the judge's window, the SLO's window, a key's budget seed — each timed and explained, on the
/// partitioned table and on an unpartitioned copy of the same rows (the baseline).
/// </summary>
internal sealed class RequestLogBenchmark(BenchServer server, BenchOptions options, TextWriter log)
{
    private const int Deployments = 20;
    private const int Keys = 50;
    private const string Columns =
        "\"RequestId\", \"Time\", \"KeyId\", \"Deployment\", \"Version\", \"Route\", \"Protocol\", \"Status\", \"LatencyMs\", \"UpstreamLatencyMs\", " +
        "\"PromptTokens\", \"CompletionTokens\", \"UsageSource\", \"Prediction\", \"Cost\", \"Payload\"";

    private readonly List<string> _lines = [];

    public async Task<string> RunAsync(DateTimeOffset started, Stopwatch clock)
    {
        string connectionString;
        await using (var scope = server.Services.CreateAsyncScope())
        {
            connectionString = scope.ServiceProvider.GetRequiredService<ModelGateDbContext>().Database.GetConnectionString()!;
        }
        var builder = new NpgsqlConnectionStringBuilder(connectionString) { CommandTimeout = 0, Timeout = 30 };
        await using var connection = new NpgsqlConnection(builder.ConnectionString);
        await connection.OpenAsync();
        var version = (string)(await Scalar(connection, "SHOW server_version"))!;

        var now = DateTime.UtcNow;
        var (fillSeconds, partitions) = await FillAsync(connection, now);
        double? baselineSeconds = null;
        if (options.RequestLogBaseline)
        {
            baselineSeconds = await CopyToBaselineAsync(connection);
        }
        // The sustained insert into the filled table (today's partition holds a thirtieth of the rows), then the same into the
        // unpartitioned copy put in its place for the time of the run (the same path: RequestLog writes to "request_logs").
        var partitioned = await InsertAsync("partitioned");
        Insert? flat = null;
        if (options.RequestLogBaseline)
        {
            await Execute(connection, "ALTER TABLE request_logs RENAME TO request_logs_part; ALTER TABLE request_logs_flat RENAME TO request_logs", []);
            flat = await InsertAsync("unpartitioned");
            await Execute(connection, "ALTER TABLE request_logs RENAME TO request_logs_flat; ALTER TABLE request_logs_part RENAME TO request_logs", []);
        }
        var sizes = await Scalar(connection,
            "SELECT pg_size_pretty(sum(pg_total_relation_size(inhrelid))) FROM pg_inherits WHERE inhparent = 'request_logs'::regclass");

        var day = DateOnly.FromDateTime(now).AddDays(-2).ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc);
        var queries = Queries(now, day);
        var results = new List<(string Name, string Table, double P50, double P95, string Plan)>();
        foreach (var table in options.RequestLogBaseline ? new[] { "request_logs", "request_logs_flat" } : ["request_logs"])
        {
            foreach (var (name, sql, parameters) in queries)
            {
                var text = sql.Replace("{T}", table, StringComparison.Ordinal);
                var plan = await ExplainAsync(connection, text, parameters);
                var (p50, p95) = await TimeAsync(() => Execute(connection, text, parameters));
                log.WriteLine($"  {table,-18} {name,-40} p50 {p50,8:F2} ms  p95 {p95,8:F2} ms  {Summary(plan)}");
                results.Add((name, table, p50, p95, plan));
            }
        }
        // The real handler end to end (HTTP, EF Core, the partitioned table): usage for one day.
        using var api = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromMinutes(5) };
        api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", BenchServer.AdminKey);
        var path = $"api/v1/usage?groupBy=key,deployment,version&from={day:O}&to={day.AddDays(1):O}";
        var (apiP50, apiP95) = await TimeAsync(async () => (await api.GetAsync(path)).EnsureSuccessStatusCode().Dispose());
        log.WriteLine($"  GET /api/v1/usage (one day, by key, deployment, version) p50 {apiP50:F2} ms  p95 {apiP95:F2} ms");

        var report = new StringBuilder();
        report.AppendLine("# Request log at volume (PostgreSQL)").AppendLine();
        report.AppendLine(CultureInfo.InvariantCulture, $"Run {started:yyyy-MM-dd HH:mm} UTC, {clock.Elapsed.TotalMinutes:F1} min; PostgreSQL {version}; {Environment.ProcessorCount} cores; server build {Report.ServerBuild}.").AppendLine();
        report.AppendLine(CultureInfo.InvariantCulture, $"Load average at the end: {File.ReadAllText("/proc/loadavg").Trim()} (other work on the machine).").AppendLine();
        report.AppendLine("## Sustained insert (RequestLog → BulkInsert), after the fill").AppendLine();
        report.AppendLine(CultureInfo.InvariantCulture, $"Batch {partitioned.Batch}, flush interval {partitioned.Interval.TotalMilliseconds:F0} ms; the producer keeps the buffer under half full.").AppendLine();
        foreach (var (name, insert) in new[] { ("partitioned", partitioned), ("unpartitioned (baseline)", flat) })
        {
            if (insert is { } i)
            {
                report.AppendLine(CultureInfo.InvariantCulture, $"- {name}: {i.Rate:N0} rows/s ({i.Written:N0} rows in {i.Seconds:F1} s, {i.Dropped:N0} dropped)");
            }
        }
        report.AppendLine();
        report.AppendLine("## Fill").AppendLine();
        report.AppendLine(CultureInfo.InvariantCulture, $"{options.RequestLogRows:N0} rows over 30 days by INSERT … SELECT generate_series (1 M rows per statement, {Deployments} deployments × 2 versions, {Keys} keys) into {partitions} day partitions in {fillSeconds:F0} s (then VACUUM ANALYZE); partitions' total size {sizes}.");
        if (baselineSeconds is { } b)
        {
            report.AppendLine(CultureInfo.InvariantCulture, $" Baseline: the same rows copied to the unpartitioned `request_logs_flat` with the pre-partitioning indexes (built after the copy) in {b:F0} s.");
        }
        report.AppendLine().AppendLine(CultureInfo.InvariantCulture, $"## Queries ({options.RequestLogOps} measured runs each after 2 unrecorded, one connection, parameters as EF sends them)").AppendLine();
        report.AppendLine("| query | table | p50 ms | p95 ms | plan |").AppendLine("|---|---|---:|---:|---|");
        foreach (var r in results)
        {
            report.AppendLine(CultureInfo.InvariantCulture, $"| {r.Name} | {r.Table} | {r.P50:F2} | {r.P95:F2} | {Summary(r.Plan)} |");
        }
        report.AppendLine(CultureInfo.InvariantCulture, $"| GET /api/v1/usage one day (HTTP, EF Core) | request_logs | {apiP50:F2} | {apiP95:F2} | |");
        report.AppendLine().AppendLine("## Plans").AppendLine();
        foreach (var r in results)
        {
            report.AppendLine(CultureInfo.InvariantCulture, $"{r.Name} on {r.Table}:").AppendLine("```").AppendLine(r.Plan.TrimEnd()).AppendLine("```");
        }
        return report.ToString();
    }

    private sealed record Insert(double Rate, long Written, long Dropped, double Seconds, int Batch, TimeSpan Interval);

    private async Task<Insert> InsertAsync(string table)
    {
        var requestLog = server.Services.GetRequiredService<RequestLog>();
        var gateway = server.Services.GetRequiredService<IOptions<GatewayOptions>>().Value;
        log.WriteLine($"  sustained insert for {options.RequestLogInsertSeconds} s ({table})");
        var written0 = requestLog.Written;
        var dropped0 = requestLog.Dropped;
        var added = 0L;
        var clock = Stopwatch.StartNew();
        var end = TimeSpan.FromSeconds(options.RequestLogInsertSeconds);
        while (clock.Elapsed < end)
        {
            var pending = added - (requestLog.Written - written0) - (requestLog.Dropped - dropped0);
            if (pending >= gateway.RequestLogCapacity / 2)
            {
                await Task.Delay(1);
                continue;
            }
            for (var i = 0; i < 500; i++, added++)
            {
                requestLog.Add(new RequestLogEntity
                {
                    RequestId = "ins-" + added.ToString("x", CultureInfo.InvariantCulture), Time = DateTime.UtcNow, KeyId = "key_" + added % Keys,
                    Deployment = "ins-" + added % Deployments, Version = added % 10 == 0 ? "2" : "1", Route = added % 10 == 0 ? "canary" : "stable",
                    Protocol = "openai", Status = added % 200 == 0 ? 502 : 200, LatencyMs = 15 + added % 97, UpstreamLatencyMs = 14 + added % 97,
                    PromptTokens = 200 + added % 400, CompletionTokens = 50 + added % 150, UsageSource = "upstream", Cost = 0.0004,
                });
            }
        }
        var seconds = clock.Elapsed.TotalSeconds;
        var written = requestLog.Written - written0;
        await requestLog.FlushAsync(CancellationToken.None);
        var dropped = requestLog.Dropped - dropped0;
        log.WriteLine($"  {written / seconds:N0} rows/s ({written:N0} in {seconds:F1} s, {dropped} dropped)");
        return new Insert(written / seconds, written, dropped, seconds, gateway.RequestLogBatchSize, gateway.RequestLogFlushInterval);
    }

    private async Task<(double Seconds, int Partitions)> FillAsync(NpgsqlConnection connection, DateTime now)
    {
        log.WriteLine($"  filling {options.RequestLogRows:N0} rows over 30 days");
        var clock = Stopwatch.StartNew();
        await using (var scope = server.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<ModelGateDbContext>();
            // The day partitions the leader's upkeep would have made over the month.
            for (var d = -31; d <= 0; d++)
            {
                await RequestLogPartitions.MaintainAsync(db, now.AddDays(d), TimeSpan.FromDays(3650), CancellationToken.None);
            }
        }
        var total = options.RequestLogRows;
        const int chunk = 1_000_000;
        for (var from = 1; from <= total; from += chunk)
        {
            var to = Math.Min(total, from + chunk - 1);
            await using var insert = new NpgsqlCommand($"""
                INSERT INTO request_logs ({Columns})
                SELECT 'fill-' || g, $1 - (g::double precision / $2) * interval '30 days', 'key_' || ((g / 7) % {Keys}), 'dep-' || (g % {Deployments}),
                       CASE WHEN (g / {Deployments}) % 10 = 0 THEN '2' ELSE '1' END, CASE WHEN (g / {Deployments}) % 10 = 0 THEN 'canary' ELSE 'stable' END,
                       'openai', CASE WHEN g % 200 = 0 THEN 502 ELSE 200 END, 15 + g % 97, 14 + g % 97, 200 + g % 400, 50 + g % 150, 'upstream', NULL,
                       (200 + g % 400) * 0.000001 + (50 + g % 150) * 0.000002, NULL
                FROM generate_series($3::bigint, $4::bigint) g
                """, connection);
            insert.Parameters.AddWithValue(now);
            insert.Parameters.AddWithValue((double)total);
            insert.Parameters.AddWithValue((long)from);
            insert.Parameters.AddWithValue((long)to);
            await insert.ExecuteNonQueryAsync();
            log.WriteLine($"    {to:N0} rows, {clock.Elapsed.TotalSeconds:F0} s");
        }
        await Execute(connection, "VACUUM ANALYZE request_logs", []);
        var partitions = Convert.ToInt32(await Scalar(connection, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'request_logs'::regclass"), CultureInfo.InvariantCulture);
        log.WriteLine($"  filled in {clock.Elapsed.TotalSeconds:F0} s ({partitions} partitions with DEFAULT)");
        return (clock.Elapsed.TotalSeconds, partitions);
    }

    /// <summary>The same rows in one plain table with the indexes the request log had before partitioning.</summary>
    private async Task<double> CopyToBaselineAsync(NpgsqlConnection connection)
    {
        log.WriteLine("  copying to the unpartitioned baseline");
        var clock = Stopwatch.StartNew();
        await Execute(connection, """
            CREATE TABLE request_logs_flat (LIKE request_logs);
            INSERT INTO request_logs_flat SELECT * FROM request_logs;
            ALTER TABLE request_logs_flat ADD PRIMARY KEY ("Id");
            ALTER TABLE request_logs_flat ALTER COLUMN "Id" SET DEFAULT nextval('"request_logs_Id_seq"');
            CREATE INDEX ON request_logs_flat ("Time");
            CREATE INDEX ON request_logs_flat ("Deployment", "Time");
            CREATE INDEX ON request_logs_flat ("RequestId");
            CREATE INDEX ON request_logs_flat ("KeyId");
            """, []);
        await Execute(connection, "VACUUM ANALYZE request_logs_flat", []);
        log.WriteLine($"  baseline in {clock.Elapsed.TotalSeconds:F0} s");
        return clock.Elapsed.TotalSeconds;
    }

    /// <summary>The application's queries, as EF Core writes them (filters and aggregates of UsageApi, LiveTraffic, the SLO, DataPlaneGuard).</summary>
    private static List<(string Name, string Sql, object[] Parameters)> Queries(DateTime now, DateTime day) =>
    [
        ("usage, one day, by key/deployment/version", """
            SELECT "KeyId", "Deployment", "Version", count(*), count(*) FILTER (WHERE "Status" >= 400), sum(coalesce("PromptTokens", 0)),
                   sum(coalesce("CompletionTokens", 0)), sum(coalesce("Cost", 0)), sum("LatencyMs")
            FROM {T} WHERE "Time" >= $1 AND "Time" < $2 GROUP BY "KeyId", "Deployment", "Version"
            """, [day, day.AddDays(1)]),
        ("usage, one day, one key", """
            SELECT "KeyId", "Deployment", "Version", count(*), count(*) FILTER (WHERE "Status" >= 400), sum(coalesce("PromptTokens", 0)),
                   sum(coalesce("CompletionTokens", 0)), sum(coalesce("Cost", 0)), sum("LatencyMs")
            FROM {T} WHERE "KeyId" = $3 AND "Time" >= $1 AND "Time" < $2 GROUP BY "KeyId", "Deployment", "Version"
            """, [day, day.AddDays(1), "key_7"]),
        ("usage, one day, one deployment", """
            SELECT "KeyId", "Deployment", "Version", count(*), count(*) FILTER (WHERE "Status" >= 400), sum(coalesce("PromptTokens", 0)),
                   sum(coalesce("CompletionTokens", 0)), sum(coalesce("Cost", 0)), sum("LatencyMs")
            FROM {T} WHERE "Deployment" = $3 AND "Time" >= $1 AND "Time" < $2 GROUP BY "KeyId", "Deployment", "Version"
            """, [day, day.AddDays(1), "dep-3"]),
        ("judge window, deployment+version, 10 min", Judge, [now.AddMinutes(-10), now, "dep-3", "2"]),
        ("judge window, deployment+version, 1 h", Judge, [now.AddHours(-1), now, "dep-3", "2"]),
        ("SLO window, deployment, served, 1 h", """
            SELECT count(*), count(*) FILTER (WHERE "Status" >= 500) FROM {T}
            WHERE "Deployment" = $3 AND "Time" > $1 AND "Time" <= $2
              AND ("Route" <> 'shadow' OR "Route" IS NULL) AND ("Route" <> 'failed-attempt' OR "Route" IS NULL)
            """, [now.AddHours(-1), now, "dep-3"]),
        ("budget seed, one key, all time", """SELECT coalesce(sum(coalesce("Cost", 0)), 0) FROM {T} WHERE "KeyId" = $1""", ["key_7"]),
    ];

    private const string Judge = """
        SELECT "Version", "Route", count(*), count(*) FILTER (WHERE "Status" >= 500), sum(coalesce("Cost", 0)), avg("LatencyMs")
        FROM {T} WHERE "Deployment" = $3 AND "Version" = $4 AND "Time" > $1 AND "Time" <= $2 GROUP BY "Version", "Route"
        """;

    private async Task<(double P50, double P95)> TimeAsync(Func<Task> run)
    {
        for (var i = 0; i < 2; i++)
        {
            await run();
        }
        var timings = new double[options.RequestLogOps];
        for (var i = 0; i < timings.Length; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await run();
            timings[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        Array.Sort(timings);
        double Rank(int percent) => timings[Math.Max((percent * timings.Length + 99) / 100 - 1, 0)];
        return (Rank(50), Rank(95));
    }

    private static async Task<string> ExplainAsync(NpgsqlConnection connection, string sql, object[] parameters)
    {
        await using var command = Command(connection, "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + sql, parameters);
        await using var reader = await command.ExecuteReaderAsync();
        var plan = new StringBuilder();
        while (await reader.ReadAsync())
        {
            plan.AppendLine(reader.GetString(0));
        }
        return plan.ToString();
    }

    /// <summary>A plan in a line: its scan nodes (partitions counted) and whether any partition was pruned.</summary>
    private static string Summary(string plan)
    {
        var scans = plan.Split('\n').Select(l => l.Trim().TrimStart('-', '>', ' '))
            .Where(l => l.Contains(" Scan", StringComparison.Ordinal) && !l.StartsWith("Recheck", StringComparison.Ordinal))
            .Select(l => System.Text.RegularExpressions.Regex.Match(l.Replace("Parallel ", "", StringComparison.Ordinal), "^(.*? Scan)").Groups[1].Value).ToList();
        return string.Join(", ", scans.GroupBy(s => s).Select(g => g.Count() == 1 ? g.Key : $"{g.Key} ×{g.Count()}"));
    }

    private static NpgsqlCommand Command(NpgsqlConnection connection, string sql, object[] parameters)
    {
        var command = new NpgsqlCommand(sql, connection);
        foreach (var p in parameters)
        {
            command.Parameters.Add(p is DateTime t ? new NpgsqlParameter { Value = t, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.TimestampTz } : new NpgsqlParameter { Value = p });
        }
        return command;
    }

    private static async Task Execute(NpgsqlConnection connection, string sql, object[] parameters)
    {
        await using var command = Command(connection, sql, parameters);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
        }
    }

    private static async Task<object?> Scalar(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }
}
