using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using ModelGate.Audit;
using ModelGate.Client;
using ModelGate.Evaluation;
using ModelGate.Errors;
using ModelGate.Lifecycle.Cards;
using ModelGate.Registry;
using ModelGate.Security;
using ModelGate.Storage;
using ModelGate.Storage.Lifecycle;

namespace ModelGate.Lifecycle;

/// <summary>
/// A version's model card (<c>…/versions/{version}/card</c>): structured fields (intended use, out-of-scope use,
/// limitations, training data, evaluation, ethical considerations) plus markdown; <c>?format=markdown</c> renders it and
/// <c>?format=cyclonedx</c> exports it as a CycloneDX 1.6 ML-BOM. It can be edited until the version is
/// registered; from then on it is part of what was registered and stays as it is.
/// </summary>
public static class CardsApi
{
    public const int MaxCardBytes = 256 * 1024;

    public static IEndpointRouteBuilder MapCardsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/models/{model}/versions/{version}/card").WithTags("Lifecycle");
        api.MapGet("/", GetCard).WithName(nameof(GetCard)).RequireAuthorization(Permissions.Read).AllowScopedKeys();
        api.MapPut("/", PutCard).WithName(nameof(PutCard)).RequireAuthorization(Permissions.CardWrite);
        return app;
    }

    /// <summary>The card; as JSON with its <c>integrity</c> (re-verified against its audit event).</summary>
    public static async Task<IResult> GetCard(string model, string version, string? format, ModelGateDbContext db, EvidenceVerifier evidence,
        CancellationToken cancellationToken)
    {
        if (format is not (null or "json" or "markdown" or "cyclonedx"))
        {
            return Problems.Validation("format", "json (default), markdown or cyclonedx");
        }
        var (entity, problem) = await VersionsApi.FindAsync(db, model, version, cancellationToken);
        if (entity is null)
        {
            return problem!;
        }
        var stored = await db.ModelCards.AsNoTracking().FirstOrDefaultAsync(c => c.VersionId == entity.Id, cancellationToken);
        var card = stored is null ? null : JsonSerializer.Deserialize<ModelCard>(stored.Card, ModelGateJson.Options);
        if (format is null or "json")
        {
            return card is null
                ? Problems.NotFound("card_not_found", $"{model}@{entity.Version} has no model card yet")
                : TypedResults.Ok(card with { Integrity = (await evidence.VerifyAsync(db, EvidenceRecord.Of(stored!), cancellationToken)).ToDto() });
        }
        var subject = new CardSubject(model, entity.Version, entity.Model!.Owner, entity.Model.Task, entity.Model.RiskTier, entity.Model.License, entity.Stage,
            entity.Artifacts.Select(a => new ArtifactRef(a.Sha256, a.FileName, a.MediaType, a.Size)).ToList(),
            JsonSerializer.Deserialize<Attestation>(entity.Attestation, ModelGateJson.Options)!, entity.Description ?? entity.Model.Description);
        var evaluations = await EvaluationSummariesAsync(db, entity.Id, cancellationToken);
        return format == "markdown"
            ? TypedResults.Text(ModelCardMarkdown.Render(subject, card, evaluations), "text/markdown; charset=utf-8")
            : TypedResults.Text(CycloneDxExporter.ExportJson(subject, card, evaluations), CycloneDxExporter.MediaType);
    }

    /// <summary>The headline metrics (with intervals) of the version's succeeded evaluations, for the card's renderings.</summary>
    public static async Task<List<CardEvaluationSummary>> EvaluationSummariesAsync(ModelGateDbContext db, long versionId, CancellationToken cancellationToken)
    {
        var runs = await db.Evaluations.AsNoTracking().Where(e => e.VersionId == versionId && e.Status == EvaluationStatuses.Succeeded && e.Result != null)
            .OldestFirst().ToListAsync(cancellationToken);
        var summaries = new List<CardEvaluationSummary>();
        foreach (var run in runs)
        {
            var result = Evaluation.StoredEvaluationResult.Read(run.Result);
            var metrics = (result?.Metrics ?? []).ToDictionary(m => m.Key, m => new CardMetricValue(m.Value.Value, m.Value.Lower, m.Value.Upper), StringComparer.Ordinal);
            var suite = result?.Suite ?? run.SuiteSha256[..12];
            var passed = result?.Passed;
            summaries.Add(new CardEvaluationSummary(run.Id, suite, metrics, DatasetSha256: run.DatasetSha256, Passed: passed));
        }
        return summaries;
    }

    public static async Task<Results<Ok<ModelCard>, ProblemHttpResult>> PutCard(string model, string version, ModelCard card, ClaimsPrincipal user,
        AuditedWrite write, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        card = card with { Integrity = null }; // output only
        ModelCardRules.Validate(card, errors);
        var json = JsonSerializer.Serialize(card, ModelGateJson.Options);
        if (json.Length > MaxCardBytes)
        {
            errors.Add("card", $"at most {MaxCardBytes} bytes");
        }
        if (errors.Any)
        {
            return errors.ToProblem();
        }
        await using var tx = await write.BeginAsync(cancellationToken);
        var (entity, problem) = await VersionsApi.FindAsync(tx.Db, model, version, cancellationToken, tracked: true);
        if (entity is null)
        {
            return problem!;
        }
        if (entity.Stage is not (Stages.Trained or Stages.Evaluated))
        {
            return Problems.Conflict("card_frozen", $"{model}@{entity.Version} is {entity.Stage}: its card was registered with it and does not change; a change is a new version");
        }
        var stored = await tx.Db.ModelCards.FirstOrDefaultAsync(c => c.VersionId == entity.Id, cancellationToken);
        if (stored is null)
        {
            stored = new ModelCardEntity { VersionId = entity.Id, Card = json, UpdatedAt = tx.Now, UpdatedBy = user.ActorId() };
            tx.Db.ModelCards.Add(stored);
        }
        else
        {
            stored.Card = json;
            stored.UpdatedAt = tx.Now;
            stored.UpdatedBy = user.ActorId();
        }
        var completeness = ModelCardRules.Check(card, entity.Model!.License, entity.Model.Owner);
        var stamp = EvidenceHashes.Stamp(stored);
        var recorded = await tx.AppendAsync(user.ActorId(), "version.card_changed", RegistryMapping.VersionSubject(model, entity.Version),
            new { sha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(json))), completeness.Missing,
                evidenceHash = stamp },
            cancellationToken: cancellationToken);
        stored.EvidenceAuditSequence = recorded.Sequence;
        await tx.CommitAsync(cancellationToken);
        return TypedResults.Ok(card);
    }
}
