using System.Diagnostics.Metrics;
using ModelGate.Gateway.Telemetry;

namespace ModelGate.Tests.Gateway;

/// <summary>Per-endpoint counters (issue 18, item 9): kept across reloads while routed, dropped after, exported as OpenTelemetry instruments.</summary>
public sealed class EndpointTelemetryTests
{
    [Fact]
    public void Counters_AreTheSameAcrossReloads_DroppedWhenNoLongerRouted_AndObservedByOpenTelemetry()
    {
        using var telemetry = new EndpointTelemetry();
        var a = telemetry.For("d", "1.0.0", "endpoints", 0, "a:443", "https://a/v1/#m");
        var b = telemetry.For("d", "1.0.0", "endpoints", 1, "b:443", "https://b/v1/#m");
        a.Attempted();
        a.Attempted();
        a.Failed();
        b.Attempted();
        Assert.Same(a, telemetry.For("d", "1.0.0", "endpoints", 0, "a:443", "https://a/v1/#m"));

        var seen = new List<(string Instrument, long Value, string? Host, object? Endpoint)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name.StartsWith("modelgate.gateway.upstream.", StringComparison.Ordinal))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            var list = tags.ToArray();
            seen.Add((instrument.Name, value, list.Single(t => t.Key == "host").Value as string, list.Single(t => t.Key == "endpoint").Value));
        });
        listener.Start();
        listener.RecordObservableInstruments();
        Assert.Contains(("modelgate.gateway.upstream.attempts", 2L, "a:443", (object?)0), seen);
        Assert.Contains(("modelgate.gateway.upstream.failures", 1L, "a:443", (object?)0), seen);
        Assert.Contains(("modelgate.gateway.upstream.attempts", 1L, "b:443", (object?)1), seen);

        telemetry.Retain([a]);
        Assert.Equal([a], telemetry.All);
        Assert.NotSame(b, telemetry.For("d", "1.0.0", "endpoints", 1, "b:443", "https://b/v1/#m"));
    }
}
