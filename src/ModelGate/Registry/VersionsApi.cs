using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using ModelGate.Audit;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Lifecycle.Versioning;
using ModelGate.Security;
using ModelGate.Storage;
using ModelGate.Storage.Registry;

namespace ModelGate.Registry;

public static class VersionsApi
{
    public const int MaxPage = 1000;
    public const int MaxArtifacts = 100;

    public static IEndpointRouteBuilder MapVersionsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/models/{model}/versions").WithTags("Versions");
        api.MapPost("/", CreateVersion).WithName(nameof(CreateVersion)).RequireAuthorization(Permissions.RegistryWrite);
        api.MapGet("/", ListVersions).WithName(nameof(ListVersions)).RequireAuthorization(Permissions.Read).AllowScopedKeys();
        api.MapGet("/{version}", GetVersion).WithName(nameof(GetVersion)).RequireAuthorization(Permissions.Read).AllowScopedKeys();
        api.MapGet("/{version}/attestation", GetAttestation).WithName(nameof(GetAttestation)).RequireAuthorization(Permissions.Read).AllowScopedKeys();
        api.MapGet("/{version}/diff/{other}", DiffVersions).WithName(nameof(DiffVersions)).RequireAuthorization(Permissions.Read).AllowScopedKeys();
        api.MapGet("/{version}/lineage", GetLineage).WithName(nameof(GetLineage)).RequireAuthorization(Permissions.Read).AllowScopedKeys();
        app.MapGet("/api/v1/lineage", FindByLineage).WithTags("Versions").WithName(nameof(FindByLineage)).RequireAuthorization(Permissions.Read).AllowScopedKeys();
        return app;
    }

    public static async Task<Results<Created<ModelVersionDto>, ProblemHttpResult>> CreateVersion(string model, CreateVersionRequest request,
        ClaimsPrincipal user, AuditedWrite write, IBlobStore blobs, CancellationToken cancellationToken)
    {
        if (!Names.IsValidModelName(model))
        {
            return Problems.From(Versions.InvalidModelName(model));
        }
        var errors = new ValidationErrors();
        if (!SemVersion.TryParse(request.Version, out var semver, out var versionError))
        {
            errors.Add("version", versionError!);
        }
        // A prompt-only version (an LLM integration: no weights of its own) needs no artifact: its template becomes one.
        var promptOnly = request.Artifacts is null or { Count: 0 } && PromptArtifact.Describes(request.Attestation?.PromptTemplate);
        var artifacts = promptOnly ? [] : ValidateArtifacts(request.Artifacts, errors);
        AttestationRules.Validate(request.Attestation, errors);
        if (request.Description is { Length: > 4000 })
        {
            errors.Add("description", "at most 4000 characters");
        }
        if (errors.Any)
        {
            return errors.ToProblem();
        }

        await using var tx = await write.BeginAsync(cancellationToken);
        var db = tx.Db;
        var modelEntity = await db.Models.FirstOrDefaultAsync(m => m.Name == model, cancellationToken);
        if (modelEntity is null)
        {
            return Problems.From(Versions.NoSuchModel(model));
        }
        // A version that was ever rejected (it may since be retired) never became a release of the line.
        var versions = (await db.ModelVersions.Where(v => v.ModelId == modelEntity.Id)
            .Select(v => new { v.Version, Rejected = v.Stage == Stages.Rejected || db.Transitions.Any(t => t.VersionId == v.Id && t.To == Stages.Rejected) })
            .ToListAsync(cancellationToken)).Select(v => (Version: SemVersion.Parse(v.Version), v.Rejected)).ToList();
        var existing = versions.Select(v => v.Version).ToList();
        var rejected = versions.Where(v => v.Rejected).Select(v => v.Version).ToList();
        if (existing.Contains(semver!))
        {
            return Problems.Conflict(ProblemCodes.VersionExists, $"{model}@{semver} already exists; a registered version never changes, create a new one");
        }
        var line = VersioningRules.Line(existing, rejected);
        var order = CheckOrder(semver!, line, existing);
        if (order is not null)
        {
            return Problems.Conflict(ProblemCodes.VersionNotGreater, order,
                new Dictionary<string, object?> { ["latest"] = line.Max()?.ToString() });
        }

        if (promptOnly)
        {
            var template = await PromptArtifact.StoreAsync(db, blobs, AttestationRules.Canonicalize(request.Attestation!).Normalized.PromptTemplate!,
                user.ActorId(), tx.Now, cancellationToken);
            artifacts.Add(template);
        }
        var digests = artifacts.Select(a => a.Sha256).Distinct().ToList();
        var known = await db.Artifacts.Where(a => digests.Contains(a.Sha256)).ToDictionaryAsync(a => a.Sha256, a => a.Size, cancellationToken);
        foreach (var added in db.ChangeTracker.Entries<ArtifactEntity>().Where(e => e.State == EntityState.Added))
        {
            known[added.Entity.Sha256] = added.Entity.Size;
        }
        var missing = new List<string>();
        foreach (var digest in digests)
        {
            if (!known.ContainsKey(digest) || await blobs.GetSizeAsync(digest, cancellationToken) is null)
            {
                missing.Add(digest);
            }
        }
        if (missing.Count > 0)
        {
            return Problems.Unprocessable(ProblemCodes.UnknownArtifact,
                $"no artifact is stored with digest {string.Join(", ", missing)}: upload it first (PUT /api/v1/artifacts/{{sha256}})",
                new Dictionary<string, object?> { ["missing"] = missing });
        }

        var (attestation, attestationJson) = AttestationRules.Canonicalize(request.Attestation!);
        var (verdict, versioningProblem) = await VersionCreationCheck.CheckAsync(db, modelEntity.Id, model,
            new VersionFacts(semver!, attestation, digests), existing, rejected, cancellationToken);
        if (versioningProblem is not null)
        {
            return versioningProblem;
        }
        var entity = new ModelVersionEntity
        {
            ModelId = modelEntity.Id,
            Version = semver!.ToString(),
            Major = semver.Major,
            Minor = semver.Minor,
            Patch = semver.Patch,
            Prerelease = semver.Prerelease,
            Stage = Stages.Trained,
            StageChangedAt = tx.Now,
            Attestation = attestationJson,
            AttestationSha256 = AuditChain.Hex(attestationJson),
            Trainer = attestation.Trainer,
            TrainerPrincipal = await Lifecycle.SeparationOfDuties.ResolveTrainerAsync(db, attestation.Trainer, cancellationToken),
            CodeRepo = attestation.Code?.Repo,
            CodeCommit = attestation.Code?.Commit,
            BaseModel = attestation.BaseModel,
            Architecture = attestation.Architecture,
            Description = request.Description,
            CreatedAt = tx.Now,
            CreatedBy = user.ActorId(),
            Artifacts = artifacts.Select(a => new VersionArtifactEntity
            {
                Sha256 = a.Sha256,
                FileName = a.FileName,
                MediaType = a.MediaType!,
                Size = known[a.Sha256],
            }).ToList(),
            Datasets = (attestation.Datasets ?? []).Select(d => new VersionDatasetEntity { Name = d.Name, Uri = d.Uri, Sha256 = d.Sha256 }).ToList(),
        };
        db.ModelVersions.Add(entity);
        modelEntity.UpdatedAt = tx.Now;
        await tx.AppendAsync(user.ActorId(), "version.created", RegistryMapping.VersionSubject(model, entity.Version), new
        {
            stage = entity.Stage,
            artifacts = entity.Artifacts.Select(a => new { a.Sha256, a.FileName }),
            attestationSha256 = entity.AttestationSha256,
            versioning = new
            {
                comparedWith = verdict!.ComparedWith?.ToString(),
                required = VersioningVerdict.Name(verdict.Required),
                actual = VersioningVerdict.Name(verdict.Actual),
                differences = VersionCreationCheck.Describe(verdict.Changes),
            },
        }, cancellationToken: cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return TypedResults.Created($"/api/v1/models/{model}/versions/{entity.Version}", RegistryMapping.ToDto(model, entity));
    }

    /// <summary>What changed from <paramref name="version"/> to <paramref name="other"/>: prompt, attestation, artifacts, and the bump it implies.</summary>
    public static async Task<Results<Ok<VersionDiffDto>, ProblemHttpResult>> DiffVersions(string model, string version, string other, ModelGateDbContext db,
        CancellationToken cancellationToken)
    {
        var (from, problem) = await FindAsync(db, model, version, cancellationToken);
        if (from is null)
        {
            return problem!;
        }
        var (to, otherProblem) = await FindAsync(db, model, other, cancellationToken);
        if (to is null)
        {
            return otherProblem!;
        }
        return TypedResults.Ok(VersionDiff.Compare(model, from, to));
    }

    /// <summary>
    /// A new version must be greater than every version of the line (<paramref name="line"/>: the existing ones less
    /// those rejected), except that a qualified build of an existing release (<c>1.0.0-q4</c> beside <c>1.0.0</c>) may
    /// be added later, as quantisation and distillation produce.
    /// </summary>
    internal static string? CheckOrder(SemVersion candidate, IReadOnlyCollection<SemVersion> line, IReadOnlyCollection<SemVersion>? existing = null)
    {
        existing ??= line;
        var latest = line.Count == 0 ? null : line.Max();
        if (latest is null || candidate > latest)
        {
            return null;
        }
        if (candidate.IsPrerelease && existing.Contains(candidate.Core))
        {
            return null;
        }
        return $"version {candidate} is not greater than the latest version {latest}";
    }

    private static List<ArtifactRef> ValidateArtifacts(IReadOnlyList<ArtifactRef>? artifacts, ValidationErrors errors)
    {
        var result = new List<ArtifactRef>();
        if (artifacts is null || artifacts.Count == 0)
        {
            errors.Add("artifacts", "a version needs at least one artifact {sha256, fileName, mediaType}, or a prompt template (attestation.promptTemplate) that the server stores as its artifact");
            return result;
        }
        if (artifacts.Count > MaxArtifacts)
        {
            errors.Add("artifacts", $"at most {MaxArtifacts} artifacts");
            return result;
        }
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < artifacts.Count; i++)
        {
            var a = artifacts[i];
            if (a is null)
            {
                errors.Add($"artifacts[{i}]", "must be an object {sha256, fileName, mediaType}");
                continue;
            }
            var digest = Digests.Normalize(a.Sha256);
            if (digest is null)
            {
                errors.Add($"artifacts[{i}].sha256", $"'{a.Sha256}' is not a SHA-256 digest (64 hex characters)");
            }
            if (!Names.IsValidFileName(a.FileName))
            {
                errors.Add($"artifacts[{i}].fileName", $"'{a.FileName}' is not a plain file name (no directories, '..' or control characters, at most 255 characters)");
            }
            else if (!names.Add(a.FileName))
            {
                errors.Add($"artifacts[{i}].fileName", $"'{a.FileName}' is named twice");
            }
            var mediaType = a.MediaType ?? MediaTypes.ForFileName(a.FileName ?? "");
            if (!MediaTypes.IsValid(mediaType))
            {
                errors.Add($"artifacts[{i}].mediaType", $"'{a.MediaType}' is not a media type (type/subtype)");
            }
            if (digest is not null)
            {
                result.Add(new ArtifactRef(digest, a.FileName!, mediaType));
            }
        }
        return result;
    }

    public static async Task<Results<Ok<PageDto<ModelVersionDto>>, ProblemHttpResult>> ListVersions(string model, ModelGateDbContext db,
        int? offset, int? limit, CancellationToken cancellationToken)
    {
        var (skip, take) = (offset ?? 0, limit ?? 100);
        if (skip < 0 || take is < 1 or > MaxPage)
        {
            return Problems.Validation("limit", $"offset must be ≥ 0 and limit between 1 and {MaxPage}");
        }
        if (!Names.IsValidModelName(model))
        {
            return Problems.From(Versions.InvalidModelName(model));
        }
        var modelId = await db.Models.Where(m => m.Name == model).Select(m => (long?)m.Id).FirstOrDefaultAsync(cancellationToken);
        if (modelId is null)
        {
            return Problems.From(Versions.NoSuchModel(model));
        }
        // Precedence is SemVer's, which SQL cannot sort: order the keys here, then load just the page.
        var keys = await db.ModelVersions.AsNoTracking().Where(v => v.ModelId == modelId).Select(v => new { v.Id, v.Version }).ToListAsync(cancellationToken);
        var pageIds = keys.OrderByDescending(k => SemVersion.Parse(k.Version)).Skip(skip).Take(take).Select(k => k.Id).ToList();
        var rows = await db.ModelVersions.AsNoTracking().AsSplitQuery().Include(v => v.Artifacts)
            .Where(v => pageIds.Contains(v.Id)).ToDictionaryAsync(v => v.Id, cancellationToken);
        var items = pageIds.Select(id => RegistryMapping.ToDto(model, rows[id])).ToList();
        return TypedResults.Ok(new PageDto<ModelVersionDto>(items, keys.Count, skip, take));
    }

    public static async Task<Results<Ok<ModelVersionDto>, ProblemHttpResult>> GetVersion(string model, string version, ModelGateDbContext db,
        CancellationToken cancellationToken)
    {
        var (entity, problem) = await FindAsync(db, model, version, cancellationToken);
        return entity is null ? problem! : TypedResults.Ok(RegistryMapping.ToDto(model, entity));
    }

    /// <summary>The attestation as recorded, or with <c>?format=in-toto</c> as an in-toto Statement v1 carrying SLSA provenance v1.</summary>
    public static async Task<Results<Ok<object>, ProblemHttpResult>> GetAttestation(string model, string version, string? format,
        ModelGateDbContext db, HttpRequest request, CancellationToken cancellationToken)
    {
        if (format is not (null or "modelgate" or "in-toto"))
        {
            return Problems.Validation("format", "format is 'modelgate' (default) or 'in-toto'");
        }
        var (entity, problem) = await FindAsync(db, model, version, cancellationToken);
        if (entity is null)
        {
            return problem!;
        }
        var dto = RegistryMapping.ToDto(model, entity);
        if (format == "in-toto")
        {
            var serverBase = new Uri($"{request.Scheme}://{request.Host}{request.PathBase}/");
            return TypedResults.Ok<object>(InTotoStatement.Create(dto, serverBase));
        }
        return TypedResults.Ok<object>(dto.Attestation);
    }

    public static async Task<Results<Ok<LineageDto>, ProblemHttpResult>> GetLineage(string model, string version, ModelGateDbContext db,
        CancellationToken cancellationToken)
    {
        var (entity, problem) = await FindAsync(db, model, version, cancellationToken);
        if (entity is null)
        {
            return problem!;
        }
        var dto = RegistryMapping.ToDto(model, entity);
        return TypedResults.Ok(new LineageDto(model, dto.Version, dto.Attestation.Datasets ?? [], dto.Attestation.Code,
            dto.Attestation.BaseModel, dto.Artifacts, dto.Attestation.Trainer));
    }

    /// <summary>Versions whose attestation names a dataset digest or a base model.</summary>
    public static async Task<Results<Ok<List<VersionRefDto>>, ProblemHttpResult>> FindByLineage(string? dataset, string? baseModel,
        ModelGateDbContext db, CancellationToken cancellationToken)
    {
        if (dataset is null && baseModel is null)
        {
            return Problems.Validation("dataset", "give dataset (a SHA-256 digest) or baseModel");
        }
        var digest = dataset is null ? null : Digests.Normalize(dataset);
        if (dataset is not null && digest is null)
        {
            return Problems.Validation("dataset", $"'{dataset}' is not a SHA-256 digest");
        }
        var query = db.ModelVersions.AsNoTracking();
        if (digest is not null)
        {
            query = query.Where(v => db.VersionDatasets.Any(d => d.VersionId == v.Id && d.Sha256 == digest));
        }
        if (baseModel is not null)
        {
            query = query.Where(v => v.BaseModel == baseModel);
        }
        var rows = await query.Select(v => new { Model = v.Model!.Name, v.Version, v.Stage }).ToListAsync(cancellationToken);
        return TypedResults.Ok(rows.OrderBy(r => r.Model, StringComparer.Ordinal).ThenBy(r => SemVersion.Parse(r.Version))
            .Select(r => new VersionRefDto(r.Model, r.Version, r.Stage)).ToList());
    }

    /// <summary>
    /// A version by model name and version text (with its model and artifacts), or the problem a caller should see.
    /// <paramref name="tracked"/>: loaded for a change within the caller's write.
    /// </summary>
    /// <summary><see cref="Versions.FindAsync"/> for the REST handlers: the entity, or its refusal as problem+json.</summary>
    internal static async Task<(ModelVersionEntity? Entity, ProblemHttpResult? Problem)> FindAsync(ModelGateDbContext db, string model, string version,
        CancellationToken cancellationToken, bool tracked = false)
    {
        var found = await Versions.FindAsync(db, model, version, cancellationToken, tracked);
        return found.Entity is { } entity ? (entity, null) : (null, Problems.From(found.Refused!));
    }
}

public static class MediaTypes
{
    public static string ForFileName(string fileName) => Path.GetExtension(fileName).ToLowerInvariant() switch
    {
        ".onnx" => "application/onnx",
        ".json" => "application/json",
        ".jsonl" => "application/jsonl",
        ".yaml" or ".yml" => "application/yaml",
        ".csv" => "text/csv",
        ".txt" or ".md" => "text/plain",
        ".safetensors" => "application/safetensors",
        ".gguf" => "application/gguf",
        _ => "application/octet-stream",
    };

    public static bool IsValid(string? value) =>
        value is { Length: > 2 and <= 255 } && value.Count(c => c == '/') == 1 && value[0] != '/' && value[^1] != '/' &&
        value.All(c => char.IsAsciiLetterOrDigit(c) || c is '/' or '.' or '+' or '-' or '_');
}
