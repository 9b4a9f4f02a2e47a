using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Storage;
using ModelGate.Storage.Registry;

namespace ModelGate.Registry;

/// <summary>
/// A version looked up by model name and version text: the entity, or why there is none — a <see cref="Refusal"/>, which
/// the REST handlers answer as problem+json (<see cref="Problems.From"/>) and domain services and the console report as it is.
/// </summary>
public sealed record VersionLookup(ModelVersionEntity? Entity, Refusal? Refused = null);

/// <summary>The one version lookup: a valid model name, a semantic version (canonicalised), then the version with its model and artifacts.</summary>
public static class Versions
{
    public static async Task<VersionLookup> FindAsync(ModelGateDbContext db, string model, string version, CancellationToken cancellationToken,
        bool tracked = false)
    {
        if (!Names.IsValidModelName(model))
        {
            return new VersionLookup(null, InvalidModelName(model));
        }
        if (!SemVersion.TryParse(version, out var semver, out var error))
        {
            return new VersionLookup(null, new Refusal(StatusCodes.Status400BadRequest, ProblemCodes.InvalidVersion, "The version is not valid.", error));
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
            ? new VersionLookup(null, new Refusal(StatusCodes.Status404NotFound, ProblemCodes.VersionNotFound, "Not found.", $"model '{model}' has no version {canonical}"))
            : new VersionLookup(null, NoSuchModel(model));
    }

    /// <summary>The refusal of a model name that breaks the naming rule (400).</summary>
    public static Refusal InvalidModelName(string model) => new(StatusCodes.Status400BadRequest, ProblemCodes.InvalidName,
        "The model name is not valid.", $"'{ClientText.Echo(model)}' is not a valid name: {Names.ModelNameRule}");

    /// <summary>The refusal of a model name no model has (404).</summary>
    public static Refusal NoSuchModel(string model) => new(StatusCodes.Status404NotFound, ProblemCodes.ModelNotFound, "Not found.",
        $"there is no model named '{model}'");
}
