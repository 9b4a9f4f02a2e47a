using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;
using ModelGate.Client;
using ModelGate.Storage;

namespace ModelGate.Audit;

/// <summary>
/// Signs the chain's head (sequence, hash, time) with Ed25519 and appends it to the checkpoint sink outside the database,
/// every <see cref="AuditOptions.CheckpointEvery"/> events (from the write that reaches the count) and every
/// <see cref="AuditOptions.CheckpointInterval"/> (from <see cref="AuditCheckpointWorker"/>). A database writer can rewrite
/// or truncate rows, but not the checkpoints already written, nor sign new ones.
/// </summary>
public sealed partial class AuditCheckpoints(IOptions<AuditOptions> options, IOptions<DataOptions> data, AuditKeys keys, TimeProvider time,
    IHttpClientFactory http, ILogger<AuditCheckpoints> logger)
{
    public const string Algorithm = "ed25519";
    private const string SignedPrefix = "modelgate-audit-checkpoint/v1\n";
    private const int TailBytes = 16 * 1024;

    private readonly SemaphoreSlim _lock = new(1, 1);
    private AuditCheckpointDto? _last;
    private bool _loaded;
    private TaskCompletionSource<AuditCheckpointDto> _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string FilePath { get; } = Path.GetFullPath(options.Value.CheckpointFile
        ?? Path.Combine(Path.GetFullPath(data.Value.Directory), "audit-checkpoints.jsonl"));

    /// <summary>The newest checkpoint in the sink signed by this server's key (null if none).</summary>
    public async Task<AuditCheckpointDto?> LastAsync(CancellationToken cancellationToken)
    {
        if (_loaded)
        {
            return _last;
        }
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            EnsureLoaded();
            return _last;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Called after each committed audited write with the chain's new head; checkpoints when the count is reached.</summary>
    public async Task AfterCommitAsync(long sequence, string hash, CancellationToken cancellationToken)
    {
        var every = options.Value.CheckpointEvery;
        if (every <= 0)
        {
            return;
        }
        var last = await LastAsync(cancellationToken).ConfigureAwait(false);
        if (sequence - (last?.Sequence ?? 0) < every)
        {
            return;
        }
        try
        {
            await WriteAsync(sequence, hash, force: false, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The write is committed; a sink that cannot be written is an operator's problem to see, not the caller's error.
            LogSinkFailed(logger, sequence, FilePath, e.Message);
        }
    }

    /// <summary>Appends a checkpoint of the given head unless one at or past it exists already (or <paramref name="force"/>).</summary>
    public async Task<AuditCheckpointDto?> WriteAsync(long sequence, string hash, bool force, CancellationToken cancellationToken)
    {
        AuditCheckpointDto checkpoint;
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            EnsureLoaded();
            if (!force && _last is not null && _last.Sequence >= sequence)
            {
                return null;
            }
            checkpoint = Sign(sequence, hash, time.GetUtcNow());
            var line = JsonSerializer.Serialize(checkpoint, ModelGateJson.Options) + "\n";
            Storage.OwnerOnly.CreateDirectory(Path.GetDirectoryName(FilePath)!);
            Storage.OwnerOnly.CreateFileIfMissing(FilePath);
            await using (var stream = new FileStream(FilePath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite))
            {
                var bytes = Encoding.UTF8.GetBytes(line);
                await stream.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
                stream.Flush(flushToDisk: true);
            }
            _last = checkpoint;
            LogCheckpoint(logger, sequence, FilePath);
        }
        finally
        {
            _lock.Release();
        }
        Interlocked.Exchange(ref _next, new TaskCompletionSource<AuditCheckpointDto>(TaskCreationOptions.RunContinuationsAsynchronously))
            .TrySetResult(checkpoint);
        if (options.Value.CheckpointWebhook is { } webhook)
        {
            LastDelivery = PostAsync(webhook, checkpoint);
        }
        return checkpoint;
    }

    /// <summary>The newest webhook delivery (never faults: failures are logged); for tests.</summary>
    internal Task LastDelivery { get; private set; } = Task.CompletedTask;

    /// <summary>Completes with the next checkpoint written (for tests and tools that wait for one).</summary>
    public Task<AuditCheckpointDto> NextAsync() => Volatile.Read(ref _next).Task;

    public AuditCheckpointDto Sign(long sequence, string hash, DateTimeOffset at)
    {
        var utc = new DateTimeOffset(AuditChain.Truncate(at.UtcDateTime));
        var signature = Ed25519.Sign(keys.SigningKey, SignedBytes(sequence, hash, utc));
        return new AuditCheckpointDto(sequence, hash, utc, keys.PublicKey, Convert.ToBase64String(signature));
    }

    /// <summary>Whether <paramref name="checkpoint"/> was signed by the holder of <paramref name="publicKey"/> (base64).</summary>
    public static bool VerifySignature(AuditCheckpointDto checkpoint, string publicKey)
    {
        try
        {
            var key = Convert.FromBase64String(publicKey);
            var signature = Convert.FromBase64String(checkpoint.Signature);
            return Ed25519.Verify(key, SignedBytes(checkpoint.Sequence, checkpoint.Hash, checkpoint.Time), signature);
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            return false;
        }
    }

    /// <summary>Parses one sink line; null when it is not a checkpoint.</summary>
    public static AuditCheckpointDto? Parse(string line)
    {
        try
        {
            var c = JsonSerializer.Deserialize<AuditCheckpointDto>(line, ModelGateJson.Options);
            return c is { Hash: not null, PublicKey: not null, Signature: not null } ? c : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Checks checkpoint lines against <paramref name="publicKey"/>; the newest valid one is the head the store must reach.</summary>
    public static AuditCheckpointReportDto Check(string source, IEnumerable<string> lines, string publicKey, out List<AuditCheckpointDto> valid)
    {
        valid = [];
        var bad = new List<int>();
        var count = 0;
        AuditCheckpointDto? last = null;
        foreach (var line in lines)
        {
            count++;
            if (string.IsNullOrWhiteSpace(line))
            {
                count--;
                continue;
            }
            var checkpoint = Parse(line);
            if (checkpoint is null || !VerifySignature(checkpoint, publicKey))
            {
                bad.Add(count);
                continue;
            }
            valid.Add(checkpoint);
            if (last is null || checkpoint.Sequence >= last.Sequence)
            {
                last = checkpoint;
            }
        }
        return new AuditCheckpointReportDto(source, count, valid.Count, bad, last);
    }

    public IEnumerable<string> ReadLines() => File.Exists(FilePath) ? File.ReadLines(FilePath) : [];

    internal static byte[] SignedBytes(long sequence, string hash, DateTimeOffset time) => Encoding.UTF8.GetBytes(
        SignedPrefix + sequence.ToString(CultureInfo.InvariantCulture) + "\n" + hash + "\n" +
        time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));

    /// <summary>Reads the newest checkpoint from the file's tail once; it is then kept in memory as checkpoints are written.</summary>
    private void EnsureLoaded()
    {
        if (_loaded)
        {
            return;
        }
        if (File.Exists(FilePath))
        {
            using var stream = new FileStream(FilePath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            var start = Math.Max(0, stream.Length - TailBytes);
            stream.Seek(start, SeekOrigin.Begin);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            var lines = reader.ReadToEnd().Split('\n');
            for (var i = lines.Length - 1; i >= (start > 0 ? 1 : 0); i--)
            {
                if (Parse(lines[i]) is { } c && VerifySignature(c, keys.PublicKey))
                {
                    _last = c;
                    break;
                }
            }
        }
        _loaded = true;
    }

    private async Task PostAsync(Uri webhook, AuditCheckpointDto checkpoint)
    {
        try
        {
            using var response = await http.CreateClient(nameof(AuditCheckpoints)).PostAsJsonAsync(webhook, checkpoint, ModelGateJson.Options)
                .ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                LogWebhookFailed(logger, checkpoint.Sequence, $"HTTP {(int)response.StatusCode}");
            }
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            LogWebhookFailed(logger, checkpoint.Sequence, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Audit checkpoint at sequence {Sequence} appended to {File}")]
    private static partial void LogCheckpoint(ILogger logger, long sequence, string file);

    [LoggerMessage(Level = LogLevel.Error, Message = "Audit checkpoint at sequence {Sequence} could not be appended to {File}: {Reason}")]
    private static partial void LogSinkFailed(ILogger logger, long sequence, string file, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Audit checkpoint {Sequence} was not delivered to the checkpoint webhook: {Reason}")]
    private static partial void LogWebhookFailed(ILogger logger, long sequence, string reason);
}
