using System.ComponentModel.DataAnnotations;

namespace ModelGate.Gateway;

/// <summary>Section <c>Gateway</c>.</summary>
public sealed class GatewayOptions
{
    public const string Section = "Gateway";

    /// <summary>Request-log records held in memory before the writer takes them; past it, records are dropped and counted.</summary>
    [Range(1, 10_000_000)]
    public int RequestLogCapacity { get; set; } = 50_000;

    [Range(1, 100_000)]
    public int RequestLogBatchSize { get; set; } = 1_000;

    /// <summary>How often a replica asks the store whether routing changed (the fallback when no change is pushed through Redis).</summary>
    public TimeSpan RoutingPollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long the writer lets records gather before it writes a batch (shorter than a full batch takes to fill).</summary>
    public TimeSpan RequestLogFlushInterval { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Share of requests whose (redacted) payloads are kept, 0–1.</summary>
    [Range(0.0, 1.0)]
    public double PayloadSampleRate { get; set; }

    /// <summary>
    /// Whether the data plane records what it serves: the request log, per-version telemetry and sampled inputs for drift.
    /// Off only to measure what monitoring costs on the hot path; accounting, limits and routing stay on.
    /// </summary>
    public bool Monitoring { get; set; } = true;

    /// <summary>Telemetry series (deployment × version × route) kept in memory; past it, new series are not recorded but counted.</summary>
    [Range(1, 100_000)]
    public int TelemetryMaxSeries { get; set; } = 1_000;

    /// <summary>Share of inference requests whose inputs are kept for the drift monitor, 0–1.</summary>
    [Range(0.0, 1.0)]
    public double InputSampleRate { get; set; } = 1.0;

    /// <summary>
    /// Share of OpenAI-compatible exchanges whose prompt and completion lengths are sampled, 0–1. Lower than the tensor
    /// rate by default: measuring a completion means parsing the response once more, and lengths need few samples.
    /// </summary>
    [Range(0.0, 1.0)]
    public double ChatSampleRate { get; set; } = 0.1;

    /// <summary>Sampled input rows kept per deployment version (the most recent ones).</summary>
    [Range(1, 10_000_000)]
    public int InputSampleCapacity { get; set; } = 10_000;

    /// <summary>
    /// Completion tokens reserved against a key's token limit and budget for a request that sets neither
    /// <c>max_completion_tokens</c> nor <c>max_tokens</c>. The reservation is settled with the real usage once the answer is in.
    /// </summary>
    [Range(0, 10_000_000)]
    public int DefaultCompletionReservation { get; set; } = 1_024;

    /// <summary>How long request-log records are kept.</summary>
    public TimeSpan RequestLogRetention { get; set; } = TimeSpan.FromDays(30);
}
