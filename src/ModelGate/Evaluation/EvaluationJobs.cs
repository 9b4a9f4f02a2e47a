using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using ModelGate.Client;

namespace ModelGate.Evaluation;

/// <summary>A run waiting for or in the runner; its counters are read by the API while it runs.</summary>
public sealed class EvaluationJob(string id, string evaluator, long rowsTotal)
{
    private long _rowsDone;
    private long _rowsFailed;
    private long _startedTimestamp;
    private readonly TaskCompletionSource _progressed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string Id { get; } = id;
    /// <summary>A classification run's suite; null for text runs.</summary>
    public PreparedSuite? Suite { get; init; }
    public BaselineModel? Baseline { get; init; }
    /// <summary>An LLM or safety run's rendered prompts; null for classification runs.</summary>
    public Text.PreparedTextSuite? Text { get; init; }
    /// <summary>An llm-chat run's baseline: its rows to ask (<see cref="TextBaselineRun.Ask"/>) or its stored answers to reuse.</summary>
    public TextBaselineRun? TextBaseline { get; init; }
    public string Evaluator { get; } = evaluator;
    public CancellationTokenSource Cancellation { get; } = new();
    public long RowsTotal => rowsTotal;
    public long RowsDone => Interlocked.Read(ref _rowsDone);
    public long RowsFailed => Interlocked.Read(ref _rowsFailed);
    /// <summary>Completes once the first rows are scored.</summary>
    public Task Progressed => _progressed.Task;
    /// <summary>Completes once the run has ended and its outcome is stored.</summary>
    public Task Finished => _finished.Task;

    public void MarkStarted() => Interlocked.Exchange(ref _startedTimestamp, Stopwatch.GetTimestamp());

    public void AddDone(long rows, long failed)
    {
        Interlocked.Add(ref _rowsDone, rows);
        Interlocked.Add(ref _rowsFailed, failed);
        if (rows > 0)
        {
            _progressed.TrySetResult();
        }
    }

    internal void Finish()
    {
        _progressed.TrySetResult();
        _finished.TrySetResult();
    }

    public EvaluationProgressDto Progress()
    {
        var started = Interlocked.Read(ref _startedTimestamp);
        var seconds = started == 0 ? 0 : Stopwatch.GetElapsedTime(started).TotalSeconds;
        var done = RowsDone;
        var rate = seconds > 0 ? done / seconds : 0;
        double? eta = rate > 0 ? (RowsTotal - done) / rate : null;
        return new EvaluationProgressDto(RowsTotal, done, RowsFailed, Math.Round(rate, 1), eta is null ? null : Math.Round(eta.Value, 2));
    }
}

/// <summary>The version a run is compared against, scored on the same rows in the same batches.</summary>
public sealed record BaselineModel(string Version, Gateway.Onnx.OnnxModel Model, IReadOnlyDictionary<string, string> InputColumns);

/// <summary>The queue between the API and the runner, and the runs in flight.</summary>
public sealed class EvaluationJobs
{
    private readonly Channel<EvaluationJob> _queue = Channel.CreateUnbounded<EvaluationJob>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ConcurrentDictionary<string, EvaluationJob> _active = new(StringComparer.Ordinal);

    public ChannelReader<EvaluationJob> Reader => _queue.Reader;

    public void Enqueue(EvaluationJob job)
    {
        _active[job.Id] = job;
        _queue.Writer.TryWrite(job);
    }

    public EvaluationJob? Find(string id) => _active.GetValueOrDefault(id);

    /// <summary>Runs queued or running in this process.</summary>
    public int Count => _active.Count;

    /// <summary>Returns once the run has ended and its outcome is stored (at once when it is not queued or running here).</summary>
    public Task WhenFinishedAsync(string id, CancellationToken cancellationToken) =>
        Find(id)?.Finished.WaitAsync(cancellationToken) ?? Task.CompletedTask;

    public void Complete(string id)
    {
        if (_active.TryRemove(id, out var job))
        {
            job.Cancellation.Dispose();
            job.Finish();
        }
    }
}

/// <summary>The baseline of an llm-chat run: its version, and either its rendered rows to ask or the answers of its stored run to reuse.</summary>
public sealed record TextBaselineRun(string Version, string AttestationSha256, Text.PreparedTextSuite? Ask, IReadOnlyList<Text.TextAnswer>? Reused,
    string? ReusedFrom);
