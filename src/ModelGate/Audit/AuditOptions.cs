namespace ModelGate.Audit;

/// <summary>Section <c>Audit</c>: the keys of the audit chain and where its signed checkpoints go.</summary>
public sealed class AuditOptions
{
    public const string Section = "Audit";

    /// <summary>
    /// Base64 of the 32-byte HMAC-SHA256 key of the chain. By default it is derived from <c>Security:SecretKey</c>
    /// (HKDF-SHA256, label <see cref="AuditKeys.ChainKeyLabel"/>), so it lives wherever that key lives, never in the database.
    /// </summary>
    public string? ChainKey { get; set; }

    /// <summary>Base64 of the 32-byte Ed25519 private key (seed) that signs checkpoints; by default read from <see cref="SigningKeyFile"/>.</summary>
    public string? SigningKey { get; set; }

    /// <summary>The signing key's file, created (0600) on first use; defaults to <c>audit-signing.key</c> in the data directory.</summary>
    public string? SigningKeyFile { get; set; }

    /// <summary>The append-only JSON-lines checkpoint sink; defaults to <c>audit-checkpoints.jsonl</c> in the data directory.</summary>
    public string? CheckpointFile { get; set; }

    /// <summary>A checkpoint after this many events since the last one (0: only by time).</summary>
    public int CheckpointEvery { get; set; } = 100;

    /// <summary>A checkpoint this long after the last one when events were written since (zero: only by count).</summary>
    public TimeSpan CheckpointInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Optional: each checkpoint line is also POSTed (application/json) to this URL; failures are logged, never block a write.</summary>
    public Uri? CheckpointWebhook { get; set; }

    /// <summary>
    /// Evidence records without an evidence hash (written before evidence hashing) cannot be verified. By default a gate that
    /// reads one refuses and <c>audit verify</c> fails; true accepts them (they are still reported as unverifiable).
    /// </summary>
    public bool AcceptUnhashedEvidence { get; set; }
}
