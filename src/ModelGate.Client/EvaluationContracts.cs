using System.Text.Json;

namespace ModelGate.Client;

public static class EvaluationStatuses
{
    public const string Queued = "queued";
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";

    public static bool IsTerminal(string status) => status is Succeeded or Failed or Cancelled;
}

/// <summary>
/// A declarative evaluation suite, stored as an artifact so that its digest is recorded with every result.
/// <see cref="Inputs"/> maps a model input to a dataset column (default: the column of the same name).
/// </summary>
/// <remarks>
/// Tasks: <c>classification</c> (CSV, an ONNX version scored in-process; P(positive) is the last column of output
/// <c>probabilities</c>), <c>regression</c> (CSV, ONNX; the prediction is column <see cref="OutputIndex"/> (−1: the last) of
/// <see cref="Output"/>, by default the model's first output), <c>llm-chat</c> (JSONL rows
/// <c>{prompt?, variables?, reference}</c> sent through an OpenAI-compatible upstream with the version's prompt template applied)
/// and <c>safety</c> (the shipped prompt-injection and jailbreak probe set, judged by refusal and secret-leak detectors; no dataset).
/// </remarks>
public sealed record EvaluationSuite(
    string Name,
    string Task,
    SuiteDataset? Dataset = null,
    string? Target = null,
    string PositiveLabel = "1",
    IReadOnlyDictionary<string, string>? Inputs = null,
    IReadOnlyList<string>? Metrics = null,
    double Threshold = 0.5,
    IReadOnlyList<string>? Slices = null,
    string? Sensitive = null,
    IReadOnlyDictionary<string, MetricThreshold>? Thresholds = null,
    int BatchSize = 1024,
    BootstrapSpec? Bootstrap = null,
    bool UseStemmer = false,
    int MaxTokens = 256,
    int Concurrency = 4,
    string? Output = null,
    int OutputIndex = -1,
    JudgeSpec? Judge = null);

/// <summary>
/// An LLM-as-judge for an llm-chat suite: the judge model behind an OpenAI-compatible <see cref="Url"/> (its key is given with
/// the run, as <c>judgeApiKey</c>, never in the suite) or a <see cref="Deployment"/>, and the rubric it scores each answer by. Part of the suite, so part of
/// its digest: a run names exactly the judge and rubric that scored it.
/// </summary>
/// <param name="Criteria">What the judge scores (e.g. "faithful to the ticket, covers the customer's request, at most two sentences").</param>
/// <param name="ScaleMin">The lowest score (default 1).</param>
/// <param name="ScaleMax">The highest score (default 5); <c>judge_score</c> is the mean score mapped to [0, 1].</param>
/// <param name="UseReference">Whether the judge sees the row's human-written reference.</param>
/// <param name="Deployment">Instead of <see cref="Url"/> and <see cref="Model"/>: a deployment of this ModelGate serving a chat model,
/// asked through ModelGate's own data plane with a temporary key scoped to it (no <c>judgeApiKey</c>: the deployment's stored
/// upstream key is used server-side and never shown).</param>
public sealed record JudgeSpec(string? Url, string? Model, string Criteria, int ScaleMin = 1, int ScaleMax = 5, bool UseReference = true,
    string? Deployment = null);

public sealed record SuiteDataset(string Sha256, string Format = "csv");

public sealed record MetricThreshold(double? Min = null, double? Max = null);

public sealed record BootstrapSpec(int Resamples = 1000, double Confidence = 0.95, int Seed = 42);

/// <summary>
/// Starts a run of the suite stored as artifact <see cref="Suite"/>; with <see cref="External"/> it records results computed
/// elsewhere instead. <see cref="Baseline"/> names a version to compare against on the same rows (default: the model's
/// version in stage production, if there is one). For an <c>llm-chat</c> suite the baseline version is run on the same rows through <see cref="BaselineUpstream"/> (default: the
/// same upstream), unless its own stored run of the same suite and dataset has the answers to reuse.
/// </summary>
public sealed record StartEvaluationRequest(string Suite, bool External = false, IReadOnlyDictionary<string, double>? Metrics = null, string? Baseline = null,
    UpstreamTarget? Upstream = null, UpstreamTarget? BaselineUpstream = null, string? JudgeApiKey = null);

/// <summary>
/// The OpenAI-compatible server an LLM version is evaluated through: <see cref="Url"/> is its API base (…/v1).
/// <see cref="ApiKey"/> is used for this run only: it is neither stored nor logged. <see cref="InputPricePer1K"/> and
/// <see cref="OutputPricePer1K"/> (per 1,000 prompt and completion tokens, as in a deployment's upstream) price each row, so that
/// a suite can hold the version to a cost (<c>cost_per_request</c>, <c>cost_per_1k_requests</c>).
/// </summary>
public sealed record UpstreamTarget(string Url, string Model, string? ApiKey = null, double? InputPricePer1K = null, double? OutputPricePer1K = null);

public sealed record EvaluationProgressDto(long RowsTotal, long RowsDone, long RowsFailed, double RowsPerSecond, double? EtaSeconds);

public sealed record EvaluationDto(
    string Id,
    string Model,
    string Version,
    string Suite,
    string? Dataset,
    string Status,
    bool External,
    string Evaluator,
    string? Trainer,
    bool Independent,
    EvaluationProgressDto Progress,
    DateTime CreatedAt,
    DateTime? StartedAt,
    DateTime? FinishedAt,
    JsonElement? Result,
    string? ResultSha256,
    string? Error,
    string? Baseline = null,
    EvidenceIntegrityDto? Integrity = null);
