using System.Buffers;
using System.Security.Cryptography;
using Microsoft.Extensions.Options;

namespace ModelGate.Storage;

/// <summary>
/// Blobs at <c>{root}/sha256/{ab}/{abcdef…}</c>. A write goes to <c>{root}/incoming/</c>, is flushed to disk and
/// verified, then renamed into place, so a reader (or a restart after a crash) never sees a partial blob.
/// </summary>
public sealed class FileSystemBlobStore : IBlobStore
{
    private const int BufferSize = 128 * 1024;
    private readonly string _root;
    private readonly string _incoming;

    public FileSystemBlobStore(IOptions<DataOptions> data, IOptions<ArtifactStoreOptions> options)
    {
        _root = Path.GetFullPath(options.Value.Path ?? Path.Combine(data.Value.Directory, "artifacts"));
        _incoming = Path.Combine(_root, "incoming");
    }

    public string Root => _root;

    public Task<long?> GetSizeAsync(string sha256, CancellationToken cancellationToken)
    {
        var info = new FileInfo(PathOf(sha256));
        return Task.FromResult(info.Exists ? info.Length : (long?)null);
    }

    public Task<BlobStamp?> GetStampAsync(string sha256, CancellationToken cancellationToken)
    {
        var info = new FileInfo(PathOf(sha256));
        return Task.FromResult(info.Exists ? new BlobStamp(info.Length, info.LastWriteTimeUtc) : (BlobStamp?)null);
    }

    public Task<Stream?> OpenReadAsync(string sha256, CancellationToken cancellationToken)
    {
        var path = PathOf(sha256);
        if (!File.Exists(path))
        {
            return Task.FromResult<Stream?>(null);
        }
        Stream stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize, FileOptions.Asynchronous | FileOptions.SequentialScan);
        return Task.FromResult<Stream?>(stream);
    }

    public async Task<BlobWriteResult> WriteAsync(Stream content, string expectedSha256, long maxBytes, CancellationToken cancellationToken)
    {
        OwnerOnly.CreateDirectory(_incoming);
        var temp = Path.Combine(_incoming, $"{Guid.NewGuid():N}.part");
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long size = 0;
            await using (var file = new FileStream(temp, OwnerOnly.NewFile(BufferSize, FileOptions.Asynchronous)))
            {
                if (!OperatingSystem.IsWindows())
                {
                    File.SetUnixFileMode(file.SafeFileHandle, OwnerOnly.FileMode);
                }
                int read;
                while ((read = await content.ReadAsync(buffer.AsMemory(0, BufferSize), cancellationToken).ConfigureAwait(false)) > 0)
                {
                    size += read;
                    if (size > maxBytes)
                    {
                        return new BlobWriteResult(BlobWriteStatus.TooLarge, size, "");
                    }
                    hash.AppendData(buffer, 0, read);
                    await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                }
                await file.FlushAsync(cancellationToken).ConfigureAwait(false);
                file.Flush(flushToDisk: true);
            }
            var actual = Convert.ToHexStringLower(hash.GetHashAndReset());
            if (!string.Equals(actual, expectedSha256, StringComparison.Ordinal))
            {
                return new BlobWriteResult(BlobWriteStatus.DigestMismatch, size, actual);
            }
            var target = PathOf(actual);
            if (File.Exists(target))
            {
                // Replaced with the verified bytes: the same content when the stored file is intact, its repair when it was
                // damaged on disk (an atomic rename; readers holding the old file keep reading it).
                File.Move(temp, target, overwrite: true);
                return new BlobWriteResult(BlobWriteStatus.AlreadyExists, size, actual);
            }
            OwnerOnly.CreateDirectory(Path.GetDirectoryName(target)!);
            try
            {
                File.Move(temp, target, overwrite: false);
            }
            catch (IOException) when (File.Exists(target))
            {
                // A concurrent upload of the same bytes won the rename; the content is identical.
                return new BlobWriteResult(BlobWriteStatus.AlreadyExists, size, actual);
            }
            return new BlobWriteResult(BlobWriteStatus.Created, size, actual);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            TryDelete(temp);
        }
    }

    public Task<int> RemoveIncompleteAsync(CancellationToken cancellationToken)
    {
        if (!Directory.Exists(_incoming))
        {
            return Task.FromResult(0);
        }
        var count = 0;
        foreach (var file in Directory.EnumerateFiles(_incoming, "*.part"))
        {
            if (TryDelete(file))
            {
                count++;
            }
        }
        return Task.FromResult(count);
    }

    private string PathOf(string sha256)
    {
        if (!ModelGate.Registry.Digests.IsSha256(sha256))
        {
            throw new ArgumentException("not a lower-case hex SHA-256 digest", nameof(sha256));
        }
        return Path.Combine(_root, "sha256", sha256[..2], sha256);
    }

    private static bool TryDelete(string path)
    {
        try
        {
            if (File.Exists(path))
            {
                File.Delete(path);
                return true;
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        return false;
    }
}
