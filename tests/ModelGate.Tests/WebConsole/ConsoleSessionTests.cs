using System.Net;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;
using ModelGate.WebConsole;

using static ModelGate.Tests.WebConsole.ConsoleHttp;

namespace ModelGate.Tests.WebConsole;

/// <summary>
/// The console's session over HTTP (the browser tests drive the same pages in Chromium): an API key exchanged for an
/// HttpOnly, SameSite=Strict cookie that holds no key, checked again on every page (a revoked key ends it), anti-forgery on
/// every form, and the catalog with its filters.
/// </summary>
public sealed partial class ConsoleSessionTests(SqliteServerFixture server) : IClassFixture<SqliteServerFixture>
{
    /// <summary>A client that neither follows redirects nor keeps cookies: each test says what it sends.</summary>
    private HttpClient Browser() => ConsoleHttp.Browser(server);


    private async Task<string> SignInAsync(HttpClient browser, string key)
    {
        using var response = await browser.PostAsync("/console/sign-in", Form(("apiKey", key)));
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal("/console", response.Headers.Location?.OriginalString);
        var cookie = Assert.Single(response.Headers.GetValues("Set-Cookie"));
        Assert.StartsWith(ConsoleSessions.CookieName + "=", cookie);
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(key, Uri.UnescapeDataString(cookie), StringComparison.Ordinal);
        return cookie.Split(';')[0];
    }



    [Fact]
    public async Task SignIn_ExchangesTheKeyForASessionCookie_ThatEveryPageChecksAgain_AndSignOutNeedsTheFormsToken()
    {
        var browser = Browser();
        Assert.Equal("/console/sign-in", (await GetAsync(browser, "/", null)).Location);
        Assert.Equal("/console/sign-in", (await GetAsync(browser, "/console", null)).Location);

        // A wrong key: the form again, saying so, 401; no cookie.
        using (var refused = await browser.PostAsync("/console/sign-in", Form(("apiKey", "mg_not-a-key-0123456789abcdefghijklmnop"))))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.Contains("role=\"alert\"", await refused.Content.ReadAsStringAsync());
            Assert.False(refused.Headers.Contains("Set-Cookie"));
        }

        var viewer = await server.CreateKeyAsync(new CreateKeyRequest("console viewer", [Roles.Viewer]));
        // Posted from another site's page (login CSRF): refused, no cookie, whatever SameSite would have done.
        using (var crossSite = new HttpRequestMessage(HttpMethod.Post, "/console/sign-in") { Content = Form(("apiKey", viewer.Key!)) })
        {
            crossSite.Headers.Add("Origin", "http://attacker.example");
            using var response = await browser.SendAsync(crossSite);
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.False(response.Headers.Contains("Set-Cookie"));
        }
        var cookie = await SignInAsync(browser, viewer.Key!);
        Assert.Equal("/console", (await GetAsync(browser, "/", cookie)).Location);
        var page = await GetAsync(browser, "/console", cookie);
        Assert.Equal(HttpStatusCode.OK, page.Status);
        Assert.Contains("data-testid=\"whoami\">console viewer<", page.Body);

        // A cookie that was tampered with is no session.
        var tampered = cookie[..^4] + (cookie[^4..] == "AAAA" ? "BBBB" : "AAAA");
        Assert.Equal("/console/sign-in", (await GetAsync(browser, "/console", tampered)).Location);

