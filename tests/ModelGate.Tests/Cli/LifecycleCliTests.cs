using System.Formats.Tar;
using System.IO.Compression;
using ModelGate.Cli;
using ModelGate.Client;
using ModelGate.Lifecycle;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Cli;

public sealed class LifecycleCliTests(SqliteServerFixture server) : IClassFixture<SqliteServerFixture>, IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("modelgate-cli-lifecycle-").FullName;

    public void Dispose() => Directory.Delete(_work, recursive: true);

    private Task<(int Exit, string Out, string Err)> Run(params string[] args) => server.CliAsync(args);

    [Fact]
    public async Task Promote_DryRunAndRefusal_PrintTheSameFailedChecks_AndChangeNothing()
    {
        var model = ServerFixture.UniqueName("cli");
        await server.Api().CreateModelAsync(new CreateModelRequest(model, "o", "low", "classification"));
        var sha = await server.UploadAsync(Fixtures.ModelBytes("v1-logreg"));
        await server.Api().CreateVersionAsync(model, new CreateVersionRequest("1.0.0", [new ArtifactRef(sha, "v1-logreg.onnx")], Fixtures.Attestation()));

        var dry = await Run("promote", $"{model}@1.0.0", "--to", "evaluated", "--dry-run");
        Assert.Equal(ExitCodes.Refused, dry.Exit);
        Assert.Matches(@"evaluation\s+at least one succeeded evaluation\s+none\s+FAIL", dry.Out);
        var real = await Run("promote", $"{model}@1.0.0", "--to", "evaluated");
        Assert.Equal(ExitCodes.Refused, real.Exit);
        Assert.Contains("refused", real.Err);
        Assert.Matches(@"evaluation\s+at least one succeeded evaluation\s+none\s+FAIL", real.Out);
        Assert.Equal(Stages.Trained, (await server.Api().GetVersionAsync(model, "1.0.0")).Stage);
        Assert.Equal(ExitCodes.Usage, (await Run("promote", "no-version", "--to", "evaluated")).Exit);
    }

    [Fact]
    public async Task ArchiveVerify_AcceptsAnIntactArchive_AndNamesATamperedEntry()
    {
        var (archive, _) = await RetirementArchive.WriteAsync([new("a.json", "{\"a\":1}"u8.ToArray()), new("logs.jsonl", "{}\n{}\n"u8.ToArray())],
            new Dictionary<string, string>(), CancellationToken.None);
        var good = Path.Combine(_work, "good.tar.gz");
        await File.WriteAllBytesAsync(good, archive);
        var ok = await Run("archive", "verify", good);
        Assert.Equal(ExitCodes.Ok, ok.Exit);
        Assert.Contains("archive verified", ok.Out);

        // Rewrite the archive with one entry changed and the manifest kept.
        var bad = Path.Combine(_work, "bad.tar.gz");
        await using (var output = File.Create(bad))
        await using (var gzip = new GZipStream(output, CompressionLevel.Fastest))
        await using (var writer = new TarWriter(gzip))
        {
            await using var input = new GZipStream(new MemoryStream(archive), CompressionMode.Decompress);
            await using var reader = new TarReader(input);
            while (await reader.GetNextEntryAsync(copyData: true) is { } entry)
            {
                if (entry.Name == "logs.jsonl")
                {
                    entry.DataStream = new MemoryStream("{}\n"u8.ToArray());
                }
                await writer.WriteEntryAsync(entry);
            }
        }
        var tampered = await Run("archive", "verify", bad);
        Assert.Equal(ExitCodes.VerificationFailed, tampered.Exit);
        Assert.Contains("logs.jsonl: mismatched", tampered.Err);
        Assert.DoesNotContain("a.json", tampered.Err);
    }
}
