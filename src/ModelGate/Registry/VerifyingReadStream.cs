using System.Security.Cryptography;
using ModelGate.Storage;

namespace ModelGate.Registry;

/// <summary>
/// A blob streamed to a client while it is hashed: the read that would hand over its last bytes first compares the digest and,
/// on a mismatch, aborts the response instead, so a client never receives a complete body that does not hash to its address
/// (the connection is reset short of the Content-Length). A match is remembered, so the next download need not hash again.
/// </summary>
internal sealed class VerifyingReadStream(Stream inner, string digest, BlobStamp stamp, ArtifactIntegrity integrity, HttpContext context) : Stream
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly long _length = stamp.Size;
    private long _position;
    private bool _done;

    public override bool CanRead => true;
    public override bool CanSeek => true; // for the Content-Length only; nothing but the current position can be sought
    public override bool CanWrite => false;
    public override long Length => _length;

    public override long Position
    {
        get => _position;
        set => Seek(value, SeekOrigin.Begin);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = await inner.ReadAsync(buffer, cancellationToken);
        _hash.AppendData(buffer.Span[..read]);
        _position += read;
        if (!_done && (_position >= _length || read == 0))
        {
            _done = true;
            var actual = Convert.ToHexStringLower(_hash.GetHashAndReset());
            // A file that grew or shrank since it was opened is refused too (its Content-Length was sent already).
            if (await integrity.RecordAsync(digest, stamp, actual, CancellationToken.None) != ArtifactState.Intact || _position != _length)
            {
                context.Abort();
                throw new IOException($"artifact {digest} is corrupt: its stored bytes hash to {actual}; the download was aborted");
            }
        }
        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override long Seek(long offset, SeekOrigin origin)
    {
        var target = origin switch { SeekOrigin.Begin => offset, SeekOrigin.Current => _position + offset, _ => _length + offset };
        return target == _position ? _position : throw new NotSupportedException("a verified download is read from start to end");
    }

    public override void Flush()
    {
    }

    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _hash.Dispose();
            inner.Dispose();
        }
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        _hash.Dispose();
        await inner.DisposeAsync();
        await base.DisposeAsync();
    }
}
