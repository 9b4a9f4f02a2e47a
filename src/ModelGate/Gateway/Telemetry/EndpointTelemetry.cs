using System.Collections.Concurrent;

namespace ModelGate.Gateway.Telemetry;

/// <summary>
/// What the data plane did with each endpoint of each routed version: attempts sent, attempts that failed (5xx, no answer in
/// time, unreachable) and attempts not made because the endpoint's circuit was open. Counted in place (an interlocked
/// increment per attempt) on counters the routing snapshot hands each endpoint, so the hot path looks nothing up.
/// </summary>
/// <remarks>
/// Counters outlive routing reloads (an endpoint keeps its counts while it keeps its deployment, version, place and URL) and
/// are dropped with the endpoint; the number of series is bounded by the routing tables (at most
/// <see cref="UpstreamBinding.MaxEndpoints"/> per list per version).
/// </remarks>
public sealed class EndpointTelemetry : IDisposable
{
    private readonly ConcurrentDictionary<(string Deployment, string Version, string List, int Index, string Backend), EndpointCounters> _counters = new();

    // Exported over OTLP when configured (the meter GatewayTelemetry's instruments are in), read only when collected.
    private readonly System.Diagnostics.Metrics.Meter _meter = new(GatewayTelemetry.MeterName);

    public EndpointTelemetry()
    {
        _meter.CreateObservableCounter("modelgate.gateway.upstream.attempts", () => Measure(c => c.Attempts), "{attempt}",
            "Attempts sent to an upstream endpoint");
        _meter.CreateObservableCounter("modelgate.gateway.upstream.failures", () => Measure(c => c.Failures), "{attempt}",
            "Attempts on an upstream endpoint that failed");
        _meter.CreateObservableCounter("modelgate.gateway.upstream.circuit_rejected", () => Measure(c => c.Rejected), "{attempt}",
            "Attempts not sent because the endpoint's circuit was open");
    }

    private IEnumerable<System.Diagnostics.Metrics.Measurement<long>> Measure(Func<EndpointCounters, long> value) =>
        _counters.Values.Select(c => new System.Diagnostics.Metrics.Measurement<long>(value(c),
            new("deployment", c.Deployment), new("version", c.Version), new("list", c.List), new("endpoint", c.Index), new("host", c.Host)));

    public void Dispose() => _meter.Dispose();

    public IEnumerable<EndpointCounters> All => _counters.Values;

    /// <summary>The counters of one endpoint (the same object for the same endpoint across reloads).</summary>
    public EndpointCounters For(string deployment, string version, string list, int index, string host, string backend) =>
        _counters.GetOrAdd((deployment, version, list, index, backend), static (k, host) => new EndpointCounters(k.Deployment, k.Version, k.List, k.Index, host, k.Backend), host);

    /// <summary>Drops the counters of endpoints no longer routed (after a reload).</summary>
    public void Retain(IEnumerable<EndpointCounters> live)
    {
        var kept = live.ToHashSet();
        foreach (var (key, counters) in _counters)
        {
            if (!kept.Contains(counters))
            {
                _counters.TryRemove(key, out _);
            }
        }
    }
}

/// <summary>One endpoint's counts; <see cref="Host"/> (host and port) and <see cref="Index"/> are its labels, never its key or path.</summary>
/// <param name="List"><c>endpoints</c> (a primary endpoint) or <c>fallbacks</c>.</param>
/// <param name="Backend">The circuit breaker's key (<see cref="UpstreamRoute.BreakerKey"/>).</param>
public sealed class EndpointCounters(string deployment, string version, string list, int index, string host, string backend)
{
    private long _attempts, _failures, _rejected;

    public string Deployment { get; } = deployment;
    public string Version { get; } = version;
    public string List { get; } = list;
    public int Index { get; } = index;
    public string Host { get; } = host;
    public string Backend { get; } = backend;

    public long Attempts => Interlocked.Read(ref _attempts);
    public long Failures => Interlocked.Read(ref _failures);
    public long Rejected => Interlocked.Read(ref _rejected);

    public void Attempted() => Interlocked.Increment(ref _attempts);

    public void Failed() => Interlocked.Increment(ref _failures);

    public void RejectedByCircuit() => Interlocked.Increment(ref _rejected);
}
