namespace ModelGate.Storage.Gateway;

/// <summary>One data-plane request, written after the fact in batches.</summary>
public sealed class RequestLogEntity
{
    // Column lengths: the model's one source, also the bounds to which the request log cuts what a client chose.
    public const int RequestIdLength = 64;
    public const int DeploymentLength = 64;
    public const int VersionLength = 128;
    public const int RouteLength = 16;
    public const int PredictionLength = 200;

    public long Id { get; set; }
    public required string RequestId { get; set; }
    public DateTime Time { get; set; }
    public string? KeyId { get; set; }
    public required string Deployment { get; set; }
    public string? Version { get; set; }
    public string? Route { get; set; }
    public required string Protocol { get; set; }
    public int Status { get; set; }
    public double LatencyMs { get; set; }
    public double? UpstreamLatencyMs { get; set; }
    public long? PromptTokens { get; set; }
    public long? CompletionTokens { get; set; }
    /// <summary>Where the token counts come from: <c>upstream</c> (its usage) or <c>tokenizer</c> (counted by the gateway).</summary>
    public string? UsageSource { get; set; }
    /// <summary>For a one-row OIP v2 request to a classifier: the predicted label, which feedback is judged against.</summary>
    public string? Prediction { get; set; }
    public double? Cost { get; set; }
    /// <summary>The request and response bodies with personal data redacted, for the sampled share of requests.</summary>
    public string? Payload { get; set; }
}
