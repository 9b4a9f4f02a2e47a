using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using ModelGate.Hosting;
using ModelGate.Storage;

namespace ModelGate.Gateway;

/// <summary>
/// The request log's retention, hourly, by the leader only (gateway replicas and standbys never; a control process that
/// serves no traffic still does it): on partitioned PostgreSQL whole days go and the coming days' partitions are made
/// (<see cref="RequestLogPartitions"/>); elsewhere the expired rows are deleted.
/// </summary>
public sealed partial class RequestLogRetention(IServiceScopeFactory scopes, ILeadership leadership, IOptions<GatewayOptions> options, TimeProvider time,
    ILogger<RequestLogRetention> logger) : LeaderWorker(leadership)
{
    public static readonly TimeSpan Interval = TimeSpan.FromHours(1);

    protected override async Task LeadAsync(CancellationToken leading)
    {
        using var timer = new PeriodicTimer(Interval, time);
        do
        {
            await RunOnceAsync(leading);
        }
        while (await timer.WaitForNextTickAsync(leading));
    }

    /// <summary>One pass; nothing when the scope's leadership says this process does not lead.</summary>
    public async Task RunOnceAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        if (!scope.ServiceProvider.GetRequiredService<ILeadership>().IsLeader)
        {
            return;
        }
        var db = scope.ServiceProvider.GetRequiredService<ModelGateDbContext>();
        var now = time.GetUtcNow().UtcDateTime;
        try
        {
            if (await RequestLogPartitions.IsPartitionedAsync(db, cancellationToken))
            {
                var done = await RequestLogPartitions.MaintainAsync(db, now, options.Value.RequestLogRetention, cancellationToken);
                LogPartitionsMaintained(logger, done.Created.Count, done.Dropped.Count, done.MovedFromDefault, done.DeletedFromDefault);
                return;
            }
            var cutoff = now - options.Value.RequestLogRetention;
            await db.RequestLogs.Where(r => r.Time < cutoff).ExecuteDeleteAsync(cancellationToken);
        }
        catch (Exception e) when (e is System.Data.Common.DbException or TimeoutException or InvalidOperationException && !cancellationToken.IsCancellationRequested)
        {
            // A lock not granted in time (a long query on the log) or a database away: the next pass tries again.
            LogRetentionFailed(logger, e);
        }
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Request-log partitions: {Created} created, {Dropped} dropped; {Moved} rows moved from and {Deleted} deleted in the default partition")]
    private static partial void LogPartitionsMaintained(ILogger logger, int created, int dropped, long moved, long deleted);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Request-log retention failed; it is tried again in an hour")]
    private static partial void LogRetentionFailed(ILogger logger, Exception exception);
}
