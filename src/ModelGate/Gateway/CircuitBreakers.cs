using System.Collections.Concurrent;

namespace ModelGate.Gateway;

/// <summary>
/// One circuit breaker per upstream backend (base URL and model): after <see cref="FailureThreshold"/> failures in a row
/// it opens for <see cref="OpenFor"/>, during which the backend is not tried at all (callers fall back at once); then one
/// trial request is let through, and its outcome closes or reopens the circuit.
/// </summary>
public sealed class CircuitBreakers(TimeProvider time)
{
    public const int FailureThreshold = 5;
    public static readonly TimeSpan OpenFor = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<string, Circuit> _circuits = new(StringComparer.Ordinal);

    public bool TryEnter(string backend) => _circuits.GetOrAdd(backend, _ => new Circuit()).TryEnter(time);

    public void Succeeded(string backend) => _circuits.GetOrAdd(backend, _ => new Circuit()).Succeeded();

    public void Failed(string backend) => _circuits.GetOrAdd(backend, _ => new Circuit()).Failed(time);

    public bool IsOpen(string backend) => _circuits.TryGetValue(backend, out var c) && c.IsOpen(time);

    /// <summary>
    /// The circuit of one backend, for a routing snapshot to hand its upstream (<see cref="UpstreamRoute.Circuit"/>), so that
    /// sending looks nothing up.
    /// </summary>
    public Circuit For(string backend) => _circuits.GetOrAdd(backend, static _ => new Circuit());

    /// <summary>The circuit of <paramref name="upstream"/>: the one its snapshot handed it, or the one of its backend.</summary>
    public Circuit For(UpstreamRoute upstream) => upstream.Circuit ?? For(upstream.BreakerKey);

    public bool TryEnter(Circuit circuit) => circuit.TryEnter(time);

    public void Succeeded(Circuit circuit) => circuit.Succeeded();

    public void Failed(Circuit circuit) => circuit.Failed(time);

    public bool IsOpen(Circuit circuit) => circuit.IsOpen(time);

    /// <summary>One backend's circuit; its state changes through <see cref="CircuitBreakers"/>, which holds the clock.</summary>
    public sealed class Circuit
    {
        private readonly Lock _lock = new();
        private int _failures;
        private DateTimeOffset? _openUntil;
        private bool _trialInFlight;

        internal bool TryEnter(TimeProvider time)
        {
            lock (_lock)
            {
                if (_openUntil is not { } until)
                {
                    return true;
                }
                if (time.GetUtcNow() < until || _trialInFlight)
                {
                    return false;
                }
                _trialInFlight = true; // half-open: exactly one request finds out whether the backend is back
                return true;
            }
        }

        internal void Succeeded()
        {
            lock (_lock)
            {
                (_failures, _openUntil, _trialInFlight) = (0, null, false);
            }
        }

        internal void Failed(TimeProvider time)
        {
            lock (_lock)
            {
                _failures++;
                if (_trialInFlight || _failures >= FailureThreshold)
                {
                    _openUntil = time.GetUtcNow() + OpenFor;
                }
                _trialInFlight = false;
            }
        }

        internal bool IsOpen(TimeProvider time)
        {
            lock (_lock)
            {
                return _openUntil is { } until && time.GetUtcNow() < until;
            }
        }
    }
}
