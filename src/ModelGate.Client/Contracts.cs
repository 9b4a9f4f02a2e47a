using System.Text.Json;
using System.Text.Json.Serialization;

namespace ModelGate.Client;

public static class RiskTiers
{
    public const string Low = "low";
    public const string Medium = "medium";
    public const string High = "high";
    public static readonly IReadOnlyList<string> All = [Low, Medium, High];
}

public static class ModelTasks
{
    public static readonly IReadOnlyList<string> All = ["classification", "regression", "llm-chat", "embedding", "other"];
}

public static class Stages
{
    public const string Trained = "trained";
    public const string Evaluated = "evaluated";
    public const string Registered = "registered";
    public const string Staging = "staging";
    public const string Production = "production";
    public const string Retired = "retired";
    public const string Rejected = "rejected";
}

public static class Roles
{
    public const string Viewer = "viewer";
    public const string Trainer = "trainer";
    public const string Evaluator = "evaluator";
    public const string MlLead = "ml-lead";
    public const string ProductOwner = "product-owner";
    public const string RiskCommittee = "risk-committee";
    public const string Deployer = "deployer";
    public const string Admin = "admin";
    public static readonly IReadOnlyList<string> All = [Viewer, Trainer, Evaluator, MlLead, ProductOwner, RiskCommittee, Deployer, Admin];
}

public sealed record CreateModelRequest(
    string Name,
    string Owner,
    string RiskTier,
    string Task,
    string? License = null,
    string? Description = null,
    IReadOnlyList<string>? Tags = null);

/// <summary>A model update: its owner, its risk tier (lowering it takes the tier authority's floor approval); a field left out is unchanged.</summary>
public sealed record UpdateModelRequest(string? Owner = null, string? RiskTier = null);

public sealed record ModelDto(
    string Name,
    string Owner,
    string RiskTier,
    string Task,
    string? License,
    string? Description,
    IReadOnlyList<string> Tags,
    DateTime CreatedAt,
    string CreatedBy,
    string? LatestVersion,
    int VersionCount);

public sealed record ArtifactRef(string Sha256, string FileName, string? MediaType = null, long? Size = null);

public sealed record DatasetRef(string Name, string? Uri, string Sha256);

public sealed record CodeRef(string Repo, string Commit);

public sealed record EnvironmentRef(string? Image = null, IReadOnlyDictionary<string, string>? Packages = null);

public sealed record PromptTemplate(string? System = null, string? Template = null, IReadOnlyList<string>? Variables = null);

public sealed record LogSummary(int Errors = 0, int Warnings = 0, IReadOnlyList<string>? Lines = null);

/// <summary>The training-run record of a version.</summary>
/// <param name="ServingConfig">How the version is served (batching, temperature, thresholds…): a change is a patch.</param>
/// <param name="Derivation">Set when the version is a quantised or distilled build of another version of the same model.</param>
public sealed record Attestation(
    IReadOnlyList<DatasetRef>? Datasets = null,
    CodeRef? Code = null,
    EnvironmentRef? Environment = null,
    string? Architecture = null,
    string? BaseModel = null,
    IReadOnlyDictionary<string, JsonElement>? Hyperparameters = null,
    PromptTemplate? PromptTemplate = null,
    IReadOnlyDictionary<string, double>? Metrics = null,
    LogSummary? LogSummary = null,
    string? Trainer = null,
    DateTimeOffset? StartedAt = null,
    DateTimeOffset? FinishedAt = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyDictionary<string, JsonElement>? ServingConfig = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Derivation? Derivation = null);

/// <summary>
/// A version made from another version of the same model without retraining it: <see cref="Kind"/> is
/// <c>quantization</c> or <c>distillation</c>, <see cref="From"/> the source version, <see cref="Method"/> how (<c>q4</c>, <c>int8</c>…).
/// Such a version needs only a qualifier (<c>1.0.0-q4</c> from <c>1.0.0</c>).
/// </summary>
public sealed record Derivation(string Kind, string From, string? Method = null);

