using System.Collections.Concurrent;
using ModelGate.Registry;
using ModelGate.Storage;

namespace ModelGate.Gateway.Onnx;

/// <summary>
/// Loads each ONNX artifact once (verifying its digest) and shares the session; a failed load is retried next time. A corrupt
/// artifact throws <see cref="ArtifactCorruptException"/>: it is reported to <see cref="ArtifactIntegrity"/> (which raises the
/// alert), and while the file stays as it is, later loads are refused without reading it again.
/// </summary>
public sealed class OnnxModelCache(IBlobStore blobs, ArtifactIntegrity? integrity = null) : IDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<Task<OnnxModel>>> _models = new(StringComparer.Ordinal);

    public async Task<OnnxModel> GetAsync(string sha256, CancellationToken cancellationToken)
    {
        var lazy = _models.GetOrAdd(sha256, digest => new Lazy<Task<OnnxModel>>(() => LoadAsync(digest)));
        try
        {
            return await lazy.Value.WaitAsync(cancellationToken);
        }
        catch (Exception) when (lazy.IsValueCreated && lazy.Value.IsFaulted)
        {
            _models.TryRemove(new KeyValuePair<string, Lazy<Task<OnnxModel>>>(sha256, lazy));
            throw;
        }
    }

    private async Task<OnnxModel> LoadAsync(string digest)
    {
        BlobStamp? stamp = null;
        if (integrity is not null)
        {
            (var known, stamp) = await integrity.KnownAsync(digest, CancellationToken.None);
            if (known == ArtifactState.Corrupt)
            {
                throw new ArtifactCorruptException(digest, "something else (unchanged since it was found corrupt)");
            }
        }
        OnnxModel model;
        try
        {
            model = await OnnxModel.LoadAsync(blobs, digest, CancellationToken.None);
        }
        catch (ArtifactCorruptException e) when (integrity is not null && stamp is not null)
        {
            await integrity.RecordAsync(digest, stamp.Value, e.Actual, CancellationToken.None);
            throw;
        }
        if (integrity is not null && stamp is not null)
        {
            await integrity.RecordAsync(digest, stamp.Value, digest, CancellationToken.None);
        }
        model.WarmUp();
        return model;
    }

    public bool IsLoaded(string sha256) => _models.TryGetValue(sha256, out var lazy) && lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully;

    /// <summary>
    /// Takes a model out of serving: later requests would load it again, so callers first route traffic elsewhere. Requests
    /// already running keep their session; it is disposed after a grace period.
    /// </summary>
    public void Unload(string sha256, TimeSpan grace)
    {
        if (_models.TryRemove(sha256, out var lazy) && lazy.IsValueCreated)
        {
            _ = lazy.Value.ContinueWith(async loaded =>
            {
                if (loaded.IsCompletedSuccessfully)
                {
                    await Task.Delay(grace);
                    loaded.Result.Dispose();
                }
            }, TaskScheduler.Default);
        }
    }

    public void Dispose()
    {
        foreach (var lazy in _models.Values)
        {
            if (lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully)
            {
                lazy.Value.Result.Dispose();
            }
        }
        _models.Clear();
    }
}
