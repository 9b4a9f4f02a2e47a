using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using ModelGate.Hosting;
using ModelGate.Storage;
using ModelGate.Storage.Audit;

namespace ModelGate.Audit;

/// <summary>Every <see cref="AuditOptions.CheckpointInterval"/>, checkpoints the chain's head if events were written since the last checkpoint.</summary>
internal sealed partial class AuditCheckpointWorker(IServiceScopeFactory scopes, AuditCheckpoints checkpoints, IOptions<AuditOptions> options,
    IOptions<ServerOptions> server, TimeProvider time, ILogger<AuditCheckpointWorker> logger, ILeadership leadership) : LeaderWorker(leadership)
{
    protected override async Task LeadAsync(CancellationToken stoppingToken)
    {
        var interval = options.Value.CheckpointInterval;
        if (interval <= TimeSpan.Zero || !server.Value.ServesControlPlane)
        {
            return;
        }
        using var timer = new PeriodicTimer(interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await TickAsync(stoppingToken);
                }
                catch (Exception e) when (e is DbUpdateException or InvalidOperationException or IOException or UnauthorizedAccessException)
                {
                    LogTickFailed(logger, e);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public async Task TickAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ModelGateDbContext>();
        var head = await db.AuditChainHeads.AsNoTracking().Where(h => h.Id == AuditChainHeadEntity.SingletonId)
            .Select(h => new { h.Sequence, h.Hash }).FirstOrDefaultAsync(cancellationToken);
        if (head is not null && head.Sequence > 0)
        {
            await checkpoints.WriteAsync(head.Sequence, head.Hash, force: false, cancellationToken);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "The audit checkpoint tick failed")]
    private static partial void LogTickFailed(ILogger logger, Exception e);
}