public static class DerivationKinds
{
    public const string Quantization = "quantization";
    public const string Distillation = "distillation";
    public static readonly IReadOnlyList<string> All = [Quantization, Distillation];
}

public sealed record CreateVersionRequest(
    string Version,
    IReadOnlyList<ArtifactRef> Artifacts,
    Attestation Attestation,
    string? Description = null);

public sealed record ModelVersionDto(
    string Model,
    string Version,
    string Stage,
    DateTime StageChangedAt,
    IReadOnlyList<ArtifactRef> Artifacts,
    Attestation Attestation,
    string AttestationSha256,
    string? Description,
    DateTime CreatedAt,
    string CreatedBy);

public sealed record ArtifactDto(string Sha256, long Size, DateTime CreatedAt, string CreatedBy, bool Created);

public sealed record LineageDto(
    string Model,
    string Version,
    IReadOnlyList<DatasetRef> Datasets,
    CodeRef? Code,
    string? BaseModel,
    IReadOnlyList<ArtifactRef> Artifacts,
    string? Trainer);

public sealed record VersionRefDto(string Model, string Version, string Stage);

public sealed record PageDto<T>(IReadOnlyList<T> Items, int Total, int Offset, int Limit);

public sealed record AuditEventDto(
    long Sequence,
    DateTime Time,
    string Actor,
    string Action,
    string Subject,
    JsonElement Details,
    string Outcome,
    string PreviousHash,
    string Hash);

/// <param name="HeadSequence">The newest event in the store.</param>
/// <param name="HighWaterSequence">The newest sequence ever written (kept beside the events; ahead of the head after a truncation).</param>
/// <param name="KeyedFrom">The first event of the keyed (HMAC) chain: 1 on a store created keyed, the re-anchor event on an older store.</param>
/// <param name="Checkpoints">What the signed checkpoints say, when any were given or configured.</param>
/// <param name="CheckpointPublicKey">Base64 of the Ed25519 key that verifies the server's checkpoints.</param>
/// <param name="Evidence">The evidence records (evaluations, staging verifications, approvals, cards) re-verified against their audit events.</param>
public sealed record AuditVerifyDto(bool Valid, long Checked, long? FirstBrokenSequence, string? Reason, string? HeadHash,
    long? HeadSequence = null, long? HighWaterSequence = null, long? KeyedFrom = null, AuditCheckpointReportDto? Checkpoints = null,
    string? CheckpointPublicKey = null, AuditEvidenceReportDto? Evidence = null);

/// <param name="Checked">Evidence records checked.</param>
/// <param name="Failed">Records that do not verify.</param>
/// <param name="Records">The first failing records (at most 100).</param>
public sealed record AuditEvidenceReportDto(long Checked, long Failed, IReadOnlyList<EvidenceIntegrityDto> Records);

/// <summary>
/// Whether an evidence record (an evaluation, a staging verification, an approval, a model card) still verifies: its content hashes
/// to the hash recorded when it was written, and the keyed audit event written with it carries that hash for this record.
/// </summary>
/// <param name="Kind">evaluation, staging_verification, approval or card; in <c>audit verify</c> also policy (a stored revision a gate applies) and risk_tier (a model's tier).</param>
/// <param name="Id">The record's id (a card: its version's row id; a policy: "scope rN"; a risk tier: the model).</param>
/// <param name="Failure">Null when verified; else unhashed, content_changed, audit_event_missing, audit_event_altered, audit_event_mismatch, chain_broken or record_missing (a keyed audit event records it, the store no longer holds it).</param>
/// <param name="Expected">What a verified record would show.</param>
/// <param name="Actual">What was found.</param>
public sealed record EvidenceIntegrityDto(string Kind, string Id, bool Verified, string? Failure = null, string? Expected = null, string? Actual = null);

