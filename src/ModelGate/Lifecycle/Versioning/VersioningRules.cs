using System.Text.Json;
using ModelGate.Client;
using ModelGate.Registry;

namespace ModelGate.Lifecycle.Versioning;

/// <summary>How far a version moves from the one it is compared with, in increasing order of what it may carry.</summary>
public enum VersionBump
{
    None = 0,
    /// <summary>Only the pre-release part differs (<c>1.0.0</c> → <c>1.0.0-q4</c>): a quantised or distilled build.</summary>
    Qualifier = 1,
    Patch = 2,
    Minor = 3,
    Major = 4,
}

/// <summary>What the versioning rules know of a version: its number, its attestation and its artifacts' digests.</summary>
public sealed record VersionFacts(SemVersion Version, Attestation Attestation, IReadOnlyCollection<string> ArtifactDigests);

/// <summary>
/// One difference between a candidate and the version it is compared with. <see cref="Message"/> names what changed and
/// the bump it needs (<c>architecture changed: major version required</c>); <see cref="Detail"/> shows the values.
/// </summary>
public sealed record VersionChange(string Field, VersionBump Requires, string Message, string? Detail = null);

/// <summary>
/// The outcome of comparing a candidate with <see cref="ComparedWith"/>: the least bump its differences need, the bump
/// its number makes, and anything wrong with its number regardless of bump (<see cref="Conflicts"/>).
/// </summary>
public sealed record VersioningVerdict(
    SemVersion? ComparedWith,
    VersionBump Required,
    VersionBump Actual,
    IReadOnlyList<VersionChange> Changes,
    IReadOnlyList<string> Conflicts)
{
    public bool Accepted => Conflicts.Count == 0 && Actual >= Required;

    public static string Name(VersionBump bump) => bump.ToString().ToLowerInvariant();
}

/// <summary>
/// Semantic versioning adapted to models (DESIGN.md): the registry derives the least bump a new version needs from the
/// difference between its attestation and artifacts and those of an existing version, and refuses a smaller one.
/// </summary>
/// <remarks>
/// <para>Architecture → major; the set of dataset digests or the base model → minor; hyper-parameters, serving
/// configuration, prompt template, code (repository and commit) or artifact contents → patch. A declared quantisation or
/// distillation of the version it is compared with accounts for its artifact, hyper-parameter, serving-configuration and
/// code differences and needs only a qualifier; architecture, data, base model and prompt changes still need their own
/// bump. Environment, metrics, logs, trainer and times are a record of the run, not of the model: they need nothing.
/// A larger bump than needed is always allowed; the first version of a model is unconstrained.</para>
/// <para>The version compared with (<see cref="ReferenceFor"/>): the declared derivation's source if the model has it;
/// else, for a qualified version (<c>1.0.0-q4</c>) whose release (<c>1.0.0</c>) exists, that release; else the
/// highest release of the model, or its highest version if it has no release. Qualified builds are branches off a
/// release rather than steps of the line, so a new release is measured against the line of releases: comparing
/// <c>1.1.0</c> with a quantised <c>1.0.0-q4</c> would charge it for the quantisation.</para>
/// <para>A rejected version (rejected, or rejected and then retired) never became a release: it is left out of the
/// line, so it is neither compared with nor "the latest version" a new one must exceed. A <c>2.0.1</c> hotfix is
/// compared with <c>2.0.0</c> when <c>3.0.0</c> was rejected; its number stays taken. When every version of a model was
/// rejected, the next one is unconstrained like a first version.</para>
/// </remarks>
public static class VersioningRules
{
    /// <summary>
    /// The existing version a candidate is compared with (null for a model's first version). A declared derivation
    /// source or the candidate's own release is taken even if rejected; the line of releases leaves
    /// <paramref name="rejected"/> out.
    /// </summary>
    public static SemVersion? ReferenceFor(SemVersion candidate, Derivation? derivation, IReadOnlyCollection<SemVersion> existing,
        IReadOnlyCollection<SemVersion>? rejected = null)
    {
        if (existing.Count == 0)
        {
            return null;
        }
        if (derivation is not null && SemVersion.TryParse(derivation.From, out var from, out _) && existing.Contains(from!))
        {
            return from;
        }
        if (candidate.IsPrerelease && existing.Contains(candidate.Core))
        {
            return candidate.Core;
        }
        var line = Line(existing, rejected);
        if (line.Count == 0)
        {
            return null;
        }
        var releases = line.Where(v => !v.IsPrerelease).ToList();
        return (releases.Count > 0 ? releases : line).Max();
    }

