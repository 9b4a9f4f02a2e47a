using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using ModelGate.Registry;

namespace ModelGate.Lifecycle.Archives;

public enum ArchiveEntryStatus
{
    /// <summary>In the manifest and in the archive, with the listed size and digest.</summary>
    Ok,
    /// <summary>In both, but its size or digest is not the one listed.</summary>
    Mismatched,
    /// <summary>Listed in the manifest, absent from the archive.</summary>
    Missing,
    /// <summary>In the archive, not listed in the manifest.</summary>
    Extra,
    /// <summary>A name or entry type that extraction could abuse (absolute, '..', a link, a device…); never read as content.</summary>
    Unsafe,
    /// <summary>A second entry with a name already seen: extraction would overwrite the first.</summary>
    Duplicate,
}

public sealed record ArchiveEntryCheck(string Path, ArchiveEntryStatus Status, long? ExpectedSize = null, string? ExpectedSha256 = null,
    long? ActualSize = null, string? ActualSha256 = null, string? Reason = null);

/// <summary>
/// The verdict on an archive: every entry checked, and problems with the archive as a whole (unreadable, no manifest,
/// a manifest that does not match its digest file or the digest recorded for it).
/// </summary>
public sealed record ArchiveVerification(
    bool Valid,
    string? ManifestSha256,
    ArchiveManifest? Manifest,
    IReadOnlyList<ArchiveEntryCheck> Entries,
    IReadOnlyList<string> Problems)
{
    public IEnumerable<ArchiveEntryCheck> Failed => Entries.Where(e => e.Status != ArchiveEntryStatus.Ok);
}

/// <summary>
/// Checks an archive written by <see cref="ArchiveWriter"/> without extracting anything: entries are only hashed,
/// so names like <c>../../etc/passwd</c>, links and devices in a tampered archive are reported, never followed.
/// </summary>
public static class ArchiveVerifier
{
    public const int MaxEntries = 100_000;
    public const int MaxManifestBytes = 32 * 1024 * 1024;

    public static ArchiveVerification Verify(Stream archive, string? expectedManifestSha256 = null) =>
        VerifyAsync(archive, expectedManifestSha256).GetAwaiter().GetResult();

