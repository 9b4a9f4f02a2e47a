using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Lifecycle;
using ModelGate.Security;
using ModelGate.Storage;
using ModelGate.Storage.Registry;

namespace ModelGate.Registry;

public static class ModelsApi
{
    public const int MaxPage = 1000;

    /// <summary>The audit action of a model's registration; its details carry the risk tier it was created with.</summary>
    public const string CreatedAction = "model.created";

    /// <summary>The audit action of a change of owner or risk tier; its details carry <c>changes</c> and the floor approval it used.</summary>
    public const string UpdatedAction = "model.updated";

    public static IEndpointRouteBuilder MapModelsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/models").WithTags("Models");
        api.MapPost("/", CreateModel).WithName(nameof(CreateModel)).RequireAuthorization(Permissions.RegistryWrite);
        api.MapGet("/", ListModels).WithName(nameof(ListModels)).RequireAuthorization(Permissions.Read).AllowScopedKeys();
        api.MapGet("/{model}", GetModel).WithName(nameof(GetModel)).RequireAuthorization(Permissions.Read).AllowScopedKeys();
        // A governance change: no deployment-scoped key makes it.
        api.MapPatch("/{model}", UpdateModel).WithName(nameof(UpdateModel)).RequireAuthorization(Permissions.RegistryWrite);
        return app;
    }

    public static async Task<Results<Created<ModelDto>, ProblemHttpResult>> CreateModel(CreateModelRequest request, ClaimsPrincipal user,
        AuditedWrite write, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        if (!Names.IsValidModelName(request.Name))
        {
            errors.Add("name", $"'{ClientText.Echo(request.Name)}' is not a valid name: {Names.ModelNameRule}");
        }
        if (string.IsNullOrWhiteSpace(request.Owner) || request.Owner.Length > 200)
        {
            errors.Add("owner", "an owner of 1–200 characters is required");
        }
        if (!RiskTiers.All.Contains(request.RiskTier))
        {
            errors.Add("riskTier", $"riskTier is one of {string.Join(", ", RiskTiers.All)}");
        }
        if (!ModelTasks.All.Contains(request.Task))
        {
            errors.Add("task", $"task is one of {string.Join(", ", ModelTasks.All)}");
        }
        if (request.License is { Length: > 200 })
        {
            errors.Add("license", "at most 200 characters");
        }
        if (request.Description is { Length: > 4000 })
        {
            errors.Add("description", "at most 4000 characters");
        }
        var tags = request.Tags ?? [];
        if (tags.Count > 50 || tags.Any(t => string.IsNullOrWhiteSpace(t) || t.Length > 64))
        {
            errors.Add("tags", "at most 50 tags of 1–64 characters each");
        }
        if (errors.Any)
        {
            return errors.ToProblem();
        }

        await using var tx = await write.BeginAsync(cancellationToken);
        if (await tx.Db.Models.AnyAsync(m => m.Name == request.Name, cancellationToken))
        {
            return Problems.Conflict(ProblemCodes.ModelExists, $"a model named '{request.Name}' already exists");
        }
        var entity = new ModelEntity
        {
            Name = request.Name,
            Owner = request.Owner.Trim(),
            RiskTier = request.RiskTier,
            Task = request.Task,
            License = request.License,
            Description = request.Description,
            Tags = JsonSerializer.Serialize(tags.Distinct().ToList(), ModelGateJson.Options),
            CreatedAt = tx.Now,
            UpdatedAt = tx.Now,
            CreatedBy = user.ActorId(),
        };
        tx.Db.Models.Add(entity);
        await tx.AppendAsync(user.ActorId(), CreatedAction, RegistryMapping.ModelSubject(entity.Name),
            new { entity.Owner, entity.RiskTier, entity.Task, entity.License, tags }, cancellationToken: cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return TypedResults.Created($"/api/v1/models/{entity.Name}", RegistryMapping.ToDto(entity, null, 0));
    }

    public static async Task<Results<Ok<PageDto<ModelDto>>, ProblemHttpResult>> ListModels(ModelGateDbContext db, int? offset, int? limit,
        CancellationToken cancellationToken)
    {
        var (skip, take) = (offset ?? 0, limit ?? 100);
        if (skip < 0 || take is < 1 or > MaxPage)
        {
            return Problems.Validation("limit", $"offset must be ≥ 0 and limit between 1 and {MaxPage}");
        }
        var total = await db.Models.CountAsync(cancellationToken);
        var models = await db.Models.AsNoTracking().OrderBy(m => m.Name).Skip(skip).Take(take).ToListAsync(cancellationToken);
        var ids = models.Select(m => m.Id).ToList();
        var versions = await db.ModelVersions.AsNoTracking().Where(v => ids.Contains(v.ModelId))
            .Select(v => new { v.ModelId, v.Version }).ToListAsync(cancellationToken);
        var byModel = versions.GroupBy(v => v.ModelId).ToDictionary(g => g.Key, g => g.Select(v => SemVersion.Parse(v.Version)).ToList());
        var items = models.Select(m => byModel.TryGetValue(m.Id, out var vs)
            ? RegistryMapping.ToDto(m, vs.Max()!.ToString(), vs.Count)
            : RegistryMapping.ToDto(m, null, 0)).ToList();
        return TypedResults.Ok(new PageDto<ModelDto>(items, total, skip, take));
    }

    public static async Task<Results<Ok<ModelDto>, ProblemHttpResult>> GetModel(string model, ModelGateDbContext db, CancellationToken cancellationToken)
    {
        if (!Names.IsValidModelName(model))
        {
            return InvalidName(model);
        }
        var entity = await db.Models.AsNoTracking().FirstOrDefaultAsync(m => m.Name == model, cancellationToken);
        if (entity is null)
        {
            return ModelNotFound(model);
        }
        var versions = await db.ModelVersions.AsNoTracking().Where(v => v.ModelId == entity.Id).Select(v => v.Version).ToListAsync(cancellationToken);
        return TypedResults.Ok(RegistryMapping.ToDto(entity, versions.Select(SemVersion.Parse).Max()?.ToString(), versions.Count));
    }

    /// <summary>
    /// Changes a model's owner or risk tier, audited. Raising the tier is a tightening; lowering it, or a tier whose floor
    /// the model's policy does not meet, takes a floor approval by the authority of the higher tier (<see cref="FloorApprovals"/>).
    /// </summary>
    public static async Task<Results<Ok<ModelDto>, ProblemHttpResult>> UpdateModel(string model, UpdateModelRequest request, ClaimsPrincipal user,
        AuditedWrite write, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        if (request.Owner is not null && (string.IsNullOrWhiteSpace(request.Owner) || request.Owner.Length > 200))
        {
            errors.Add("owner", "an owner of 1–200 characters");
        }
        if (request.RiskTier is not null && !RiskTiers.All.Contains(request.RiskTier))
        {
            errors.Add("riskTier", $"riskTier is one of {string.Join(", ", RiskTiers.All)}");
        }
        if (request.Owner is null && request.RiskTier is null)
        {
            errors.Add("owner", "name the owner, the riskTier or both");
        }
        if (errors.Any)
        {
            return errors.ToProblem();
        }
        if (!Names.IsValidModelName(model))
        {
            return InvalidName(model);
        }
        var actor = user.ActorId();
        await using var tx = await write.BeginAsync(cancellationToken);
        var entity = await tx.Db.Models.FirstOrDefaultAsync(m => m.Name == model, cancellationToken);
        if (entity is null)
        {
            return ModelNotFound(model);
        }
        var (owner, tier) = (request.Owner?.Trim() ?? entity.Owner, request.RiskTier ?? entity.RiskTier);
        long? floorApproval = null;
        if (tier != entity.RiskTier)
        {
            var breaches = new List<FloorBreach>();
            var lowered = PolicyFloors.Rank(tier) < PolicyFloors.Rank(entity.RiskTier);
            if (lowered)
            {
                breaches.Add(new FloorBreach("riskTier", $"{entity.RiskTier}'s floor", $"{tier}'s floor"));
            }
            var (policy, _) = await PoliciesApi.EffectiveAsync(tx.Db, model, cancellationToken);
            breaches.AddRange(PolicyFloors.Breaches(policy, tier));
            var decision = await FloorApprovals.DecideAsync(tx, model, FloorApprovals.KindRiskTier, $"{entity.RiskTier}->{tier}",
                PolicyFloors.Authority(lowered ? entity.RiskTier : tier), breaches, actor, user.Identity?.Name ?? actor, new { from = entity.RiskTier, to = tier },
                cancellationToken);
            if (!decision.Allowed)
            {
                await tx.CommitAsync(cancellationToken);
                return FloorApprovals.ToProblem(decision, $"Changing the risk tier of '{model}' from {entity.RiskTier} to {tier}");
            }
            floorApproval = decision.ApprovalSequence;
        }
        var changes = new Dictionary<string, object>();
        if (owner != entity.Owner)
        {
            changes["owner"] = new { from = entity.Owner, to = owner };
        }
        if (tier != entity.RiskTier)
        {
            changes["riskTier"] = new { from = entity.RiskTier, to = tier };
        }
        if (changes.Count > 0)
        {
            (entity.Owner, entity.RiskTier, entity.UpdatedAt) = (owner, tier, tx.Now);
            await tx.AppendAsync(actor, UpdatedAction, RegistryMapping.ModelSubject(model), new { changes, floorApproval }, cancellationToken: cancellationToken);
            await tx.CommitAsync(cancellationToken);
        }
        var versions = await tx.Db.ModelVersions.AsNoTracking().Where(v => v.ModelId == entity.Id).Select(v => v.Version).ToListAsync(cancellationToken);
        return TypedResults.Ok(RegistryMapping.ToDto(entity, versions.Select(SemVersion.Parse).Max()?.ToString(), versions.Count));
    }

    internal static ProblemHttpResult InvalidName(string model) => Problems.From(Versions.InvalidModelName(model));

    internal static ProblemHttpResult ModelNotFound(string model) => Problems.From(Versions.NoSuchModel(model));
}
