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
/// and, when the channel is full, drops the record and counts it. A background loop writes batches and deletes records
/// past their retention.
/// </summary>
/// <remarks>
/// The channel holds the records' values (<see cref="Buffered"/>, a struct), not the entities: a record waits a few
/// hundred milliseconds for its batch, long enough at gateway rates to outlive several gen0 collections, so buffered
/// objects were promoted to gen2 only to die there. Values live in the channel's one array; the entities are made again
/// for the batch being written and die young.
/// </remarks>
public sealed partial class RequestLog(IOptions<GatewayOptions> options, IServiceScopeFactory scopes, TimeProvider time, GatewayTelemetry telemetry,
    ILogger<RequestLog> logger)
    : BackgroundService
{
    private readonly Channel<Buffered> _channel = Channel.CreateBounded<Buffered>(
        new BoundedChannelOptions(options.Value.RequestLogCapacity) { FullMode = BoundedChannelFullMode.Wait, SingleReader = true });
    private BulkInsert<RequestLogEntity>? _insert;
    private long _dropped;
    private long _written;

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

    public bool ShouldCapturePayload() => options.Value.PayloadSampleRate > 0 && Random.Shared.NextDouble() < options.Value.PayloadSampleRate;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batch = new List<RequestLogEntity>(options.Value.RequestLogBatchSize);
        var nextCleanup = time.GetUtcNow();
        try
        {
            var taken = 0L;
            while (await _channel.Reader.WaitToReadAsync(stoppingToken))
            {
                // Let a batch gather (wall-clock time, not the business clock): one commit per interval instead of one per trickle.
                // The interval counts from when the previous batch was taken, not from when its write ended, so that no record
                // waits in the buffer longer than one interval (or one write, when a write takes longer): what a kill -9 can lose.
                var wait = options.Value.RequestLogFlushInterval - System.Diagnostics.Stopwatch.GetElapsedTime(taken);
                if (_channel.Reader.Count < options.Value.RequestLogBatchSize && wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, stoppingToken);
                }
                taken = System.Diagnostics.Stopwatch.GetTimestamp();
                while (batch.Count < options.Value.RequestLogBatchSize && _channel.Reader.TryRead(out var record))
                {
                    batch.Add(record.ToEntity());
                }
                // Not cancelled by shutdown: a write stopped half-way would be written again (or lost) by the drain below.
                await WriteAsync(batch, CancellationToken.None);
                batch.Clear();
                if (time.GetUtcNow() >= nextCleanup)
                {
                    await DeleteExpiredAsync(stoppingToken);
                    nextCleanup = time.GetUtcNow().AddHours(1);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            await DrainAsync(batch);
        }
    }

    /// <summary>
    /// Waits for the drain even past the host's shutdown timeout: Kestrel may have spent all of it letting long streams finish,
    /// and the host would then stop waiting for this service and exit with the records still buffered. The drain is bounded by
    /// the buffer (<see cref="GatewayOptions.RequestLogCapacity"/>) and the database's command timeout.
    /// </summary>
    public override Task StopAsync(CancellationToken cancellationToken) => base.StopAsync(CancellationToken.None);

    /// <summary>
    /// Shutting down: writes everything still buffered, in batches, without waiting for more. The server has stopped taking
    /// requests by now (the host stops Kestrel, which lets in-flight requests finish, before this service).
    /// </summary>
    private async Task DrainAsync(List<RequestLogEntity> batch)
    {
        batch.Clear(); // a batch in hand when the wait was cancelled was written already: writes are not cancelled
        while (_channel.Reader.TryRead(out var record))
        {
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

    private async Task DeleteExpiredAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ModelGateDbContext>();
        var cutoff = time.GetUtcNow().UtcDateTime - options.Value.RequestLogRetention;
        await db.RequestLogs.Where(r => r.Time < cutoff).ExecuteDeleteAsync(cancellationToken);
    }

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

        public RequestLogEntity ToEntity() => new()
        {
            RequestId = _requestId, Time = _time, KeyId = _keyId, Deployment = _deployment, Version = _version, Route = _route,
            Protocol = _protocol, Status = _status, LatencyMs = _latencyMs, UpstreamLatencyMs = _upstreamLatencyMs,
            PromptTokens = _promptTokens, CompletionTokens = _completionTokens, UsageSource = _usageSource, Prediction = _prediction,
            Cost = _cost, Payload = _payload,
        };
    }
}
