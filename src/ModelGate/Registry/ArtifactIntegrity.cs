using System.Collections.Concurrent;
using System.Security.Cryptography;
using ModelGate.Client;
using ModelGate.Monitoring;
using ModelGate.Storage;

namespace ModelGate.Registry;

public enum ArtifactState
{
    /// <summary>The stored bytes hash to the digest (checked now, or earlier and unchanged since).</summary>
    Intact,
    /// <summary>The stored bytes do not hash to the digest: they are never sent or loaded.</summary>
    Corrupt,
    Missing,
}

/// <summary>A stored artifact whose bytes do not hash to its digest (changed on disk behind the store's back).</summary>
public sealed class ArtifactCorruptException(string digest, string actual)
    : Exception($"artifact {digest} is corrupt: its content hashes to {actual}; refusing to use it")
{
    public string Digest { get; } = digest;
    public string Actual { get; } = actual;
}

/// <summary>
/// Whether stored artifacts still hash to their digests. A digest found intact is remembered with the blob's stamp (size and
/// last write time), so it is hashed again only when the file changes; a mismatch found anywhere (a download, a model load, a
/// readiness check) raises an <c>artifact_corrupt</c> alert, and finding the file intact again resolves it.
/// </summary>
/// <remarks>
/// The stamp does not catch a same-size rewrite that also restores the file's modification time; a model load and a streamed
/// download hash the bytes they use whatever the stamp says.
/// </remarks>
public sealed partial class ArtifactIntegrity(IBlobStore blobs, IServiceProvider services, ILogger<ArtifactIntegrity> logger)
{
    private readonly ConcurrentDictionary<string, Checked> _checked = new(StringComparer.Ordinal);

    private readonly record struct Checked(BlobStamp Stamp, bool Intact, string Actual);

    public static string AlertKey(string digest) => $"{AlertKinds.ArtifactCorrupt}:{digest}";

    /// <summary>What is known without reading the bytes: null when the blob changed (or was never checked) since its last check.</summary>
    public async Task<(ArtifactState? State, BlobStamp? Stamp)> KnownAsync(string digest, CancellationToken cancellationToken)
    {
        var stamp = await blobs.GetStampAsync(digest, cancellationToken);
        if (stamp is null)
        {
            return (ArtifactState.Missing, null);
        }
        return _checked.TryGetValue(digest, out var c) && c.Stamp == stamp.Value
            ? (c.Intact ? ArtifactState.Intact : ArtifactState.Corrupt, stamp)
            : (null, stamp);
    }

    /// <summary>Hashes the blob unless it is unchanged since its last check.</summary>
    public async Task<ArtifactState> VerifyAsync(string digest, CancellationToken cancellationToken)
    {
        var (known, stamp) = await KnownAsync(digest, cancellationToken);
        if (known is { } state)
        {
            return state;
        }
        await using var stream = await blobs.OpenReadAsync(digest, cancellationToken);
        if (stream is null)
        {
            return ArtifactState.Missing;
        }
        var actual = Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken));
        return await RecordAsync(digest, stamp!.Value, actual, cancellationToken);
    }

    /// <summary>The first digest of <paramref name="digests"/> whose blob is corrupt, or null.</summary>
    public async Task<string?> FirstCorruptAsync(IEnumerable<string> digests, CancellationToken cancellationToken)
    {
        foreach (var digest in digests)
        {
            if (await VerifyAsync(digest, cancellationToken) == ArtifactState.Corrupt)
            {
                return digest;
            }
        }
        return null;
    }

    /// <summary>
    /// Records what hashing the blob as it was at <paramref name="stamp"/> gave (here, or while it was loaded or streamed):
    /// a mismatch raises the alert, a match after a mismatch resolves it.
    /// </summary>
    public async Task<ArtifactState> RecordAsync(string digest, BlobStamp stamp, string actual, CancellationToken cancellationToken)
    {
        var intact = string.Equals(actual, digest, StringComparison.Ordinal);
        var previous = _checked.TryGetValue(digest, out var p) ? p : (Checked?)null; // raising again refreshes the firing alert
        _checked[digest] = new Checked(stamp, intact, actual);
        if (intact && previous is { Intact: false })
        {
            await AlertAsync(digest, a => a.ResolveAsync(AlertKey(digest), CancellationToken.None));
        }
        else if (!intact)
        {
            LogCorrupt(logger, digest, actual);
            await AlertAsync(digest, a => a.RaiseAsync(AlertKey(digest), "artifacts", AlertKinds.ArtifactCorrupt, "critical",
                $"Artifact {digest} is corrupt: its stored bytes hash to {actual}; it is neither served nor loaded until it is restored",
                new { digest, actual, size = stamp.Size }, CancellationToken.None));
        }
        return intact ? ArtifactState.Intact : ArtifactState.Corrupt;
    }

    private async Task AlertAsync(string digest, Func<AlertManager, Task> action)
    {
        // Resolved lazily: the alert manager is a monitoring service, absent from a host composed without it (some unit tests).
        if (services.GetService<AlertManager>() is not { } alerts)
        {
            return;
        }
        try
        {
            await action(alerts);
        }
        catch (Exception e) when (e is Microsoft.EntityFrameworkCore.DbUpdateException or System.Data.Common.DbException or InvalidOperationException)
        {
            // The artifact is refused whether or not the alert could be stored.
            LogAlertFailed(logger, e, digest);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Artifact {Digest} is corrupt: its stored bytes hash to {Actual}; it is refused")]
    private static partial void LogCorrupt(ILogger logger, string digest, string actual);

    [LoggerMessage(Level = LogLevel.Error, Message = "Raising or resolving the corrupt-artifact alert for {Digest} failed")]
    private static partial void LogAlertFailed(ILogger logger, Exception exception, string digest);
}
