using System.Security.Cryptography;
using System.Text.Json;
using ModelGate.Cli;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Cli;

/// <summary>The CLI as a user runs it, against the real host (in-process handler instead of a socket).</summary>
public sealed class CliTests(SqliteServerFixture server) : IClassFixture<SqliteServerFixture>, IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("modelgate-cli-").FullName;

    public void Dispose() => Directory.Delete(_work, recursive: true);

    private async Task<(int Exit, string Out, string Err)> Run(params string[] args) => await RunAs(ServerFixture.AdminKey, args);

    private Task<(int Exit, string Out, string Err)> RunAs(string? token, params string[] args) => server.CliAsync(args, token);

    private string WriteAttestation()
    {
        var path = Path.Combine(_work, "attestation.json");
        File.WriteAllText(path, JsonSerializer.Serialize(Fixtures.Attestation(), ModelGateJson.Options));
        return path;
    }

    [Fact]
    public async Task Newcomer_WalkThrough_RegistersV1Logreg_AndPullsItBackVerified()
    {
        var name = ServerFixture.UniqueName("adult-income");
        var created = await Run("model", "create", name, "--owner", "risk-team", "--risk-tier", "medium", "--task", "classification", "--license", "CC-BY-4.0");
        Assert.Equal(0, created.Exit);
        Assert.Contains(name, created.Out);

        var version = await Run("version", "create", name, "1.0.0", "--artifact", Fixtures.ModelPath("v1-logreg"), "--attestation", WriteAttestation(), "--output", "json");
        Assert.True(version.Exit == 0, version.Err);
        var dto = JsonSerializer.Deserialize<ModelVersionDto>(version.Out, ModelGateJson.Options)!;
        var sha = dto.Artifacts.Single().Sha256;
        Assert.Equal(Fixtures.ReferenceSha256("v1-logreg"), sha);

        var target = Path.Combine(_work, "pulled.onnx");
        var pull = await Run("artifact", "pull", sha, "--out", target);
        Assert.Equal(0, pull.Exit);
        Assert.Contains("verified", pull.Out);
        Assert.Equal(Fixtures.ReferenceSha256("v1-logreg"), Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(target))));

        var list = await Run("version", "list", name);
        Assert.Contains("1.0.0", list.Out);
        Assert.Contains("trained", list.Out);

        var show = await Run("version", "show", $"{name}@1.0.0", "-o", "json");
        Assert.Equal(0, show.Exit);
        Assert.Equal("trained", JsonDocument.Parse(show.Out).RootElement.GetProperty("stage").GetString());

        var log = await Run("audit", "log", "--subject", $"models/{name}*", "-o", "json");
        var actions = JsonDocument.Parse(log.Out).RootElement.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("action").GetString());
        Assert.Equal(["model.created", "version.created"], actions);

        var verify = await Run("audit", "verify");
        Assert.Equal(0, verify.Exit);
        Assert.Contains("intact", verify.Out);
    }

    [Fact]
    public async Task ArtifactPush_PrintsDigest_AndSecondPushDoesNotDuplicate()
    {
        var file = Path.Combine(_work, "blob.bin");
        await File.WriteAllBytesAsync(file, RandomNumberGenerator.GetBytes(300_000));
        var expected = Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(file)));
        var first = await Run("artifact", "push", file);
        Assert.Equal(0, first.Exit);
        Assert.Equal(expected, first.Out.Trim());
        var second = await Run("artifact", "push", file, "-o", "json");
        Assert.Equal(0, second.Exit);
        Assert.False(JsonDocument.Parse(second.Out).RootElement.GetProperty("created").GetBoolean());
    }

    [Fact]
    public async Task ExitCodes_AreStable()
    {
        Assert.Equal(ExitCodes.NotFound, (await Run("model", "show", "no-such-model")).Exit);
        Assert.Equal(ExitCodes.Unauthorized, (await RunAs(null, "model", "list")).Exit);
        Assert.Equal(ExitCodes.Unauthorized, (await RunAs("mg_wrong-key-0000000000000000000000000000", "model", "list")).Exit);
        Assert.Equal(ExitCodes.Refused, (await Run("model", "create", "Bad_Name", "--owner", "o", "--risk-tier", "low", "--task", "other")).Exit);
        Assert.Equal(ExitCodes.Usage, (await Run("model", "create", "x", "--owner", "o", "--risk-tier", "extreme", "--task", "other")).Exit);
        Assert.Equal(ExitCodes.Usage, (await Run("model", "frobnicate")).Exit);
        Assert.Equal(ExitCodes.Usage, (await Run("version", "show", "no-at-sign")).Exit);
        Assert.Equal(ExitCodes.Usage, (await Run("version", "create", "m", "1.0", "--artifact", "x", "--attestation", "y")).Exit);
        Assert.Equal(ExitCodes.Usage, (await Run("artifact", "pull", "not-a-digest")).Exit);
        var missing = await Run("artifact", "pull", new string('c', 64), "--out", Path.Combine(_work, "none"));
        Assert.Equal(ExitCodes.NotFound, missing.Exit);
        Assert.False(File.Exists(Path.Combine(_work, "none")));
        Assert.False(File.Exists(Path.Combine(_work, "none.partial")));
    }

    [Fact]
    public async Task ErrorOutput_InJson_IsTheProblemDocument()
    {
        var result = await Run("model", "show", "no-such-model", "-o", "json");
        Assert.Equal(ExitCodes.NotFound, result.Exit);
        Assert.Equal("model_not_found", JsonDocument.Parse(result.Out).RootElement.GetProperty("code").GetString());
        Assert.Contains("no model named 'no-such-model'", result.Err);
    }

    [Fact]
    public async Task KeyCommands_CreateListRevoke()
    {
        var created = await Run("key", "create", "--name", "cli-key", "--role", "trainer", "--role", "viewer", "-o", "json");
        Assert.Equal(0, created.Exit);
        var key = JsonDocument.Parse(created.Out).RootElement;
        var id = key.GetProperty("id").GetString()!;
        var secret = key.GetProperty("key").GetString()!;
        Assert.Equal(0, (await RunAs(secret, "model", "list")).Exit);

        var list = await Run("key", "list");
        Assert.Contains(id, list.Out);
        Assert.DoesNotContain(secret, list.Out);

        Assert.Equal(0, (await Run("key", "revoke", id)).Exit);
        Assert.Equal(ExitCodes.Unauthorized, (await RunAs(secret, "model", "list")).Exit);
    }

    [Fact]
    public async Task Lineage_ByDataset_ListsTheVersion()
    {
        var name = ServerFixture.UniqueName("lin");
        Assert.Equal(0, (await Run("model", "create", name, "--owner", "o", "--risk-tier", "low", "--task", "other")).Exit);
        Assert.Equal(0, (await Run("version", "create", name, "0.1.0", "--artifact", Fixtures.ModelPath("v4-broken"), "--attestation", WriteAttestation())).Exit);
        var found = await Run("lineage", "--dataset", Fixtures.TrainCsvSha256, "-o", "json");
        Assert.Equal(0, found.Exit);
        Assert.Contains(JsonDocument.Parse(found.Out).RootElement.EnumerateArray(), v => v.GetProperty("model").GetString() == name);
        var statement = await Run("version", "attestation", $"{name}@0.1.0", "--format", "in-toto");
        Assert.Equal(Fixtures.ReferenceSha256("v4-broken"),
            JsonDocument.Parse(statement.Out).RootElement.GetProperty("subject")[0].GetProperty("digest").GetProperty("sha256").GetString());
    }
}
