using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Registry;
using ModelGate.Storage;
using ModelGate.Storage.Registry;

namespace ModelGate.Lifecycle.Versioning;

/// <summary>Stable codes of the versioning refusals (to join <see cref="ProblemCodes"/>).</summary>
public static class VersioningProblemCodes
{
    /// <summary>422: the version number makes a smaller bump than the differences need.</summary>
    public const string VersionBumpTooSmall = "version_bump_too_small";
    /// <summary>409: an existing version already serves the same artifacts.</summary>
    public const string DuplicateVersion = "duplicate_version";
    /// <summary>422: <c>attestation.derivation.from</c> names a version the model does not have.</summary>
    public const string UnknownDerivationSource = "unknown_derivation_source";
}

/// <summary>Applies <see cref="VersioningRules"/> to a version being created, loading only the versions it needs.</summary>
public static class VersionCreationCheck
{
    public static async Task<(VersioningVerdict? Verdict, ProblemHttpResult? Problem)> CheckAsync(ModelGateDbContext db, long modelId, string model,
        VersionFacts candidate, IReadOnlyCollection<SemVersion> existing, IReadOnlyCollection<SemVersion> rejected, CancellationToken cancellationToken)
    {
        var derivation = candidate.Attestation.Derivation;
        if (derivation is not null && !existing.Contains(SemVersion.Parse(derivation.From)))
        {
            return (null, Problems.Unprocessable(VersioningProblemCodes.UnknownDerivationSource,
                $"attestation.derivation.from names {derivation.From}, which model '{model}' does not have",
                new Dictionary<string, object?> { ["from"] = derivation.From }));
        }

        // A duplicate holds every artifact of the candidate, so it holds the first: one indexed lookup finds all there can be.
        var first = candidate.ArtifactDigests.First();
        var sharing = await db.ModelVersions.AsNoTracking().AsSplitQuery().Include(v => v.Artifacts)
            .Where(v => v.ModelId == modelId && v.Artifacts.Any(a => a.Sha256 == first))
            .ToListAsync(cancellationToken);
        if (VersioningRules.FindDuplicate(candidate, sharing.Select(ToFacts)) is { } duplicate)
        {
            return (null, Problems.Conflict(VersioningProblemCodes.DuplicateVersion,
                $"{model}@{duplicate.Version} already has these artifacts (with the same prompt template and serving configuration): " +
                $"a version with identical artifacts is a duplicate of it",
                new Dictionary<string, object?> { ["existing"] = duplicate.Version.ToString() }));
        }

        var referenceVersion = VersioningRules.ReferenceFor(candidate.Version, derivation, existing, rejected);
        VersionFacts? reference = null;
        if (referenceVersion is not null)
        {
            var text = referenceVersion.ToString();
            var entity = await db.ModelVersions.AsNoTracking().AsSingleQuery().Include(v => v.Artifacts)
                .FirstAsync(v => v.ModelId == modelId && v.Version == text, cancellationToken);
            reference = ToFacts(entity);
        }
        var verdict = VersioningRules.Decide(candidate, reference);
        return verdict.Accepted ? (verdict, null) : (verdict, Refusal(model, candidate.Version, verdict, existing, rejected));
    }

    public static ProblemHttpResult Refusal(string model, SemVersion candidate, VersioningVerdict verdict, IReadOnlyCollection<SemVersion> existing,
        IReadOnlyCollection<SemVersion>? rejected = null)
    {
        var reasons = new List<string>(verdict.Conflicts);
        if (verdict.Actual < verdict.Required)
        {
            var hint = verdict.Actual == VersionBump.Qualifier && candidate.IsPrerelease
                ? " (a qualifier alone is enough only for a quantised or distilled build that declares attestation.derivation)"
                : "";
            reasons.Add($"{candidate} is a {Name(verdict.Actual)} step from {verdict.ComparedWith}, but the changes require a {Name(verdict.Required)} version{hint}: " +
                        string.Join("; ", verdict.Changes.Where(c => c.Requires > verdict.Actual).Select(c => c.Message)));
        }
        var suggested = verdict.Actual < verdict.Required && verdict.ComparedWith is not null
            ? VersioningRules.Suggest(verdict.ComparedWith, verdict.Required, existing, rejected)?.ToString()
            : null;
        return Problems.Result(StatusCodes.Status422UnprocessableEntity, VersioningProblemCodes.VersionBumpTooSmall,
            "The version number does not match what changed.", $"{model}@{candidate}: {string.Join("; ", reasons)}",
            new Dictionary<string, object?>
            {
                ["comparedWith"] = verdict.ComparedWith?.ToString(),
                ["required"] = VersioningVerdict.Name(verdict.Required),
                ["actual"] = VersioningVerdict.Name(verdict.Actual),
                ["suggested"] = suggested,
                ["differences"] = Describe(verdict.Changes),
                ["conflicts"] = verdict.Conflicts,
            });
    }

    /// <summary>The differences as the problem and the audit event carry them.</summary>
    public static List<Dictionary<string, string?>> Describe(IEnumerable<VersionChange> changes) =>
        changes.Select(c => new Dictionary<string, string?>
        {
            ["field"] = c.Field,
            ["requires"] = VersioningVerdict.Name(c.Requires),
            ["message"] = c.Message,
            ["detail"] = c.Detail,
        }).ToList();

    private static string Name(VersionBump bump) => bump == VersionBump.None ? "no" : VersioningVerdict.Name(bump);

    private static VersionFacts ToFacts(ModelVersionEntity v) =>
        new(SemVersion.Parse(v.Version), RegistryMapping.ReadAttestation(v.Attestation), v.Artifacts.Select(a => a.Sha256).ToList());
}
