using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Storage;
using ModelGate.Storage.Registry;

namespace ModelGate.Registry;

/// <summary>
/// A version looked up by model name and version text: the entity, or why there is none — the refusal's status, code,
/// title and detail, which the REST handlers turn into problem+json (<see cref="VersionsApi"/>) and domain services and the
/// console report as they are.
/// </summary>
public sealed record VersionLookup(ModelVersionEntity? Entity, int Status = 0, string? Code = null, string? Title = null, string? Detail = null)
{
    public bool Found => Entity is not null;
}

/// <summary>The one version lookup: a valid model name, a semantic version (canonicalised), then the version with its model and artifacts.</summary>
public static class Versions
{
    public static async Task<VersionLookup> FindAsync(ModelGateDbContext db, string model, string version, CancellationToken cancellationToken,
        bool tracked = false)
    {
        if (!Names.IsValidModelName(model))
        {
            return InvalidModelName(model);
        }
        if (!SemVersion.TryParse(version, out var semver, out var error))
        {
            return new VersionLookup(null, StatusCodes.Status400BadRequest, ProblemCodes.InvalidVersion, "The version is not valid.", error);
        }
        var canonical = semver!.ToString();
        // One row and its few artifacts: a single round trip beats a split query.
        var versions = tracked ? db.ModelVersions : db.ModelVersions.AsNoTracking();
        var entity = await versions.AsSingleQuery().Include(v => v.Model).Include(v => v.Artifacts)
            .FirstOrDefaultAsync(v => v.Model!.Name == model && v.Version == canonical, cancellationToken);
        if (entity is not null)
        {
            return new VersionLookup(entity);
        }
        return await db.Models.AnyAsync(m => m.Name == model, cancellationToken)
            ? new VersionLookup(null, StatusCodes.Status404NotFound, ProblemCodes.VersionNotFound, "Not found.", $"model '{model}' has no version {canonical}")
            : NoSuchModel(model);
    }

    /// <summary>The refusal of a model name that breaks the naming rule (400).</summary>
    public static VersionLookup InvalidModelName(string model) => new(null, StatusCodes.Status400BadRequest, ProblemCodes.InvalidName,
        "The model name is not valid.", $"'{ClientText.Echo(model)}' is not a valid name: {Names.ModelNameRule}");

    /// <summary>The refusal of a model name no model has (404).</summary>
    public static VersionLookup NoSuchModel(string model) => new(null, StatusCodes.Status404NotFound, ProblemCodes.ModelNotFound, "Not found.",
        $"there is no model named '{model}'");
}
