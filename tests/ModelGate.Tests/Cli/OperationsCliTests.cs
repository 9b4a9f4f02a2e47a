using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using ModelGate.Cli;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Cli;

/// <summary>The commands that replace the curl calls users made by hand: each goes through the real host's REST API.</summary>
public sealed class OperationsCliTests(SqliteServerFixture server) : IClassFixture<SqliteServerFixture>, IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("modelgate-cli-ops-").FullName;

    public void Dispose() => Directory.Delete(_work, recursive: true);

    private readonly Dictionary<string, string?> _environment = [];

    private Task<(int Exit, string Out, string Err)> Run(params string[] args) => server.CliAsync(args, environment: _environment);

    [Fact]
    public async Task KeyCreate_WithScopeAndLimits_CreatesAScopedLimitedKey()
    {
        var deployment = await AdultServing.DeployAsync(server, await AdultServing.RegisterAsync(server), new { stable = "1.0.0" });
        var created = await Run("key", "create", "--name", "ci-scoped", "--role", "viewer", "--deployments", deployment, "--rpm", "60", "--tpm", "1000",
            "--budget", "2.5", "--expires", "2030-01-01T00:00:00Z", "--no-pinning", "-o", "json");
        Assert.True(created.Exit == ExitCodes.Ok, created.Err + created.Out);
        var id = JsonSerializer.Deserialize<ApiKeyDto>(created.Out, ModelGateJson.Options)!.Id;

        var stored = (await server.Api().ListKeysAsync()).Single(k => k.Id == id);
        Assert.Equal([deployment], stored.Deployments);
        Assert.Equal(60, stored.RequestsPerMinute);
        Assert.Equal(1000, stored.TokensPerMinute);
        Assert.Equal(2.5, stored.CostBudget);
        Assert.False(stored.AllowPinning);
        Assert.Equal(new DateTime(2030, 1, 1, 0, 0, 0, DateTimeKind.Utc), stored.ExpiresAt);

        Assert.Equal(ExitCodes.Refused, (await Run("key", "create", "--name", "bad", "--role", "viewer", "--rpm", "-1")).Exit);
    }

    [Fact]
    public async Task ModelUpdate_LoweringTheTier_IsRefused_UntilAnotherKeyWithTheAuthorityApprovesIt()
    {
        var model = ServerFixture.UniqueName("cli-tier");
        await server.Api().CreateModelAsync(new CreateModelRequest(model, "team-a", RiskTiers.High, "classification"));

        var owner = await Run("model", "update", model, "--owner", "team-b", "-o", "json");
        Assert.True(owner.Exit == ExitCodes.Ok, owner.Err + owner.Out);
        Assert.Equal(("team-b", RiskTiers.High), (JsonSerializer.Deserialize<ModelDto>(owner.Out, ModelGateJson.Options)!.Owner,
            JsonSerializer.Deserialize<ModelDto>(owner.Out, ModelGateJson.Options)!.RiskTier));
        Assert.Equal(ExitCodes.Usage, (await Run("model", "update", model)).Exit);

        var lower = await Run("model", "update", model, "--risk-tier", "low", "-o", "json");
        Assert.Equal(ExitCodes.Refused, lower.Exit);
        var problem = JsonDocument.Parse(lower.Out).RootElement;
        Assert.Equal("policy_below_floor", problem.GetProperty("code").GetString());
        var change = problem.GetProperty("change").GetString()!;
        Assert.Equal(RiskTiers.High, (await server.Api().GetModelAsync(model)).RiskTier);

        // The requester (the admin key) cannot approve its own change; a risk-committee key can.
        Assert.Equal(ExitCodes.Unauthorized, (await Run("model", "approve-floor", model, "--change", change, "--reason", "mine")).Exit);
        var committee = await server.CreateKeyAsync(Roles.RiskCommittee);
        var approved = await server.CliAsync(["model", "approve-floor", model, "--change", change, "--reason", "the model only ranks internal tickets"], committee);
        Assert.True(approved.Exit == ExitCodes.Ok, approved.Err + approved.Out);
        Assert.Contains("approved by", approved.Out);

        var retried = await Run("model", "update", model, "--risk-tier", "low");
        Assert.True(retried.Exit == ExitCodes.Ok, retried.Err + retried.Out);
        Assert.Equal(RiskTiers.Low, (await server.Api().GetModelAsync(model)).RiskTier);
    }

    [Fact]
    public async Task SloFeedbackUsage_OnAServedDeployment_GoThroughTheApi()
    {
        var deployment = await AdultServing.DeployAsync(server, await AdultServing.RegisterAsync(server), new { stable = "1.0.0" });

        var set = await Run("slo", "set", deployment, "--availability", "0.995", "--latency-objective", "0.9", "--latency-threshold-ms", "250", "--period-days", "7");
        Assert.True(set.Exit == ExitCodes.Ok, set.Err);
        var show = await Run("slo", "show", deployment, "-o", "json");
        Assert.True(show.Exit == ExitCodes.Ok, show.Err);
        var slo = JsonSerializer.Deserialize<SloStatusDto>(show.Out, ModelGateJson.Options)!;
        Assert.Equal(new SloSpec(0.995, 0.9, 250, 7), slo.Spec);
        Assert.Equal(ExitCodes.Refused, (await Run("slo", "set", deployment, "--availability", "1.5")).Exit);
        Assert.Equal(ExitCodes.NotFound, (await Run("slo", "show", "no-such-deployment")).Exit);

        using var response = await server.Client().PostAsJsonAsync($"/v2/models/{deployment}/infer", AdultServing.Request(0, 1));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var requestId = response.Headers.GetValues("x-modelgate-request-id").Single();
        await server.FlushRequestLogAsync();

        var feedback = await Run("feedback", requestId, "--metric", "conversion", "--value", "1", "-o", "json");
        Assert.True(feedback.Exit == ExitCodes.Ok, feedback.Err + feedback.Out);
        var sent = JsonSerializer.Deserialize<FeedbackDto>(feedback.Out, ModelGateJson.Options)!;
        Assert.Equal(("conversion", 1.0, deployment, "1.0.0"), (sent.Metric, sent.Value, sent.Deployment, sent.Version));
        Assert.Equal(ExitCodes.Ok, (await Run("feedback", requestId, "--label", "0", "--comment", "checked by hand")).Exit);
        Assert.Equal(ExitCodes.Refused, (await Run("feedback", requestId, "--metric", "conversion")).Exit);

        var usage = await Run("usage", "--deployment", deployment, "--group-by", "deployment,version", "-o", "json");
        Assert.True(usage.Exit == ExitCodes.Ok, usage.Err);
        var row = Assert.Single(JsonSerializer.Deserialize<UsageDto>(usage.Out, ModelGateJson.Options)!.Rows);
        Assert.Equal((deployment, "1.0.0", 1L, 0L), (row.Deployment, row.Version, row.Requests, row.Errors));
        var table = await Run("usage", "--deployment", deployment);
        Assert.Contains(deployment, table.Out);
        Assert.Equal(ExitCodes.Refused, (await Run("usage", "--group-by", "colour")).Exit);
    }

    [Fact]
    public async Task SilenceCreateAndList_RoundTrip()
    {
        var prefix = ServerFixture.UniqueName("drift:");
        var created = await Run("silence", "create", "--key-prefix", prefix, "--for", "2h", "--reason", "planned retraining", "-o", "json");
        Assert.True(created.Exit == ExitCodes.Ok, created.Err + created.Out);
        var list = await Run("silence", "list", "-o", "json");
        var silence = Assert.Single(JsonSerializer.Deserialize<List<SilenceDto>>(list.Out, ModelGateJson.Options)!, s => s.KeyPrefix == prefix);
        Assert.Equal("planned retraining", silence.Reason);
        Assert.Contains(prefix, (await Run("silence", "list")).Out);
        Assert.Equal(ExitCodes.Refused, (await Run("silence", "create", "--key-prefix", prefix, "--for", "90d", "--reason", "too long")).Exit);
    }

    [Fact]
    public async Task ModelCardSet_FromYaml_IsStoredAndShown()
    {
        var model = await AdultServing.RegisterAsync(server);
        var yaml = Path.Combine(_work, "card.yaml");
        await File.WriteAllTextAsync(yaml, """
            intendedUse: Pre-screening of income brackets for survey weighting
            outOfScopeUse: Credit or employment decisions
            limitations:
              - Trained on 1994 US census data
              - Not calibrated for other countries
            trainingData: UCI Adult, train split
            """);
        var set = await Run("model", "card", "set", $"{model}@1.0.0", yaml);
        Assert.True(set.Exit == ExitCodes.Ok, set.Err + set.Out);
        var show = await Run("model", "card", "show", $"{model}@1.0.0");
        Assert.True(show.Exit == ExitCodes.Ok, show.Err);
        var card = JsonSerializer.Deserialize<ModelCard>(show.Out, ModelGateJson.Options)!;
        Assert.Equal("Credit or employment decisions", card.OutOfScopeUse);
        Assert.Equal(["Trained on 1994 US census data", "Not calibrated for other countries"], card.Limitations);

        var markdown = await Run("model", "card", "show", $"{model}@1.0.0", "--format", "markdown");
        Assert.True(markdown.Exit == ExitCodes.Ok, markdown.Err);
        Assert.StartsWith("#", markdown.Out);
        Assert.Contains("Credit or employment decisions", markdown.Out);
        Assert.Contains("Not calibrated for other countries", markdown.Out);
        var bom = await Run("model", "card", "show", $"{model}@1.0.0", "--format", "cyclonedx");
        Assert.True(bom.Exit == ExitCodes.Ok, bom.Err);
        using (var document = JsonDocument.Parse(bom.Out))
        {
            Assert.Equal("CycloneDX", document.RootElement.GetProperty("bomFormat").GetString());
            Assert.Contains("Credit or employment decisions", bom.Out);
        }
        Assert.Equal(ExitCodes.Usage, (await Run("model", "card", "show", $"{model}@1.0.0", "--format", "pdf")).Exit);

        var json = Path.Combine(_work, "card.json");
        await File.WriteAllTextAsync(json, """{"intendedUse": "JSON works too", "limitations": ["one"]}""");
        Assert.Equal(ExitCodes.Ok, (await Run("model", "card", "set", $"{model}@1.1.0", json)).Exit);
        Assert.Equal(ExitCodes.NotFound, (await Run("model", "card", "show", $"{model}@9.9.9")).Exit);
        var broken = Path.Combine(_work, "broken.yaml");
        await File.WriteAllTextAsync(broken, "intendedUse: [unclosed");
        Assert.Equal(ExitCodes.Usage, (await Run("model", "card", "set", $"{model}@1.0.0", broken)).Exit);
    }

    [Fact]
    public async Task DriftBaselineSet_UploadsTheCsvAndSetsTheColumns()
    {
        var model = await AdultServing.RegisterAsync(server);
        var csv = Path.Combine(_work, "reference.csv");
        await File.WriteAllLinesAsync(csv, File.ReadLines(Path.Combine(AppContext.BaseDirectory, "fixtures", "datasets", "adult", "test.csv")).Take(41));
        var set = await Run("drift", "baseline", "set", $"{model}@1.0.0", "--dataset", csv, "--column", "age", "--column", "education", "-o", "json");
        Assert.True(set.Exit == ExitCodes.Ok, set.Err + set.Out);
        var baseline = JsonSerializer.Deserialize<DriftBaselineDto>(set.Out, ModelGateJson.Options)!;
        Assert.Equal(40, baseline.Rows);
        Assert.Equal(["age", "education"], baseline.Columns);
        Assert.Equal(ExitCodes.Refused, (await Run("drift", "baseline", "set", $"{model}@1.0.0", "--dataset", csv, "--column", "no_such_column")).Exit);
    }

    [Fact]
    public async Task DeploymentCreate_WithAnUpstreamBackend_StoresTheStableVersionsUpstreamAndKey_AndSetUpstreamCanDropTheKey()
    {
        var model = await UpstreamModels.RegisterAsync(server, "cli-upstream-create");
        var name = ServerFixture.UniqueName("cli-upstream-create");
        _environment["CLI_TEST_UPSTREAM_KEY"] = "sk-created";
        var created = await Run("deployment", "create", name, "--model", model, "--stable", "1.0.0", "--backend", "upstream",
            "--upstream-url", "http://127.0.0.1:9/v1", "--upstream-model", "m", "--api-key-env", "CLI_TEST_UPSTREAM_KEY", "--input-price", "0.25");
        Assert.True(created.Exit == ExitCodes.Ok, created.Err + created.Out);
        var table = (await server.Api().GetDeploymentAsync(name)).Routing;
        Assert.Equal("upstream", table.Backend);
        Assert.True(table.Upstreams!["1.0.0"] is { Url: "http://127.0.0.1:9/v1", Model: "m", HasApiKey: true, InputPricePer1K: 0.25 });
        Assert.DoesNotContain("sk-created", created.Out);

        var dropped = await Run("deployment", "set-upstream", name, "1.0.0", "--upstream-url", "http://127.0.0.1:9/v1", "--upstream-model", "m", "--drop-api-key");
        Assert.True(dropped.Exit == ExitCodes.Ok, dropped.Err + dropped.Out);
        Assert.False((await server.Api().GetDeploymentAsync(name)).Routing.Upstreams!["1.0.0"].HasApiKey);
        var events = await server.Api().ListAuditAsync(subject: $"deployments/{name}");
        Assert.Equal(2, events.Items.Count);

        // Usage errors: an upstream deployment without the stable version's upstream, upstream options on an onnx one, contradictions.
        Assert.Equal(ExitCodes.Usage, (await Run("deployment", "create", name + "-x", "--model", model, "--stable", "1.0.0", "--backend", "upstream")).Exit);
        Assert.Equal(ExitCodes.Usage, (await Run("deployment", "create", name + "-y", "--model", model, "--stable", "1.0.0", "--upstream-url", "http://127.0.0.1:9/v1",
            "--upstream-model", "m")).Exit);
        Assert.Equal(ExitCodes.Usage, (await Run("deployment", "set-upstream", name, "1.0.0", "--url", "http://127.0.0.1:9/v1", "--model", "m",
            "--api-key-env", "CLI_TEST_UPSTREAM_KEY", "--drop-api-key")).Exit);
        Assert.Equal(1, (await server.Api().ListDeploymentsAsync()).Count(d => d.Name.StartsWith(name, StringComparison.Ordinal)));
    }

    [Fact]
    public async Task DeploymentSetUpstream_WithEndpointsAndFallbacks_StoresEachWithItsWeightModelAndKey()
    {
        var model = await UpstreamModels.RegisterAsync(server, "cli-endpoints");
        var name = ServerFixture.UniqueName("cli-endpoints");
        _environment["CLI_TEST_KEY_A"] = "sk-endpoint-a";
        _environment["CLI_TEST_KEY_C"] = "sk-fallback-c";
        var created = await Run("deployment", "create", name, "--model", model, "--stable", "1.0.0", "--backend", "upstream", "--upstream-model", "m",
            "--upstream-endpoint", "http://127.0.0.1:9/v1,weight=3,api-key-env=CLI_TEST_KEY_A", "--upstream-endpoint", "http://127.0.0.1:10/v1,model=m-b",
            "--upstream-fallback", "http://127.0.0.1:11/v1,api-key-env=CLI_TEST_KEY_C");
        Assert.True(created.Exit == ExitCodes.Ok, created.Err + created.Out);
        var upstream = (await server.Api().GetDeploymentAsync(name)).Routing.Upstreams!["1.0.0"];
        Assert.Null(upstream.Url);
        Assert.True(upstream.Endpoints![0] is { Url: "http://127.0.0.1:9/v1", Weight: 3, HasApiKey: true, Model: null });
        Assert.True(upstream.Endpoints[1] is { Url: "http://127.0.0.1:10/v1", Weight: null, HasApiKey: false, Model: "m-b" });
        Assert.True(upstream.Fallbacks!.Single() is { Url: "http://127.0.0.1:11/v1", HasApiKey: true });
        Assert.DoesNotContain("sk-", created.Out);

        // Reordered without key options: each stored key stays with its URL; no-api-key drops one.
        var set = await Run("deployment", "set-upstream", name, "1.0.0", "--model", "m", "--upstream-endpoint", "http://127.0.0.1:10/v1",
            "--upstream-endpoint", "http://127.0.0.1:9/v1,weight=2", "--upstream-fallback", "http://127.0.0.1:11/v1,no-api-key");
        Assert.True(set.Exit == ExitCodes.Ok, set.Err + set.Out);
        upstream = (await server.Api().GetDeploymentAsync(name)).Routing.Upstreams!["1.0.0"];
        Assert.True(upstream.Endpoints![0] is { Url: "http://127.0.0.1:10/v1", HasApiKey: false });
        Assert.True(upstream.Endpoints[1] is { Url: "http://127.0.0.1:9/v1", Weight: 2, HasApiKey: true });
        Assert.False(upstream.Fallbacks!.Single().HasApiKey);

        // Usage errors: a URL and endpoints at once, a malformed endpoint, a weight on a fallback, a key for all endpoints at once.
        foreach (var args in new[]
        {
            new[] { "--url", "http://127.0.0.1:9/v1", "--upstream-endpoint", "http://127.0.0.1:10/v1" },
            ["--upstream-endpoint", "http://127.0.0.1:10/v1,weight=heavy"],
            ["--upstream-endpoint", "http://127.0.0.1:10/v1", "--upstream-fallback", "http://127.0.0.1:11/v1,weight=2"],
            ["--upstream-endpoint", "http://127.0.0.1:10/v1", "--api-key-env", "CLI_TEST_KEY_A"],
        })
        {
            Assert.Equal(ExitCodes.Usage, (await Run(["deployment", "set-upstream", name, "1.0.0", "--model", "m", .. args])).Exit);
        }
        // The server's rules hold too: a weight of 0 is refused, and nothing changes.
        var revision = (await server.Api().GetDeploymentAsync(name)).Revision;
        Assert.NotEqual(ExitCodes.Ok, (await Run("deployment", "set-upstream", name, "1.0.0", "--model", "m", "--upstream-endpoint", "http://127.0.0.1:10/v1,weight=0")).Exit);
        Assert.Equal(revision, (await server.Api().GetDeploymentAsync(name)).Revision);
    }

    [Fact]
    public async Task Client_ARoutingChangeWithApiKeyNull_DropsTheStoredKey_AndOneWithoutApiKeyKeepsIt()
    {
        var model = await UpstreamModels.RegisterAsync(server, "client-drop-key");
        var name = ServerFixture.UniqueName("client-drop-key");
        var api = server.Api();
        await api.CreateDeploymentAsync(new CreateDeploymentRequest(name, "development", model, new RoutingTable("1.0.0", Backend: "upstream",
            Upstreams: new Dictionary<string, UpstreamBackend> { ["1.0.0"] = new("http://127.0.0.1:9/v1", "m", "sk-a") })));
        var shown = (await api.GetDeploymentAsync(name)).Routing;
        await api.SetRoutingAsync(name, shown);
        Assert.True((await api.GetDeploymentAsync(name)).Routing.Upstreams!["1.0.0"].HasApiKey);

        await api.SetRoutingAsync(name, shown with { Upstreams = new Dictionary<string, UpstreamBackend> { ["1.0.0"] = shown.Upstreams!["1.0.0"] with { ApiKey = null } } });
        Assert.False((await api.GetDeploymentAsync(name)).Routing.Upstreams!["1.0.0"].HasApiKey);
    }

    [Fact]
    public async Task DeploymentSetUpstream_SetsOneVersionsUpstreamAndPrices_KeepingTheOthersKeys()
    {
        var model = await UpstreamModels.RegisterAsync(server, "cli-upstream");
        var name = ServerFixture.UniqueName("cli-upstream");
        await server.Api().CreateDeploymentAsync(new CreateDeploymentRequest(name, "development", model, new RoutingTable("1.0.0", Backend: "upstream",
            Upstreams: new Dictionary<string, UpstreamBackend> { ["1.0.0"] = new("http://127.0.0.1:9/v1", "m", "sk-a") })));

        var set = await Run("deployment", "set-upstream", name, "1.1.0", "--url", "http://127.0.0.1:10/v1", "--model", "m2",
            "--input-price", "0.5", "--output-price", "1.5", "--retries", "0");
        Assert.True(set.Exit == ExitCodes.Ok, set.Err + set.Out);
        var upstreams = (await server.Api().GetDeploymentAsync(name)).Routing.Upstreams!;
        Assert.Equal(("http://127.0.0.1:10/v1", "m2", 0.5, 1.5, 0), (upstreams["1.1.0"].Url, upstreams["1.1.0"].Model, upstreams["1.1.0"].InputPricePer1K,
            upstreams["1.1.0"].OutputPricePer1K, upstreams["1.1.0"].Retries));
        Assert.True(upstreams["1.0.0"].HasApiKey);

        Assert.Equal(ExitCodes.Ok, (await Run("deployment", "set-upstream", name, "1.0.0", "--url", "http://127.0.0.1:9/v1", "--model", "m-renamed")).Exit);
        Assert.True((await server.Api().GetDeploymentAsync(name)).Routing.Upstreams!["1.0.0"] is { Model: "m-renamed", HasApiKey: true });
        Assert.Equal(ExitCodes.Refused, (await Run("deployment", "set-upstream", name, "1.0.0", "--url", "http://127.0.0.1:11/v1", "--model", "m")).Exit);
        Assert.Equal(ExitCodes.Usage, (await Run("deployment", "set-upstream", name, "1.0.0", "--url", "http://x/v1", "--model", "m", "--api-key-env", "NO_SUCH_VAR")).Exit);
        Assert.Equal(ExitCodes.NotFound, (await Run("deployment", "set-upstream", "no-such-deployment", "1.0.0", "--url", "http://x/v1", "--model", "m")).Exit);

        // set-route on an upstream deployment keeps its backend and every version's upstream (and stored key).
        var routed = await Run("deployment", "set-route", name, "--stable", "1.0.0", "--candidate", "1.1.0=10");
        Assert.True(routed.Exit == ExitCodes.Ok, routed.Err + routed.Out);
        var table = (await server.Api().GetDeploymentAsync(name)).Routing;
        Assert.Equal(("upstream", "1.0.0", 10.0), (table.Backend, table.Stable, table.Candidates!.Single(c => c.Version == "1.1.0").Weight));
        Assert.True(table.Upstreams!["1.0.0"] is { Model: "m-renamed", HasApiKey: true });
        Assert.Equal("m2", table.Upstreams["1.1.0"].Model);

        // A URL whose credential query is shown redacted to a deployer is not written back redacted: the command refuses.
        Assert.Equal(ExitCodes.Ok, (await Run("deployment", "set-upstream", name, "1.1.0", "--url", "http://127.0.0.1:10/v1?api-key=s3cret", "--model", "m2")).Exit);
        var deployer = await server.CreateKeyAsync(Roles.Deployer);
        var refused = await server.CliAsync(["deployment", "set-route", name, "--stable", "1.0.0"], deployer);
        Assert.Equal(ExitCodes.Refused, refused.Exit);
        Assert.Contains("redacted", refused.Err);
        Assert.Equal("http://127.0.0.1:10/v1?api-key=s3cret", (await server.Api().GetDeploymentAsync(name)).Routing.Upstreams!["1.1.0"].Url);
    }
}