    /// <param name="expectedManifestSha256">The manifest digest recorded when the archive was written; without it a
    /// manifest rewritten together with its digest file cannot be told from the original.</param>
    public static async Task<ArchiveVerification> VerifyAsync(Stream archive, string? expectedManifestSha256 = null, CancellationToken cancellationToken = default)
    {
        var problems = new List<string>();
        var checks = new List<ArchiveEntryCheck>();
        var found = new Dictionary<string, (long Size, string Sha256)>(StringComparer.Ordinal);
        byte[]? manifestBytes = null;
        string? digestText = null;

        try
        {
            await using var gzip = new GZipStream(archive, CompressionMode.Decompress, leaveOpen: true);
            await using var reader = new TarReader(gzip, leaveOpen: true);
            var count = 0;
            while (await reader.GetNextEntryAsync(copyData: false, cancellationToken) is { } entry)
            {
                if (++count > MaxEntries)
                {
                    problems.Add($"the archive has more than {MaxEntries} entries");
                    break;
                }
                var name = entry.Name;
                if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile))
                {
                    checks.Add(new(name, ArchiveEntryStatus.Unsafe, Reason: $"a {entry.EntryType} entry, not a regular file" +
                        (string.IsNullOrEmpty(entry.LinkName) ? "" : $" (to '{entry.LinkName}')")));
                    continue;
                }
                if (ArchivePaths.Problem(name) is { } unsafeName)
                {
                    checks.Add(new(name, ArchiveEntryStatus.Unsafe, Reason: unsafeName));
                    continue;
                }
                if (found.ContainsKey(name) || (name == ArchiveWriter.ManifestPath && manifestBytes is not null) ||
                    (name == ArchiveWriter.ManifestDigestPath && digestText is not null))
                {
                    checks.Add(new(name, ArchiveEntryStatus.Duplicate, Reason: "the name appears twice; extracting would keep only the last"));
                    continue;
                }
                switch (name)
                {
                    case ArchiveWriter.ManifestPath:
                        manifestBytes = await ReadLimitedAsync(entry.DataStream, MaxManifestBytes, cancellationToken);
                        if (manifestBytes is null)
                        {
                            problems.Add($"{ArchiveWriter.ManifestPath} is larger than {MaxManifestBytes} bytes");
                            manifestBytes = [];
                        }
                        break;
                    case ArchiveWriter.ManifestDigestPath:
                        digestText = Encoding.ASCII.GetString(await ReadLimitedAsync(entry.DataStream, 1024, cancellationToken) ?? []);
                        break;
                    default:
                        found[name] = await HashAsync(entry.DataStream, cancellationToken);
                        break;
                }
            }
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or FormatException or ArgumentException or IOException)
        {
            problems.Add($"not a readable .tar.gz: {e.Message}");
        }

        var manifestSha = manifestBytes is null ? null : Convert.ToHexStringLower(SHA256.HashData(manifestBytes));
        var manifest = manifestBytes is null ? null : ReadManifest(manifestBytes, problems);
        if (manifestBytes is null)
        {
            problems.Add($"{ArchiveWriter.ManifestPath} is missing");
        }
        else
        {
            CheckDigests(manifestSha!, digestText, expectedManifestSha256, problems);
        }

        var listed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in manifest?.Entries ?? [])
        {
            listed.Add(item.Path);
            checks.Add(!found.TryGetValue(item.Path, out var actual)
                ? new(item.Path, ArchiveEntryStatus.Missing, item.Size, item.Sha256, Reason: "listed in the manifest, not in the archive")
                : actual.Size == item.Size && actual.Sha256 == item.Sha256
                    ? new(item.Path, ArchiveEntryStatus.Ok, item.Size, item.Sha256, actual.Size, actual.Sha256)
                    : new(item.Path, ArchiveEntryStatus.Mismatched, item.Size, item.Sha256, actual.Size, actual.Sha256,
                        actual.Sha256 != item.Sha256 ? "the SHA-256 is not the one listed" : "the size is not the one listed"));
        }
        foreach (var (path, actual) in found.Where(f => !listed.Contains(f.Key)).OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            checks.Add(new(path, ArchiveEntryStatus.Extra, ActualSize: actual.Size, ActualSha256: actual.Sha256, Reason: "not listed in the manifest"));
        }

        var ordered = checks.OrderBy(c => c.Status == ArchiveEntryStatus.Ok).ThenBy(c => c.Path, StringComparer.Ordinal).ToList();
        return new ArchiveVerification(problems.Count == 0 && ordered.All(c => c.Status == ArchiveEntryStatus.Ok), manifestSha, manifest, ordered, problems);
    }

    private static void CheckDigests(string manifestSha, string? digestText, string? expected, List<string> problems)
    {
        if (digestText is null)
        {
            problems.Add($"{ArchiveWriter.ManifestDigestPath} is missing");
        }
        else
        {
            var recorded = digestText.Split([' ', '\t', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
            if (!string.Equals(recorded, manifestSha, StringComparison.OrdinalIgnoreCase))
            {
                problems.Add($"{ArchiveWriter.ManifestPath} has SHA-256 {manifestSha}, but {ArchiveWriter.ManifestDigestPath} says {recorded ?? "nothing"}: the manifest was changed");
            }
        }
        if (expected is not null)
        {
            var normalized = Digests.Normalize(expected);
            if (normalized != manifestSha)
            {
                problems.Add($"{ArchiveWriter.ManifestPath} has SHA-256 {manifestSha}, not the {expected} recorded for this archive: the manifest was changed");
            }
        }
    }

    private static ArchiveManifest? ReadManifest(byte[] bytes, List<string> problems)
    {
        ArchiveManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<ArchiveManifest>(bytes, ArchiveManifest.Json);
        }
        catch (JsonException e)
        {
            problems.Add($"{ArchiveWriter.ManifestPath} is not a manifest: {e.Message}");
            return null;
        }
        if (manifest is null || manifest.Format != ArchiveManifest.CurrentFormat || manifest.Entries is null)
        {
            problems.Add($"{ArchiveWriter.ManifestPath} is not a {ArchiveManifest.CurrentFormat} manifest");
            return null;
        }
        var paths = new HashSet<string>(StringComparer.Ordinal);
        var kept = new List<ArchiveManifestEntry>();
        foreach (var e in manifest.Entries)
        {
            if (e is null || ArchivePaths.Problem(e.Path) is { } problem)
            {
                problems.Add($"the manifest lists an unsafe path '{e?.Path}': {ArchivePaths.Problem(e?.Path)}");
                continue;
            }
            if (ArchiveWriter.IsReserved(e.Path) || !paths.Add(e.Path) || e.Size < 0 || !Digests.IsSha256(e.Sha256))
            {
                problems.Add($"the manifest's entry '{e.Path}' is reserved, repeated, or lacks a size and lower-case SHA-256");
                continue;
            }
            kept.Add(e);
        }
        return manifest with { Entries = kept };
    }

    private static async Task<(long Size, string Sha256)> HashAsync(Stream? data, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long size = 0;
        if (data is not null)
        {
            var buffer = new byte[81920];
            int read;
            while ((read = await data.ReadAsync(buffer, cancellationToken)) > 0)
            {
                hash.AppendData(buffer, 0, read);
                size += read;
            }
        }
        return (size, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }

    /// <summary>The whole stream, or null when it is longer than <paramref name="limit"/> (the rest is skipped by the reader).</summary>
    private static async Task<byte[]?> ReadLimitedAsync(Stream? data, int limit, CancellationToken cancellationToken)
    {
        if (data is null)
        {
            return [];
        }
        var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await data.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                return null;
            }
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }
}
