using System.Collections.Concurrent;

namespace ModelGate.Gateway;

/// <summary>
/// Work mirrored to a shadow version after the client's answer: run on the thread pool, never awaited by the request, and
/// tracked here so that whoever needs its records (a test, a drain) can wait for the fact instead of for time.
/// </summary>
public sealed class ShadowWork
{
    private readonly ConcurrentDictionary<long, Task> _running = new();
    private long _next;

    /// <summary>Starts <paramref name="work"/> in the background; it must handle its own failures.</summary>
    public void Start(Func<Task> work)
    {
        var id = Interlocked.Increment(ref _next);
        var run = Task.Run(async () =>
        {
            try
            {
                await work();
            }
            finally
            {
                _running.TryRemove(id, out _);
            }
        });
        _running.TryAdd(id, run);
        // The work may have ended before it was added: then nothing else removes it.
        if (run.IsCompleted)
        {
            _running.TryRemove(id, out _);
        }
    }

    /// <summary>Completes when no shadow work is running (work started meanwhile is waited for too).</summary>
    public async Task WhenIdleAsync(CancellationToken cancellationToken)
    {
        while (!_running.IsEmpty)
        {
            await Task.WhenAll(_running.Values).WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }
}
