using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;

namespace ModelGate.Lifecycle;

/// <summary>The retirement archive's entries and its bytes (a gzipped tar with a SHA-256 manifest).</summary>
public static class RetirementArchive
{
    public sealed record Entry(string Path, byte[] Content);

    public static byte[] Write(IReadOnlyList<Entry> entries)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true))
        using (var tar = new TarWriter(gzip, TarEntryFormat.Pax, leaveOpen: true))
        {
            var manifest = entries.OrderBy(e => e.Path, StringComparer.Ordinal)
                .Select(e => new { path = e.Path, size = e.Content.Length, sha256 = Convert.ToHexStringLower(SHA256.HashData(e.Content)) }).ToList();
            foreach (var entry in entries.OrderBy(e => e.Path, StringComparer.Ordinal).Append(new Entry("manifest.json", JsonSerializer.SerializeToUtf8Bytes(new { entries = manifest }))))
            {
                var tarEntry = new PaxTarEntry(TarEntryType.RegularFile, entry.Path) { DataStream = new MemoryStream(entry.Content), ModificationTime = DateTimeOffset.UnixEpoch };
                tar.WriteEntry(tarEntry);
            }
        }
        return output.ToArray();
    }

    /// <summary>Checks every entry of an archive against its manifest: missing, extra and altered entries are each named.</summary>
    public static IReadOnlyList<string> Verify(Stream archive)
    {
        var problems = new List<string>();
        var entries = new Dictionary<string, string>(StringComparer.Ordinal);
        byte[]? manifest = null;
        try
        {
            using var gzip = new GZipStream(archive, CompressionMode.Decompress, leaveOpen: true);
            using var tar = new TarReader(gzip);
            while (tar.GetNextEntry() is { } entry)
            {
                using var content = new MemoryStream();
                entry.DataStream?.CopyTo(content);
                if (entry.Name == "manifest.json")
                {
                    manifest = content.ToArray();
                }
                else if (!entries.TryAdd(entry.Name, Convert.ToHexStringLower(SHA256.HashData(content.ToArray()))))
                {
                    problems.Add($"{entry.Name}: appears twice");
                }
            }
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException)
        {
            return [$"not a readable archive: {e.Message}"];
        }
        if (manifest is null)
        {
            return [.. problems, "manifest.json: missing"];
        }
        Dictionary<string, string> listed;
        try
        {
            using var doc = JsonDocument.Parse(manifest);
            listed = doc.RootElement.GetProperty("entries").EnumerateArray()
                .ToDictionary(e => e.GetProperty("path").GetString()!, e => e.GetProperty("sha256").GetString()!, StringComparer.Ordinal);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or ArgumentException)
        {
            return [.. problems, $"manifest.json: unreadable ({e.Message})"];
        }
        foreach (var (path, sha) in listed)
        {
            if (!entries.TryGetValue(path, out var actual))
            {
                problems.Add($"{path}: listed in the manifest but missing");
            }
            else if (actual != sha)
            {
                problems.Add($"{path}: sha256 {actual}, the manifest says {sha}");
            }
        }
        problems.AddRange(entries.Keys.Where(p => !listed.ContainsKey(p)).Select(p => $"{p}: not in the manifest"));
        return problems;
    }
}
