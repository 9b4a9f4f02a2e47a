using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using ModelGate.Audit;
using ModelGate.Storage.Audit;

namespace ModelGate.Storage;

/// <summary>
/// Opens a write: the process-wide write gate, a database transaction and the provider's write lock. Changes and
/// their audit events are saved and committed together by <see cref="AuditScope.CommitAsync"/>, or not at all.
/// </summary>
public sealed class AuditedWrite(ModelGateDbContext db, WriteGate gate, TimeProvider time, AuditKeys keys, AuditCheckpoints checkpoints)
{
    public async Task<AuditScope> BeginAsync(CancellationToken cancellationToken)
    {
        var lease = await gate.EnterAsync(cancellationToken).ConfigureAwait(false);
        IDbContextTransaction? tx = null;
        try
        {
            tx = await db.Database.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await db.LockForWriteAsync(cancellationToken).ConfigureAwait(false);
            return new AuditScope(db, tx, lease, AuditChain.Truncate(time.GetUtcNow().UtcDateTime), keys, checkpoints);
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
    private readonly AuditKeys _keys;
    private readonly AuditCheckpoints _checkpoints;
    private (long Sequence, string Hash)? _head;
    private AuditChainHeadEntity? _highWater;
    private bool _appended;
    private bool _committed;
    private List<Func<CancellationToken, Task>>? _afterCommit;

    internal AuditScope(ModelGateDbContext db, IDbContextTransaction tx, IDisposable lease, DateTime now, AuditKeys keys, AuditCheckpoints checkpoints)
    {
        _db = db;
        _tx = tx;
        _lease = lease;
        Now = now;
        _keys = keys;
        _checkpoints = checkpoints;
    }

    /// <summary>The time of this write, at the precision the audit chain stores.</summary>
    public DateTime Now { get; }

    public ModelGateDbContext Db => _db;

    public async Task<AuditEventEntity> AppendAsync(string actor, string action, string subject, object? details,
        string outcome = AuditOutcomes.Success, CancellationToken cancellationToken = default)
    {
        _head ??= await LoadHeadAsync(cancellationToken).ConfigureAwait(false);
        var entity = AuditChain.CreateEvent(_keys.ChainKey, _head.Value.Sequence + 1, Now, actor, action, subject,
            AuditChain.SerializeDetails(details), outcome, _head.Value.Hash);
        _db.AuditEvents.Add(entity);
        _head = (entity.Sequence, entity.Hash);
        _highWater!.Sequence = entity.Sequence;
        _highWater.Hash = entity.Hash;
        _appended = true;
        return entity;
    }

    /// <summary>
    /// The chain continues after the highest of: the newest event, the high-water mark and the last signed checkpoint, so
    /// that deleting the newest events never frees their sequences for reuse (the gap stays visible to verification).
    /// </summary>
    private async Task<(long Sequence, string Hash)> LoadHeadAsync(CancellationToken cancellationToken)
    {
        var last = await _db.AuditEvents.AsNoTracking()
            .OrderByDescending(e => e.Sequence)
            .Select(e => new { e.Sequence, e.Hash })
            .FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false);
        _highWater = await _db.AuditChainHeads.FirstOrDefaultAsync(h => h.Id == AuditChainHeadEntity.SingletonId, cancellationToken)
            .ConfigureAwait(false);
        var checkpoint = await _checkpoints.LastAsync(cancellationToken).ConfigureAwait(false);
        var head = last is null ? (0L, AuditChain.GenesisHash) : (last.Sequence, last.Hash);
        if (_highWater is null)
        {
            _highWater = new AuditChainHeadEntity { Sequence = head.Item1, Hash = head.Item2 };
            _db.AuditChainHeads.Add(_highWater);
        }
        else if (_highWater.Sequence > head.Item1)
        {
            head = (_highWater.Sequence, _highWater.Hash);
        }
        if (checkpoint is not null && checkpoint.Sequence > head.Item1)
        {
            head = (checkpoint.Sequence, checkpoint.Hash);
        }
        return head;
    }

    /// <summary>
    /// Runs <paramref name="action"/> once this write has committed (never when it is rolled back), before
    /// <see cref="CommitAsync"/> returns; an action registered twice (an equal delegate) runs once.
    /// </summary>
    public void AfterCommit(Func<CancellationToken, Task> action)
    {
        _afterCommit ??= [];
        if (!_afterCommit.Contains(action))
        {
            _afterCommit.Add(action);
        }
    }

    public async Task CommitAsync(CancellationToken cancellationToken)
    {
        await _db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
        await _tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        _committed = true;
        if (_appended)
        {
            await _checkpoints.AfterCommitAsync(_head!.Value.Sequence, _head.Value.Hash, cancellationToken).ConfigureAwait(false);
        }
        foreach (var action in _afterCommit ?? [])
        {
            await action(cancellationToken).ConfigureAwait(false);
        }
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
