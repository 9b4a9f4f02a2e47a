namespace ModelGate.Storage;

/// <summary>Content-addressed blob storage: a blob's name is the lower-case hex SHA-256 of its bytes.</summary>
public interface IBlobStore
{
    Task<long?> GetSizeAsync(string sha256, CancellationToken cancellationToken);

    /// <summary>
    /// What identifies the stored bytes without reading them (size and last write time), or null when the blob is not stored:
    /// a digest found intact is trusted again while this is unchanged.
    /// </summary>
    Task<BlobStamp?> GetStampAsync(string sha256, CancellationToken cancellationToken);

    /// <summary>Opens a blob for reading, or returns null when it is not stored.</summary>
    Task<Stream?> OpenReadAsync(string sha256, CancellationToken cancellationToken);

    /// <summary>
    /// Reads <paramref name="content"/> to its end, hashing it, and stores it under <paramref name="expectedSha256"/> only if the
    /// digest matches and it is no larger than <paramref name="maxBytes"/>. Nothing is kept otherwise, and nothing partial is ever visible.
    /// </summary>
    Task<BlobWriteResult> WriteAsync(Stream content, string expectedSha256, long maxBytes, CancellationToken cancellationToken);

    /// <summary>Removes what interrupted writes left behind; returns how many.</summary>
    Task<int> RemoveIncompleteAsync(CancellationToken cancellationToken);
}

public enum BlobWriteStatus
{
    Created,
    AlreadyExists,
    DigestMismatch,
    TooLarge,
}

public readonly record struct BlobStamp(long Size, DateTime LastWriteUtc);

public readonly record struct BlobWriteResult(BlobWriteStatus Status, long Size, string ActualSha256);
