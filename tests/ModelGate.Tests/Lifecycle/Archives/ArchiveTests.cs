using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using ModelGate.Lifecycle.Archives;

namespace ModelGate.Tests.Lifecycle.Archives;

public sealed class ArchiveTests
{
    private static readonly Dictionary<string, string> Metadata = new()
    {
        ["model"] = "adult-income",
        ["version"] = "1.0.0",
        ["trigger"] = "replaced",
        ["retiredAt"] = "2026-11-01T12:00:00Z",
    };

    private static readonly (string Path, string Content)[] Contents =
    [
        ("card/model-card.json", """{"intendedUse": "review queue ranking"}"""),
        ("card/model-card.md", "# Model card: adult-income 1.0.0\n"),
        ("attestation.json", """{"trainer": "alice", "architecture": "logistic-regression"}"""),
        ("evaluations/eval_01.json", """{"roc_auc": 0.9054}"""),
        ("approvals/appr_01.json", """{"decision": "approved", "role": "ml-lead"}"""),
        ("staging-checks/chk_01.json", """{"check": "rollback-drill", "passed": true}"""),
        ("prompt-template.json", "null"),
        ("audit-events.jsonl", "{\"sequence\": 1}\n{\"sequence\": 2}\n"),
    ];

    private static List<ArchiveEntry> Entries(bool logsAsStream = true)
    {
        var entries = Contents.Select(c => ArchiveEntry.FromText(c.Path, c.Content)).ToList();
        var logs = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Range(0, 5000).Select(i => $"{{\"requestId\": \"r{i}\", \"status\": 200}}\n")));
        entries.Add(logsAsStream ? ArchiveEntry.FromStream("request-logs.jsonl", new MemoryStream(logs)) : ArchiveEntry.FromBytes("request-logs.jsonl", logs));
        return entries;
    }

    private static async Task<(byte[] Archive, ArchiveResult Result)> WriteAsync(IEnumerable<ArchiveEntry>? entries = null, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var output = new MemoryStream();
        var result = await ArchiveWriter.WriteAsync(output, entries ?? Entries(), metadata ?? Metadata);
        return (output.ToArray(), result);
    }

    private sealed record RawEntry(string Name, TarEntryType Type, byte[] Data, string? LinkName = null, DateTimeOffset? Time = null);

    private static List<RawEntry> Read(byte[] archive)
    {
        var list = new List<RawEntry>();
        using var reader = new TarReader(new GZipStream(new MemoryStream(archive), CompressionMode.Decompress));
        while (reader.GetNextEntry() is { } e)
        {
            var data = new MemoryStream();
            e.DataStream?.CopyTo(data);
            list.Add(new RawEntry(e.Name, e.EntryType, data.ToArray(), e.LinkName, e.ModificationTime));
        }
        return list;
    }

    /// <summary>Rewrites an archive as a tamperer with tar and gzip would.</summary>
    private static byte[] Tamper(byte[] archive, Action<List<RawEntry>> change)
    {
        var entries = Read(archive);
        change(entries);
        var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        using (var writer = new TarWriter(gzip, TarEntryFormat.Pax))
        {
            foreach (var e in entries)
            {
                var entry = new PaxTarEntry(e.Type, e.Name);
                if (e.LinkName is { Length: > 0 })
                {
                    entry.LinkName = e.LinkName;
                }
                if (e.Type is TarEntryType.RegularFile)
                {
                    entry.DataStream = new MemoryStream(e.Data);
                }
                writer.WriteEntry(entry);
            }
        }
        return output.ToArray();
    }

    private static RawEntry With(RawEntry e, string text) => e with { Data = Encoding.UTF8.GetBytes(text) };

    private static string Sha(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static async Task<ArchiveVerification> VerifyAsync(byte[] archive, string? expectedManifestSha256 = null) =>
        await ArchiveVerifier.VerifyAsync(new MemoryStream(archive), expectedManifestSha256);

    [Fact]
    public async Task RoundTrip_ManifestListsEveryEntry_AndTheArchiveVerifies()
    {
        var (archive, result) = await WriteAsync();
        Assert.Equal(Sha(archive), result.Sha256);
        Assert.Equal(archive.Length, result.Size);

        var raw = Read(archive);
        var expectedOrder = Contents.Select(c => c.Path).Append("request-logs.jsonl").Order(StringComparer.Ordinal).ToList();
        Assert.Equal(["manifest.json", "manifest.json.sha256", .. expectedOrder], raw.Select(e => e.Name));
        Assert.All(raw, e => Assert.Equal(ArchiveWriter.EntryTime, e.Time));
        Assert.All(raw, e => Assert.Equal(TarEntryType.RegularFile, e.Type));

        Assert.Equal(expectedOrder, result.Manifest.Entries.Select(e => e.Path));
        foreach (var entry in result.Manifest.Entries)
        {
            var bytes = raw.Single(r => r.Name == entry.Path).Data;
            Assert.Equal(bytes.Length, entry.Size);
            Assert.Equal(Sha(bytes), entry.Sha256);
        }
        Assert.Equal(Sha(raw[0].Data), result.ManifestSha256);
        Assert.Equal($"{result.ManifestSha256}  manifest.json\n", Encoding.ASCII.GetString(raw[1].Data));
        var manifest = JsonNode.Parse(raw[0].Data)!;
        Assert.Equal("modelgate-archive/1", (string?)manifest["format"]);
        Assert.Equal("replaced", (string?)manifest["metadata"]!["trigger"]);

        var verification = await VerifyAsync(archive, result.ManifestSha256);
        Assert.True(verification.Valid, string.Join("; ", verification.Problems.Concat(verification.Failed.Select(f => $"{f.Path}: {f.Status}"))));
        Assert.Equal(expectedOrder, verification.Entries.Select(e => e.Path));
        Assert.All(verification.Entries, e => Assert.Equal(ArchiveEntryStatus.Ok, e.Status));
        Assert.Equal(result.ManifestSha256, verification.ManifestSha256);
        Assert.Equal("adult-income", verification.Manifest!.Metadata["model"]);
        Assert.True(ArchiveVerifier.Verify(new MemoryStream(archive)).Valid);
    }

    [Fact]
    public async Task SameInputs_GiveTheSameArchiveDigest_HoweverTheyAreSupplied()
    {
        var (_, first) = await WriteAsync(Entries(logsAsStream: true));
        await Task.Delay(1100); // a clock-dependent header would show now
        var shuffled = Entries(logsAsStream: false);
        shuffled.Reverse();
        var (_, second) = await WriteAsync(shuffled, Metadata.Reverse().ToDictionary());
        Assert.Equal(first.Sha256, second.Sha256);
        Assert.Equal(first.ManifestSha256, second.ManifestSha256);

        var (_, other) = await WriteAsync(Entries().Append(ArchiveEntry.FromText("notes.txt", "x")));
        Assert.NotEqual(first.Sha256, other.Sha256);
    }

    [Fact]
    public async Task FlippedByteInAnEntry_IsNamedAsMismatched()
    {
        var (archive, result) = await WriteAsync();
        var tampered = Tamper(archive, entries =>
        {
            var i = entries.FindIndex(e => e.Name == "evaluations/eval_01.json");
            var data = (byte[])entries[i].Data.Clone();
            data[5] ^= 0x01;
            entries[i] = entries[i] with { Data = data };
        });
        var verification = await VerifyAsync(tampered, result.ManifestSha256);
        Assert.False(verification.Valid);
        var failed = Assert.Single(verification.Failed);
        Assert.Equal(("evaluations/eval_01.json", ArchiveEntryStatus.Mismatched), (failed.Path, failed.Status));
        Assert.Equal(result.Manifest.Entries.Single(e => e.Path == failed.Path).Sha256, failed.ExpectedSha256);
        Assert.NotEqual(failed.ExpectedSha256, failed.ActualSha256);
        Assert.Empty(verification.Problems);
    }

    [Fact]
    public async Task RemovedEntry_IsNamedAsMissing()
    {
        var (archive, result) = await WriteAsync();
        var tampered = Tamper(archive, entries => entries.RemoveAll(e => e.Name == "approvals/appr_01.json"));
        var verification = await VerifyAsync(tampered, result.ManifestSha256);
        Assert.False(verification.Valid);
        var failed = Assert.Single(verification.Failed);
        Assert.Equal(("approvals/appr_01.json", ArchiveEntryStatus.Missing), (failed.Path, failed.Status));
    }

    [Fact]
    public async Task AddedEntry_IsNamedAsExtra()
    {
        var (archive, result) = await WriteAsync();
        var tampered = Tamper(archive, entries => entries.Add(new RawEntry("approvals/appr_02.json", TarEntryType.RegularFile, """{"decision": "approved"}"""u8.ToArray())));
        var verification = await VerifyAsync(tampered, result.ManifestSha256);
        Assert.False(verification.Valid);
        var failed = Assert.Single(verification.Failed);
        Assert.Equal(("approvals/appr_02.json", ArchiveEntryStatus.Extra), (failed.Path, failed.Status));
    }

    [Fact]
    public async Task EditedManifest_IsDetected_ByItsDigestFile_AndByTheRecordedDigest()
    {
        var (archive, result) = await WriteAsync();

        // The tamperer changes an entry and the manifest's line for it, but not the digest file.
        var forged = """{"trainer": "mallory"}"""u8.ToArray();
        string Edit(byte[] manifestBytes)
        {
            var manifest = JsonNode.Parse(manifestBytes)!;
            var line = manifest["entries"]!.AsArray().Single(e => (string?)e!["path"] == "attestation.json")!;
            line["sha256"] = Sha(forged);
            line["size"] = forged.Length;
            return manifest.ToJsonString();
        }
        var manifestOnly = Tamper(archive, entries =>
        {
            entries[0] = With(entries[0], Edit(entries[0].Data));
            var i = entries.FindIndex(e => e.Name == "attestation.json");
            entries[i] = entries[i] with { Data = forged };
        });
        var verification = await VerifyAsync(manifestOnly);
        Assert.False(verification.Valid);
        Assert.Contains(verification.Problems, p => p.Contains("manifest.json.sha256", StringComparison.Ordinal) && p.Contains("the manifest was changed", StringComparison.Ordinal));
        Assert.Contains(verification.Entries, e => e is { Path: "attestation.json", Status: ArchiveEntryStatus.Ok });

        // A careful tamperer rewrites the digest file too; only the digest recorded outside the archive catches that.
        var consistent = Tamper(manifestOnly, entries =>
            entries[1] = With(entries[1], $"{Sha(entries[0].Data)}  manifest.json\n"));
        Assert.True((await VerifyAsync(consistent)).Valid);
        var recorded = await VerifyAsync(consistent, result.ManifestSha256);
        Assert.False(recorded.Valid);
        Assert.Contains(recorded.Problems, p => p.Contains($"not the {result.ManifestSha256} recorded", StringComparison.Ordinal));
    }

    [Fact]
    public async Task MissingOrBrokenManifest_IsAProblem()
    {
        var (archive, result) = await WriteAsync();
        var noManifest = await VerifyAsync(Tamper(archive, entries => entries.RemoveAll(e => e.Name == "manifest.json")), result.ManifestSha256);
        Assert.False(noManifest.Valid);
        Assert.Contains("manifest.json is missing", noManifest.Problems);
        Assert.All(noManifest.Entries, e => Assert.Equal(ArchiveEntryStatus.Extra, e.Status));

        var noDigest = await VerifyAsync(Tamper(archive, entries => entries.RemoveAll(e => e.Name == "manifest.json.sha256")));
        Assert.Contains("manifest.json.sha256 is missing", noDigest.Problems);

        var garbage = await VerifyAsync(Tamper(archive, entries => entries[0] = With(entries[0], "{ not json")));
        Assert.Contains(garbage.Problems, p => p.StartsWith("manifest.json is not a manifest", StringComparison.Ordinal));

        var listsATrick = await VerifyAsync(Tamper(archive, entries => entries[0] = With(entries[0],
            Encoding.UTF8.GetString(entries[0].Data).Replace("\"attestation.json\"", "\"../attestation.json\"", StringComparison.Ordinal))));
        Assert.Contains(listsATrick.Problems, p => p.Contains("unsafe path '../attestation.json'", StringComparison.Ordinal));
        Assert.False(listsATrick.Valid);
    }

    [Fact]
    public async Task PathTricksInATamperedArchive_AreReportedAsUnsafe_NeverFollowed()
    {
        var (archive, result) = await WriteAsync();
        var tampered = Tamper(archive, entries =>
        {
            entries.Add(new RawEntry("../../etc/cron.d/evil", TarEntryType.RegularFile, "* * * * * root sh"u8.ToArray()));
            entries.Add(new RawEntry("/etc/passwd", TarEntryType.RegularFile, "root::0:0"u8.ToArray()));
            entries.Add(new RawEntry("card\\..\\..\\x", TarEntryType.RegularFile, "x"u8.ToArray()));
            entries.Add(new RawEntry("evaluations/link", TarEntryType.SymbolicLink, [], "/etc/shadow"));
            entries.Add(new RawEntry("attestation.json", TarEntryType.RegularFile, """{"trainer": "mallory"}"""u8.ToArray()));
        });
        var verification = await VerifyAsync(tampered, result.ManifestSha256);
        Assert.False(verification.Valid);
        var byPath = verification.Failed.ToDictionary(f => f.Path, f => f.Status);
        Assert.Equal(ArchiveEntryStatus.Unsafe, byPath["../../etc/cron.d/evil"]);
        Assert.Equal(ArchiveEntryStatus.Unsafe, byPath["/etc/passwd"]);
        Assert.Equal(ArchiveEntryStatus.Unsafe, byPath["card\\..\\..\\x"]);
        Assert.Equal(ArchiveEntryStatus.Unsafe, byPath["evaluations/link"]);
        Assert.Contains("/etc/shadow", verification.Failed.Single(f => f.Path == "evaluations/link").Reason);
        Assert.Equal(ArchiveEntryStatus.Duplicate, byPath["attestation.json"]);
        // The first attestation.json, the one the manifest lists, still verifies.
        Assert.Contains(verification.Entries, e => e is { Path: "attestation.json", Status: ArchiveEntryStatus.Ok });
    }

    [Fact]
    public async Task NotAnArchive_OrTruncated_IsAProblem_NotAnException()
    {
        var junk = await VerifyAsync("this is not gzip"u8.ToArray());
        Assert.False(junk.Valid);
        Assert.Contains(junk.Problems, p => p.StartsWith("not a readable .tar.gz", StringComparison.Ordinal));

        var (archive, _) = await WriteAsync();
        var truncated = await VerifyAsync(archive[..(archive.Length / 2)]);
        Assert.False(truncated.Valid);
        Assert.NotEmpty(truncated.Problems);

        var corrupt = (byte[])archive.Clone();
        corrupt[archive.Length / 2] ^= 0xff;
        Assert.False((await VerifyAsync(corrupt)).Valid);
    }

    [Theory]
    [InlineData("../x")]
    [InlineData("a/../../x")]
    [InlineData("/etc/passwd")]
    [InlineData("a//b")]
    [InlineData("a/")]
    [InlineData("./a")]
    [InlineData("a\\b")]
    [InlineData("C:x")]
    [InlineData("a b")]
    [InlineData("")]
    [InlineData("manifest.json")]
    [InlineData("MANIFEST.JSON.sha256")]
    public async Task Writer_UnsafeOrReservedPath_Refused(string path)
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() => ArchiveWriter.WriteAsync(new MemoryStream(), [ArchiveEntry.FromText(path, "x")]));
        Assert.Contains($"'{path}'", error.Message);
    }

    [Fact]
    public async Task Writer_SamePathTwiceIgnoringCase_Refused()
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() => ArchiveWriter.WriteAsync(new MemoryStream(),
            [ArchiveEntry.FromText("logs/a.jsonl", "x"), ArchiveEntry.FromText("logs/A.jsonl", "y")]));
        Assert.Contains("twice", error.Message);
    }

    [Theory]
    [InlineData("attestation.json")]
    [InlineData("evaluations/eval_01HX-3.json")]
    [InlineData("card/model-card@1.0.0-q4.md")]
    [InlineData("a/b/c/d/e.f+g=h")]
    public void ArchivePaths_OrdinaryNames_AreSafe(string path) => Assert.True(ArchivePaths.IsSafe(path), ArchivePaths.Problem(path));

    [Fact]
    public async Task EmptyArchive_VerifiesToo()
    {
        var (archive, result) = await WriteAsync([], new Dictionary<string, string>());
        Assert.Empty(result.Manifest.Entries);
        Assert.True((await VerifyAsync(archive, result.ManifestSha256)).Valid);
    }
}
