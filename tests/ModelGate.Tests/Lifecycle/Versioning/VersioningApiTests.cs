using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using ModelGate.Cli;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Lifecycle.Versioning;

/// <summary>The versioning rules through the REST API (and once through the CLI), run once per database provider.</summary>
public abstract class VersioningApiTests(ServerFixture fixture) : ProviderTests(fixture)
{
    private static readonly Attestation LogReg = Fixtures.Attestation();
    private static readonly Attestation Mlp = Fixtures.Attestation() with
    {
        Architecture = "mlp",
        Hyperparameters = new Dictionary<string, JsonElement> { ["hidden_layer_sizes"] = JsonSerializer.SerializeToElement(new[] { 32 }) },
    };

    private async Task<string> CreateModelAsync()
    {
        var name = ServerFixture.UniqueName("adult-income");
        await Server.Api().CreateModelAsync(new CreateModelRequest(name, "risk-team", "medium", "classification", "CC-BY-4.0"));
        return name;
    }

    private async Task<string> UploadModelAsync(string onnx) => await Server.UploadAsync(Fixtures.ModelBytes(onnx));

    private async Task<HttpResponseMessage> PostVersionAsync(string model, string version, string sha, Attestation attestation, string fileName = "model.onnx") =>
        await Server.Client().PostAsJsonAsync($"/api/v1/models/{model}/versions",
            new CreateVersionRequest(version, [new ArtifactRef(sha, fileName)], attestation), ModelGateJson.Options);

    private async Task<List<string>> VersionsAsync(string model) =>
        (await Server.Api().ListVersionsAsync(model)).Items.Select(v => v.Version).ToList();

    [Fact]
    public async Task V2Mlp_AfterV1Logreg_AsPatch_RefusedNamingTheArchitecture_AsMajor_Accepted()
    {
        var model = await CreateModelAsync();
        var v1 = await UploadModelAsync("v1-logreg");
        var v2 = await UploadModelAsync("v2-mlp");
        (await PostVersionAsync(model, "1.0.0", v1, LogReg, "v1-logreg.onnx")).EnsureSuccessStatusCode();
        var auditBefore = await Server.AuditCountAsync();

        using var refused = await PostVersionAsync(model, "1.0.1", v2, Mlp, "v2-mlp.onnx");
        var problem = await ProblemAssert.IsProblem(refused, HttpStatusCode.UnprocessableEntity, "version_bump_too_small");
        Assert.Contains("architecture changed: major version required", problem.GetProperty("detail").GetString());
        var differences = problem.GetProperty("differences").EnumerateArray().ToList();
        Assert.Equal("architecture changed: major version required", differences[0].GetProperty("message").GetString());
        Assert.Equal("architecture", differences[0].GetProperty("field").GetString());
        Assert.Equal("major", differences[0].GetProperty("requires").GetString());
        Assert.Equal("logistic-regression → mlp", differences[0].GetProperty("detail").GetString());
        Assert.Equal(["architecture changed: major version required", "hyper-parameters changed: patch version required", "artifact contents changed: patch version required"],
            differences.Select(d => d.GetProperty("message").GetString()));
        Assert.Equal("1.0.0", problem.GetProperty("comparedWith").GetString());
        Assert.Equal("major", problem.GetProperty("required").GetString());
        Assert.Equal("patch", problem.GetProperty("actual").GetString());
        Assert.Equal("2.0.0", problem.GetProperty("suggested").GetString());
        Assert.Equal(auditBefore, await Server.AuditCountAsync());
        Assert.Equal(["1.0.0"], await VersionsAsync(model));

        using var minor = await PostVersionAsync(model, "1.1.0", v2, Mlp, "v2-mlp.onnx");
        await ProblemAssert.IsProblem(minor, HttpStatusCode.UnprocessableEntity, "version_bump_too_small");

        using var accepted = await PostVersionAsync(model, "2.0.0", v2, Mlp, "v2-mlp.onnx");
        Assert.Equal(HttpStatusCode.Created, accepted.StatusCode);
        Assert.Equal(["2.0.0", "1.0.0"], await VersionsAsync(model));

        var created = (await Server.Api().ListAuditAsync(subject: $"models/{model}/versions/2.0.0")).Items.Single();
        var versioning = created.Details.GetProperty("versioning");
        Assert.Equal("1.0.0", versioning.GetProperty("comparedWith").GetString());
        Assert.Equal("major", versioning.GetProperty("required").GetString());
        Assert.Equal("major", versioning.GetProperty("actual").GetString());
        Assert.Equal("architecture changed: major version required", versioning.GetProperty("differences")[0].GetProperty("message").GetString());
        Assert.True((await Server.Api().VerifyAuditAsync()).Valid);
    }

