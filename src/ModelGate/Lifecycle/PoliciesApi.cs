using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Evaluation;
using ModelGate.Registry;
using ModelGate.Security;
using ModelGate.Storage;
using ModelGate.Storage.Lifecycle;

namespace ModelGate.Lifecycle;

/// <summary>
/// Gate policies: <c>/api/v1/policies/default</c> and <c>/api/v1/policies/{model}</c>, written in JSON or YAML. Every change
/// is a new revision, audited; the latest revision is in force. A model's policy replaces the default gate by gate, and may
/// drop below its risk tier's floor (<see cref="PolicyFloors"/>) only with a floor approval; the default never drops below one.
/// </summary>
public static class PoliciesApi
{
    public const string DefaultScope = "default";
    public const int MaxDocumentBytes = 64 * 1024;

    /// <summary>The audit action of every policy write; its details carry the revision, the document's hash and the floor approval it used.</summary>
    public const string PolicyChangedAction = "policy.changed";

    /// <summary>Refuses invalid UTF-8 instead of replacing it.</summary>
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The policy ModelGate enforces until someone writes one: every gate on, approvals as the design's risk tiers.</summary>
    public static readonly PolicyDocument Builtin = new(
        new EvaluatedGate(RequiredSuites: null, Thresholds: [], RegressionTolerance: 0.01, RegressionMetrics: ["roc_auc", "accuracy"]),
        new RegisteredGate(CardFields: ModelCardFields.Required),
        new StagingGate(),
        new ProductionGate(Approvals: new Dictionary<string, IReadOnlyList<string>>
        {
            ["low"] = [Roles.MlLead],
            ["medium"] = [Roles.ProductOwner, Roles.MlLead],
            ["high"] = [Roles.RiskCommittee],
        }));

