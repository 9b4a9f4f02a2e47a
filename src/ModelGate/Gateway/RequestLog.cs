using System.Threading.Channels;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using ModelGate.Errors;
using ModelGate.Gateway.Telemetry;
using ModelGate.Storage;
using ModelGate.Storage.Gateway;

namespace ModelGate.Gateway;

/// <summary>
/// The request log's buffer and writer. <see cref="Add"/> never blocks a request: it enqueues into a bounded channel
/// and, when the channel is full, drops the record and counts it. A background loop writes batches; the leader's
/// <see cref="RequestLogRetention"/> removes what is past its retention.
/// </summary>
/// <remarks>
/// The channel holds the records' values (<see cref="Buffered"/>, a struct), not the entities: a record waits a few
/// hundred milliseconds for its batch, long enough at gateway rates to outlive several gen0 collections, so buffered
/// objects were promoted to gen2 only to die there. Values live in the channel's one array; the entities are made again
/// for the batch being written and die young.
/// </remarks>
public sealed partial class RequestLog(IOptions<GatewayOptions> options, IServiceScopeFactory scopes, GatewayTelemetry telemetry,
    ILogger<RequestLog> logger)
    : BackgroundService
{
    private readonly Channel<Buffered> _channel = Channel.CreateBounded<Buffered>(
        new BoundedChannelOptions(options.Value.RequestLogCapacity) { FullMode = BoundedChannelFullMode.Wait, SingleReader = true });
    private BulkInsert<RequestLogEntity>? _insert;
    private long _dropped;
    private long _written;

    // Flushing (see FlushAsync). Recordings in flight are counted per epoch: a flush moves the epoch on and waits for the
    // previous one's count to reach zero, so it waits for what began before it and never for what begins after.
    private readonly long[] _recordings = new long[2];
    private int _epoch;
    private TaskCompletionSource? _epochDrained;
    private Task _previousEpoch = Task.CompletedTask;
    private readonly SemaphoreSlim _flushing = new(1, 1);
    private readonly System.Collections.Concurrent.ConcurrentQueue<TaskCompletionSource> _flushes = new();
    private int _pendingFlushes;
    private bool _closed;
    private TaskCompletionSource _flushRequested = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public long Dropped => Interlocked.Read(ref _dropped);
    public long Written => Interlocked.Read(ref _written);

    /// <summary>The one place a served request is recorded: the in-memory telemetry, then the log's buffer.</summary>
    public void Add(RequestLogEntity record)
    {
        if (!options.Value.Monitoring)
        {
            return;
        }
        telemetry.Record(record);
        if (!_channel.Writer.TryWrite(new Buffered(record)))
        {
            Interlocked.Increment(ref _dropped);
        }
    }

    /// <summary>A request whose accounting failed before its record was made: counted as dropped, and logged.</summary>
    public void RecordingFailed(Exception exception)
    {
        Interlocked.Increment(ref _dropped);
        LogRecordingFailed(logger, exception);
    }

    /// <summary>
    /// A record is being made off the request's path (after its response, or of a shadow call): <see cref="FlushAsync"/>
    /// waits for it. Call once a request begins, before its response can reach the client, and pass the result to
    /// <see cref="EndRecording"/> once the record is added (or has failed). Two interlocked operations, no allocation.
    /// </summary>
    public int BeginRecording()
    {
        while (true)
        {
            var epoch = Volatile.Read(ref _epoch);
            Interlocked.Increment(ref _recordings[epoch]);
            if (Volatile.Read(ref _epoch) == epoch)
            {
                return epoch;
            }
            // A flush moved the epoch on meanwhile and may have seen this epoch's count at zero already: count in the new one.
            EndRecording(epoch);
        }
    }

    /// <summary>The record begun by <see cref="BeginRecording"/> is added (or given up).</summary>
    public void EndRecording(int epoch)
    {
        if (Interlocked.Decrement(ref _recordings[epoch]) == 0 && Volatile.Read(ref _epoch) != epoch)
        {
            Volatile.Read(ref _epochDrained)?.TrySetResult();
        }
    }

    /// <summary>
    /// Runs <paramref name="recording"/> (work that ends by adding a record: a shadow call) on the thread pool, counted
    /// as a recording in flight from now on, so that <see cref="FlushAsync"/> waits for it.
    /// </summary>
    public void RecordInBackground(Func<Task> recording)
    {
        var epoch = BeginRecording();
        _ = Task.Run(async () =>
        {
            try
            {
                await recording();
            }
            finally
            {
                EndRecording(epoch);
            }
        });
    }

    /// <summary>
    /// Returns once every record added before the call, and every record begun (<see cref="BeginRecording"/>) before it,
    /// is written to the database or counted dropped. Records of requests still in flight at the call are waited for too:
    /// a client that has its response may flush and then read its record. For tests and shutdown hooks, not the request
    /// path. After shutdown it returns at once (the shutdown drain wrote what was buffered).
    /// </summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        await _flushing.WaitAsync(cancellationToken);
        try
        {
            // The previous flush's epoch must be empty before the epoch comes round to it again, even when that flush was
            // cancelled (its wait goes on without it).
            await _previousEpoch.WaitAsync(cancellationToken);
            var previous = Interlocked.Exchange(ref _epoch, 1 - Volatile.Read(ref _epoch));
            // Published after the move, so that only the end of a recording of the previous epoch completes it; and
            // checked after publishing, so that a recording ending meanwhile is seen by one side or the other.
            var drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Interlocked.Exchange(ref _epochDrained, drained);
            if (Interlocked.Read(ref _recordings[previous]) == 0)
            {
                drained.TrySetResult();
            }
            _previousEpoch = drained.Task;
            await drained.Task.WaitAsync(cancellationToken);
        }
        finally
        {
            _flushing.Release();
        }
        // Everything begun before the call is in the buffer now. A marker after it, answered by the writer once it has
        // written everything ahead of the marker (the channel is first in, first out).
        var flushed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Interlocked.Increment(ref _pendingFlushes);
        _flushes.Enqueue(flushed);
        try
        {
            await _channel.Writer.WriteAsync(default, cancellationToken);
        }
        catch (ChannelClosedException)
        {
            return; // shut down: the drain wrote everything buffered, and answers every marker it found
        }
        Interlocked.Exchange(ref _flushRequested, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        await flushed.Task.WaitAsync(cancellationToken);
    }

    /// <summary>A flush marker was read: everything ahead of it is written (or dropped); answers the oldest flush waiting.</summary>
    private void Flushed()
    {
        Interlocked.Decrement(ref _pendingFlushes);
        if (_flushes.TryDequeue(out var flushed))
        {
            flushed.TrySetResult();
        }
    }

    public bool ShouldCapturePayload() => options.Value.PayloadSampleRate > 0 && Random.Shared.NextDouble() < options.Value.PayloadSampleRate;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batch = new List<RequestLogEntity>(options.Value.RequestLogBatchSize);
        try
        {
            var taken = 0L;
            while (await _channel.Reader.WaitToReadAsync(stoppingToken))
            {
                // Let a batch gather (wall-clock time, not the business clock): one commit per interval instead of one per trickle.
                // The interval counts from when the previous batch was taken, not from when its write ended, so that no record
                // waits in the buffer longer than one interval (or one write, when a write takes longer): what a kill -9 can lose.
                // A flush waiting cuts the wait short.
                var wait = options.Value.RequestLogFlushInterval - System.Diagnostics.Stopwatch.GetElapsedTime(taken);
                var flushRequested = Volatile.Read(ref _flushRequested).Task;
                if (_channel.Reader.Count < options.Value.RequestLogBatchSize && wait > TimeSpan.Zero && Volatile.Read(ref _pendingFlushes) == 0)
                {
                    await Task.WhenAny(Task.Delay(wait, stoppingToken), flushRequested);
                    stoppingToken.ThrowIfCancellationRequested();
                }
                taken = System.Diagnostics.Stopwatch.GetTimestamp();
                var flush = false;
                while (batch.Count < options.Value.RequestLogBatchSize && _channel.Reader.TryRead(out var record))
                {
                    if (record.IsFlush)
                    {
                        flush = true;
                        break;
                    }
                    batch.Add(record.ToEntity());
                }
                // Not cancelled by shutdown: a write stopped half-way would be written again (or lost) by the drain below.
                await WriteAsync(batch, CancellationToken.None);
                batch.Clear();
                if (flush)
                {
                    Flushed();
                }
            }
        }
        catch (Exception e) when (stoppingToken.IsCancellationRequested && e is OperationCanceledException or System.Data.Common.DbException)
        {
            // A database command cancelled by shutdown may fail as the driver's own exception.
            await DrainAsync(batch);
        }
        finally
        {
            Close();
        }
    }

    /// <summary>However the loop ended, nothing reads the buffer any more: a record is counted dropped at once, and no flush waits for a reader.</summary>
    private void Close()
    {
        _channel.Writer.TryComplete();
        while (_flushes.TryDequeue(out var flushed))
        {
            flushed.TrySetResult();
        }
        Volatile.Write(ref _closed, true);
    }

    /// <summary>
    /// Waits for the drain even past the host's shutdown timeout: Kestrel may have spent all of it letting long streams finish,
    /// and the host would then stop waiting for this service and exit with the records still buffered. The drain is bounded by
    /// the buffer (<see cref="GatewayOptions.RequestLogCapacity"/>) and the database's command timeout.
    /// </summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(CancellationToken.None);
        if (!Volatile.Read(ref _closed))
        {
            // Stopped before the loop began (a stop right after the start cancels it before it runs): drain here instead.
            await DrainAsync([]);
            Close();
        }
    }

    /// <summary>
    /// Shutting down: writes everything still buffered, in batches, without waiting for more. The server has stopped taking
    /// requests by now (the host stops Kestrel, which lets in-flight requests finish, before this service).
    /// </summary>
    private async Task DrainAsync(List<RequestLogEntity> batch)
    {
        batch.Clear(); // a batch in hand when the wait was cancelled was written already: writes are not cancelled
        // From now on a record is counted dropped at once, and a flush returns at once, rather than waiting in a buffer
        // nobody reads.
        _channel.Writer.TryComplete();
        while (_channel.Reader.TryRead(out var record))
        {
            if (record.IsFlush)
            {
                await WriteAsync(batch, CancellationToken.None);
                batch.Clear();
                Flushed();
                continue;
            }
            batch.Add(record.ToEntity());
            if (batch.Count >= options.Value.RequestLogBatchSize)
            {
                await WriteAsync(batch, CancellationToken.None);
                batch.Clear();
            }
        }
        await WriteAsync(batch, CancellationToken.None);
        batch.Clear();
    }

    /// <summary>
    /// Writes a batch in one transaction. When that fails, its halves are written in turn, down to single records, so that
    /// one record the database refuses is the only one dropped: a batch of n with one bad record costs about 2·log₂ n more
    /// transactions, on the failure path only.
    /// </summary>
    internal async Task WriteAsync(List<RequestLogEntity> batch, CancellationToken cancellationToken)
    {
        if (batch.Count == 0)
        {
            return;
        }
        await WriteOrSplitAsync(batch, 0, batch.Count, cancellationToken);
    }

    private async Task WriteOrSplitAsync(List<RequestLogEntity> batch, int start, int count, CancellationToken cancellationToken)
    {
        var rows = start == 0 && count == batch.Count ? batch : batch.GetRange(start, count);
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<ModelGateDbContext>();
            _insert ??= new BulkInsert<RequestLogEntity>(db);
            await _insert.InsertAsync(db, rows, cancellationToken);
            Interlocked.Add(ref _written, count);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Any failure, not only the database's: a value the driver cannot even encode (a lone surrogate) throws an
            // ArgumentException, which would otherwise end this loop and the process with it.
            if (count == 1 || IsUnavailable(e))
            {
                Interlocked.Add(ref _dropped, count);
                LogWriteFailed(logger, e, count);
                return;
            }
            var half = count / 2;
            await WriteOrSplitAsync(batch, start, half, cancellationToken);
            await WriteOrSplitAsync(batch, start + half, count - half, cancellationToken);
        }
    }

    /// <summary>A failure no smaller batch would escape (the database is down or timing out): splitting would only retry it n times.</summary>
    private static bool IsUnavailable(Exception e) =>
        e is TimeoutException || e.InnerException is TimeoutException || e is System.Net.Sockets.SocketException
        || e is System.Data.Common.DbException { IsTransient: true } || e.InnerException is System.Net.Sockets.SocketException;

    [LoggerMessage(Level = LogLevel.Error, Message = "Accounting a finished request failed; its record is counted as dropped")]
    private static partial void LogRecordingFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Writing {Count} request-log records failed; they are counted as dropped")]
    private static partial void LogWriteFailed(ILogger logger, Exception exception, int count);

    /// <summary>A buffered record's values. Every column of <see cref="RequestLogEntity"/> but the store-generated id.</summary>
    internal readonly struct Buffered(RequestLogEntity record)
    {
        // What a client chose (the deployment and version it named, the label of a prediction) is cut to its column's length:
        // a 100 KB model name must not become 100 KB of request log per request, nor a record PostgreSQL refuses.
        private readonly string _requestId = ClientText.Bound(record.RequestId, RequestLogEntity.RequestIdLength)!;
        private readonly DateTime _time = record.Time;
        private readonly string? _keyId = record.KeyId;
        private readonly string _deployment = ClientText.Bound(record.Deployment, RequestLogEntity.DeploymentLength)!;
        private readonly string? _version = ClientText.Bound(record.Version, RequestLogEntity.VersionLength);
        private readonly string? _route = ClientText.Bound(record.Route, RequestLogEntity.RouteLength);
        private readonly string _protocol = record.Protocol;
        private readonly int _status = record.Status;
        private readonly double _latencyMs = record.LatencyMs;
        private readonly double? _upstreamLatencyMs = record.UpstreamLatencyMs;
        private readonly long? _promptTokens = record.PromptTokens;
        private readonly long? _completionTokens = record.CompletionTokens;
        private readonly string? _usageSource = record.UsageSource;
        private readonly string? _prediction = ClientText.Bound(record.Prediction, RequestLogEntity.PredictionLength);
        private readonly double? _cost = record.Cost;
        private readonly string? _payload = record.Payload;

        /// <summary>A flush marker (<c>default</c>), not a record: every record has a request id.</summary>
        public bool IsFlush => _requestId is null;

        public RequestLogEntity ToEntity() => new()
        {
            RequestId = _requestId, Time = _time, KeyId = _keyId, Deployment = _deployment, Version = _version, Route = _route,
            Protocol = _protocol, Status = _status, LatencyMs = _latencyMs, UpstreamLatencyMs = _upstreamLatencyMs,
            PromptTokens = _promptTokens, CompletionTokens = _completionTokens, UsageSource = _usageSource, Prediction = _prediction,
            Cost = _cost, Payload = _payload,
        };
    }
}