    [Fact]
    public async Task SameArtifactsAsAnExistingVersion_RefusedAsDuplicateNamingIt()
    {
        var model = await CreateModelAsync();
        var v1 = await UploadModelAsync("v1-logreg");
        (await PostVersionAsync(model, "1.0.0", v1, LogReg)).EnsureSuccessStatusCode();
        (await PostVersionAsync(model, "1.1.0", await UploadModelAsync("v3-biased"), Fixtures.Attestation(datasetSha: new string('b', 64)))).EnsureSuccessStatusCode();

        // Under another file name, another number and a retrained-looking attestation, the weights are still 1.0.0's.
        using var duplicate = await PostVersionAsync(model, "2.0.0", v1, Mlp, "renamed.onnx");
        var problem = await ProblemAssert.IsProblem(duplicate, HttpStatusCode.Conflict, "duplicate_version");
        Assert.Equal("1.0.0", problem.GetProperty("existing").GetString());
        Assert.Contains($"{model}@1.0.0", problem.GetProperty("detail").GetString());
        Assert.Equal(["1.1.0", "1.0.0"], await VersionsAsync(model));
    }

    [Fact]
    public async Task PromptOnlyChange_OverTheSameArtifact_IsAPatch()
    {
        var model = await CreateModelAsync();
        var config = await Server.UploadAsync(Encoding.UTF8.GetBytes("{\"provider\": \"upstream\"} " + model));
        var chat = Fixtures.Attestation() with { Architecture = "llm", PromptTemplate = new PromptTemplate("You answer census questions.", "{question}", ["question"]) };
        (await PostVersionAsync(model, "1.0.0", config, chat, "serving.json")).EnsureSuccessStatusCode();

        var reworded = chat with { PromptTemplate = chat.PromptTemplate! with { System = "You answer census questions briefly." } };
        using var sameNumberPlusQualifier = await PostVersionAsync(model, "1.0.0-brief", config, reworded, "serving.json");
        var problem = await ProblemAssert.IsProblem(sameNumberPlusQualifier, HttpStatusCode.UnprocessableEntity, "version_bump_too_small");
        Assert.Equal("prompt template changed: patch version required", problem.GetProperty("differences")[0].GetProperty("message").GetString());
        Assert.Contains("attestation.derivation", problem.GetProperty("detail").GetString());

        (await PostVersionAsync(model, "1.0.1", config, reworded, "serving.json")).EnsureSuccessStatusCode();
        using var again = await PostVersionAsync(model, "1.0.2", config, reworded, "serving.json");
        Assert.Equal("1.0.1", (await ProblemAssert.IsProblem(again, HttpStatusCode.Conflict, "duplicate_version")).GetProperty("existing").GetString());
    }

