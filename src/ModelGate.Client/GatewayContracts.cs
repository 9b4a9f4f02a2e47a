using System.Text.Json.Serialization;

namespace ModelGate.Client;

public static class DeploymentEnvironments
{
    public const string Development = "development";
    public const string Staging = "staging";
    public const string Production = "production";
    public static readonly IReadOnlyList<string> All = [Development, Staging, Production];
}

public static class RouteKinds
{
    public const string Stable = "stable";
    public const string Canary = "canary";
    public const string Pinned = "pinned";
    public const string Fallback = "fallback";
    public const string Shadow = "shadow";

    /// <summary>
    /// A chosen version's attempt that failed (an error status, or no answer) and that the stable version answered instead
    /// (its record has the same request id and route <see cref="Fallback"/>): the failed version's error, not the client's.
    /// </summary>
    public const string FailedAttempt = "failed_attempt";

    /// <summary>Routes whose records say what a client was answered: all but <see cref="Shadow"/> copies and <see cref="FailedAttempt"/>s.</summary>
    public static bool Served(string? route) => route is not (Shadow or FailedAttempt);
}

/// <summary>A candidate version and the percentage of traffic (0–100) it receives; the stable version gets the rest.</summary>
public sealed record CandidateRoute(string Version, double Weight);

/// <summary>Sticky routing: the same header value (or OpenAI <c>user</c>) always reaches the same version.</summary>
public sealed record StickinessSpec(string? Header = null, bool User = false);