    /// <summary>The versions that count as the model's line: every existing one except those rejected.</summary>
    public static IReadOnlyCollection<SemVersion> Line(IReadOnlyCollection<SemVersion> existing, IReadOnlyCollection<SemVersion>? rejected) =>
        rejected is null || rejected.Count == 0 ? existing : existing.Where(v => !rejected.Contains(v)).ToList();

    /// <summary>The bump from <paramref name="from"/> to <paramref name="to"/>: the most significant part that differs.</summary>
    public static VersionBump BumpBetween(SemVersion from, SemVersion to) =>
        to.Major != from.Major ? VersionBump.Major
        : to.Minor != from.Minor ? VersionBump.Minor
        : to.Patch != from.Patch ? VersionBump.Patch
        : to.Prerelease != from.Prerelease ? VersionBump.Qualifier
        : VersionBump.None;

    /// <summary>Every difference between two versions that the rules count, most demanding first.</summary>
    public static IReadOnlyList<VersionChange> Differences(VersionFacts previous, VersionFacts candidate)
    {
        var (p, c) = (previous.Attestation, candidate.Attestation);
        var changes = new List<VersionChange>();

        if (!string.Equals(Blank(p.Architecture), Blank(c.Architecture), StringComparison.Ordinal))
        {
            changes.Add(new("architecture", VersionBump.Major, "architecture changed: major version required",
                $"{Show(p.Architecture)} → {Show(c.Architecture)}"));
        }

        var (pData, cData) = (DatasetDigests(p), DatasetDigests(c));
        if (!pData.SetEquals(cData))
        {
            changes.Add(new("datasets", VersionBump.Minor, "datasets changed: minor version required", SetDetail(pData, cData)));
        }
        if (!string.Equals(Blank(p.BaseModel), Blank(c.BaseModel), StringComparison.Ordinal))
        {
            changes.Add(new("baseModel", VersionBump.Minor, "base model changed: minor version required",
                $"{Show(p.BaseModel)} → {Show(c.BaseModel)}"));
        }

        if (KeyedDetail(p.Hyperparameters, c.Hyperparameters) is { } hyper)
        {
            changes.Add(new("hyperparameters", VersionBump.Patch, "hyper-parameters changed: patch version required", hyper));
        }
        if (KeyedDetail(p.ServingConfig, c.ServingConfig) is { } serving)
        {
            changes.Add(new("servingConfig", VersionBump.Patch, "serving configuration changed: patch version required", serving));
        }
        if (PromptDetail(p.PromptTemplate, c.PromptTemplate) is { } prompt)
        {
            changes.Add(new("promptTemplate", VersionBump.Patch, "prompt template changed: patch version required", prompt));
        }
        if (!string.Equals(Blank(p.Code?.Repo), Blank(c.Code?.Repo), StringComparison.Ordinal) ||
            !string.Equals(Blank(p.Code?.Commit), Blank(c.Code?.Commit), StringComparison.Ordinal))
        {
            changes.Add(new("code", VersionBump.Patch, "code commit changed: patch version required",
                $"{ShowCode(p.Code)} → {ShowCode(c.Code)}"));
        }
        var (pArtifacts, cArtifacts) = (previous.ArtifactDigests.ToHashSet(StringComparer.Ordinal), candidate.ArtifactDigests.ToHashSet(StringComparer.Ordinal));
        if (!pArtifacts.SetEquals(cArtifacts))
        {
            changes.Add(new("artifacts", VersionBump.Patch, "artifact contents changed: patch version required", SetDetail(pArtifacts, cArtifacts)));
        }
        return changes;
    }