    [Fact]
    public async Task QuantisedBuild_DeclaringItsDerivation_TakesAQualifier()
    {
        var model = await CreateModelAsync();
        (await PostVersionAsync(model, "1.0.0", await UploadModelAsync("v1-logreg"), LogReg)).EnsureSuccessStatusCode();
        var quantisedWeights = await Server.UploadAsync(Encoding.UTF8.GetBytes("int8 weights of v1 " + model));
        var quantised = LogReg with
        {
            Derivation = new Derivation(DerivationKinds.Quantization, "1.0.0", "int8"),
            ServingConfig = new Dictionary<string, JsonElement> { ["dtype"] = JsonSerializer.SerializeToElement("int8") },
        };

        using var unknownSource = await PostVersionAsync(model, "3.0.0-int8", quantisedWeights, quantised with { Derivation = quantised.Derivation! with { From = "3.0.0" } });
        Assert.Equal("3.0.0", (await ProblemAssert.IsProblem(unknownSource, HttpStatusCode.UnprocessableEntity, "unknown_derivation_source")).GetProperty("from").GetString());

        using var undeclared = await PostVersionAsync(model, "1.0.0-int8", quantisedWeights, quantised with { Derivation = null });
        await ProblemAssert.IsProblem(undeclared, HttpStatusCode.UnprocessableEntity, "version_bump_too_small");

        using var accepted = await PostVersionAsync(model, "1.0.0-int8", quantisedWeights, quantised);
        Assert.Equal(HttpStatusCode.Created, accepted.StatusCode);
        var stored = await Server.Api().GetVersionAsync(model, "1.0.0-int8");
        Assert.Equal(new Derivation("quantization", "1.0.0", "int8"), stored.Attestation.Derivation);
        Assert.Equal("int8", stored.Attestation.ServingConfig!["dtype"].GetString());
        var audit = (await Server.Api().ListAuditAsync(subject: $"models/{model}/versions/1.0.0-int8")).Items.Single();
        Assert.Equal("qualifier", audit.Details.GetProperty("versioning").GetProperty("required").GetString());

        // The next release is measured against the line of releases (1.0.0), not the quantised branch.
        (await PostVersionAsync(model, "1.0.1", await Server.UploadAsync(Encoding.UTF8.GetBytes("refit " + model)), LogReg)).EnsureSuccessStatusCode();
    }

    [Fact]
    public async Task AttestationWithoutTheNewFields_KeepsItsCanonicalForm()
    {
        var model = await CreateModelAsync();
        (await PostVersionAsync(model, "1.0.0", await UploadModelAsync("v1-logreg"), LogReg)).EnsureSuccessStatusCode();
        var plain = await Server.Api().GetAttestationAsync(model, "1.0.0");
        Assert.False(plain.TryGetProperty("servingConfig", out _));
        Assert.False(plain.TryGetProperty("derivation", out _));
    }

    public static TheoryData<string, string> BadDerivations => new()
    {
        { """{"kind": "pruning", "from": "1.0.0"}""", "attestation.derivation.kind" },
        { """{"kind": "quantization", "from": "1.0"}""", "attestation.derivation.from" },
        { """{"kind": "quantization", "from": "1.0.0", "method": " "}""", "attestation.derivation.method" },
    };

