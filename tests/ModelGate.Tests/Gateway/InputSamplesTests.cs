using System.Text.Json;
using Microsoft.Extensions.Options;
using ModelGate.Gateway;
using ModelGate.Gateway.Telemetry;

namespace ModelGate.Tests.Gateway;

/// <summary>The flusher's read of a ring: the rows added after a position, each as the JSON array the shared store keeps.</summary>
public sealed class InputSamplesTests
{
    private static readonly DateTime T0 = new(2026, 11, 24, 5, 0, 0, DateTimeKind.Utc);

    /// <summary>
    /// Every read position, across the ring's wrap-around and the per-read limit, against the rows <see cref="InputSamples.Read"/>
    /// returns serialised as JSON arrays of text: the same rows, the same JSON (FP32 and FP64 in "R" text, NaN and a missing
    /// token count as "", INT64 and INT32, text that JSON escapes).
    /// </summary>
    [Fact]
    public void ReadAfter_AnyPositionAndLimit_ReturnsTheRowsAfterIt_AsTheirJsonArrays()
    {
        const int capacity = 7;
        var samples = new InputSamples(Options.Create(new GatewayOptions { InputSampleCapacity = capacity }));
        string[] texts = ["Cuba", "a \"quoted\" <b>&'", "Zürich ✓", "", "tab\there", "\u0001"];
        var added = 0;
        for (var r = 0; r < 19; r++, added += 2)
        {
            samples.AddTensorRows("d", "1", T0.AddSeconds(r), new Dictionary<string, Array>
            {
                ["f"] = new[] { r == 3 ? float.NaN : r * 0.1f, 1e-7f * r },
                ["g"] = new[] { Math.PI * r, double.NaN },
                ["n"] = new[] { long.MaxValue - r, -r },
                ["i"] = new[] { r, int.MinValue },
                ["t"] = new[] { texts[r % texts.Length], texts[(r + 1) % texts.Length] },
            }, 2);
            samples.AddChat("d", "chat", T0.AddSeconds(r), r * 10, r, r % 3 == 0 ? null : r * 3, null);
        }
        foreach (var version in new[] { "1", "chat" })
        {
            var (_, kept) = samples.Read("d", version, DateTime.MinValue);
            var end = version == "1" ? added : 19;
            var ring = samples.ReadAfter("d", version, 0, 0, int.MaxValue).Ring;
            for (var position = 0; position <= end; position++)
            {
                foreach (var max in new[] { 1, 3, capacity, int.MaxValue })
                {
                    var read = samples.ReadAfter("d", version, ring, position, max);
                    Assert.Equal(end, read.End);
                    // The rows after the position that the ring still keeps, at most max of them, the most recent.
                    var expected = kept.Skip(Math.Max(0, position - (end - kept.Count))).ToList();
                    expected = expected.Skip(Math.Max(0, expected.Count - max)).ToList();
                    Assert.Equal(expected.Select(r => (r.Time, JsonSerializer.Serialize(r.Values))), read.Rows.Select(r => (r.Time, r.Values)));
                }
            }
        }
    }
}
