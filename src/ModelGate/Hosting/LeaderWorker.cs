namespace ModelGate.Hosting;

/// <summary>
/// A background worker that works only while this process leads (<see cref="ILeadership"/>): a standby idles, and starts at
/// the term it takes over; a leader that loses the lease has its work cancelled. Everything the worker writes during a term
/// carries the term's fencing token (<see cref="LeaseFence"/>), so a write that outlives the term is refused.
/// </summary>
public abstract class LeaderWorker(ILeadership leadership) : BackgroundService
{
    protected sealed override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var term = await leadership.WaitForTermAsync(stoppingToken);
                using var leading = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, term.Ended);
                LeaseFence.Token = term.Token;
                try
                {
                    await LeadAsync(leading.Token);
                    // Work that ends on its own (nothing to do in this configuration) waits for the term's end, not for another start.
                    await Task.Delay(Timeout.Infinite, leading.Token);
                }
                catch (OperationCanceledException) when (leading.IsCancellationRequested)
                {
                }
                catch (LeaseLostException)
                {
                    // Refused by the fence, which has ended the term: wait for the next.
                }
                finally
                {
                    LeaseFence.Token = null;
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            OnStopped();
        }
    }

    /// <summary>The worker's loop for one term; <paramref name="leading"/> is cancelled when the term ends or the host stops.</summary>
    protected abstract Task LeadAsync(CancellationToken leading);

    /// <summary>Called once when the host stops the worker (not at the end of a term).</summary>
    protected virtual void OnStopped()
    {
    }
}
