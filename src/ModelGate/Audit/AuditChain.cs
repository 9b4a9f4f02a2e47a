using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using ModelGate.Client;
using ModelGate.Storage.Audit;

namespace ModelGate.Audit;

public static class AuditOutcomes
{
    public const string Success = "success";
    public const string Refused = "refused";
}

/// <summary>
/// The hash chain: each event's hash covers its own fields and the previous event's hash, keyed with the chain key
/// (<see cref="AuditKeys"/>) from the re-anchor event on (or from the first event of a store created keyed).
/// </summary>
public static class AuditChain
{
    public static readonly string GenesisHash = new('0', 64);

    /// <summary>Times are kept to the millisecond so that every database stores exactly what was hashed.</summary>
    public static DateTime Truncate(DateTime utc) =>
        new(utc.Ticks - (utc.Ticks % TimeSpan.TicksPerMillisecond), DateTimeKind.Utc);

    public static string SerializeDetails(object? details) =>
        details is null ? "{}" : JsonSerializer.Serialize(details, ModelGateJson.Options);

    /// <summary>The event that starts the keyed chain on a store whose older events were chained with plain SHA-256.</summary>
    public const string ChainKeyedAction = "audit.chain.keyed";

    public static AuditEventEntity CreateEvent(ReadOnlySpan<byte> key, long sequence, DateTime time, string actor, string action,
        string subject, string details, string outcome, string previousHash) => new()
        {
            Sequence = sequence,
            Time = time,
            Actor = actor,
            Action = action,
            Subject = subject,
            Details = details,
            Outcome = outcome,
            PreviousHash = previousHash,
            Hash = ComputeKeyedHash(key, sequence, time, actor, action, subject, details, outcome, previousHash),
        };

    /// <summary>The unkeyed hash of events written before the chain was keyed (verified up to the re-anchor event only).</summary>
    public static string ComputeHash(AuditEventEntity e) =>
        ComputeHash(e.Sequence, e.Time, e.Actor, e.Action, e.Subject, e.Details, e.Outcome, e.PreviousHash);

    /// <summary>SHA-256 over the canonical form: a compact JSON array of the fields in a fixed order.</summary>
    public static string ComputeHash(long sequence, DateTime time, string actor, string action, string subject,
        string details, string outcome, string previousHash)
    {
        var buffer = Canonical(sequence, time, actor, action, subject, details, outcome, previousHash);
        return Convert.ToHexStringLower(SHA256.HashData(buffer.WrittenSpan));
    }

    public static string ComputeKeyedHash(ReadOnlySpan<byte> key, AuditEventEntity e) =>
        ComputeKeyedHash(key, e.Sequence, e.Time, e.Actor, e.Action, e.Subject, e.Details, e.Outcome, e.PreviousHash);

    /// <summary>HMAC-SHA256 with the chain key over the same canonical form: without the key a rewritten chain cannot be recomputed.</summary>
    public static string ComputeKeyedHash(ReadOnlySpan<byte> key, long sequence, DateTime time, string actor, string action, string subject,
        string details, string outcome, string previousHash)
    {
        var buffer = Canonical(sequence, time, actor, action, subject, details, outcome, previousHash);
        return Convert.ToHexStringLower(HMACSHA256.HashData(key, buffer.WrittenSpan));
    }

    private static ArrayBufferWriter<byte> Canonical(long sequence, DateTime time, string actor, string action, string subject,
        string details, string outcome, string previousHash)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using var writer = new Utf8JsonWriter(buffer);
        writer.WriteStartArray();
        writer.WriteNumberValue(sequence);
        writer.WriteStringValue(time.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
        writer.WriteStringValue(actor);
        writer.WriteStringValue(action);
        writer.WriteStringValue(subject);
        writer.WriteStringValue(details);
        writer.WriteStringValue(outcome);
        writer.WriteStringValue(previousHash);
        writer.WriteEndArray();
        writer.Flush();
        return buffer;
    }

    public static string Hex(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
}
