using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Lifecycle;

/// <summary>The Adult models walked through the lifecycle gates on the real host: evaluation, card, staging, approvals, production, retirement.</summary>
public sealed class LifecycleWalkthroughTests(SqliteServerFixture server) : IClassFixture<SqliteServerFixture>
{
    private const string Policy = """
        evaluated:
          thresholds:
            - metric: roc_auc
              min: 0.88
            - metric: equalized_odds_difference
              max: 0.1
        """;

    private static readonly ModelCard Card = new(
        IntendedUse: "Screening census records for income above 50K in aggregate statistics.",
        OutOfScopeUse: "Decisions about individuals (credit, hiring, housing).",
        Limitations: ["Trained on 1994 US census data; does not generalise to other years or countries."],
        TrainingData: "UCI Adult train split, 32,561 rows.",
        Evaluation: new CardEvaluation("Adult test split, 16,281 rows; ROC AUC and fairness by sex."),
        EthicalConsiderations: [new EthicalConsideration("Sex and race are inputs", "equalized odds by sex is gated")],
        Markdown: "# Adult income\nA census-income classifier.");

    private sealed record People(ModelGateClient Admin, ModelGateClient Alice, ModelGateClient Eve, ModelGateClient Lee, ModelGateClient Mo, ModelGateClient Dan,
        string LeeId, string EveId);

    private async Task<People> PeopleAsync()
    {
        var admin = server.Api();
        async Task<(ModelGateClient Client, string Id)> Key(string name, params string[] roles)
        {
            var key = await server.CreateKeyAsync(new CreateKeyRequest(name, roles));
            return (server.Api(key.Key!), key.Principal!);
        }
        var alice = await Key("alice", Roles.Trainer, Roles.MlLead); // the trainer, who also leads another team
        var eve = await Key("eve", Roles.Evaluator, Roles.MlLead);   // evaluates this model
        var lee = await Key("lee", Roles.MlLead);                    // asks for the promotions
        var mo = await Key("mo", Roles.MlLead);                      // the independent approver
        var dan = await Key("dan", Roles.Deployer);
        return new People(admin, alice.Client, eve.Client, lee.Client, mo.Client, dan.Client, lee.Id, eve.Id);
    }

    private async Task<string> UploadAsync(byte[] content) => await server.UploadAsync(content);

    private async Task<EvaluationDto> EvaluateAsync(ModelGateClient api, string model, string version, string suite)
    {
        var run = await api.StartEvaluationAsync(model, version, new StartEvaluationRequest(suite));
        await server.EvaluationFinishedAsync(run.Id);
        run = await api.GetEvaluationAsync(model, version, run.Id);
        Assert.True(EvaluationStatuses.IsTerminal(run.Status), $"evaluation {run.Id} did not finish");
        Assert.Equal(EvaluationStatuses.Succeeded, run.Status);
        return run;
    }

    private static async Task<IReadOnlyList<GateCheck>> RefusedAsync(ModelGateClient api, string model, string version, string to, string? replacement = null,
        string? trigger = null)
    {
        var request = new TransitionRequest(to, "walkthrough", trigger, replacement);
        var dry = await api.DryRunTransitionAsync(model, version, request);
        Assert.False(dry.Passed);
        var refused = await Assert.ThrowsAsync<ModelGateApiException>(() => api.TransitionAsync(model, version, request));
        Assert.Equal(HttpStatusCode.Conflict, refused.Status);
        Assert.Equal("gate_refused", refused.Code);
        var failed = refused.Problem!.Checks!;
        // The dry run reports exactly what the refusal names.
        Assert.Equal(dry.Checks.Where(c => !c.Passed).Select(c => c.Check), failed.Select(c => c.Check));
        Assert.All(failed, c => Assert.False(c.Passed));
        return failed;
    }

    private static ApprovalRequest Approval(string role, params string[] evidence) => new(ApprovalDecisions.Approve, role, evidence,
        "Fairness gap by sex within the policy bound.", "Drift and error-rate alerts on the production deployment.",
        "Route production back to the previous version with modelgate rollback.", DateTime.UtcNow.AddDays(90));

