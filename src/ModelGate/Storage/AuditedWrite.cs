using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using ModelGate.Audit;
using ModelGate.Storage.Audit;

namespace ModelGate.Storage;

/// <summary>
/// Opens a write: the process-wide write gate, a database transaction and the provider's write lock. Changes and
/// their audit events are saved and committed together by <see cref="AuditScope.CommitAsync"/>, or not at all.
/// </summary>
public sealed class AuditedWrite(ModelGateDbContext db, WriteGate gate, TimeProvider time)
{
    public async Task<AuditScope> BeginAsync(CancellationToken cancellationToken)
    {
        var lease = await gate.EnterAsync(cancellationToken).ConfigureAwait(false);
        IDbContextTransaction? tx = null;
        try
        {
            tx = await db.Database.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await db.LockForWriteAsync(cancellationToken).ConfigureAwait(false);
            return new AuditScope(db, tx, lease, AuditChain.Truncate(time.GetUtcNow().UtcDateTime));
        }
        catch
        {
            if (tx is not null)
            {
                await tx.DisposeAsync().ConfigureAwait(false);
            }
            lease.Dispose();
            throw;
        }
    }
}

public sealed class AuditScope : IAsyncDisposable
{
    private readonly ModelGateDbContext _db;
    private readonly IDbContextTransaction _tx;
    private readonly IDisposable _lease;
    private (long Sequence, string Hash)? _head;
    private bool _committed;

    internal AuditScope(ModelGateDbContext db, IDbContextTransaction tx, IDisposable lease, DateTime now)
    {
        _db = db;
        _tx = tx;
        _lease = lease;
        Now = now;
    }

    /// <summary>The time of this write, at the precision the audit chain stores.</summary>
    public DateTime Now { get; }

    public ModelGateDbContext Db => _db;

    public async Task<AuditEventEntity> AppendAsync(string actor, string action, string subject, object? details,
        string outcome = AuditOutcomes.Success, CancellationToken cancellationToken = default)
    {
        if (_head is null)
        {
            var last = await _db.AuditEvents.AsNoTracking()
                .OrderByDescending(e => e.Sequence)
                .Select(e => new { e.Sequence, e.Hash })
                .FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false);
            _head = last is null ? (0L, AuditChain.GenesisHash) : (last.Sequence, last.Hash);
        }
        var entity = AuditChain.CreateEvent(_head.Value.Sequence + 1, Now, actor, action, subject,
            AuditChain.SerializeDetails(details), outcome, _head.Value.Hash);
        _db.AuditEvents.Add(entity);
        _head = (entity.Sequence, entity.Hash);
        return entity;
    }

    public async Task CommitAsync(CancellationToken cancellationToken)
    {
        await _db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
        await _tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        _committed = true;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_committed)
            {
                _db.ChangeTracker.Clear();
            }
            await _tx.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            _lease.Dispose();
        }
    }
}
