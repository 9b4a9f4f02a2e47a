using ModelGate.Lifecycle.Archives;

namespace ModelGate.Lifecycle;

/// <summary>The retirement archive: entries written by <see cref="ArchiveWriter"/> (a deterministic .tar.gz with a SHA-256 manifest).</summary>
public static class RetirementArchive
{
    public sealed record Entry(string Path, byte[] Content);

    public static async Task<(byte[] Bytes, ArchiveResult Result)> WriteAsync(IReadOnlyList<Entry> entries, IReadOnlyDictionary<string, string> metadata,
        CancellationToken cancellationToken)
    {
        using var output = new MemoryStream();
        var result = await ArchiveWriter.WriteAsync(output, entries.Select(e => ArchiveEntry.FromBytes(e.Path, e.Content)), metadata, cancellationToken);
        return (output.ToArray(), result);
    }

    /// <summary>Every problem found, as one line each (empty: the archive verifies).</summary>
    public static async Task<IReadOnlyList<string>> VerifyAsync(Stream archive, CancellationToken cancellationToken)
    {
        var verification = await ArchiveVerifier.VerifyAsync(archive, cancellationToken: cancellationToken);
        return
        [
            .. verification.Problems,
            .. verification.Failed.Select(e => $"{e.Path}: {e.Status.ToString().ToLowerInvariant()}" +
                                                (e.Status == ArchiveEntryStatus.Mismatched ? $" (sha256 {e.ActualSha256}, the manifest says {e.ExpectedSha256})" : "") +
                                                (e.Reason is { } r ? $" — {r}" : "")),
        ];
    }
}