/// <summary>
/// One line of the checkpoint sink: the chain's head at <paramref name="Time"/>, signed with Ed25519 over
/// <c>modelgate-audit-checkpoint/v1\n{sequence}\n{hash}\n{time as yyyy-MM-ddTHH:mm:ss.fffZ}</c> (UTF-8).
/// </summary>
public sealed record AuditCheckpointDto(long Sequence, string Hash, DateTimeOffset Time, string PublicKey, string Signature);

/// <param name="Source">The file checked, or <c>request</c> for checkpoints sent with the request.</param>
/// <param name="Count">Checkpoint lines read.</param>
/// <param name="ValidSignatures">Lines whose signature holds under the server's public key.</param>
/// <param name="BadLines">Line numbers (1-based) that do not parse or whose signature does not hold.</param>
/// <param name="Last">The newest checkpoint with a valid signature: the head the store must still reach.</param>
public sealed record AuditCheckpointReportDto(string Source, int Count, int ValidSignatures, IReadOnlyList<int> BadLines, AuditCheckpointDto? Last);

/// <summary>Checkpoint lines (as in the sink) to verify the store against.</summary>
public sealed record AuditVerifyRequest(IReadOnlyList<string> Checkpoints);

public sealed record AuditCheckpointKeyDto(string Algorithm, string PublicKey);

/// <param name="Deployments">Data-plane scope: the deployments the key may call (null: all).</param>
/// <param name="RequestsPerMinute">Data-plane rate limit (null: none); past it, 429 with Retry-After.</param>
/// <param name="AllowPinning">Whether the key may pin versions (<c>deployment@version</c>).</param>
/// <param name="TokensPerMinute">Data-plane tokens per minute, counted from the upstream's usage (null: none).</param>
/// <param name="CostBudget">The most the key may spend in total, priced by the versions' price tables (null: none).</param>
/// <param name="Principal">The principal (id or identity) the key acts for; it must hold every role given to the key. Left out: the
/// key is its own service principal (same id), holding the key's roles.</param>
public sealed record CreateKeyRequest(string Name, IReadOnlyList<string> Roles, DateTimeOffset? ExpiresAt = null,
    IReadOnlyList<string>? Deployments = null, int? RequestsPerMinute = null, bool AllowPinning = true, int? TokensPerMinute = null,
    double? CostBudget = null, string? Principal = null);

public sealed record ApiKeyDto(
    string Id,
    string Name,
    string Prefix,
    IReadOnlyList<string> Roles,
    DateTime CreatedAt,
    string CreatedBy,
    DateTime? ExpiresAt,
    DateTime? RevokedAt,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Key = null,
    IReadOnlyList<string>? Deployments = null,
    int? RequestsPerMinute = null,
    bool AllowPinning = true,
    int? TokensPerMinute = null,
    double? CostBudget = null,
    string? Principal = null);

/// <summary>An RFC 9457 problem as ModelGate writes it.</summary>
public sealed record ProblemDto(
    string? Type,
    string? Title,
    int? Status,
    string? Detail,
    string? Code,
    IReadOnlyDictionary<string, string[]>? Errors = null,
    IReadOnlyList<GateCheck>? Checks = null)
{
    /// <summary>The problem's other members (e.g. <c>change</c> and <c>authority</c> of <c>policy_below_floor</c>), kept as they came.</summary>
    [System.Text.Json.Serialization.JsonExtensionData]
    public Dictionary<string, JsonElement>? Extensions { get; init; }
}

public static class ModelGateJson
{
    public static readonly JsonSerializerOptions Options = Create();

    private static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            DefaultIgnoreCondition = JsonIgnoreCondition.Never,
            TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver { Modifiers = { UpstreamBackend.WriteApiKeyWhenGiven } },
        };
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}