    /// <summary>Compares a candidate with the version <see cref="ReferenceFor"/> chose (null: the model's first version).</summary>
    public static VersioningVerdict Decide(VersionFacts candidate, VersionFacts? reference)
    {
        if (reference is null)
        {
            return new(null, VersionBump.None, VersionBump.None, [], []);
        }
        var conflicts = new List<string>();
        var changes = Differences(reference, candidate).ToList();
        var derivation = candidate.Attestation.Derivation;
        var derivedFromReference = derivation is not null && SemVersion.TryParse(derivation.From, out var from, out _) && from == reference.Version;
        if (derivedFromReference)
        {
            // A quantised or distilled build differs from its source in weights, the settings that made it, and how it is
            // served: the qualifier says so. What it was trained on, and what it is, still need their own bump.
            changes.RemoveAll(c => c.Field is "artifacts" or "hyperparameters" or "servingConfig" or "code");
            var method = derivation!.Method is null ? "" : $" ({derivation.Method})";
            changes.Add(new("derivation", VersionBump.Qualifier, $"{derivation.Kind} of {reference.Version}{method}: qualifier version required",
                $"{reference.Version} → {reference.Version.Core}-<qualifier> or higher"));
        }
        else if (derivation is not null)
        {
            conflicts.Add($"attestation.derivation.from is {derivation.From}, but {candidate.Version} is a build of {reference.Version}: " +
                          $"derive it from {reference.Version} or name it after the release of {derivation.From}");
        }

        var (c, r) = (candidate.Version, reference.Version);
        if (c.Core < r.Core)
        {
            conflicts.Add($"{c} is lower than {r}, the version it is compared with: a build of {r} is {r.Core}-<qualifier> or higher");
        }
        else if (derivedFromReference && c.IsPrerelease && c.Core != r.Core)
        {
            conflicts.Add($"{c} reads as a build of {c.Core}, but it is derived from {r}: name it {r.Core}-<qualifier>, or give it a release number");
        }
        var required = changes.Count == 0 ? VersionBump.None : changes.Max(x => x.Requires);
        var actual = BumpBetween(r, c);
        return new(r, required, actual, changes.OrderByDescending(x => x.Requires).ToList(), conflicts);
    }

    /// <summary>
    /// An existing version that serves exactly what the candidate would: the same artifact digests, prompt template and
    /// serving configuration. Training-record differences alone cannot make identical weights a new model; a prompt or
    /// serving change over the same artifacts can (an LLM integration's prompt is part of the model).
    /// </summary>
    public static VersionFacts? FindDuplicate(VersionFacts candidate, IEnumerable<VersionFacts> existing)
    {
        var digests = candidate.ArtifactDigests.ToHashSet(StringComparer.Ordinal);
        return existing
            .Where(e => e.ArtifactDigests.ToHashSet(StringComparer.Ordinal).SetEquals(digests)
                        && PromptDetail(e.Attestation.PromptTemplate, candidate.Attestation.PromptTemplate) is null
                        && KeyedDetail(e.Attestation.ServingConfig, candidate.Attestation.ServingConfig) is null)
            .OrderBy(e => e.Version)
            .FirstOrDefault();
    }

    /// <summary>
    /// The lowest release that makes the required bump from <paramref name="reference"/>, is above every version of the
    /// line (<paramref name="existing"/> less <paramref name="rejected"/>) and is not taken by a rejected one (null when
    /// a qualifier is all that is required: its name is the caller's choice).
    /// </summary>
    public static SemVersion? Suggest(SemVersion reference, VersionBump required, IReadOnlyCollection<SemVersion> existing,
        IReadOnlyCollection<SemVersion>? rejected = null)
    {
        if (required <= VersionBump.Qualifier)
        {
            return null;
        }
        var next = SuggestAbove(reference, required, Line(existing, rejected));
        while (existing.Contains(next))
        {
            next = Bump(next, required);
        }
        return next;
    }

