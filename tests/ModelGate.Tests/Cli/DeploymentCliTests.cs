using System.Text.Json;
using ModelGate.Cli;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Cli;

public sealed class DeploymentCliTests(SqliteServerFixture server) : IClassFixture<SqliteServerFixture>, IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("modelgate-cli-deploy-").FullName;

    public void Dispose() => Directory.Delete(_work, recursive: true);

    private Task<(int Exit, string Out, string Err)> Run(params string[] args) => server.CliAsync(args);

    [Fact]
    public async Task DeploymentAndInfer_ServeV1Logreg_WithTheReferenceProbabilities()
    {
        var model = ServerFixture.UniqueName("cli-serve");
        await server.Api().CreateModelAsync(new CreateModelRequest(model, "o", "low", "classification"));
        foreach (var (version, onnx) in new[] { ("1.0.0", "v1-logreg"), ("1.1.0", "v2-mlp") })
        {
            var sha = await server.UploadAsync(Fixtures.ModelBytes(onnx));
            await server.Api().CreateVersionAsync(model, new CreateVersionRequest(version, [new ArtifactRef(sha, onnx + ".onnx")], Fixtures.Attestation()));
        }
        var name = ServerFixture.UniqueName("web");
        var created = await Run("deployment", "create", name, "--model", model, "--stable", "1.0.0");
        Assert.True(created.Exit == 0, created.Err);
        Assert.Contains("stable 1.0.0", created.Out);

        var csv = Path.Combine(_work, "rows.csv");
        var lines = File.ReadLines(Path.Combine(AppContext.BaseDirectory, "fixtures", "datasets", "adult", "test.csv")).Take(6);
        await File.WriteAllLinesAsync(csv, lines);
        var infer = await Run("infer", name, "--csv", csv, "-o", "json");
        Assert.True(infer.Exit == 0, infer.Err);
        var outputs = JsonDocument.Parse(infer.Out).RootElement.GetProperty("outputs").EnumerateArray();
        var probabilities = outputs.Single(o => o.GetProperty("name").GetString() == "probabilities").GetProperty("data").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        using var reference = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.ModelsDirectory, "reference-metrics.json")));
        var expected = reference.RootElement.GetProperty("models").GetProperty("v1-logreg").GetProperty("first5_probability_of_gt50k").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(expected[i], probabilities[i * 2 + 1], 1e-5);
        }

        var moved = await Run("deployment", "set-route", name, "--stable", "1.0.0", "--candidate", "1.1.0=25", "--sticky-header", "x-user");
        Assert.True(moved.Exit == 0, moved.Err);
        var shown = await Run("deployment", "show", name, "-o", "json");
        var dto = JsonSerializer.Deserialize<DeploymentDto>(shown.Out, ModelGateJson.Options)!;
        Assert.Equal(2, dto.Revision);
        Assert.Equal(25, dto.Routing.Candidates!.Single().Weight);
        Assert.Equal("x-user", dto.Routing.Stickiness!.Header);

        var pinned = await Run("infer", $"{name}@1.1.0", "--csv", csv, "--rows", "2");
        Assert.True(pinned.Exit == 0, pinned.Err);
        Assert.Contains("version 1.1.0 (pinned), 2 row(s)", pinned.Out);
        Assert.Contains(name, (await Run("deployment", "list")).Out);
        Assert.Equal(ExitCodes.Usage, (await Run("deployment", "set-route", name, "--stable", "1.0.0", "--candidate", "1.1.0")).Exit);
        Assert.Equal(ExitCodes.Refused, (await Run("deployment", "set-route", name, "--stable", "1.0.0", "--candidate", "1.1.0=120")).Exit);
        Assert.Equal(ExitCodes.NotFound, (await Run("infer", "nowhere", "--csv", csv)).Exit);
    }
}
