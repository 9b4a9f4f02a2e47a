using ModelGate.Client;

namespace ModelGate.Lifecycle.Cards;

/// <summary>The version a card describes, with what the model contributes (owner, licence, task, risk tier).</summary>
public sealed record CardSubject(
    string Model,
    string Version,
    string Owner,
    string Task,
    string RiskTier,
    string? License,
    string Stage,
    IReadOnlyList<ArtifactRef> Artifacts,
    Attestation Attestation,
    string? Description = null)
{
    public static CardSubject From(ModelDto model, ModelVersionDto version) =>
        new(model.Name, version.Version, model.Owner, model.Task, model.RiskTier, model.License, version.Stage, version.Artifacts,
            version.Attestation, version.Description ?? model.Description);
}

/// <summary>One metric value, with its confidence interval when the evaluation computed one.</summary>
public sealed record CardMetricValue(double Value, double? Lower = null, double? Upper = null);

/// <summary>
/// What a card shows of one evaluation: its headline metrics, and optionally metrics per slice (slice names such as
/// <c>sex=Female</c>, then metric name → value).
/// </summary>
public sealed record CardEvaluationSummary(
    string Id,
    string Suite,
    IReadOnlyDictionary<string, CardMetricValue> Metrics,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, CardMetricValue>>? Slices = null,
    string? DatasetSha256 = null,
    bool? Passed = null);
