using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Registry;

/// <summary>Prompt-only versions (no artifact of their own) and the diff between two versions, once per database provider.</summary>
public abstract class PromptVersionTests(ServerFixture fixture) : ProviderTests(fixture)
{
    private static Attestation Prompted(string system, string template, params string[] variables) =>
        Fixtures.Attestation() with { Architecture = "upstream", PromptTemplate = new PromptTemplate(system, template, variables) };

    private async Task<string> CreateModelAsync()
    {
        var model = ServerFixture.UniqueName("summariser");
        await Server.Api().CreateModelAsync(new CreateModelRequest(model, "support", "medium", "llm-chat"));
        return model;
    }

    [Fact]
    public async Task APromptOnlyVersion_NeedsNoArtifact_ItsTemplateIsStoredContentAddressed_AndListedWithItsDigest()
    {
        var api = Server.Api();
        var model = await CreateModelAsync();
        var attestation = Prompted("You summarise support tickets.", "Summarise this ticket in two sentences:\n{{ticket}}", "ticket");
        var created = await api.CreateVersionAsync(model, new CreateVersionRequest("1.0.0", [], attestation));

        var artifact = Assert.Single(created.Artifacts);
        Assert.Equal(("prompt-template.json", "application/vnd.modelgate.prompt-template+json"), (artifact.FileName, artifact.MediaType));
        var pulled = new MemoryStream();
        await api.PullArtifactAsync(artifact.Sha256, pulled);
        Assert.Equal(artifact.Sha256, Convert.ToHexStringLower(SHA256.HashData(pulled.ToArray())));
        Assert.Equal(pulled.Length, artifact.Size);
        var stored = JsonSerializer.Deserialize<PromptTemplate>(pulled.ToArray(), ModelGateJson.Options)!;
        Assert.Equal((attestation.PromptTemplate!.System, attestation.PromptTemplate.Template), (stored.System, stored.Template));
        Assert.Equal(["ticket"], stored.Variables);

        // The same template again is the same model: refused as a duplicate, whatever its number.
        using var again = await Server.Client().PostAsJsonAsync($"/api/v1/models/{model}/versions",
            new CreateVersionRequest("1.0.1", [], attestation with { Trainer = "bob" }), ModelGateJson.Options);
        await ProblemAssert.IsProblem(again, HttpStatusCode.Conflict, "duplicate_version");

        // A changed template is a new artifact (and needs a patch bump, which 1.0.1 is).
        var changed = await api.CreateVersionAsync(model, new CreateVersionRequest("1.0.1", [],
            Prompted("You summarise support tickets.", "Summarise this ticket in one sentence:\n{{ticket}}", "ticket")));
        Assert.NotEqual(artifact.Sha256, Assert.Single(changed.Artifacts).Sha256);
    }

    [Fact]
    public async Task AVersionWithNeitherArtifactsNorAPromptTemplate_IsRefused_AndNothingIsStored()
    {
        var model = await CreateModelAsync();
        using var response = await Server.Client().PostAsJsonAsync($"/api/v1/models/{model}/versions",
            new CreateVersionRequest("1.0.0", [], Fixtures.Attestation()), ModelGateJson.Options);
        var problem = await ProblemAssert.IsProblem(response, HttpStatusCode.BadRequest, "validation_failed");
        Assert.Contains("artifacts", problem.GetRawText());
        Assert.Empty((await Server.Api().ListVersionsAsync(model)).Items);
    }

    [Fact]
    public async Task Diff_ShowsThePromptAsALineDiff_TheAttestationFieldByField_AndTheBumpItImplies_ByRestAndCli()
    {
        var api = Server.Api();
        var model = await CreateModelAsync();
        await api.CreateVersionAsync(model, new CreateVersionRequest("1.0.0", [],
            Prompted("You summarise support tickets.\nBe brief.", "Ticket:\n{{ticket}}", "ticket")));
        await api.CreateVersionAsync(model, new CreateVersionRequest("1.0.1", [],
            Prompted("You summarise support tickets.\nBe brief and polite.", "Ticket:\n{{ticket}}\nCustomer tier: {{tier}}", "ticket", "tier")));

        var diff = await api.DiffVersionsAsync(model, "1.0.0", "1.0.1");
        Assert.True(diff.Prompt.Changed);
        Assert.Equal(["  You summarise support tickets.", "- Be brief.", "+ Be brief and polite."], diff.Prompt.System);
        Assert.Equal(["  Ticket:", "  {{ticket}}", "+ Customer tier: {{tier}}"], diff.Prompt.Template);
        Assert.Equal(["tier"], diff.Prompt.VariablesAdded);
        Assert.Empty(diff.Prompt.VariablesRemoved);
        Assert.Equal(["promptTemplate.system", "promptTemplate.template", "promptTemplate.variables[1]"], diff.Attestation.Select(c => c.Path));
        Assert.Equal("Ticket:\n{{ticket}}", diff.Attestation[1].From!.Value.GetString());
        Assert.NotEqual(Assert.Single(diff.Artifacts.Added).Sha256, Assert.Single(diff.Artifacts.Removed).Sha256);
        Assert.Equal(("patch", "patch", true), (diff.Versioning.Required, diff.Versioning.Actual, diff.Versioning.Enough));
        Assert.Contains(diff.Versioning.Changes, c => c.Field == "promptTemplate" && c.Requires == "patch");

        // Backwards: the same changes, reversed; 1.0.1 → 1.0.0 is no bump, so not enough.
        var back = await api.DiffVersionsAsync(model, "1.0.1", "1.0.0");
        Assert.Equal(["  You summarise support tickets.", "- Be brief and polite.", "+ Be brief."], back.Prompt.System);
        Assert.Equal(["tier"], back.Prompt.VariablesRemoved);
        Assert.False(back.Versioning.Enough);

        var cli = await Server.CliAsync(["version", "diff", $"{model}@1.0.0", $"{model}@1.0.1"]);
        Assert.True(cli.Exit == 0, cli.Err);
        Assert.Contains("- Be brief.\n+ Be brief and polite.", cli.Out.Replace("\r\n", "\n"));
        Assert.Contains("promptTemplate.template: \"Ticket:\\n{{ticket}}\" → \"Ticket:\\n{{ticket}}\\nCustomer tier: {{tier}}\"", cli.Out);
        Assert.Contains("the changes need a patch bump; 1.0.0 → 1.0.1 is a patch bump", cli.Out);
        var json = await Server.CliAsync(["version", "diff", $"{model}@1.0.0", "1.0.1", "-o", "json"]);
        Assert.Equal(diff.Attestation.Count, JsonSerializer.Deserialize<VersionDiffDto>(json.Out, ModelGateJson.Options)!.Attestation.Count);
        Assert.Equal(ModelGate.Cli.ExitCodes.NotFound, (await Server.CliAsync(["version", "diff", $"{model}@1.0.0", "9.9.9"])).Exit);
        Assert.Equal(ModelGate.Cli.ExitCodes.Usage, (await Server.CliAsync(["version", "diff", $"{model}@1.0.0", "other@1.0.1"])).Exit);

        using var unknown = await Server.Client().GetAsync($"/api/v1/models/{model}/versions/1.0.0/diff/not-a-version");
        await ProblemAssert.IsProblem(unknown, HttpStatusCode.BadRequest, "invalid_version");
    }
}

public sealed class PromptVersionTests_Sqlite(SqliteServerFixture fixture) : PromptVersionTests(fixture), IClassFixture<SqliteServerFixture>;

public sealed class PromptVersionTests_Postgres(PostgresServerFixture fixture) : PromptVersionTests(fixture), IClassFixture<PostgresServerFixture>;
