using System.Collections.Concurrent;
using ModelGate.Storage;

namespace ModelGate.Gateway.Onnx;

/// <summary>Loads each ONNX artifact once (verifying its digest) and shares the session; a failed load is retried next time.</summary>
public sealed class OnnxModelCache(IBlobStore blobs) : IDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<Task<OnnxModel>>> _models = new(StringComparer.Ordinal);

    public async Task<OnnxModel> GetAsync(string sha256, CancellationToken cancellationToken)
    {
        var lazy = _models.GetOrAdd(sha256, digest => new Lazy<Task<OnnxModel>>(async () =>
        {
            var model = await OnnxModel.LoadAsync(blobs, digest, CancellationToken.None);
            model.WarmUp();
            return model;
        }));
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