    [Theory]
    [MemberData(nameof(BadDerivations))]
    public async Task BadDerivation_Answers400NamingTheField(string derivation, string field)
    {
        var model = await CreateModelAsync();
        var sha = await UploadModelAsync("v1-logreg");
        var attestation = JsonSerializer.SerializeToNode(LogReg, ModelGateJson.Options)!.AsObject();
        attestation["derivation"] = System.Text.Json.Nodes.JsonNode.Parse(derivation);
        using var response = await Server.Client().PostAsJsonAsync($"/api/v1/models/{model}/versions",
            new { version = "1.0.0", artifacts = new[] { new ArtifactRef(sha, "m.onnx") }, attestation });
        var problem = await ProblemAssert.IsProblem(response, HttpStatusCode.BadRequest, "validation_failed");
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.ToString());
    }

    [Fact]
    public async Task Cli_VersionCreate_SmallerBump_Exits5_PrintingTheDifferences()
    {
        var model = await CreateModelAsync();
        var work = Directory.CreateTempSubdirectory("modelgate-versioning-").FullName;
        try
        {
            var v1 = Path.Combine(work, "attestation-v1.json");
            var v2 = Path.Combine(work, "attestation-v2.json");
            await File.WriteAllTextAsync(v1, JsonSerializer.Serialize(LogReg, ModelGateJson.Options));
            await File.WriteAllTextAsync(v2, JsonSerializer.Serialize(Mlp, ModelGateJson.Options));
            Assert.Equal(0, (await RunCli("version", "create", model, "1.0.0", "--artifact", Fixtures.ModelPath("v1-logreg"), "--attestation", v1)).Exit);
            var refused = await RunCli("version", "create", model, "1.0.1", "--artifact", Fixtures.ModelPath("v2-mlp"), "--attestation", v2);
            Assert.Equal(ExitCodes.Refused, refused.Exit);
            Assert.Contains("architecture changed: major version required", refused.Err);
            Assert.Equal(0, (await RunCli("version", "create", model, "2.0.0", "--artifact", Fixtures.ModelPath("v2-mlp"), "--attestation", v2)).Exit);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [Fact]
    public async Task HotfixOnAnOlderLine_AfterTheNewerReleaseWasRejected_IsAccepted_ANewerLiveReleaseStillBlocks()
    {
        var model = await CreateModelAsync();
        (await PostVersionAsync(model, "1.0.0", await UploadModelAsync("v1-logreg"), LogReg, "v1-logreg.onnx")).EnsureSuccessStatusCode();
        (await PostVersionAsync(model, "2.0.0", await UploadModelAsync("v2-mlp"), Mlp, "v2-mlp.onnx")).EnsureSuccessStatusCode();
        (await PostVersionAsync(model, "3.0.0", await UploadModelAsync("v3-biased"), LogReg, "v3-biased.onnx")).EnsureSuccessStatusCode();
        var fix = await UploadModelAsync("v4-broken");

        // While 3.0.0 is a live candidate, a patch on the 2.x line is below the latest version.
        using var blocked = await PostVersionAsync(model, "2.0.1", fix, Mlp, "v4-broken.onnx");
        await ProblemAssert.IsProblem(blocked, HttpStatusCode.Conflict, "version_not_greater");

        await Server.Api().TransitionAsync(model, "3.0.0", new TransitionRequest(Stages.Rejected, "fails fairness review"));
        using var hotfix = await PostVersionAsync(model, "2.0.1", fix, Mlp, "v4-broken.onnx");
        Assert.Equal(HttpStatusCode.Created, hotfix.StatusCode);
        var versioning = (await Server.Api().ListAuditAsync(subject: $"models/{model}/versions/2.0.1")).Items.Single().Details.GetProperty("versioning");
        Assert.Equal("2.0.0", versioning.GetProperty("comparedWith").GetString());
        Assert.Equal("patch", versioning.GetProperty("actual").GetString());

        // The other rules hold: 2.0.0 was not rejected, so the 1.x line stays closed; a rejected number is not reused.
        using var older = await PostVersionAsync(model, "1.0.1", fix, LogReg, "v4-broken-1.onnx");
        await ProblemAssert.IsProblem(older, HttpStatusCode.Conflict, "version_not_greater");
        using var reused = await PostVersionAsync(model, "3.0.0", fix, LogReg, "v4-broken-3.onnx");
        await ProblemAssert.IsProblem(reused, HttpStatusCode.Conflict, "version_exists");

        // A rejected release that was then retired still does not count.
        await Server.Api().TransitionAsync(model, "3.0.0", new TransitionRequest(Stages.Retired, "clean-up", Trigger: "discontinued"));
        using var second = await PostVersionAsync(model, "2.0.2", await Server.UploadAsync(Encoding.UTF8.GetBytes("hotfix weights " + model)), Mlp, "v2-hotfix.onnx");
        Assert.Equal(HttpStatusCode.Created, second.StatusCode);
    }

    private Task<(int Exit, string Out, string Err)> RunCli(params string[] args) => Server.CliAsync(args);
}

public sealed class VersioningApiTests_Sqlite(SqliteServerFixture fixture) : VersioningApiTests(fixture), IClassFixture<SqliteServerFixture>;

public sealed class VersioningApiTests_Postgres(PostgresServerFixture fixture) : VersioningApiTests(fixture), IClassFixture<PostgresServerFixture>;
