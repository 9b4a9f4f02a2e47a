using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace ModelGate.Lifecycle.Archives;

/// <summary>
/// <c>manifest.json</c>: what the archive holds. <see cref="Metadata"/> is the caller's (model, version, trigger, time…);
/// each entry is listed with its size and SHA-256, in path order.
/// </summary>
public sealed record ArchiveManifest(string Format, IReadOnlyDictionary<string, string> Metadata, IReadOnlyList<ArchiveManifestEntry> Entries)
{
    public const string CurrentFormat = "modelgate-archive/1";

    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        NewLine = "\n",
        // Readable paths and text in a file meant for people and sha256sum alike; it is never embedded in HTML.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>The manifest's canonical bytes (indented UTF-8, '\n' line ends, metadata keys in ordinal order).</summary>
    public byte[] ToBytes() => JsonSerializer.SerializeToUtf8Bytes(
        this with { Metadata = new SortedDictionary<string, string>(Metadata.ToDictionary(), StringComparer.Ordinal) }, Json);
}

public sealed record ArchiveManifestEntry(string Path, long Size, string Sha256);

/// <summary>What was written: the archive's digest and size, and the manifest with its digest (record that one with the version).</summary>
public sealed record ArchiveResult(string Sha256, long Size, string ManifestSha256, ArchiveManifest Manifest);
