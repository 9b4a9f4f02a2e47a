using System.Collections.Frozen;
using System.IO.Hashing;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using ModelGate.Client;
using ModelGate.Storage;

namespace ModelGate.Gateway;

/// <summary>
/// One version a deployment can route to, with what it takes to serve it: its ONNX artifact, or its upstream (the API
/// key decrypted, in memory only) and its prompt template's renderer.
/// </summary>
public sealed record VersionRoute(string Version, string OnnxSha256, UpstreamRoute? Upstream = null, Registry.PromptRenderer? Prompt = null);

public sealed record UpstreamRoute(Uri BaseUrl, string Model, string? ApiKey, TimeSpan FirstByteTimeout, TimeSpan IdleTimeout, int Retries,
    double? InputPricePer1K = null, double? OutputPricePer1K = null)
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Uri> _uris = new(StringComparer.Ordinal);

    /// <summary>The upstream URL of an OpenAI path, built once per snapshot rather than per request.</summary>
    public Uri UriFor(string path) => _uris.GetOrAdd(path, p => new Uri(BaseUrl, p));

    /// <summary>The <c>Authorization</c> header value, formatted once.</summary>
    public string? Authorization { get; } = ApiKey is null ? null : "Bearer " + ApiKey;

    /// <summary>Which circuit breaker guards this backend (one per URL and model).</summary>
    public string BreakerKey { get; } = BaseUrl + "#" + Model;

    /// <summary><see cref="Model"/> as a JSON string, as it replaces the client's <c>model</c>.</summary>
    public ReadOnlyMemory<byte> EncodedModel { get; } = JsonSerializer.SerializeToUtf8Bytes(Model);

    /// <summary>
    /// The version's endpoints when it has more than this one (its primary endpoints, this one first, and its fallbacks);
    /// null for a version with one endpoint, which is sent to as it always was.
    /// </summary>
    public UpstreamPool? Pool { get; init; }

    /// <summary>This endpoint's circuit breaker (that of its <see cref="BreakerKey"/>), handed over by the snapshot.</summary>
    public CircuitBreakers.Circuit? Circuit { get; init; }

    /// <summary>This endpoint's attempts, failures and circuit refusals, on <c>/metrics</c>.</summary>
    public Telemetry.EndpointCounters? Counters { get; init; }
}

/// <summary>An immutable view of one deployment's routing table, as the data plane reads it.</summary>
public sealed class DeploymentRoute(string name, string environment, string model, int revision, VersionRoute stable,
    IReadOnlyList<(VersionRoute Route, double Weight)> candidates, StickinessSpec? stickiness, (VersionRoute Route, double Percent)? shadow = null)
{
    private readonly (VersionRoute Route, double UpTo)[] _cumulative = Cumulative(candidates);

    public string Name { get; } = name;
    public string Environment { get; } = environment;
    public string Model { get; } = model;
    public int Revision { get; } = revision;
    public VersionRoute Stable { get; } = stable;
    public IReadOnlyList<(VersionRoute Route, double Weight)> Candidates { get; } = candidates;
    public StickinessSpec? Stickiness { get; } = stickiness;
    public (VersionRoute Route, double Percent)? Shadow { get; } = shadow;

    /// <summary>The versions requests may be served by (the shadow version never serves).</summary>
    public IEnumerable<VersionRoute> Versions => [Stable, .. Candidates.Select(c => c.Route)];

    /// <summary>The ONNX artifacts this deployment loads: its routed versions' and its shadow's.</summary>
    public IEnumerable<string> OnnxArtifacts => (Shadow is { } sh ? Versions.Append(sh.Route) : Versions)
        .Where(v => v.Upstream is null && v.OnnxSha256.Length > 0).Select(v => v.OnnxSha256);

    /// <summary>The shadow version, for the share of requests that are mirrored to it.</summary>
    public VersionRoute? ShadowFor() => Shadow is { } s && Random.Shared.NextDouble() * 100 < s.Percent ? s.Route : null;

    /// <summary>
    /// Picks the version for one request: a point in [0, 100) from the sticky key's hash (always the same for the same
    /// key) or at random, against the candidates' cumulative weights; the stable version takes the rest.
    /// </summary>
    public (VersionRoute Route, string Kind) Choose(string? stickyKey)
    {
        if (_cumulative.Length == 0)
        {
            return (Stable, RouteKinds.Stable);
        }
        var point = stickyKey is null
            ? Random.Shared.NextDouble() * 100
            : XxHash3.HashToUInt64(Encoding.UTF8.GetBytes(stickyKey)) % 10_000 / 100.0;
        foreach (var (route, upTo) in _cumulative)
        {
            if (point < upTo)
            {
                return (route, RouteKinds.Canary);
            }
        }
        return (Stable, RouteKinds.Stable);
    }

    private static (VersionRoute, double)[] Cumulative(IReadOnlyList<(VersionRoute Route, double Weight)> candidates)
    {
        var sum = 0.0;
        return candidates.Where(c => c.Weight > 0).Select(c => (c.Route, sum += c.Weight)).ToArray();
    }
}