/// <summary>
/// How an <c>upstream</c> version is reached: an OpenAI-compatible API base (…/v1) and the model name there — one
/// <see cref="Url"/>, or several <see cref="Endpoints"/> that share its load by weight, and <see cref="Fallbacks"/> tried in
/// order when none of them answers. <see cref="ApiKey"/> is write-only: it is stored encrypted and never returned
/// (<see cref="HasApiKey"/> says whether one is set).
/// </summary>
/// <remarks>
/// The key is bound to the URL it was given with. In a change of routing, <c>"apiKey": "…"</c> sets a new key,
/// <c>"apiKey": null</c> drops the key, and leaving <c>apiKey</c> out keeps the stored key only while the URL's scheme,
/// host, port and path stay the same (otherwise the change is refused: 422 <c>upstream_key_required</c>). Each endpoint's
/// key is bound to its own URL by the same rule.
/// </remarks>
/// <param name="Url">The one endpoint's URL; null when <see cref="Endpoints"/> are given instead.</param>
/// <param name="Model">The model name at the upstream (the default of endpoints that name none).</param>
/// <param name="InputPricePer1K">Price per 1,000 prompt tokens (any currency, used consistently); null: not priced.</param>
/// <param name="OutputPricePer1K">Price per 1,000 completion tokens.</param>
/// <param name="Endpoints">Several endpoints serving the version, chosen by weight (instead of <see cref="Url"/>).</param>
/// <param name="Fallbacks">Endpoints tried one after the other, in order, when the primary endpoints did not answer.</param>
public sealed record UpstreamBackend([property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Url, string Model, string? ApiKey = null, bool HasApiKey = false, double FirstByteTimeoutSeconds = 60,
    double IdleTimeoutSeconds = 60, int Retries = 1, double? InputPricePer1K = null, double? OutputPricePer1K = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<UpstreamEndpoint>? Endpoints = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<UpstreamEndpoint>? Fallbacks = null) : IWriteOnlyApiKey
{
    /// <summary>Read from JSON: <see cref="ApiKey"/> is set only when the document has the property (null included).</summary>
    [JsonConstructor]
    private UpstreamBackend(string? url, string model, bool hasApiKey = false, double firstByteTimeoutSeconds = 60, double idleTimeoutSeconds = 60,
        int retries = 1, double? inputPricePer1K = null, double? outputPricePer1K = null, IReadOnlyList<UpstreamEndpoint>? endpoints = null,
        IReadOnlyList<UpstreamEndpoint>? fallbacks = null)
        : this(url, model, null, hasApiKey, firstByteTimeoutSeconds, idleTimeoutSeconds, retries, inputPricePer1K, outputPricePer1K, endpoints, fallbacks) =>
        ApiKeyGiven = false;

    private readonly string? _apiKey = ApiKey;

    /// <summary>
    /// Left out when null, except by <see cref="ModelGateJson.Options"/> (the client's), which also writes it when it was
    /// given as null (<c>"apiKey": null</c>: drop the stored key).
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ApiKey
    {
        get => _apiKey;
        init
        {
            _apiKey = value;
            ApiKeyGiven = true;
        }
    }

    /// <summary>
    /// Whether <see cref="ApiKey"/> was given (a key, or null to drop the stored one) rather than left out (keep the stored
    /// key if the URL did not move). Never serialized.
    /// </summary>
    [JsonIgnore]
    public bool ApiKeyGiven { get; init; } = ApiKey is not null;

    /// <summary>The serializer's rule for <see cref="ApiKey"/> (a contract modifier of <see cref="ModelGateJson.Options"/>).</summary>
    internal static void WriteApiKeyWhenGiven(System.Text.Json.Serialization.Metadata.JsonTypeInfo info)
    {
        if (info.Type != typeof(UpstreamBackend) && info.Type != typeof(UpstreamEndpoint))
        {
            return;
        }
        foreach (var property in info.Properties)
        {
            if (property.Name == "apiKey")
            {
                property.ShouldSerialize = static (owner, value) => value is not null || ((IWriteOnlyApiKey)owner).ApiKeyGiven;
            }
        }
    }
}

/// <summary>What <see cref="UpstreamBackend"/> and <see cref="UpstreamEndpoint"/> share: a write-only key, and whether one was given.</summary>
public interface IWriteOnlyApiKey
{
    string? ApiKey { get; }
    bool ApiKeyGiven { get; }
}

/// <summary>
/// One endpoint of an upstream with several (<see cref="UpstreamBackend.Endpoints"/> or <see cref="UpstreamBackend.Fallbacks"/>):
/// its URL, its model name when it differs from the upstream's, its API key (write-only, bound to this URL like an upstream's),
/// and, among the primary endpoints, its share of the load (<see cref="Weight"/>, relative to the others'; default 1).
/// </summary>
public sealed record UpstreamEndpoint(string Url, [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Model = null,
    string? ApiKey = null, bool HasApiKey = false, [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? Weight = null)
    : IWriteOnlyApiKey
{
    /// <summary>Read from JSON: <see cref="ApiKey"/> is set only when the document has the property (null included).</summary>
    [JsonConstructor]
    private UpstreamEndpoint(string url, string? model = null, bool hasApiKey = false, double? weight = null)
        : this(url, model, null, hasApiKey, weight) => ApiKeyGiven = false;

    private readonly string? _apiKey = ApiKey;

    /// <summary>As <see cref="UpstreamBackend.ApiKey"/>: left out when null, except when given as null by the client.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ApiKey
    {
        get => _apiKey;
        init
        {
            _apiKey = value;
            ApiKeyGiven = true;
        }
    }

    /// <summary>Whether <see cref="ApiKey"/> was given (a key, or null to drop the stored one). Never serialized.</summary>
    [JsonIgnore]
    public bool ApiKeyGiven { get; init; } = ApiKey is not null;
}

/// <summary>Totals over the request log, grouped as asked.</summary>
public sealed record UsageRowDto(string? Key, string? Deployment, string? Version, long Requests, long Errors, long PromptTokens, long CompletionTokens,
    double Cost, double MeanLatencyMs);

public sealed record UsageDto(IReadOnlyList<UsageRowDto> Rows, long DroppedRecords);

/// <summary>
/// A deployment's routing table. <see cref="Backend"/> is <c>onnx</c> (each version's ONNX artifact, in-process, served by
/// Open Inference Protocol v2) or <c>upstream</c> (each version forwarded to its entry in <see cref="Upstreams"/>, keyed
/// by version, through the OpenAI-compatible API).
/// </summary>
public sealed record RoutingTable(string Stable, IReadOnlyList<CandidateRoute>? Candidates = null, StickinessSpec? Stickiness = null, string Backend = "onnx",
    IReadOnlyDictionary<string, UpstreamBackend>? Upstreams = null, ShadowRoute? Shadow = null);

/// <summary>A version that receives a copy of <see cref="Percent"/> % of requests; its answers are compared offline, never served.</summary>
public sealed record ShadowRoute(string Version, double Percent);

public sealed record CreateDeploymentRequest(string Name, string Environment, string Model, RoutingTable Routing);

public sealed record DeploymentDto(string Name, string Environment, string Model, RoutingTable Routing, int Revision,
    DateTime CreatedAt, string CreatedBy, DateTime UpdatedAt, string UpdatedBy);

/// <summary>
/// What one deployment × version × route series did over a window. Error rate counts 5xx (server-side) only.
/// ONNX classifiers: <see cref="Predictions"/> (rows scored), <see cref="PositiveRate"/> and <see cref="MeanScore"/> (of the
/// positive-class probability; binary classifiers only, else null), <see cref="InvalidOutputs"/> (rows whose output was not a
/// prediction). Shadow series: <see cref="Compared"/> rows compared with the stable version's answer to the same request, the
/// share with the same label (<see cref="Agreement"/>) and the mean |Δp| of the positive-class probability.
/// <see cref="Business"/>: named business metrics from feedback (count, sum, mean), null when none arrived.
/// <see cref="Fallbacks"/>: attempts on this version that failed and that the stable version answered instead (each also
/// counted in <see cref="Requests"/> and <see cref="Errors"/>). <see cref="FirstByteP50Ms"/>/<see cref="FirstByteP99Ms"/>:
/// time from sending to an upstream until the first byte of its successful answer (of a stream: its first chunk).
/// </summary>
public sealed record SeriesMetrics(
    string Deployment,
    string Version,
    string Route,
    long Requests,
    IReadOnlyDictionary<string, long> Errors,
    double? ErrorRate,
    double? LatencyP50Ms,
    double? LatencyP95Ms,
    double? LatencyP99Ms,
    double? LatencyMeanMs,
    long PromptTokens,
    long CompletionTokens,
    double Cost,
    double RequestsPerSecond,
    long FeedbackCount,
    double? FeedbackMean,
    long Predictions = 0,
    double? PositiveRate = null,
    double? MeanScore = null,
    long InvalidOutputs = 0,
    long Compared = 0,
    double? Agreement = null,
    double? MeanAbsDeltaP = null,
    IReadOnlyDictionary<string, BusinessMetric>? Business = null,
    long Fallbacks = 0,
    double? FirstByteP50Ms = null,
    double? FirstByteP99Ms = null);

/// <summary>One named business metric of a series over a window: how many values arrived, their sum and mean.</summary>
public sealed record BusinessMetric(long Count, double Sum, double Mean);

public sealed record DeploymentMetricsDto(string Deployment, string Window, DateTime From, DateTime To, IReadOnlyList<SeriesMetrics> Series);

public sealed record RollbackRequest(string? Reason = null);

/// <summary>
/// Feedback on a served request (by its <c>x-modelgate-request-id</c>): a true label, a score in [0, 1], a comment, and/or a
/// named business metric with its value (<c>metric</c> matches <c>^[a-z][a-z0-9_]{0,63}$</c>; <c>value</c> a finite number).
/// </summary>
public sealed record FeedbackRequest(string RequestId, string? Label = null, double? Score = null, string? Comment = null, string? Metric = null,
    double? Value = null);

public sealed record FeedbackDto(long Id, string RequestId, string Deployment, string? Version, string? Route, string? Label, string? Prediction, double? Score,
    string? Comment, DateTime Time, string? Metric = null, double? Value = null);