    private static SemVersion SuggestAbove(SemVersion reference, VersionBump required, IReadOnlyCollection<SemVersion> existing)
    {
        var next = Bump(reference.Core, required);
        var latest = existing.Count == 0 ? null : existing.Max();
        if (latest is null || next > latest)
        {
            return next;
        }
        // A pre-release above the bump (1.5.0-rc.1 when 1.1.0 would do) is passed by its own release, if that is bump enough.
        return latest.IsPrerelease && !existing.Contains(latest.Core) && BumpBetween(reference, latest.Core) >= required
            ? latest.Core
            : Bump(latest.Core, required);
    }

    private static SemVersion Bump(SemVersion v, VersionBump bump) => bump switch
    {
        VersionBump.Major => new(v.Major + 1, 0, 0, null),
        VersionBump.Minor => new(v.Major, v.Minor + 1, 0, null),
        _ => new(v.Major, v.Minor, v.Patch + 1, null),
    };

    private static string? Blank(string? s) => string.IsNullOrWhiteSpace(s) ? null : s.Trim();

    private static string Show(string? s) => Blank(s) ?? "(none)";

    private static string ShowCode(CodeRef? code) => code is null ? "(none)" : $"{code.Repo}@{code.Commit}";

    private static HashSet<string> DatasetDigests(Attestation a) =>
        (a.Datasets ?? []).Where(d => d is not null).Select(d => Digests.Normalize(d.Sha256) ?? d.Sha256).ToHashSet(StringComparer.Ordinal);

    private static string SetDetail(HashSet<string> previous, HashSet<string> candidate)
    {
        var added = candidate.Except(previous).Order(StringComparer.Ordinal).ToList();
        var removed = previous.Except(candidate).Order(StringComparer.Ordinal).ToList();
        var parts = new List<string>();
        if (added.Count > 0)
        {
            parts.Add("added " + string.Join(", ", added));
        }
        if (removed.Count > 0)
        {
            parts.Add("removed " + string.Join(", ", removed));
        }
        return string.Join("; ", parts);
    }

    /// <summary>Null when two settings maps are equal (JSON values compared by value, key order ignored); else what changed.</summary>
    private static string? KeyedDetail(IReadOnlyDictionary<string, JsonElement>? previous, IReadOnlyDictionary<string, JsonElement>? candidate)
    {
        previous ??= new Dictionary<string, JsonElement>();
        candidate ??= new Dictionary<string, JsonElement>();
        var added = candidate.Keys.Where(k => !previous.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        var removed = previous.Keys.Where(k => !candidate.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        var changed = candidate.Keys.Where(k => previous.TryGetValue(k, out var old) && !JsonElement.DeepEquals(old, candidate[k]))
            .Order(StringComparer.Ordinal).ToList();
        if (added.Count + removed.Count + changed.Count == 0)
        {
            return null;
        }
        var parts = new List<string>();
        if (added.Count > 0)
        {
            parts.Add("added " + string.Join(", ", added));
        }
        if (removed.Count > 0)
        {
            parts.Add("removed " + string.Join(", ", removed));
        }
        if (changed.Count > 0)
        {
            parts.Add("changed " + string.Join(", ", changed.Select(k => $"{k} {previous[k].GetRawText()} → {candidate[k].GetRawText()}")));
        }
        return string.Join("; ", parts);
    }

    private static string? PromptDetail(PromptTemplate? previous, PromptTemplate? candidate)
    {
        var parts = new List<string>();
        if (!string.Equals(previous?.System, candidate?.System, StringComparison.Ordinal))
        {
            parts.Add("system");
        }
        if (!string.Equals(previous?.Template, candidate?.Template, StringComparison.Ordinal))
        {
            parts.Add("template");
        }
        if (!(previous?.Variables ?? []).SequenceEqual(candidate?.Variables ?? [], StringComparer.Ordinal))
        {
            parts.Add("variables");
        }
        return parts.Count == 0 ? null : "changed " + string.Join(", ", parts);
    }
}