/// <summary>
/// The data plane's routing tables: an immutable map replaced as a whole, so a request sees one consistent table and a
/// route change never blocks or drops a request. Reloaded at once after a change in this process, and polled so that
/// other replicas' changes arrive within <see cref="PollInterval"/>.
/// </summary>
public sealed partial class RoutingSnapshots(IServiceScopeFactory scopes, Onnx.OnnxModelCache models, Security.SecretProtector secrets,
    Telemetry.EndpointTelemetry endpoints, CircuitBreakers breakers, ILogger<RoutingSnapshots> logger, IOptions<GatewayOptions>? options = null,
    Redis.ClusterPush? push = null) : BackgroundService
{
    public static readonly TimeSpan DefaultPollInterval = TimeSpan.FromSeconds(1);

    /// <summary><see cref="GatewayOptions.RoutingPollInterval"/>: how soon another replica's change arrives without a push.</summary>
    public TimeSpan PollInterval { get; } = options?.Value.RoutingPollInterval ?? DefaultPollInterval;
    private FrozenDictionary<string, DeploymentRoute> _routes = FrozenDictionary<string, DeploymentRoute>.Empty;
    // What the loaded tables were built from: how many deployments, the sum of their revisions (every routing change
    // increments one) and the newest change time. Revisions, not times alone, detect a change: another process's clock
    // may lag, and two changes may fall in one millisecond.
    private (int Count, long Revisions, DateTime Latest) _seen;

    // The poll runs every second for the life of the process: compiled once, it skips EF Core's per-execution walk of the
    // expression tree (parameters, cache key), whose code would otherwise be among the hottest in an idle replica.
    // Per instance, not static: a compiled query belongs to one provider's model.
    private readonly Func<ModelGateDbContext, CancellationToken, Task<PollState?>> _poll = EF.CompileAsyncQuery(
        (ModelGateDbContext db, CancellationToken _) => db.Deployments.GroupBy(_ => 1)
            .Select(g => new PollState(g.Count(), g.Sum(d => (long)d.Revision), g.Max(d => d.UpdatedAt)))
            .SingleOrDefault()); // one group, or none without deployments

    private sealed record PollState(int Count, long Revisions, DateTime Latest);
    private readonly SemaphoreSlim _reload = new(1, 1);

    public DeploymentRoute? Find(string name) => Volatile.Read(ref _routes).GetValueOrDefault(name);

    public IEnumerable<DeploymentRoute> All => Volatile.Read(ref _routes).Values;

    public bool Loaded { get; private set; }

    /// <summary>
    /// For the readiness endpoints: the first ONNX artifact routed by <paramref name="name"/> (or by any deployment) whose stored
    /// bytes no longer hash to its digest, or null. A stat per artifact; the bytes are hashed again only when the file changed.
    /// </summary>
    public Task<string?> FirstCorruptArtifactAsync(Registry.ArtifactIntegrity integrity, string? name, CancellationToken cancellationToken) =>
        integrity.FirstCorruptAsync((name is null ? All : Find(name) is { } d ? [d] : []).SelectMany(d => d.OnnxArtifacts).Distinct(), cancellationToken);

    /// <summary>After a committed routing change of <paramref name="deployment"/>: reloads here, and (with Redis) tells the other replicas.</summary>
    public async Task ChangedAsync(string deployment, CancellationToken cancellationToken)
    {
        await ReloadAsync(cancellationToken);
        push?.RoutingChanged(deployment);
    }

    public Task ReloadAsync(CancellationToken cancellationToken) => ReloadAsync(onlyIfChanged: false, cancellationToken);

    /// <summary>
    /// Builds the tables from the store. With <paramref name="onlyIfChanged"/> (the poll) it first compares the store's state with
    /// what the loaded tables were built from, under the same lock as the reload: a poll that read the state just before a
    /// change whose own reload then ran would otherwise load the same tables again, restarting every endpoint pool's rotation.
    /// </summary>
    private async Task ReloadAsync(bool onlyIfChanged, CancellationToken cancellationToken)
    {
        await _reload.WaitAsync(cancellationToken);
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<ModelGateDbContext>();
            if (onlyIfChanged && Loaded)
            {
                var state = await _poll(db, cancellationToken);
                if ((state is null ? default : (state.Count, state.Revisions, state.Latest)) == _seen)
                {
                    return;
                }
            }
            var deployments = await db.Deployments.AsNoTracking().ToListAsync(cancellationToken);
            var modelIds = deployments.Select(d => d.ModelId).Distinct().ToList();
            var artifacts = await db.ModelVersions.AsNoTracking().Where(v => modelIds.Contains(v.ModelId))
                .SelectMany(v => v.Artifacts.Where(a => a.MediaType == "application/onnx" || a.FileName.EndsWith(".onnx")),
                    (v, a) => new { v.ModelId, v.Version, a.Sha256 })
                .ToListAsync(cancellationToken);
            var onnx = artifacts.GroupBy(a => (a.ModelId, a.Version)).ToDictionary(g => g.Key, g => g.First().Sha256);
            var prompts = (await db.ModelVersions.AsNoTracking().Where(v => modelIds.Contains(v.ModelId))
                    .Select(v => new { v.ModelId, v.Version, v.Attestation }).ToListAsync(cancellationToken))
                .ToDictionary(v => (v.ModelId, v.Version), v => Registry.PromptRenderer.For(Registry.RegistryMapping.ReadAttestation(v.Attestation).PromptTemplate));
            var routes = new Dictionary<string, DeploymentRoute>(StringComparer.Ordinal);
            foreach (var d in deployments)
            {
                var table = JsonSerializer.Deserialize<RoutingTable>(d.Routing, ModelGateJson.Options)!;
                VersionRoute Route(string version) => new(version, onnx.GetValueOrDefault((d.ModelId, version), ""),
                    table.Backend == "upstream" && table.Upstreams?.GetValueOrDefault(version) is { } u ? Upstream(d.Name, version, u) : null,
                    prompts.GetValueOrDefault((d.ModelId, version)));
                routes[d.Name] = new DeploymentRoute(d.Name, d.Environment, d.Model, d.Revision, Route(table.Stable),
                    (table.Candidates ?? []).Select(c => (Route(c.Version), c.Weight)).ToList(), table.Stickiness,
                    table.Shadow is { } shadow ? (Route(shadow.Version), shadow.Percent) : null);
            }
            // Load and warm every routed model before the new table is visible, so no request waits for a load.
            foreach (var sha in routes.Values.SelectMany(r => r.OnnxArtifacts).Distinct())
            {
                try
                {
                    await models.GetAsync(sha, cancellationToken);
                }
                catch (Exception e) when (e is Registry.ArtifactCorruptException or InvalidDataException or FileNotFoundException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
                {
                    LogLoadFailed(logger, e, sha);
                }
            }
            Volatile.Write(ref _routes, routes.ToFrozenDictionary(StringComparer.Ordinal));
            endpoints.Retain(routes.Values.SelectMany(r => r.Shadow is { } sh ? r.Versions.Append(sh.Route) : r.Versions)
                .SelectMany(v => v.Upstream?.Pool is { } pool ? [.. pool.Primaries, .. pool.Fallbacks] : v.Upstream is { } one ? [one] : Array.Empty<UpstreamRoute>())
                .Select(e => e.Counters!));
            _seen = (deployments.Count, deployments.Sum(d => (long)d.Revision), deployments.Count == 0 ? default : deployments.Max(d => d.UpdatedAt));
            Loaded = true;
        }
        finally
        {
            _reload.Release();
        }
    }

    /// <summary>
    /// A version's upstream as the data plane sends to it: its first primary endpoint, carrying the pool of all its endpoints
    /// when it has more than one (or fallbacks). Timeouts, retries and prices are the version's, the same on every endpoint.
    /// </summary>
    private UpstreamRoute Upstream(string deployment, string version, UpstreamBackend upstream)
    {
        UpstreamRoute Endpoint(string list, int index, UpstreamEndpoint e)
        {
            var url = new Uri(e.Url.TrimEnd('/') + "/");
            var route = new UpstreamRoute(url, e.Model ?? upstream.Model, e.ApiKey is null ? null : secrets.Unprotect(e.ApiKey),
                TimeSpan.FromSeconds(upstream.FirstByteTimeoutSeconds), TimeSpan.FromSeconds(upstream.IdleTimeoutSeconds), upstream.Retries,
                upstream.InputPricePer1K, upstream.OutputPricePer1K);
            return route with
            {
                Circuit = breakers.For(route.BreakerKey),
                Counters = endpoints.For(deployment, version, list, index, url.Authority, route.BreakerKey),
            };
        }
        var listed = UpstreamBinding.Listed(upstream).ToList();
        var primaries = listed.Where(l => l.List == UpstreamBinding.Primary).Select(l => (Endpoint(l.List, l.Index, l.Endpoint), l.Endpoint.Weight ?? 1)).ToList();
        var fallbacks = listed.Where(l => l.List == UpstreamBinding.Fallback).Select(l => Endpoint(l.List, l.Index, l.Endpoint)).ToList();
        if (primaries.Count == 1 && fallbacks.Count == 0)
        {
            return primaries[0].Item1;
        }
        var pool = new UpstreamPool(primaries, fallbacks);
        // The first primary endpoint stands for the version (its prices, timeouts) and carries the pool.
        var first = primaries[0].Item1 with { Pool = pool };
        pool.Primaries[0] = first;
        return first;
    }

    /// <summary>
    /// Loads the routing tables before the server listens: a replica started (or restarted) on a store with deployments
    /// must not answer their first requests with "no deployment". A failed first load is logged, and polling retries it.
    /// </summary>
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await ReloadAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogReloadFailed(logger, e);
        }
        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(PollInterval);
        try
        {
            await PollAsync(timer, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping (or a start that failed, where the host disposes the service without stopping it): not a fault.
        }
    }

    private async Task PollAsync(PeriodicTimer timer, CancellationToken stoppingToken)
    {
        do
        {
            try
            {
                await ReloadAsync(onlyIfChanged: true, stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogReloadFailed(logger, e);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Model artifact {Sha256} could not be loaded for serving")]
    private static partial void LogLoadFailed(ILogger logger, Exception exception, string sha256);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reloading routing tables failed; the previous tables stay in force")]
    private static partial void LogReloadFailed(ILogger logger, Exception exception);
}
