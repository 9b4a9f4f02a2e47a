using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using ModelGate.Storage;

namespace ModelGate.Tests.Storage;

public sealed class FileSystemBlobStoreTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("modelgate-blobs-").FullName;
    private readonly FileSystemBlobStore _store;

    public FileSystemBlobStoreTests() =>
        _store = new FileSystemBlobStore(Options.Create(new DataOptions { Directory = _root }), Options.Create(new ArtifactStoreOptions()));

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private IEnumerable<string> AllFiles() => Directory.EnumerateFiles(_root, "*", SearchOption.AllDirectories);

    [Fact]
    public async Task Write_MatchingDigest_StoresUnderContentAddress()
    {
        var bytes = RandomNumberGenerator.GetBytes(500_000);
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        var result = await _store.WriteAsync(new MemoryStream(bytes), sha, long.MaxValue, default);
        Assert.Equal(BlobWriteStatus.Created, result.Status);
        Assert.Equal(Path.Combine(_root, "artifacts", "sha256", sha[..2], sha), AllFiles().Single());
        Assert.Equal(bytes.Length, await _store.GetSizeAsync(sha, default));
        await using var read = (await _store.OpenReadAsync(sha, default))!;
        Assert.Equal(sha, Convert.ToHexStringLower(await SHA256.HashDataAsync(read)));

        var again = await _store.WriteAsync(new MemoryStream(bytes), sha, long.MaxValue, default);
        Assert.Equal(BlobWriteStatus.AlreadyExists, again.Status);
        Assert.Single(AllFiles());
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task Write_OnLinux_CreatesTheTreeOwnerOnly()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "Unix file modes");
        var bytes = RandomNumberGenerator.GetBytes(1000);
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        await _store.WriteAsync(new MemoryStream(bytes), sha, long.MaxValue, default);
        const UnixFileMode dir = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        foreach (var d in (string[])["artifacts", "artifacts/incoming", "artifacts/sha256", $"artifacts/sha256/{sha[..2]}"])
        {
            Assert.Equal(dir, File.GetUnixFileMode(Path.Combine(_root, d)));
        }
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_root, "artifacts", "sha256", sha[..2], sha)));
    }

    [Fact]
    public async Task Write_Mismatch_OrTooLarge_LeavesNothing()
    {
        var bytes = RandomNumberGenerator.GetBytes(10_000);
        var wrong = Convert.ToHexStringLower(SHA256.HashData([1, 2, 3]));
        var mismatch = await _store.WriteAsync(new MemoryStream(bytes), wrong, long.MaxValue, default);
        Assert.Equal(BlobWriteStatus.DigestMismatch, mismatch.Status);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), mismatch.ActualSha256);
        Assert.Empty(AllFiles());

        var tooLarge = await _store.WriteAsync(new MemoryStream(bytes), Convert.ToHexStringLower(SHA256.HashData(bytes)), 9_999, default);
        Assert.Equal(BlobWriteStatus.TooLarge, tooLarge.Status);
        Assert.Empty(AllFiles());
        Assert.Null(await _store.GetSizeAsync(wrong, default));
    }

    [Fact]
    public async Task Write_ReaderFails_LeavesNothing()
    {
        var sha = new string('a', 64);
        await Assert.ThrowsAsync<IOException>(() => _store.WriteAsync(new FailingStream(), sha, long.MaxValue, default));
        Assert.Empty(AllFiles());
    }

    [Fact]
    public async Task RemoveIncomplete_DeletesLeftoverPartsOnly()
    {
        var bytes = RandomNumberGenerator.GetBytes(100);
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        await _store.WriteAsync(new MemoryStream(bytes), sha, long.MaxValue, default);
        var incoming = Path.Combine(_root, "artifacts", "incoming");
        await File.WriteAllTextAsync(Path.Combine(incoming, "crashed.part"), "half");
        Assert.Equal(1, await _store.RemoveIncompleteAsync(default));
        Assert.Empty(Directory.EnumerateFiles(incoming));
        Assert.Equal(100, await _store.GetSizeAsync(sha, default));
    }

    private sealed class FailingStream : Stream
    {
        private int _reads;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => 0; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) =>
            ++_reads < 3 ? count : throw new IOException("connection reset");
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
