using System.Text.Json;
using ModelGate.Cli;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Cli;

public sealed class EvalCliTests(SqliteServerFixture server) : IClassFixture<SqliteServerFixture>
{
    private Task<(int Exit, string Out, string Err)> Run(params string[] args) => server.CliAsync(args);

    [Fact]
    public async Task EvalRun_UploadsSuiteAndDataset_WaitsAndPrintsMetrics()
    {
        var model = ServerFixture.UniqueName("cli-eval");
        await server.Api().CreateModelAsync(new CreateModelRequest(model, "o", "low", "classification"));
        var sha = await server.UploadAsync(Fixtures.ModelBytes("v2-mlp"));
        await server.Api().CreateVersionAsync(model, new CreateVersionRequest("1.0.0", [new ArtifactRef(sha, "v2-mlp.onnx")], Fixtures.Attestation()));

        var suite = Path.Combine(AppContext.BaseDirectory, "fixtures", "suites", "adult-classification.json");
        var dataset = Path.Combine(AppContext.BaseDirectory, "fixtures", "datasets", "adult", "test.csv");
        var run = await Run("eval", "run", $"{model}@1.0.0", "--suite", suite, "--dataset", dataset, "-o", "json");
        Assert.True(run.Exit == 0, run.Err + run.Out);
        var result = JsonSerializer.Deserialize<EvaluationDto>(run.Out, ModelGateJson.Options)!;
        Assert.Equal(EvaluationStatuses.Succeeded, result.Status);
        Assert.Equal(16281, result.Progress.RowsDone);

        using var reference = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.ModelsDirectory, "reference-metrics.json")));
        var rocAuc = reference.RootElement.GetProperty("models").GetProperty("v2-mlp").GetProperty("metrics").GetProperty("roc_auc").GetDouble();
        Assert.Equal(rocAuc, result.Result!.Value.GetProperty("metrics").GetProperty("roc_auc").GetProperty("value").GetDouble(), 1e-4);

        var list = await Run("eval", "list", $"{model}@1.0.0");
        Assert.Contains(result.Id, list.Out);
        Assert.Contains("succeeded", list.Out);
        var show = await Run("eval", "show", $"{model}@1.0.0", result.Id);
        Assert.Contains("roc_auc", show.Out);
        Assert.Contains("fairness by sex", show.Out);
        Assert.Contains("check roc_auc ≥ 0.88", show.Out);
        Assert.Contains("check equalized_odds_difference ≤ 0.1", show.Out);
        Assert.Equal(ExitCodes.NotFound, (await Run("eval", "show", $"{model}@1.0.0", "eval_missing")).Exit);

        var v1 = await server.UploadAsync(Fixtures.ModelBytes("v1-logreg"));
        await server.Api().CreateVersionAsync(model, new CreateVersionRequest("1.1.0", [new ArtifactRef(v1, "v1-logreg.onnx")], Fixtures.Attestation()));
        var second = await Run("eval", "run", $"{model}@1.1.0", "--suite", suite, "-o", "json");
        var secondId = JsonSerializer.Deserialize<EvaluationDto>(second.Out, ModelGateJson.Options)!.Id;
        var compare = await Run("eval", "compare", $"{model}@1.0.0", result.Id, $"{model}@1.1.0", secondId, "-o", "json");
        Assert.Equal(0, compare.Exit);
        var accuracy = JsonDocument.Parse(compare.Out).RootElement.GetProperty("metrics").GetProperty("accuracy");
        double Ref(string m) => reference.RootElement.GetProperty("models").GetProperty(m).GetProperty("metrics").GetProperty("accuracy").GetDouble();
        Assert.Equal(Ref("v1-logreg") - Ref("v2-mlp"), accuracy.GetProperty("delta").GetDouble(), 1e-4);
    }

    /// <summary>An llm-chat model answered by the stub, and a one-row suite and dataset in a temporary directory.</summary>
    private async Task<(string Model, string Suite, string Dataset)> LlmSetUpAsync()
    {
        var model = ServerFixture.UniqueName("cli-eval-llm");
        var api = server.Api();
        await api.CreateModelAsync(new CreateModelRequest(model, "o", "low", "llm-chat"));
        var config = await server.UploadAsync(System.Text.Encoding.UTF8.GetBytes("{\"provider\":\"stub\"} " + model));
        await api.CreateVersionAsync(model, new CreateVersionRequest("1.0.0", [new ArtifactRef(config, "serving.json")],
            Fixtures.Attestation() with { Architecture = "upstream-llm", BaseModel = "stub-chat", PromptTemplate = new PromptTemplate(null, "Q: {{question}}", ["question"]) }));
        var dir = Directory.CreateTempSubdirectory("mg-cli-eval").FullName;
        var datasetFile = Path.Combine(dir, "qa.jsonl");
        await File.WriteAllTextAsync(datasetFile, "{\"id\": \"r1\", \"variables\": {\"question\": \"a\"}, \"reference\": \"the answer\"}\n");
        var dataset = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(await File.ReadAllBytesAsync(datasetFile)));
        var suiteFile = Path.Combine(dir, "qa.json");
        await File.WriteAllTextAsync(suiteFile, JsonSerializer.Serialize(new
        {
            name = "qa", task = "llm-chat", dataset = new { sha256 = dataset, format = "jsonl" }, bootstrap = new { resamples = 0 },
            thresholds = new { exact_match = new { min = 0.9 } },
        }));
        return (model, suiteFile, datasetFile);
    }

    [Fact]
    public async Task EvalRun_SuiteThresholdsFail_ExitsRefused()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        upstream.Answer = (_, _) => "something else entirely";
        var (model, suiteFile, datasetFile) = await LlmSetUpAsync();

        var run = await Run("eval", "run", $"{model}@1.0.0", "--suite", suiteFile, "--dataset", datasetFile, "--upstream", upstream.BaseUrl, "--upstream-model", "stub-chat");
        Assert.True(run.Exit == ExitCodes.Refused, $"exit {run.Exit}: {run.Err}{run.Out}");
        Assert.Contains("suite thresholds: NOT passed", run.Out);

        upstream.Answer = (_, _) => "the answer";
        var passing = await Run("eval", "run", $"{model}@1.0.0", "--suite", suiteFile, "--upstream", upstream.BaseUrl, "--upstream-model", "stub-chat");
        Assert.True(passing.Exit == ExitCodes.Ok, $"exit {passing.Exit}: {passing.Err}{passing.Out}");
    }

    [Fact]
    public async Task EvalRun_TakesTheUpstreamsPricesAndKeyFromTheEnvironment_AndAnUnsetVariableOrAPriceWithoutUpstreamExits2WithNothingStarted()
    {
        await using var upstream = await StubChatUpstream.StartAsync();
        upstream.Answer = (_, _) => "the answer";
        var (model, suiteFile, datasetFile) = await LlmSetUpAsync();
        var environment = new Dictionary<string, string?> { ["UPSTREAM_KEY"] = "sk-from-env" };
        string[] target = ["eval", "run", $"{model}@1.0.0", "--suite", suiteFile, "--dataset", datasetFile];

        var unset = await server.CliAsync([.. target, "--upstream", upstream.BaseUrl, "--upstream-model", "stub-chat", "--upstream-key-env", "UPSTREAM_KEY",
            "--judge-key-env", "NOT_SET"], environment: environment);
        Assert.Equal((ExitCodes.Usage, true), (unset.Exit, unset.Err.Contains("NOT_SET", StringComparison.Ordinal)));
        var priceAlone = await server.CliAsync([.. target, "--input-price", "1"], environment: environment);
        Assert.Equal(ExitCodes.Usage, priceAlone.Exit);
        Assert.Contains("--upstream", priceAlone.Err);
        Assert.Empty(await server.Api().ListEvaluationsAsync(model, "1.0.0"));
        Assert.Empty(upstream.Requests);

        var priced = await server.CliAsync([.. target, "--upstream", upstream.BaseUrl, "--upstream-model", "stub-chat", "--upstream-key-env", "UPSTREAM_KEY",
            "--input-price", "2", "--output-price", "4", "-o", "json"], environment: environment);
        Assert.True(priced.Exit == ExitCodes.Ok, $"exit {priced.Exit}: {priced.Err}{priced.Out}");
        Assert.Equal("Bearer sk-from-env", Assert.Single(upstream.Authorizations));
        var result = JsonSerializer.Deserialize<EvaluationDto>(priced.Out, ModelGateJson.Options)!.Result!.Value;
        var row = result.GetProperty("rowRecords")[0];
        var cost = (row.GetProperty("promptTokens").GetDouble() * 2 + row.GetProperty("completionTokens").GetDouble() * 4) / 1000;
        Assert.True(cost > 0);
        Assert.Equal(cost * 1000, result.GetProperty("metrics").GetProperty("cost_per_1k_requests").GetProperty("value").GetDouble(), 12);
    }
}