    public static IEndpointRouteBuilder MapPoliciesApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/policies").WithTags("Policies");
        api.MapGet("/{scope}", GetPolicy).WithName(nameof(GetPolicy)).RequireAuthorization(Permissions.Read).AllowScopedKeys();
        api.MapGet("/{scope}/revisions", ListRevisions).WithName(nameof(ListRevisions)).RequireAuthorization(Permissions.Read).AllowScopedKeys();
        api.MapPut("/{scope}", PutPolicy).WithName(nameof(PutPolicy)).RequireAuthorization(Permissions.PolicyManage)
            .Accepts<PolicyDocument>("application/json", "application/yaml");
        return app;
    }

    public static async Task<Results<Ok<PolicyDto>, ProblemHttpResult>> GetPolicy(string scope, ModelGateDbContext db, CancellationToken cancellationToken)
    {
        if (await CheckScopeAsync(db, scope, cancellationToken) is { } problem)
        {
            return problem;
        }
        var latest = await db.Policies.AsNoTracking().Where(p => p.Scope == scope).OrderByDescending(p => p.Revision).FirstOrDefaultAsync(cancellationToken);
        if (latest is not null)
        {
            return TypedResults.Ok(ToDto(latest));
        }
        if (scope != DefaultScope)
        {
            return Problems.NotFound("policy_not_found", $"model '{scope}' has no policy of its own: the default policy applies (GET /api/v1/policies/default)");
        }
        var json = JsonSerializer.Serialize(Builtin, ModelGateJson.Options);
        return TypedResults.Ok(new PolicyDto(DefaultScope, 0, Builtin, Sha256(json), DateTime.UnixEpoch, "modelgate", Builtin: true));
    }

    public static async Task<Results<Ok<List<PolicyDto>>, ProblemHttpResult>> ListRevisions(string scope, ModelGateDbContext db, CancellationToken cancellationToken)
    {
        if (await CheckScopeAsync(db, scope, cancellationToken) is { } problem)
        {
            return problem;
        }
        var revisions = await db.Policies.AsNoTracking().Where(p => p.Scope == scope).OrderBy(p => p.Revision).ToListAsync(cancellationToken);
        return TypedResults.Ok(revisions.Select(ToDto).ToList());
    }

    public static async Task<Results<Ok<PolicyDto>, ProblemHttpResult>> PutPolicy(string scope, HttpRequest request, ClaimsPrincipal user, AuditedWrite write,
        IOptions<JsonOptions> jsonOptions, CancellationToken cancellationToken)
    {
        using var reader = new StreamReader(request.Body, StrictUtf8);
        var buffer = new char[MaxDocumentBytes + 1];
        int read;
        try
        {
            read = await reader.ReadBlockAsync(buffer, cancellationToken);
        }
        catch (DecoderFallbackException)
        {
            return TypedResults.Problem(ClientJson.Problem(ProblemCodes.InvalidText, "body", ClientText.InvalidUtf8Message));
        }
        if (read > MaxDocumentBytes)
        {
            return Problems.TooLarge(MaxDocumentBytes);
        }
        PolicyDocument? document;
        try
        {
            // The HTTP JSON options: the rules for client input, and a misspelt field is an error.
            document = JsonSerializer.Deserialize<PolicyDocument>(SuiteDocuments.ToJson(new string(buffer, 0, read)), jsonOptions.Value.SerializerOptions);
        }
        catch (ClientInputException e)
        {
            return TypedResults.Problem(ClientJson.Problem(e));
        }
        catch (Exception e) when (e is JsonException or YamlDotNet.Core.YamlException)
        {
            return Problems.Result(400, ProblemCodes.MalformedJson, "The policy is not a valid JSON or YAML policy document.", e.Message);
        }
        if (document is null)
        {
            return Problems.Validation("policy", "the body must be a policy document");
        }
        var errors = Validate(document);
        if (errors.Any)
        {
            return errors.ToProblem();
        }
        if (scope == DefaultScope)
        {
            // The default is what every model falls back to: it states every gate, and no approval takes it below a floor.
            var missing = new[] { ("evaluated", (object?)document.Evaluated), ("registered", document.Registered), ("staging", document.Staging),
                ("production", document.Production) }.Where(g => g.Item2 is null).Select(g => g.Item1).ToList();
            if (missing.Count > 0)
            {
                return Problems.Result(StatusCodes.Status400BadRequest, ProblemCodes.PolicyIncomplete, "The default policy must state every gate.",
                    $"missing: {string.Join(", ", missing)}",
                    new Dictionary<string, object?> { ["errors"] = missing.ToDictionary(g => g, _ => new[] { "the default policy states this gate" }) });
            }
            if (PolicyFloors.DefaultBreaches(document) is { Count: > 0 } breaches)
            {
                return FloorApprovals.ToProblem(new FloorDecision("", "", breaches, null), "The default policy", approvable: false);
            }
        }
        await using var tx = await write.BeginAsync(cancellationToken);
        if (await CheckScopeAsync(tx.Db, scope, cancellationToken) is { } problem)
        {
            return problem;
        }
        var json = JsonSerializer.Serialize(document, ModelGateJson.Options);
        long? floorApproval = null;
        if (scope != DefaultScope)
        {
            var tier = await tx.Db.Models.Where(m => m.Name == scope).Select(m => m.RiskTier).FirstAsync(cancellationToken);
            var effective = Merge(document, (await DefaultAsync(tx.Db, cancellationToken)).Policy);
            var decision = await FloorApprovals.DecideAsync(tx, scope, FloorApprovals.KindPolicy, json, PolicyFloors.Authority(tier),
                PolicyFloors.Breaches(effective, tier), user.ActorId(), user.Identity?.Name ?? user.ActorId(), document, cancellationToken);
            if (!decision.Allowed)
            {
                await tx.CommitAsync(cancellationToken);
                return FloorApprovals.ToProblem(decision, $"The policy of '{scope}' (risk tier {tier})");
            }
            floorApproval = decision.ApprovalSequence;
        }
        var revision = (await tx.Db.Policies.Where(p => p.Scope == scope).MaxAsync(p => (int?)p.Revision, cancellationToken) ?? 0) + 1;
        var entity = new PolicyEntity
        {
            Scope = scope, Revision = revision, Document = json, DocumentSha256 = Sha256(json), CreatedAt = tx.Now, CreatedBy = user.ActorId(),
        };
        tx.Db.Policies.Add(entity);
        await tx.AppendAsync(user.ActorId(), PolicyChangedAction, Subject(scope), new { revision, sha256 = entity.DocumentSha256, policy = document, floorApproval },
            cancellationToken: cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return TypedResults.Ok(ToDto(entity));
    }

    /// <summary>The policy in force for a model: its own gates where it has them, the default's (stored or built in) otherwise.</summary>
    public static async Task<(PolicyDocument Policy, string Source)> EffectiveAsync(ModelGateDbContext db, string model, CancellationToken cancellationToken)
    {
        var inForce = await InForceAsync(db, model, cancellationToken);
        return (inForce.Policy, inForce.Source);
    }

    /// <summary>The policy in force for a model (<see cref="EffectiveAsync"/>) with the stored revisions it was merged from, which a gate re-verifies.</summary>
    public static async Task<PolicyInForce> InForceAsync(ModelGateDbContext db, string model, CancellationToken cancellationToken)
    {
        var latest = await db.Policies.AsNoTracking().Where(p => p.Scope == model || p.Scope == DefaultScope)
            .GroupBy(p => p.Scope).Select(g => g.OrderByDescending(p => p.Revision).First()).ToListAsync(cancellationToken);
        var stored = latest.FirstOrDefault(p => p.Scope == DefaultScope);
        var (fallback, source) = Default(stored);
        if (latest.FirstOrDefault(p => p.Scope == model) is not { } own)
        {
            return new PolicyInForce(fallback, source, null, stored);
        }
        var mine = JsonSerializer.Deserialize<PolicyDocument>(own.Document, ModelGateJson.Options)!;
        return new PolicyInForce(Merge(mine, fallback), $"{model} r{own.Revision} over {source}", own, stored);
    }

    /// <summary>The audit subject of a scope's policy changes.</summary>
    public static string Subject(string scope) => $"policies/{scope}";

    /// <summary>What a stored revision's <c>DocumentSha256</c> is of: the document as stored.</summary>
    public static string DocumentSha256(string document) => Sha256(document);

    /// <summary>A model's policy over the default, gate by gate.</summary>
    public static PolicyDocument Merge(PolicyDocument mine, PolicyDocument fallback) =>
        new(mine.Evaluated ?? fallback.Evaluated, mine.Registered ?? fallback.Registered, mine.Staging ?? fallback.Staging,
            mine.Production ?? fallback.Production);

    /// <summary>The default policy in force: the latest stored revision, or the built-in one.</summary>
    public static async Task<(PolicyDocument Policy, string Source)> DefaultAsync(ModelGateDbContext db, CancellationToken cancellationToken) =>
        Default(await db.Policies.AsNoTracking().Where(p => p.Scope == DefaultScope).OrderByDescending(p => p.Revision).FirstOrDefaultAsync(cancellationToken));

    private static (PolicyDocument Policy, string Source) Default(PolicyEntity? stored) => stored is null
        ? (Builtin, "default (built in)")
        : (JsonSerializer.Deserialize<PolicyDocument>(stored.Document, ModelGateJson.Options)!, $"default r{stored.Revision}");

    private static ValidationErrors Validate(PolicyDocument document)
    {
        var errors = new ValidationErrors();
        var rules = document.Evaluated?.Thresholds ?? [];
        for (var i = 0; i < rules.Count; i++)
        {
            var rule = rules[i];
            if (rule is null || string.IsNullOrWhiteSpace(rule.Metric))
            {
                errors.Add($"evaluated.thresholds[{i}].metric", "names a metric");
            }
            else if (rule.Min is null && rule.Max is null)
            {
                errors.Add($"evaluated.thresholds[{i}]", $"'{rule.Metric}' needs min or max");
            }
            else if (rule.Min is { } min && rule.Max is { } max && min > max)
            {
                errors.Add($"evaluated.thresholds[{i}]", "min is above max");
            }
        }
        if (document.Evaluated?.RegressionTolerance is < 0 or > 1)
        {
            errors.Add("evaluated.regressionTolerance", "a tolerance from 0 to 1");
        }
        foreach (var field in document.Registered?.CardFields ?? [])
        {
            if (!ModelCardFields.Required.Contains(field))
            {
                errors.Add("registered.cardFields", $"'{field}' is not a model-card field; the fields are {string.Join(", ", ModelCardFields.Required)}");
            }
        }
        if (document.Production?.StagingLatencyP99Ms is { } p99 && (!double.IsFinite(p99) || p99 is <= 0 or > 600_000))
        {
            errors.Add("production.stagingLatencyP99Ms", "a latency in milliseconds, above 0 and at most 600000");
        }
        foreach (var (tier, roles) in document.Production?.Approvals ?? new Dictionary<string, IReadOnlyList<string>>())
        {
            if (!RiskTiers.All.Contains(tier))
            {
                errors.Add("production.approvals", $"'{tier}' is not a risk tier ({string.Join(", ", RiskTiers.All)})");
            }
            foreach (var role in roles ?? [])
            {
                if (!ApprovalRoles.All.Contains(role))
                {
                    errors.Add($"production.approvals.{tier}", $"'{role}' cannot approve; approver roles are {string.Join(", ", ApprovalRoles.All)}");
                }
            }
        }
        return errors;
    }

    private static async Task<ProblemHttpResult?> CheckScopeAsync(ModelGateDbContext db, string scope, CancellationToken cancellationToken)
    {
        if (scope == DefaultScope)
        {
            return null;
        }
        if (!Names.IsValidModelName(scope))
        {
            return Problems.From(Versions.InvalidModelName(scope));
        }
        return await db.Models.AnyAsync(m => m.Name == scope, cancellationToken) ? null : Problems.From(Versions.NoSuchModel(scope));
    }

    private static PolicyDto ToDto(PolicyEntity p) =>
        new(p.Scope, p.Revision, JsonSerializer.Deserialize<PolicyDocument>(p.Document, ModelGateJson.Options)!, p.DocumentSha256, p.CreatedAt, p.CreatedBy);

    private static string Sha256(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
}

/// <summary>
/// The policy in force for a model: the merged document, where it came from, and the stored revisions it was merged from
/// (the model's own, the default's; null where none is stored — the built-in default has no record).
/// </summary>
public sealed record PolicyInForce(PolicyDocument Policy, string Source, PolicyEntity? Own, PolicyEntity? Default);

/// <summary>The roles that approve production releases.</summary>
public static class ApprovalRoles
{
    public static readonly IReadOnlyList<string> All = [Roles.MlLead, Roles.ProductOwner, Roles.RiskCommittee];
}

/// <summary>The model-card fields the registered gate can require (JSON property names of the card).</summary>
public static class ModelCardFields
{
    public static readonly IReadOnlyList<string> Required = ["intendedUse", "outOfScopeUse", "limitations", "trainingData", "evaluation", "ethicalConsiderations"];
}
