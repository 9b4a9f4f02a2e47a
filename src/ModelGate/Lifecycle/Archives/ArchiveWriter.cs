using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;

namespace ModelGate.Lifecycle.Archives;

/// <summary>One file to archive: a safe relative path (<see cref="ArchivePaths"/>) and its content.</summary>
public sealed class ArchiveEntry
{
    private ArchiveEntry(string path, ReadOnlyMemory<byte>? bytes, Stream? stream)
    {
        Path = path;
        Bytes = bytes;
        Stream = stream;
    }

    public string Path { get; }
    internal ReadOnlyMemory<byte>? Bytes { get; }
    internal Stream? Stream { get; }

    public static ArchiveEntry FromBytes(string path, ReadOnlyMemory<byte> bytes) => new(path, bytes, null);

    public static ArchiveEntry FromText(string path, string text) => new(path, Encoding.UTF8.GetBytes(text), null);

    /// <summary>Content read once, from the stream's position to its end; the stream stays the caller's to dispose.</summary>
    public static ArchiveEntry FromStream(string path, Stream content) => new(path, null, content);
}

/// <summary>
/// Writes a retirement archive: a <c>.tar.gz</c> whose first entries are <c>manifest.json</c> (every other entry's path,
/// size and SHA-256) and <c>manifest.json.sha256</c> (the manifest's digest, in <c>sha256sum</c> format), then the
/// entries in ordinal path order. Times, owners and modes are fixed, so the same entries and metadata give the same
/// archive digest (with the same compressor). The digest file catches a damaged manifest; only the manifest digest
/// recorded outside the archive (<see cref="ArchiveResult.ManifestSha256"/>, kept with the version) catches a manifest
/// rewritten on purpose, which is why <see cref="ArchiveVerifier"/> takes it.
/// </summary>
public static class ArchiveWriter
{
    public const string ManifestPath = "manifest.json";
    public const string ManifestDigestPath = "manifest.json.sha256";
    public static readonly DateTimeOffset EntryTime = new(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private const UnixFileMode EntryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    public static bool IsReserved(string path) =>
        string.Equals(path, ManifestPath, StringComparison.OrdinalIgnoreCase) || string.Equals(path, ManifestDigestPath, StringComparison.OrdinalIgnoreCase);

    /// <exception cref="ArgumentException">An entry's path is unsafe, reserved, or given twice (ignoring case, as extraction on Windows and macOS would).</exception>
    public static async Task<ArchiveResult> WriteAsync(Stream output, IEnumerable<ArchiveEntry> entries, IReadOnlyDictionary<string, string>? metadata = null,
        CancellationToken cancellationToken = default)
    {
        var list = entries.ToList();
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var entry in list)
        {
            if (ArchivePaths.Problem(entry.Path) is { } problem)
            {
                throw new ArgumentException($"archive entry '{entry.Path}': {problem}", nameof(entries));
            }
            if (IsReserved(entry.Path))
            {
                throw new ArgumentException($"archive entry '{entry.Path}' is reserved for the manifest", nameof(entries));
            }
            if (!seen.Add(entry.Path))
            {
                throw new ArgumentException($"archive entry '{entry.Path}' is given twice", nameof(entries));
            }
        }

        var staged = new List<(ArchiveManifestEntry Entry, Func<Stream> Open)>();
        var spools = new List<FileStream>();
        try
        {
            foreach (var entry in list.OrderBy(e => e.Path, StringComparer.Ordinal))
            {
                if (entry.Bytes is { } bytes)
                {
                    staged.Add((new ArchiveManifestEntry(entry.Path, bytes.Length, Convert.ToHexStringLower(SHA256.HashData(bytes.Span))),
                        () => new MemoryStream(bytes.ToArray(), writable: false)));
                    continue;
                }
                // The size and digest go in the manifest, which is written first: spool the stream to learn them.
                var spool = new FileStream(Path.GetTempFileName(), FileMode.Create, FileAccess.ReadWrite, FileShare.None, 81920,
                    FileOptions.DeleteOnClose | FileOptions.Asynchronous);
                spools.Add(spool);
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var buffer = new byte[81920];
                int read;
                while ((read = await entry.Stream!.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    hash.AppendData(buffer, 0, read);
                    await spool.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                }
                await spool.FlushAsync(cancellationToken);
                staged.Add((new ArchiveManifestEntry(entry.Path, spool.Length, Convert.ToHexStringLower(hash.GetHashAndReset())),
                    () => { spool.Position = 0; return new NonClosingStream(spool); }));
            }

            var manifest = new ArchiveManifest(ArchiveManifest.CurrentFormat, metadata ?? new Dictionary<string, string>(), staged.Select(s => s.Entry).ToList());
            var manifestBytes = manifest.ToBytes();
            var manifestSha = Convert.ToHexStringLower(SHA256.HashData(manifestBytes));
            var digestBytes = Encoding.ASCII.GetBytes($"{manifestSha}  {ManifestPath}\n");

            var counted = new HashingStream(output);
            await using (var gzip = new GZipStream(counted, CompressionLevel.Optimal, leaveOpen: true))
            await using (var tar = new TarWriter(gzip, TarEntryFormat.Pax, leaveOpen: true))
            {
                await WriteEntryAsync(tar, ManifestPath, new MemoryStream(manifestBytes, writable: false), cancellationToken);
                await WriteEntryAsync(tar, ManifestDigestPath, new MemoryStream(digestBytes, writable: false), cancellationToken);
                foreach (var (entry, open) in staged)
                {
                    await using var content = open();
                    await WriteEntryAsync(tar, entry.Path, content, cancellationToken);
                }
            }
            await output.FlushAsync(cancellationToken);
            return new ArchiveResult(counted.Sha256(), counted.Length, manifestSha, manifest);
        }
        finally
        {
            foreach (var spool in spools)
            {
                await spool.DisposeAsync();
            }
        }
    }

    private static async Task WriteEntryAsync(TarWriter tar, string path, Stream content, CancellationToken cancellationToken)
    {
        var entry = new PaxTarEntry(TarEntryType.RegularFile, path)
        {
            ModificationTime = EntryTime,
            Mode = EntryMode,
            Uid = 0,
            Gid = 0,
            UserName = "",
            GroupName = "",
            DataStream = content,
        };
        await tar.WriteEntryAsync(entry, cancellationToken);
    }

    /// <summary>Passes writes through while hashing and counting them, so the archive's digest needs no second read.</summary>
    private sealed class HashingStream(Stream inner) : Stream
    {
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        public override long Length => _length;
        private long _length;

        public string Sha256() => Convert.ToHexStringLower(_hash.GetHashAndReset());

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Position { get => _length; set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            _hash.AppendData(buffer);
            _length += buffer.Length;
            inner.Write(buffer);
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            _hash.AppendData(buffer.Span);
            _length += buffer.Length;
            await inner.WriteAsync(buffer, cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush() => inner.Flush();
        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _hash.Dispose();
            }
            base.Dispose(disposing);
        }
    }

    /// <summary>Lets the tar writer read a spool file without closing it (the writer disposes it at the end).</summary>
    private sealed class NonClosingStream(Stream inner) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => inner.CanSeek;
        public override bool CanWrite => false;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => inner.Position = value; }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override int Read(Span<byte> buffer) => inner.Read(buffer);
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            inner.ReadAsync(buffer, offset, count, cancellationToken);
        public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);
        public override void Flush() { }
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