    [Fact]
    public async Task AdultModels_WalkThroughEveryGate_ToProductionAndRetirement()
    {
        var p = await PeopleAsync();
        var model = ServerFixture.UniqueName("adult");
        await p.Admin.CreateModelAsync(new CreateModelRequest(model, "risk-team", RiskTiers.Low, "classification", License: "CC-BY-4.0"));
        await p.Lee.PutPolicyAsync(model, Policy);
        await UploadAsync(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "fixtures", "datasets", "adult", "test.csv")));
        var suite = await UploadAsync(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "fixtures", "suites", "adult-classification.json")));
        async Task Register(string version, string onnx, Attestation attestation)
        {
            var sha = await UploadAsync(Fixtures.ModelBytes(onnx));
            await p.Alice.CreateVersionAsync(model, new CreateVersionRequest(version, [new ArtifactRef(sha, onnx + ".onnx")], attestation));
        }
        await Register("1.0.0", "v1-logreg", Fixtures.Attestation());
        await Register("1.1.0", "v3-biased", Fixtures.Attestation(datasetSha: new string('b', 64)));
        await Register("1.2.0", "v4-broken", Fixtures.Attestation(datasetSha: new string('c', 64)));

        // Evaluated: nothing yet, then the fairness rule stops v3 and the ROC AUC rule stops v4.
        Assert.Contains(await RefusedAsync(p.Lee, model, "1.0.0", Stages.Evaluated), c => c.Check == "evaluation" && c.Actual == "none");
        var v1Eval = await EvaluateAsync(p.Eve, model, "1.0.0", suite);
        await EvaluateAsync(p.Eve, model, "1.1.0", suite);
        await EvaluateAsync(p.Eve, model, "1.2.0", suite);
        var biased = await RefusedAsync(p.Lee, model, "1.1.0", Stages.Evaluated);
        Assert.Contains(biased, c => c.Check == "metric:equalized_odds_difference" && c.Expected == "equalized_odds_difference ≤ 0.1");
        var broken = await RefusedAsync(p.Lee, model, "1.2.0", Stages.Evaluated);
        Assert.Contains(broken, c => c.Check == "metric:roc_auc" && c.Expected == "roc_auc ≥ 0.88");
        Assert.DoesNotContain(broken, c => c.Check == "metric:equalized_odds_difference");
        await p.Lee.TransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Evaluated, "passes the evaluation gate"));

        // Registered: the card is incomplete until it is written.
        await p.Alice.PutCardAsync(model, "1.0.0", new ModelCard(IntendedUse: "census statistics"));
        var card = await RefusedAsync(p.Lee, model, "1.0.0", Stages.Registered);
        Assert.Equal(["card:outOfScopeUse", "card:limitations", "card:trainingData", "card:evaluation", "card:ethicalConsiderations"], card.Select(c => c.Check));
        await p.Alice.PutCardAsync(model, "1.0.0", Card);
        await p.Lee.TransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Registered, "card complete"));
        var frozen = await Assert.ThrowsAsync<ModelGateApiException>(() => p.Alice.PutCardAsync(model, "1.0.0", Card));
        Assert.Equal("card_frozen", frozen.Code);

        // Staging: only once a staging deployment serves it.
        Assert.Contains(await RefusedAsync(p.Lee, model, "1.0.0", Stages.Staging), c => c.Check == "staging_deployment" && c.Actual == "no staging deployment");
        var staging = $"{model}-staging";
        await p.Dan.CreateDeploymentAsync(new CreateDeploymentRequest(staging, DeploymentEnvironments.Staging, model, new RoutingTable("1.0.0")));
        await p.Lee.TransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Staging, "deployed to staging"));

        // Production: a staging verification and an ml-lead's approval (low risk) are missing.
        var missing = await RefusedAsync(p.Lee, model, "1.0.0", Stages.Production);
        Assert.Equal(["staging_verification", "approval:ml-lead"], missing.Select(c => c.Check));
        var verification = await p.Dan.VerifyStagingAsync(model, "1.0.0", new StagingVerificationRequest(SmokeRows: 10, LoadRequests: 50, Concurrency: 4));
        Assert.True(verification.Passed, string.Join("; ", verification.Checks.Select(c => $"{c.Check}: {c.Detail}")));
        Assert.Equal(["loads", "smoke", "latency_throughput", "request_log", "telemetry", "rollback_drill"], verification.Checks.Select(c => c.Check));

        // Separation of duties: the trainer, the evaluator and the requester may not approve.
        foreach (var (who, why) in new[] { (p.Alice, "trained"), (p.Eve, "evaluated"), (p.Lee, "asked to promote") })
        {
            var refused = await Assert.ThrowsAsync<ModelGateApiException>(() => who.ApproveAsync(model, "1.0.0", Approval(Roles.MlLead, v1Eval.Id, verification.Id)));
            Assert.Equal(HttpStatusCode.Forbidden, refused.Status);
            Assert.Equal("separation_of_duties", refused.Code);
            Assert.Contains(why, refused.Problem!.Detail);
        }
        var incomplete = await Assert.ThrowsAsync<ModelGateApiException>(() => p.Mo.ApproveAsync(model, "1.0.0", Approval(Roles.MlLead) with { RollbackPlan = "" }));
        Assert.Equal(HttpStatusCode.BadRequest, incomplete.Status);
        Assert.Contains("evidence", incomplete.Problem!.Errors!.Keys);
        Assert.Contains("rollbackPlan", incomplete.Problem.Errors.Keys);
        var approval = await p.Mo.ApproveAsync(model, "1.0.0", Approval(Roles.MlLead, v1Eval.Id, verification.Id));
        var promoted = await p.Lee.TransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Production, "approved"));
        Assert.True(promoted.Report.Passed);
        Assert.Contains(promoted.Report.Checks, c => c.Check == "approval:ml-lead" && c.Actual.Contains(approval.Id, StringComparison.Ordinal));
        var production = $"{model}-prod";
        await p.Dan.CreateDeploymentAsync(new CreateDeploymentRequest(production, DeploymentEnvironments.Production, model, new RoutingTable("1.0.0")));

        // v2-mlp follows, compared with production 1.0.0 on the same rows; staging's rollback drill goes back to 1.0.0.
        await Register("2.0.0", "v2-mlp", Fixtures.Attestation() with { Architecture = "mlp" });
        var v2Eval = await EvaluateAsync(p.Eve, model, "2.0.0", suite);
        Assert.Equal("1.0.0", v2Eval.Baseline);
        await p.Lee.TransitionAsync(model, "2.0.0", new TransitionRequest(Stages.Evaluated, "passes, no regression"));
        await p.Alice.PutCardAsync(model, "2.0.0", Card);
        await p.Lee.TransitionAsync(model, "2.0.0", new TransitionRequest(Stages.Registered, "card complete"));
        await p.Dan.SetRoutingAsync(staging, new RoutingTable("2.0.0", [new CandidateRoute("1.0.0", 0)]));
        await p.Lee.TransitionAsync(model, "2.0.0", new TransitionRequest(Stages.Staging, "deployed to staging"));
        var v2Verification = await p.Dan.VerifyStagingAsync(model, "2.0.0", new StagingVerificationRequest(SmokeRows: 5, LoadRequests: 20, Concurrency: 2));
        var drill = v2Verification.Checks.Single(c => c.Check == "rollback_drill");
        Assert.True(drill.Passed, drill.Detail);
        Assert.Equal("1.0.0", drill.Figures!.Value.GetProperty("answeredAfterRollback").GetString());
        Assert.Equal("2.0.0", drill.Figures!.Value.GetProperty("answeredAfterRestore").GetString());
        await p.Mo.ApproveAsync(model, "2.0.0", Approval(Roles.MlLead, v2Eval.Id, v2Verification.Id));
        await p.Lee.TransitionAsync(model, "2.0.0", new TransitionRequest(Stages.Production, "approved"));
        Assert.Equal(Stages.Production, (await p.Admin.GetVersionAsync(model, "1.0.0")).Stage); // last-known-good stays deployable

        // Retiring 1.0.0: refused while deployments route it, unless a replacement takes the traffic.
        var routed = await RefusedAsync(p.Lee, model, "1.0.0", Stages.Retired, trigger: RetirementTriggers.Replaced);
        Assert.Contains(routed, c => c.Check == "traffic" && c.Actual.Contains(production, StringComparison.Ordinal));
        var retired = await p.Lee.TransitionAsync(model, "1.0.0", new TransitionRequest(Stages.Retired, "replaced by the MLP", RetirementTriggers.Replaced, "2.0.0"));
        Assert.Equal("2.0.0", (await p.Admin.GetDeploymentAsync(production)).Routing.Stable);
        Assert.DoesNotContain((await p.Admin.GetDeploymentAsync(staging)).Routing.Candidates ?? [], c => c.Version == "1.0.0");
        var kept = await p.Admin.GetVersionAsync(model, "1.0.0");
        Assert.Equal(Stages.Retired, kept.Stage);

        // The archive is an artifact whose manifest names every entry's digest.
        using var archive = new MemoryStream();
        await p.Admin.PullArtifactAsync(retired.ArchiveSha256!, archive);
        Assert.Equal(retired.ArchiveSha256, Convert.ToHexStringLower(SHA256.HashData(archive.ToArray())));
        var entries = Fixtures.ReadArchive(archive.ToArray());
        using var manifest = JsonDocument.Parse(entries["manifest.json"]);
        var listed = manifest.RootElement.GetProperty("entries").EnumerateArray().ToDictionary(e => e.GetProperty("path").GetString()!, e => e.GetProperty("sha256").GetString());
        Assert.Superset(new HashSet<string> { "attestation.json", "card/model-card.json", "card/model-card.md", "card/model-card.cdx.json",
            $"evaluations/{v1Eval.Id}.json", $"approvals/{approval.Id}.json", $"staging-checks/{verification.Id}.json", "request-logs.jsonl",
            "audit-events.jsonl", "transitions.jsonl" }, listed.Keys.ToHashSet());
        foreach (var (path, sha) in listed)
        {
            Assert.Equal(sha, Convert.ToHexStringLower(SHA256.HashData(entries[path])));
        }
        Assert.Contains("\"version.transition_refused\"", Encoding.UTF8.GetString(entries["audit-events.jsonl"]), StringComparison.Ordinal);
        using (var bom = JsonDocument.Parse(entries["card/model-card.cdx.json"]))
        {
            Assert.Equal("1.6", bom.RootElement.GetProperty("specVersion").GetString());
        }
        var archivePath = Path.Combine(Path.GetTempPath(), $"{model}-archive.tar.gz");
        await File.WriteAllBytesAsync(archivePath, archive.ToArray());
        try
        {
            var verified = await server.CliAsync(["archive", "verify", archivePath]);
            Assert.Equal(0, verified.Exit);
            Assert.Contains("archive verified", verified.Out);
        }
        finally
        {
            File.Delete(archivePath);
        }
        // The card renders as markdown and exports as a CycloneDX ML-BOM through the API too.
        var markdown = await server.Client().GetStringAsync($"/api/v1/models/{model}/versions/2.0.0/card?format=markdown");
        Assert.Contains("Decisions about individuals", markdown);

        // Every step is in the audit log, and the chain verifies.
        var audit = await p.Admin.ListAuditAsync(subject: $"models/{model}/versions/1.0.0", limit: 1000);
        var actions = audit.Items.Select(e => e.Action).ToList();
        foreach (var action in new[] { "version.created", "version.transition_refused", "version.transitioned", "version.card_changed", "version.staging_verified",
                     "version.approval_refused", "version.approved" })
        {
            Assert.Contains(action, actions);
        }
        Assert.Equal(5, actions.Count(a => a == "version.transitioned")); // evaluated, registered, staging, production, retired
        Assert.True((await p.Admin.VerifyAuditAsync()).Valid);
        Assert.Equal([Stages.Evaluated, Stages.Registered, Stages.Staging, Stages.Production, Stages.Retired],
            (await p.Admin.ListTransitionsAsync(model, "1.0.0")).Select(t => t.To));
    }
}
