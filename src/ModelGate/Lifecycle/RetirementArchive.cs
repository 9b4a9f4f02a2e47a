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
}
