using System.Text.Json;
using System.Text.Json.Nodes;
using ModelGate.Client;
using ModelGate.Lifecycle.Versioning;
using ModelGate.Storage.Registry;

namespace ModelGate.Registry;

/// <summary>
/// The difference between two versions of a model, as people review it: the prompt as text (a line diff), the attestation
/// field by field, the artifacts, and the bump the versioning rules (<see cref="VersioningRules.Decide"/>) derive from them.
/// </summary>
public static class VersionDiff
{
    /// <summary>Texts longer than this many lines are compared as a whole (all removed, all added) rather than line by line.</summary>
    public const int MaxDiffLines = 2000;

    public static VersionDiffDto Compare(string model, ModelVersionEntity from, ModelVersionEntity to)
    {
        var (a, b) = (RegistryMapping.ReadAttestation(from.Attestation), RegistryMapping.ReadAttestation(to.Attestation));
        var (pa, pb) = (a.PromptTemplate, b.PromptTemplate);
        var system = TextChanged(pa?.System, pb?.System) ? Lines(pa?.System, pb?.System) : null;
        var template = TextChanged(pa?.Template, pb?.Template) ? Lines(pa?.Template, pb?.Template) : null;
        var (va, vb) = (pa?.Variables ?? [], pb?.Variables ?? []);
        var added = vb.Except(va, StringComparer.Ordinal).ToList();
        var removed = va.Except(vb, StringComparer.Ordinal).ToList();
        var prompt = new PromptDiffDto(system is not null || template is not null || added.Count > 0 || removed.Count > 0, system, template, added, removed);

        var artifactsA = from.Artifacts.Select(x => new ArtifactRef(x.Sha256, x.FileName, x.MediaType, x.Size)).ToList();
        var artifactsB = to.Artifacts.Select(x => new ArtifactRef(x.Sha256, x.FileName, x.MediaType, x.Size)).ToList();
        var artifacts = new ArtifactsDiffDto(artifactsB.Where(x => !artifactsA.Any(y => y.Sha256 == x.Sha256)).ToList(),
            artifactsA.Where(x => !artifactsB.Any(y => y.Sha256 == x.Sha256)).ToList());

        var verdict = VersioningRules.Decide(Facts(to, b), Facts(from, a));
        var versioning = new VersionBumpDto(VersioningVerdict.Name(verdict.Required), VersioningVerdict.Name(verdict.Actual), verdict.Accepted,
            verdict.Changes.Select(c => new VersionChangeDto(c.Field, VersioningVerdict.Name(c.Requires), c.Message, c.Detail)).ToList(), verdict.Conflicts);
        return new VersionDiffDto(model, from.Version, to.Version, prompt, Fields(from.Attestation, to.Attestation), artifacts, versioning);
    }

    private static VersionFacts Facts(ModelVersionEntity v, Attestation a) => new(SemVersion.Parse(v.Version), a, v.Artifacts.Select(x => x.Sha256).ToList());

    private static bool TextChanged(string? a, string? b) => !string.Equals(a ?? "", b ?? "", StringComparison.Ordinal);

    /// <summary>A line diff from the longest common subsequence of lines: <c>"  "</c> kept, <c>"- "</c> removed, <c>"+ "</c> added.</summary>
    public static IReadOnlyList<string> Lines(string? before, string? after)
    {
        var a = Split(before);
        var b = Split(after);
        if (a.Length > MaxDiffLines || b.Length > MaxDiffLines)
        {
            return [.. a.Select(l => "- " + l), .. b.Select(l => "+ " + l)];
        }
        // lengths[i, j]: the longest common subsequence of a[i..] and b[j..].
        var lengths = new int[a.Length + 1, b.Length + 1];
        for (var i = a.Length - 1; i >= 0; i--)
        {
            for (var j = b.Length - 1; j >= 0; j--)
            {
                lengths[i, j] = a[i] == b[j] ? lengths[i + 1, j + 1] + 1 : Math.Max(lengths[i + 1, j], lengths[i, j + 1]);
            }
        }
        var lines = new List<string>(a.Length + b.Length);
        var (x, y) = (0, 0);
        while (x < a.Length && y < b.Length)
        {
            if (a[x] == b[y])
            {
                lines.Add("  " + a[x]);
                x++;
                y++;
            }
            else if (lengths[x + 1, y] >= lengths[x, y + 1])
            {
                lines.Add("- " + a[x++]);
            }
            else
            {
                lines.Add("+ " + b[y++]);
            }
        }
        lines.AddRange(a.Skip(x).Select(l => "- " + l));
        lines.AddRange(b.Skip(y).Select(l => "+ " + l));
        return lines;
    }

    private static string[] Split(string? text) => string.IsNullOrEmpty(text) ? [] : text.Replace("\r\n", "\n").Split('\n');

    /// <summary>Every leaf of the two attestations (JSON paths) whose value differs, in path order.</summary>
    public static IReadOnlyList<AttestationChangeDto> Fields(string fromJson, string toJson)
    {
        var a = new SortedDictionary<string, JsonNode?>(StringComparer.Ordinal);
        var b = new SortedDictionary<string, JsonNode?>(StringComparer.Ordinal);
        Flatten(JsonNode.Parse(fromJson), "", a);
        Flatten(JsonNode.Parse(toJson), "", b);
        var changes = new List<AttestationChangeDto>();
        foreach (var path in a.Keys.Union(b.Keys).Order(StringComparer.Ordinal))
        {
            var (x, y) = (a.GetValueOrDefault(path), b.GetValueOrDefault(path));
            if (!JsonNode.DeepEquals(x, y))
            {
                changes.Add(new AttestationChangeDto(path, Element(x), Element(y)));
            }
        }
        return changes;
    }

    private static JsonElement? Element(JsonNode? node) => node is null ? null : JsonSerializer.SerializeToElement(node);

    private static void Flatten(JsonNode? node, string path, IDictionary<string, JsonNode?> leaves)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (name, value) in o)
                {
                    Flatten(value, path.Length == 0 ? name : $"{path}.{name}", leaves);
                }
                break;
            case JsonArray array:
                for (var i = 0; i < array.Count; i++)
                {
                    Flatten(array[i], $"{path}[{i}]", leaves);
                }
                break;
            case null:
                break; // an absent field and a null one read the same
            default:
                leaves[path] = node.DeepClone();
                break;
        }
    }
}
