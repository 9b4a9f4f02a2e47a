using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Registry;
using ModelGate.Security;
using ModelGate.Storage;
using ModelGate.Storage.Lifecycle;

namespace ModelGate.Lifecycle;

/// <summary>
/// A version's model card (<c>…/versions/{version}/card</c>): structured fields (intended use, out-of-scope use,
/// limitations, training data, evaluation, ethical considerations) plus markdown. It can be edited until the version is
/// registered; from then on it is part of what was registered and stays as it is.
/// </summary>
public static class CardsApi
{
    public const int MaxCardBytes = 256 * 1024;

    public static IEndpointRouteBuilder MapCardsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/models/{model}/versions/{version}/card").WithTags("Lifecycle");
        api.MapGet("/", GetCard).WithName(nameof(GetCard)).RequireAuthorization(Permissions.Read);
        api.MapPut("/", PutCard).WithName(nameof(PutCard)).RequireAuthorization(Permissions.CardWrite);
        return app;
    }

    public static async Task<Results<Ok<JsonObject>, ProblemHttpResult>> GetCard(string model, string version, ModelGateDbContext db, CancellationToken cancellationToken)
    {
        var (entity, problem) = await VersionLookup.FindAsync(db, model, version, cancellationToken);
        if (entity is null)
        {
            return problem!;
        }
        var card = await db.ModelCards.AsNoTracking().FirstOrDefaultAsync(c => c.VersionId == entity.Id, cancellationToken);
        return card is null
            ? Problems.NotFound("card_not_found", $"{model}@{entity.Version} has no model card yet")
            : TypedResults.Ok(JsonNode.Parse(card.Card)!.AsObject());
    }

    public static async Task<Results<Ok<JsonObject>, ProblemHttpResult>> PutCard(string model, string version, JsonObject card, ClaimsPrincipal user,
        AuditedWrite write, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        foreach (var (name, value) in card)
        {
            if (name == "markdown" || ModelCardFields.Required.Contains(name))
            {
                if (value is not JsonValue v || !v.TryGetValue<string>(out _))
                {
                    errors.Add(name, "must be text");
                }
            }
            else if (name is not ("evaluationIds" or "references"))
            {
                errors.Add(name, $"not a model-card field; fields are {string.Join(", ", ModelCardFields.Required)}, markdown, evaluationIds, references");
            }
        }
        var json = card.ToJsonString(ModelGateJson.Options);
        if (json.Length > MaxCardBytes)
        {
            errors.Add("card", $"at most {MaxCardBytes} bytes");
        }
        if (errors.Any)
        {
            return errors.ToProblem();
        }
        await using var tx = await write.BeginAsync(cancellationToken);
        var (entity, problem) = await VersionLookup.FindAsync(tx.Db, model, version, cancellationToken);
        if (entity is null)
        {
            return problem!;
        }
        if (entity.Stage is not (Stages.Trained or Stages.Evaluated))
        {
            return Problems.Conflict("card_frozen", $"{model}@{entity.Version} is {entity.Stage}: its card was registered with it and does not change; a change is a new version");
        }
        var existing = await tx.Db.ModelCards.FirstOrDefaultAsync(c => c.VersionId == entity.Id, cancellationToken);
        if (existing is null)
        {
            tx.Db.ModelCards.Add(new ModelCardEntity { VersionId = entity.Id, Card = json, UpdatedAt = tx.Now, UpdatedBy = user.ActorId() });
        }
        else
        {
            existing.Card = json;
            existing.UpdatedAt = tx.Now;
            existing.UpdatedBy = user.ActorId();
        }
        await tx.AppendAsync(user.ActorId(), "version.card_changed", RegistryMapping.VersionSubject(model, entity.Version),
            new { sha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(json))), fields = card.Select(p => p.Key) },
            cancellationToken: cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return TypedResults.Ok(card);
    }
}