/// <summary>
/// What changed from one version to another (<c>GET /api/v1/models/{model}/versions/{from}/diff/{to}</c>): the prompt text, the
/// attestation field by field, the artifacts, and the version bump those changes need against the one the numbers make.
/// </summary>
public sealed record VersionDiffDto(string Model, string From, string To, PromptDiffDto Prompt, IReadOnlyList<AttestationChangeDto> Attestation,
    ArtifactsDiffDto Artifacts, VersionBumpDto Versioning);

/// <summary>
/// The prompt template's change: <see cref="System"/> and <see cref="Template"/> are line diffs (each line prefixed with
/// <c>"  "</c> unchanged, <c>"- "</c> removed or <c>"+ "</c> added), null when that text is the same in both.
/// </summary>
public sealed record PromptDiffDto(bool Changed, IReadOnlyList<string>? System, IReadOnlyList<string>? Template, IReadOnlyList<string> VariablesAdded,
    IReadOnlyList<string> VariablesRemoved);

/// <summary>One attestation field (a JSON path such as <c>hyperparameters.C</c> or <c>datasets[0].sha256</c>) that differs; null: absent.</summary>
public sealed record AttestationChangeDto(string Path, JsonElement? From, JsonElement? To);

public sealed record ArtifactsDiffDto(IReadOnlyList<ArtifactRef> Added, IReadOnlyList<ArtifactRef> Removed);

/// <summary>
/// <see cref="Required"/>: the least bump the changes need (none, qualifier, patch, minor, major); <see cref="Actual"/>: the bump
/// from one number to the other; <see cref="Enough"/>: whether the second version's number carries its changes.
/// </summary>
public sealed record VersionBumpDto(string Required, string Actual, bool Enough, IReadOnlyList<VersionChangeDto> Changes, IReadOnlyList<string> Conflicts);

public sealed record VersionChangeDto(string Field, string Requires, string Message, string? Detail);

/// <summary>What a principal is: a person (who may hold approving roles) or a service.</summary>
public static class PrincipalKinds
{
    public const string Person = "person";
    public const string Service = "service";
    public static readonly IReadOnlyList<string> All = [Person, Service];
}

/// <summary>A person or a service that keys act for.</summary>
/// <param name="Kind"><c>person</c> or <c>service</c>; only people hold the approving roles (ml-lead, product-owner, risk-committee).</param>
/// <param name="Identity">E-mail or subject (1–320 characters, unique case-insensitively).</param>
public sealed record CreatePrincipalRequest(string Kind, string Identity, string? DisplayName = null, IReadOnlyList<string>? Roles = null);

/// <summary>A change to a principal; a field left out is unchanged.</summary>
/// <param name="Grant">Roles to grant.</param>
/// <param name="Revoke">Roles to remove (at once, for every key of the principal).</param>
/// <param name="Disabled">true disables the principal (its keys stop working at once); a disabled principal stays disabled.</param>
public sealed record UpdatePrincipalRequest(string? DisplayName = null, IReadOnlyList<string>? Grant = null, IReadOnlyList<string>? Revoke = null,
    bool? Disabled = null);

public sealed record PrincipalDto(
    string Id,
    string Kind,
    string Identity,
    string? DisplayName,
    IReadOnlyList<string> Roles,
    string Source,
    DateTime CreatedAt,
    string CreatedBy,
    DateTime? DisabledAt,
    string? DisabledBy,
    IReadOnlyList<ApiKeyDto>? Keys = null);

/// <summary>
/// The caller (<c>GET /api/v1/me</c>): their principal and the roles this request acts with, and how it was authenticated
/// (<see cref="ByApiKey"/> with the key's id and name, or <see cref="ByOidc"/> with the token's issuer).
/// </summary>
public sealed record MeDto(
    string Principal,
    string Kind,
    string Identity,
    string? DisplayName,
    IReadOnlyList<string> Roles,
    string AuthenticatedBy,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? KeyId = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? KeyName = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Issuer = null)
{
    public const string ByApiKey = "api_key";
    public const string ByOidc = "oidc";
}
