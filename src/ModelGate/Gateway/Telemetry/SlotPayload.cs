using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace ModelGate.Gateway.Telemetry;

/// <summary>
/// A <see cref="SlotAggregate"/> as the JSON of a <c>telemetry_slots</c> row (its slot is the row's own column). Every field
/// is written; fields at zero are left out, and the histograms (latency, first byte, scores) are written sparsely as
/// <c>{"bucket": count}</c>, so a slot of one kind of traffic costs a few hundred bytes. Doubles are written in their
/// shortest round-trip form and read back to the same bits; a non-finite sum is written as a string.
/// </summary>
public static class SlotPayload
{
    public static string Write(SlotAggregate a)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            Number(w, "requests", a.Requests);
            Counts(w, "errors", a.Errors);
            Number(w, "promptTokens", a.PromptTokens);
            Number(w, "completionTokens", a.CompletionTokens);
            Number(w, "cost", a.Cost);
            Counts(w, "latency", a.Latency);
            Number(w, "latencySumMs", a.LatencySumMs);
            Number(w, "feedbackCount", a.FeedbackCount);
            Number(w, "feedbackSum", a.FeedbackSum);
            Number(w, "fallbacks", a.Fallbacks);
            Number(w, "predictions", a.Predictions);
            Number(w, "positivePredictions", a.PositivePredictions);
            Number(w, "invalidOutputs", a.InvalidOutputs);
            Counts(w, "scores", a.Scores);
            Number(w, "scoreSum", a.ScoreSum);
            Counts(w, "firstByte", a.FirstByte);
            Number(w, "compared", a.Compared);
            Number(w, "agreed", a.Agreed);
            Number(w, "absDeltaPSum", a.AbsDeltaPSum);
            Number(w, "completionTokensDeltaSum", a.CompletionTokensDeltaSum);
            Number(w, "latencyDeltaSumMs", a.LatencyDeltaSumMs);
            if (a.Business is { Count: > 0 } business)
            {
                w.WriteStartObject("business");
                foreach (var (name, sum) in business.OrderBy(b => b.Key, StringComparer.Ordinal))
                {
                    w.WriteStartArray(name);
                    w.WriteNumberValue(sum.Count);
                    Double(w, sum.Sum);
                    w.WriteEndArray();
                }
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Reads a payload written by <see cref="Write"/>; unknown fields (a newer replica's) are skipped. Throws <see cref="FormatException"/> when it is not one.</summary>
    public static SlotAggregate Read(long slot, string json)
    {
        var a = new SlotAggregate { Slot = slot };
        try
        {
            using var doc = JsonDocument.Parse(json);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new FormatException("a slot payload is a JSON object");
            }
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                var v = p.Value;
                switch (p.Name)
                {
                    case "requests": a.Requests = v.GetInt64(); break;
                    case "errors": ReadCounts(v, a.Errors, p.Name); break;
                    case "promptTokens": a.PromptTokens = v.GetInt64(); break;
                    case "completionTokens": a.CompletionTokens = v.GetInt64(); break;
                    case "cost": a.Cost = ReadDouble(v); break;
                    case "latency": ReadCounts(v, a.Latency, p.Name); break;
                    case "latencySumMs": a.LatencySumMs = ReadDouble(v); break;
                    case "feedbackCount": a.FeedbackCount = v.GetInt64(); break;
                    case "feedbackSum": a.FeedbackSum = ReadDouble(v); break;
                    case "fallbacks": a.Fallbacks = v.GetInt64(); break;
                    case "predictions": a.Predictions = v.GetInt64(); break;
                    case "positivePredictions": a.PositivePredictions = v.GetInt64(); break;
                    case "invalidOutputs": a.InvalidOutputs = v.GetInt64(); break;
                    case "scores": ReadCounts(v, a.Scores, p.Name); break;
                    case "scoreSum": a.ScoreSum = ReadDouble(v); break;
                    case "firstByte": ReadCounts(v, a.FirstByte, p.Name); break;
                    case "compared": a.Compared = v.GetInt64(); break;
                    case "agreed": a.Agreed = v.GetInt64(); break;
                    case "absDeltaPSum": a.AbsDeltaPSum = ReadDouble(v); break;
                    case "completionTokensDeltaSum": a.CompletionTokensDeltaSum = ReadDouble(v); break;
                    case "latencyDeltaSumMs": a.LatencyDeltaSumMs = ReadDouble(v); break;
                    case "business":
                        foreach (var metric in v.EnumerateObject())
                        {
                            if (metric.Value.GetArrayLength() != 2)
                            {
                                throw new FormatException($"business metric '{metric.Name}' is not [count, sum]");
                            }
                            a.AddBusiness(metric.Name, new MetricSum(metric.Value[0].GetInt64(), ReadDouble(metric.Value[1])));
                        }
                        break;
                }
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or IndexOutOfRangeException)
        {
            throw new FormatException($"not a slot payload: {e.Message}", e);
        }
        return a;
    }

    private static void Number(Utf8JsonWriter w, string name, long value)
    {
        if (value != 0)
        {
            w.WriteNumber(name, value);
        }
    }

    private static void Number(Utf8JsonWriter w, string name, double value)
    {
        // Not `value != 0`: a sum of -0.0 is kept as written.
        if (BitConverter.DoubleToInt64Bits(value) != 0)
        {
            w.WritePropertyName(name);
            Double(w, value);
        }
    }

    private static void Double(Utf8JsonWriter w, double value)
    {
        if (double.IsFinite(value))
        {
            w.WriteNumberValue(value);
        }
        else
        {
            w.WriteStringValue(value.ToString(CultureInfo.InvariantCulture));
        }
    }

    private static double ReadDouble(JsonElement v) =>
        v.ValueKind == JsonValueKind.String ? double.Parse(v.GetString()!, CultureInfo.InvariantCulture) : v.GetDouble();

    private static void Counts(Utf8JsonWriter w, string name, long[] counts)
    {
        if (Array.TrueForAll(counts, c => c == 0))
        {
            return;
        }
        w.WriteStartObject(name);
        for (var i = 0; i < counts.Length; i++)
        {
            if (counts[i] != 0)
            {
                w.WriteNumber(i.ToString(CultureInfo.InvariantCulture), counts[i]);
            }
        }
        w.WriteEndObject();
    }

    private static void ReadCounts(JsonElement v, long[] into, string name)
    {
        foreach (var bucket in v.EnumerateObject())
        {
            if (!int.TryParse(bucket.Name, NumberStyles.None, CultureInfo.InvariantCulture, out var i) || i >= into.Length)
            {
                throw new FormatException($"'{name}' has no bucket '{bucket.Name}' (it has {into.Length})");
            }
            into[i] = bucket.Value.GetInt64();
        }
    }
}