        // Sign-out without the form's token is refused and the session goes on; with it, the cookie is cleared.
        using (var forged = new HttpRequestMessage(HttpMethod.Post, "/console/sign-out") { Content = Form() })
        {
            forged.Headers.Add("Cookie", cookie);
            using var response = await browser.SendAsync(forged);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        }
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(browser, "/console", cookie)).Status);
        var token = Csrf(page.Body);
        using (var signOut = new HttpRequestMessage(HttpMethod.Post, "/console/sign-out") { Content = Form(("_csrf", token)) })
        {
            signOut.Headers.Add("Cookie", cookie);
            using var response = await browser.SendAsync(signOut);
            Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
            Assert.Contains(response.Headers.GetValues("Set-Cookie"), c => c.StartsWith(ConsoleSessions.CookieName + "=;", StringComparison.Ordinal));
        }

        // The key is revoked through the REST API: its session ends at the next page.
        var again = await SignInAsync(browser, viewer.Key!);
        await server.Api().RevokeKeyAsync(viewer.Id);
        Assert.Equal("/console/sign-in", (await GetAsync(browser, "/console", again)).Location);
    }

    [Fact]
    public async Task Catalog_ListsModelsWithTheirVersionsByStage_FilteredByTextTierAndTask_AndEncodesWhatUsersStored()
    {
        var api = server.Api();
        var tag = ServerFixture.UniqueName("tag");
        var classifier = ServerFixture.UniqueName("catalog-a");
        var chat = ServerFixture.UniqueName("catalog-b");
        await api.CreateModelAsync(new CreateModelRequest(classifier, "risk <team>", RiskTiers.High, "classification", Tags: [tag]));
        await api.CreateModelAsync(new CreateModelRequest(chat, "support", RiskTiers.Low, "llm-chat", Tags: [tag]));
        var sha = await server.UploadAsync(Fixtures.ModelBytes("v1-logreg"));
        await api.CreateVersionAsync(classifier, new CreateVersionRequest("1.0.0", [new ArtifactRef(sha, "m.onnx")], Fixtures.Attestation()));
        var other = await server.UploadAsync(Fixtures.ModelBytes("v2-mlp"));
        await api.CreateVersionAsync(classifier, new CreateVersionRequest("1.1.0", [new ArtifactRef(other, "m.onnx")], Fixtures.Attestation(datasetSha: new string('b', 64))));
        await server.WithDbAsync(db => Microsoft.EntityFrameworkCore.EntityFrameworkQueryableExtensions.ExecuteUpdateAsync(
            db.ModelVersions.Where(v => v.Model!.Name == classifier && v.Version == "1.0.0"), u => u.SetProperty(v => v.Stage, Stages.Production)));
        var browser = Browser();
        var cookie = await SignInAsync(browser, (await server.CreateKeyAsync(new CreateKeyRequest("catalog reader", [Roles.Viewer]))).Key!);

        var all = (await GetAsync(browser, $"/console?q={tag}", cookie)).Body;
        Assert.Contains($"data-model=\"{classifier}\"", all);
        Assert.Contains($"data-model=\"{chat}\"", all);
        Assert.Contains("risk &lt;team&gt;", all);
        Assert.DoesNotContain("risk <team>", all);
        var row = Regex.Match(all, $"<tr data-model=\"{classifier}\">.*?</tr>", RegexOptions.Singleline).Value;
        Assert.Contains($"data-stage=\"production\"><a class=\"tag\" href=\"/console/models/{classifier}/versions/1.0.0\">1.0.0</a>", row);
        Assert.Contains($"data-stage=\"trained\"><a class=\"tag\" href=\"/console/models/{classifier}/versions/1.1.0\">1.1.0</a>", row);

        var high = (await GetAsync(browser, $"/console?q={tag}&tier=high", cookie)).Body;
        Assert.Contains($"data-model=\"{classifier}\"", high);
        Assert.DoesNotContain($"data-model=\"{chat}\"", high);
        var llm = (await GetAsync(browser, $"/console?q={tag}&task=llm-chat", cookie)).Body;
        Assert.DoesNotContain($"data-model=\"{classifier}\"", llm);
        Assert.Contains($"data-model=\"{chat}\"", llm);
        // An unknown filter value is no filter, and the text filter is echoed encoded.
        var odd = (await GetAsync(browser, $"/console?q=%3Cscript%3E&tier=extreme", cookie)).Body;
        Assert.Contains("value=\"&lt;script&gt;\"", odd);
        Assert.DoesNotContain("<script>", odd);
    }

    [Fact]
    public async Task ModelAndVersionPages_ShowTheTimelineEvidenceAndAudit_AndTheGateOnlyToKeysThatMayMoveIt()
    {
        var api = server.Api();
        var model = ServerFixture.UniqueName("pages");
        await api.CreateModelAsync(new CreateModelRequest(model, "risk-team", RiskTiers.Medium, "classification", Description: "<script>alert(1)</script> census"));
        var sha = await server.UploadAsync(Fixtures.ModelBytes("v1-logreg"));
        await api.CreateVersionAsync(model, new CreateVersionRequest("1.0.0", [new ArtifactRef(sha, "v1-logreg.onnx")], Fixtures.Attestation(trainer: "alice")));
        var suite = await server.UploadAsync(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "fixtures", "suites", "adult-classification.json")));
        var external = await api.StartEvaluationAsync(model, "1.0.0", new StartEvaluationRequest(suite, External: true,
            Metrics: new Dictionary<string, double> { ["accuracy"] = 0.8512 }));
        var browser = Browser();
        var lead = await SignInAsync(browser, (await server.CreateKeyAsync(new CreateKeyRequest("pages lead", [Roles.MlLead]))).Key!);
        var viewer = await SignInAsync(browser, (await server.CreateKeyAsync(new CreateKeyRequest("pages viewer", [Roles.Viewer]))).Key!);
        var scoped = await SignInAsync(browser, (await server.CreateKeyAsync(new CreateKeyRequest("pages app", [Roles.Viewer], Deployments: ["somewhere"]))).Key!);

        var modelPage = await GetAsync(browser, $"/console/models/{model}", viewer);
        Assert.Equal(HttpStatusCode.OK, modelPage.Status);
        Assert.Contains("data-version=\"1.0.0\"", modelPage.Body);
        Assert.Contains("&lt;script&gt;alert(1)&lt;/script&gt; census", modelPage.Body);
        Assert.DoesNotContain("<script>", modelPage.Body);
        Assert.Contains("product-owner and ml-lead", modelPage.Body); // the default policy's approvals for a medium-risk model

        var asLead = await GetAsync(browser, $"/console/models/{model}/versions/1.0.0", lead);
        Assert.Equal(HttpStatusCode.OK, asLead.Status);
        Assert.Contains("<dt>Trainer</dt><dd>alice</dd>", asLead.Body);
        Assert.Contains($"sha256:{sha}", asLead.Body);
        Assert.Contains($"data-evaluation=\"{external.Id}\"", asLead.Body);
        Assert.Contains("data-metric=\"accuracy\">accuracy 0.8512<", asLead.Body);
        // The gate to evaluated, as a dry run: an external result is no platform run, so it does not pass.
        Assert.Contains("id=\"gate\" data-passed=\"false\"", asLead.Body);
        Assert.Matches("data-check=\"platform_run[^\"]*\">.*?FAIL", asLead.Body);
        Assert.Contains("evaluation.recorded", asLead.Body);

        var asViewer = await GetAsync(browser, $"/console/models/{model}/versions/1.0.0", viewer);
        Assert.DoesNotContain("id=\"gate\"", asViewer.Body);
        Assert.Contains("id=\"audit\"", asViewer.Body);
        var asScoped = await GetAsync(browser, $"/console/models/{model}/versions/1.0.0", scoped);
        Assert.Equal(HttpStatusCode.OK, asScoped.Status);
        Assert.DoesNotContain("id=\"audit\"", asScoped.Body);
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync(browser, $"/console/models/{model}/versions/9.9.9", viewer)).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync(browser, "/console/models/no-such-model", viewer)).Status);
        // Nothing the page showed was written: the dry run leaves no transition and no audit event behind.
        Assert.Empty(await api.ListTransitionsAsync(model, "1.0.0"));
    }


    [Fact]
    public async Task Rollback_ThroughTheDeploymentPage_NeedsTheTokenTheConfirmationAndTheRole_AndIsAuditedAsTheApisIs()
    {
        var api = server.Api();
        var model = ServerFixture.UniqueName("ui-rollback");
        await api.CreateModelAsync(new CreateModelRequest(model, "o", RiskTiers.Low, "classification"));
        foreach (var (version, onnx) in new[] { ("1.0.0", "v1-logreg"), ("1.1.0", "v2-mlp") })
        {
            var sha = await server.UploadAsync(Fixtures.ModelBytes(onnx));
            await api.CreateVersionAsync(model, new CreateVersionRequest(version, [new ArtifactRef(sha, onnx + ".onnx")], Fixtures.Attestation(datasetSha: onnx == "v1-logreg" ? Fixtures.TrainCsvSha256 : new string('c', 64))));
        }
        var deployment = ServerFixture.UniqueName("ui-dep");
        await api.CreateDeploymentAsync(new CreateDeploymentRequest(deployment, DeploymentEnvironments.Development, model, new RoutingTable("1.0.0")));
        await api.SetRoutingAsync(deployment, new RoutingTable("1.1.0"));
        var browser = Browser();
        var deployerKey = await server.CreateKeyAsync(new CreateKeyRequest("ui deployer", [Roles.Deployer]));
        var deployer = await SignInAsync(browser, deployerKey.Key!);
        var viewer = await SignInAsync(browser, (await server.CreateKeyAsync(new CreateKeyRequest("ui onlooker", [Roles.Viewer]))).Key!);

        var listed = await GetAsync(browser, "/console/deployments", viewer);
        Assert.Contains($"data-deployment=\"{deployment}\"", listed.Body);
        var asViewer = await GetAsync(browser, $"/console/deployments/{deployment}", viewer);
        Assert.Contains("<tr data-route=\"stable\"><td>1.1.0</td>", asViewer.Body);
        Assert.DoesNotContain("id=\"rollback\"", asViewer.Body); // no button for a role that may not use it…
        var viewerToken = Csrf(asViewer.Body);
        var forged = await PostAsync(browser, $"/console/deployments/{deployment}/rollback", viewer, ("_csrf", viewerToken), ("reason", "x"), ("confirm", "yes"));
        Assert.Equal(HttpStatusCode.Forbidden, forged.Status); // …and the act refused if the form is forged

        var page = await GetAsync(browser, $"/console/deployments/{deployment}", deployer);
        Assert.Contains("id=\"rollback\"", page.Body);
        var token = Csrf(page.Body);
        var noToken = await PostAsync(browser, $"/console/deployments/{deployment}/rollback", deployer, ("reason", "bad canary"), ("confirm", "yes"));
        Assert.Equal(HttpStatusCode.BadRequest, noToken.Status);
        var unconfirmed = await PostAsync(browser, $"/console/deployments/{deployment}/rollback", deployer, ("_csrf", token), ("reason", "bad canary"));
        Assert.Equal(HttpStatusCode.BadRequest, unconfirmed.Status);
        Assert.Equal("1.1.0", (await api.GetDeploymentAsync(deployment)).Routing.Stable);

        var rolled = await PostAsync(browser, $"/console/deployments/{deployment}/rollback", deployer, ("_csrf", token), ("reason", "bad canary"), ("confirm", "yes"));
        Assert.Equal(HttpStatusCode.Redirect, rolled.Status);
        Assert.Equal($"/console/deployments/{deployment}?done=rolled-back", rolled.Location);
        Assert.Equal("1.0.0", (await api.GetDeploymentAsync(deployment)).Routing.Stable);
        var events = (await api.ListAuditAsync(subject: $"deployments/{deployment}", limit: 50)).Items;
        var rollback = Assert.Single(events, e => e.Action == "deployment.rolled_back");
        Assert.Equal(deployerKey.Principal, rollback.Actor);
        Assert.Contains("bad canary", rollback.Details.ToString());
        // Nothing earlier to go back to now: said on the page, nothing changed.
        var again = await PostAsync(browser, $"/console/deployments/{deployment}/rollback", deployer, ("_csrf", token), ("reason", "again"), ("confirm", "yes"));
        Assert.Equal(HttpStatusCode.Conflict, again.Status);
        Assert.Single((await api.ListAuditAsync(subject: $"deployments/{deployment}", limit: 50)).Items, e => e.Action == "deployment.rolled_back");
    }

    [Fact]
    public async Task Approval_FromTheVersionPage_IsRecordedByTheRestApisRules_AndVisibleThroughTheApi()
    {
        var api = server.Api();
        var model = ServerFixture.UniqueName("ui-approve");
        await api.CreateModelAsync(new CreateModelRequest(model, "o", RiskTiers.Low, "classification"));
        var sha = await server.UploadAsync(Fixtures.ModelBytes("v1-logreg"));
        await api.CreateVersionAsync(model, new CreateVersionRequest("1.0.0", [new ArtifactRef(sha, "v1-logreg.onnx")], Fixtures.Attestation()));
        var suite = await server.UploadAsync(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "fixtures", "suites", "adult-classification.json")));
        var evaluation = await api.StartEvaluationAsync(model, "1.0.0", new StartEvaluationRequest(suite, External: true, Metrics: new Dictionary<string, double> { ["accuracy"] = 0.85 }));
        await server.WithDbAsync(db => Microsoft.EntityFrameworkCore.EntityFrameworkQueryableExtensions.ExecuteUpdateAsync(
            db.ModelVersions.Where(v => v.Model!.Name == model), u => u.SetProperty(v => v.Stage, Stages.Staging)));
        var browser = Browser();
        var moKey = await server.CreateKeyAsync(new CreateKeyRequest("ui mo", [Roles.MlLead]));
        var mo = await SignInAsync(browser, moKey.Key!);
        var viewer = await SignInAsync(browser, (await server.CreateKeyAsync(new CreateKeyRequest("ui approver onlooker", [Roles.Viewer]))).Key!);
        Assert.DoesNotContain("id=\"approve\"", (await GetAsync(browser, $"/console/models/{model}/versions/1.0.0", viewer)).Body);

        var page = await GetAsync(browser, $"/console/models/{model}/versions/1.0.0", mo);
        Assert.Contains("id=\"approve\"", page.Body);
        Assert.Contains($"name=\"evidence\" value=\"{evaluation.Id}\"", page.Body);
        var token = Csrf(page.Body);
        (string, string)[] fields = [("role", Roles.MlLead), ("decision", "approve"), ("evidence", evaluation.Id), ("risks", "none beyond the card"),
            ("monitoring", "error-rate alerts"), ("rollbackPlan", "modelgate rollback"), ("review", "2027-12-01")];
        var noToken = await PostAsync(browser, $"/console/models/{model}/versions/1.0.0/approve", mo, fields);
        Assert.Equal(HttpStatusCode.BadRequest, noToken.Status);
        var incomplete = await PostAsync(browser, $"/console/models/{model}/versions/1.0.0/approve", mo, [("_csrf", token), .. fields.Where(f => f.Item1 != "risks")]);
        Assert.Equal(HttpStatusCode.BadRequest, incomplete.Status);
        Assert.Contains("risksAccepted", incomplete.Body);
        Assert.Empty(await api.ListApprovalsAsync(model, "1.0.0"));

        var recorded = await PostAsync(browser, $"/console/models/{model}/versions/1.0.0/approve", mo, [("_csrf", token), .. fields]);
        Assert.Equal(HttpStatusCode.Redirect, recorded.Status);
        var approval = Assert.Single(await api.ListApprovalsAsync(model, "1.0.0"));
        Assert.Equal((moKey.Principal, Roles.MlLead, ApprovalDecisions.Approve), (approval.Approver, approval.Role, approval.Decision));
        Assert.Contains((await api.ListAuditAsync(subject: $"models/{model}/versions/1.0.0", limit: 50)).Items, e => e.Action == "version.approved" && e.Actor == moKey.Principal);
        // The same role twice is refused, as by the API (403), and nothing more is recorded.
        var twice = await PostAsync(browser, $"/console/models/{model}/versions/1.0.0/approve", mo, [("_csrf", token), .. fields]);
        Assert.Equal(HttpStatusCode.Forbidden, twice.Status);
        Assert.Single(await api.ListApprovalsAsync(model, "1.0.0"));
    }

    [Fact]
    public async Task Compare_ShowsMetricDeltasOfTheSuitesBothRan_ThePromptDiff_AndTheBump()
    {
        var api = server.Api();
        var model = ServerFixture.UniqueName("ui-compare");
        await api.CreateModelAsync(new CreateModelRequest(model, "support", RiskTiers.Low, "llm-chat"));
        await api.CreateVersionAsync(model, new CreateVersionRequest("1.0.0", [], Fixtures.Attestation() with
        {
            Architecture = "upstream", PromptTemplate = new PromptTemplate("You summarise.", "Summarise: {{ticket}}", ["ticket"]),
        }));
        await api.CreateVersionAsync(model, new CreateVersionRequest("1.1.0", [], Fixtures.Attestation() with
        {
            Architecture = "upstream", PromptTemplate = new PromptTemplate("You summarise.", "Summarise in 15 words: {{ticket}}", ["ticket"]),
        }));
        var suite = await server.UploadAsync(System.Text.Encoding.UTF8.GetBytes("{\"name\": \"external\", \"task\": \"llm-chat\"}"));
        foreach (var (version, rouge) in new[] { ("1.0.0", 0.5), ("1.1.0", 0.625) })
        {
            await api.StartEvaluationAsync(model, version, new StartEvaluationRequest(suite, External: true, Metrics: new Dictionary<string, double> { ["rouge1"] = rouge }));
        }
        var browser = Browser();
        var viewer = await SignInAsync(browser, (await server.CreateKeyAsync(new CreateKeyRequest("ui comparer", [Roles.Viewer]))).Key!);

        var page = await GetAsync(browser, $"/console/models/{model}/compare?a=1.0.0&b=1.1.0", viewer);
        Assert.Equal(HttpStatusCode.OK, page.Status);
        Assert.Contains("<tr data-metric=\"rouge1\"><td>rouge1</td><td>0.5000</td><td>0.6250</td><td data-delta>+0.1250</td>", page.Body);
        var promptDiff = Regex.Match(page.Body, "<div id=\"prompt-diff\">.*?</div>", RegexOptions.Singleline).Value;
        Assert.True(promptDiff.Contains("- Summarise: {{ticket}}\n&#x2B; Summarise in 15 words: {{ticket}}", StringComparison.Ordinal), promptDiff); // '+' is encoded
        Assert.Contains("<code>promptTemplate.template</code>", page.Body);
        Assert.Contains("id=\"bump\">The changes need a patch bump", page.Body);
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync(browser, $"/console/models/{model}/compare?a=1.0.0", viewer)).Status);
    }

    [Fact]
    public async Task Compare_ShowsEachMetricWithItsInterval_AndTheDeltasPairedInterval_WhenOneRunWasComparedWithTheOther()
    {
        var api = server.Api();
        var model = ServerFixture.UniqueName("ui-intervals");
        await api.CreateModelAsync(new CreateModelRequest(model, "risk", RiskTiers.Low, "classification"));
        foreach (var (version, file) in new[] { ("1.0.0", "v1-logreg"), ("1.1.0", "v2-mlp") })
        {
            var sha = await server.UploadAsync(Fixtures.ModelBytes(file));
            await api.CreateVersionAsync(model, new CreateVersionRequest(version, [new ArtifactRef(sha, "m.onnx")], Fixtures.Attestation()));
        }
        // 1.1.0's run was compared with 1.0.0 on the same rows: its deltas carry the paired bootstrap interval.
        string Result(double accuracy, double[] ci, string? baseline) => System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["suite"] = "holdout", ["passed"] = true,
            ["metrics"] = new Dictionary<string, object> { ["accuracy"] = new { value = accuracy, ci }, ["f1"] = 0.6 },
            ["baseline"] = baseline is null ? null : new { version = baseline, deltas = new Dictionary<string, object> { ["accuracy"] = new { value = 0.04, ci = new[] { 0.01, 0.07 } } } },
        });
        await server.WithDbAsync(async db =>
        {
            var ids = db.ModelVersions.Where(v => v.Model!.Name == model).ToDictionary(v => v.Version, v => v.Id);
            var at = server.Time.GetUtcNow().UtcDateTime;
            foreach (var (version, accuracy, ci, baseline, sequence) in new[] { ("1.0.0", 0.80, new[] { 0.77, 0.83 }, (string?)null, 1L), ("1.1.0", 0.84, [0.81, 0.87], "1.0.0", 2L) })
            {
                db.Evaluations.Add(new ModelGate.Storage.Evaluation.EvaluationEntity
                {
                    Id = "eval_" + Guid.NewGuid().ToString("N")[..16], VersionId = ids[version], Model = model, Version = version, SuiteSha256 = new string('e', 64),
                    Status = EvaluationStatuses.Succeeded, Evaluator = "eve", CreatedAt = at, FinishedAt = at, EvidenceAuditSequence = sequence,
                    BaselineVersion = baseline, Result = Result(accuracy, ci, baseline),
                });
            }
            return await db.SaveChangesAsync();
        });
        try
        {
            await CompareShowsIntervalsAsync(model);
        }
        finally
        {
            // The runs were written without their evidence records: left in the class's store, the audit chain's check of
            // evidence would (rightly) report them.
            await server.WithDbAsync(db => db.Evaluations.Where(e => e.Model == model).ExecuteDeleteAsync());
        }
    }

    private async Task CompareShowsIntervalsAsync(string model)
    {
        var browser = Browser();
        var viewer = await SignInAsync(browser, (await server.CreateKeyAsync(new CreateKeyRequest("ui intervals", [Roles.Viewer]))).Key!);

        var forward = await GetAsync(browser, $"/console/models/{model}/compare?a=1.0.0&b=1.1.0", viewer);
        Assert.Contains("<tr data-metric=\"accuracy\"><td>accuracy</td><td>0.8000 [0.7700, 0.8300]</td><td>0.8400 [0.8100, 0.8700]</td><td data-delta>+0.0400 [+0.0100, +0.0700] paired</td>", forward.Body);
        // A metric without intervals: its delta alone.
        Assert.Contains("<tr data-metric=\"f1\"><td>f1</td><td>0.6000</td><td>0.6000</td><td data-delta>+0.0000</td>", forward.Body);
        // The other way round the paired interval is negated (A − B's interval is −(B − A)'s, bounds swapped).
        var backward = await GetAsync(browser, $"/console/models/{model}/compare?a=1.1.0&b=1.0.0", viewer);
        Assert.Contains("<td data-delta>-0.0400 [-0.0700, -0.0100] paired</td>", backward.Body);
    }

    [Fact]
    public async Task AnUnknownConsoleAddress_IsTheConsolesNotFoundPage_SignedIn_AndSignInSignedOut()
    {
        var browser = Browser();
        Assert.Equal("/console/sign-in", (await GetAsync(browser, "/console/no-such-page/x", null)).Location);
        var viewer = await SignInAsync(browser, (await server.CreateKeyAsync(new CreateKeyRequest("ui lost", [Roles.Viewer]))).Key!);
        var page = await GetAsync(browser, "/console/no-such-page/x", viewer);
        Assert.Equal(HttpStatusCode.NotFound, page.Status);
        Assert.Contains("<p role=\"alert\">There is no such page in the console.</p>", page.Body);
    }

    [Fact]
    public async Task AuditPage_FiltersAsTheApiDoes_VerifiesTheChainWithTheSameHead_AndIsClosedToScopedKeys()
    {
        var api = server.Api();
        var model = ServerFixture.UniqueName("ui-audit");
        await api.CreateModelAsync(new CreateModelRequest(model, "o", RiskTiers.Low, "classification"));
        var browser = Browser();
        var viewer = await SignInAsync(browser, (await server.CreateKeyAsync(new CreateKeyRequest("ui auditor", [Roles.Viewer]))).Key!);
        var scoped = await SignInAsync(browser, (await server.CreateKeyAsync(new CreateKeyRequest("ui scoped auditor", [Roles.Viewer], Deployments: ["x"]))).Key!);

        var page = await GetAsync(browser, $"/console/audit?subject=models/{model}*", viewer);
        Assert.Equal(HttpStatusCode.OK, page.Status);
        var listed = Regex.Matches(page.Body, "<tr data-sequence=\"(\\d+)\">").Select(m => long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        var expected = (await api.ListAuditAsync(subject: $"models/{model}*", limit: 100)).Items.Select(e => e.Sequence).OrderDescending().ToList();
        Assert.NotEmpty(expected);
        Assert.Equal(expected, listed);
        Assert.Contains("model.created", page.Body);

        var verified = await GetAsync(browser, "/console/audit?verify=true", viewer);
        var head = (await api.VerifyAuditAsync()).HeadSequence;
        Assert.Matches($"id=\"verify\"[^>]*data-valid=\"true\">Chain intact: [0-9,]+ events, head #{head} ", verified.Body);
        Assert.Equal(HttpStatusCode.Forbidden, (await GetAsync(browser, "/console/audit", scoped)).Status);
        Assert.DoesNotContain("href=\"/console/audit\"", (await GetAsync(browser, "/console", scoped)).Body);
    }

    [Fact]
    public async Task AlertsPage_ShowsWhatFires_TheSilencesAndWhatResolved_EncodedAndClosedToScopedKeys()
    {
        var manager = server.App.Services.GetRequiredService<ModelGate.Monitoring.AlertManager>();
        var key = ServerFixture.UniqueName("ui-alert");
        await manager.RaiseAsync(key + "/burn", "ui", "slo_burn_rate", "critical", "<b>burning</b> 14x", new { }, CancellationToken.None);
        await manager.RaiseAsync(key + "/drift", "ui", "drift", "warning", "drift on age", new { }, CancellationToken.None);
        await manager.ResolveAsync(key + "/drift", CancellationToken.None);
        await server.Api().SilenceAsync(new SilenceRequest(key, "2h", "maintenance window"));
        var browser = Browser();
        var viewer = await SignInAsync(browser, (await server.CreateKeyAsync(new CreateKeyRequest("ui alert reader", [Roles.Viewer]))).Key!);
        var scoped = await SignInAsync(browser, (await server.CreateKeyAsync(new CreateKeyRequest("ui alert app", [Roles.Viewer], Deployments: ["x"]))).Key!);

        var page = (await GetAsync(browser, "/console/alerts", viewer)).Body;
        var firing = Regex.Match(page, "<table id=\"firing\">.*?</table>", RegexOptions.Singleline).Value;
        var resolved = Regex.Match(page, "<table id=\"resolved\">.*?</table>", RegexOptions.Singleline).Value;
        Assert.Contains($"data-alert=\"{key}/burn\"", firing);
        Assert.Contains("&lt;b&gt;burning&lt;/b&gt; 14x", firing);
        Assert.DoesNotContain($"{key}/drift", firing);
        Assert.Contains($"data-alert=\"{key}/drift\"", resolved);
        Assert.Contains($"<code>{key}</code>", page);
        Assert.Contains("maintenance window", page);
        Assert.Equal(HttpStatusCode.Forbidden, (await GetAsync(browser, "/console/alerts", scoped)).Status);
    }
}
