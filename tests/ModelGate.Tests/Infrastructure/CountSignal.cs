namespace ModelGate.Tests.Infrastructure;

/// <summary>
/// A count that tests can await reaching a number: what a test double increments as things happen to it (a request
/// received, a lookup held), so that the test waits for the fact instead of polling.
/// </summary>
public sealed class CountSignal
{
    private readonly Lock _lock = new();
    private readonly List<(int Count, TaskCompletionSource Reached)> _waiters = [];
    private int _count;

    public int Count => Volatile.Read(ref _count);

    public void Increment()
    {
        lock (_lock)
        {
            _count++;
            foreach (var waiter in _waiters.Where(w => w.Count <= _count).ToList())
            {
                waiter.Reached.TrySetResult();
                _waiters.Remove(waiter);
            }
        }
    }

    /// <summary>Returns once the count is at least <paramref name="count"/>.</summary>
    public Task WaitForAsync(int count)
    {
        lock (_lock)
        {
            if (_count >= count)
            {
                return Task.CompletedTask;
            }
            var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((count, reached));
            return reached.Task.WaitAsync(TestContext.Current.CancellationToken);
        }
    }
}
