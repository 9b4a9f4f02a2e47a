using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;
using ModelGate.WebConsole;

namespace ModelGate.Tests.WebConsole;

/// <summary>
/// The version page's evidence over HTTP: a real platform evaluation of the Adult models (with a baseline) shown in full
/// and checked against the REST API's result and scikit-learn's reference figures; the lineage graph and its links; the
/// model card as sections; approvals with their plans and next review; hostile stored text escaped everywhere.
/// </summary>
public sealed class VersionPageTests(SqliteServerFixture server) : IClassFixture<SqliteServerFixture>
{
    private HttpClient Browser() => ConsoleHttp.Browser(server);

    private async Task<string> SignInAsync(HttpClient browser, params string[] roles) =>
        await ConsoleHttp.SignInAsync(browser, (await server.CreateKeyAsync(new CreateKeyRequest(ServerFixture.UniqueName("page"), roles))).Key!);

    private static async Task<string> PageAsync(HttpClient browser, string path, string cookie)
    {
        var page = await ConsoleHttp.GetAsync(browser, path, cookie);
        Assert.Equal(HttpStatusCode.OK, page.Status);
        return page.Body;
    }

    private static string F(double value) => value.ToString("0.0000", CultureInfo.InvariantCulture);

    private static string Signed(double value) => (value >= 0 ? "+" : "") + F(value);

    /// <summary>The part of the page that shows one run (its article), so figures are checked where they belong.</summary>
    private static string RunOf(string page, string id)
    {
        var start = page.IndexOf($"<article class=\"run\" id=\"run-{id}\"", StringComparison.Ordinal);
        Assert.True(start >= 0, $"no article for {id}");
        return page[start..page.IndexOf("</article>", start, StringComparison.Ordinal)];
    }

    [Fact]
    public async Task Evaluation_ShowsMetricsFairnessSlicesThresholdsAndPairedDeltas_AsTheRestApisResultAndTheReferenceFigures()
    {
        var api = server.Api();
        var model = ServerFixture.UniqueName("vp-eval");
        await api.CreateModelAsync(new CreateModelRequest(model, "risk-team", RiskTiers.Medium, "classification"));
        foreach (var (version, onnx) in new[] { ("1.0.0", "v1-logreg"), ("1.1.0", "v2-mlp") })
        {
            var sha = await server.UploadAsync(Fixtures.ModelBytes(onnx));
            await api.CreateVersionAsync(model, new CreateVersionRequest(version, [new ArtifactRef(sha, onnx + ".onnx")], Fixtures.Attestation()));
        }
        var csv = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "fixtures", "datasets", "adult", "test.csv"));
        await server.UploadAsync(csv);
        var suite = await server.UploadAsync(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "fixtures", "suites", "adult-classification.json")));
        var evaluator = server.Api((await server.CreateKeyAsync(new CreateKeyRequest("vp eve", [Roles.Evaluator]))).Key!);
        var started = await evaluator.StartEvaluationAsync(model, "1.1.0", new StartEvaluationRequest(suite, Baseline: "1.0.0"));
        await server.EvaluationFinishedAsync(started.Id);
        var done = await api.GetEvaluationAsync(model, "1.1.0", started.Id);
        Assert.True(done.Status == EvaluationStatuses.Succeeded, done.Error);
        var result = done.Result!.Value;

        var browser = Browser();
        var page = await PageAsync(browser, $"/console/models/{model}/versions/1.1.0", await SignInAsync(browser, Roles.Viewer));
        var run = RunOf(page, started.Id);

        // Headline metrics with their bootstrap intervals, as the REST API gives them.
        foreach (var metric in result.GetProperty("metrics").EnumerateObject())
        {
            var ci = metric.Value.GetProperty("ci");
            Assert.Contains($"<tr data-metric=\"{metric.Name}\"><th scope=\"row\">{metric.Name}</th><td data-value>{F(metric.Value.GetProperty("value").GetDouble())}</td>"
                            + $"<td data-interval>[{F(ci[0].GetDouble())}, {F(ci[1].GetDouble())}]</td>", run);
        }

        // Fairness: the selection rate of each sex (scikit-learn's figures for v2-mlp), and the measures with their intervals.
        using var reference = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.ModelsDirectory, "reference-metrics.json")));
        var v2 = reference.RootElement.GetProperty("models").GetProperty("v2-mlp").GetProperty("metrics");
        var v1 = reference.RootElement.GetProperty("models").GetProperty("v1-logreg").GetProperty("metrics");
        var fairness = result.GetProperty("fairness");
        foreach (var group in new[] { "Female", "Male" })
        {
            var rate = fairness.GetProperty("selectionRateByGroup").GetProperty(group).GetDouble();
            Assert.Equal(v2.GetProperty("positive_rate_by_sex").GetProperty(group).GetDouble(), rate, 1e-4);
            Assert.Contains($"<tr><th scope=\"row\">{group}</th><td>{F(rate)}</td></tr>", run); // the chart's table
            Assert.Contains($"<title>{group}: {F(rate)}</title>", run); // the bar
        }
        Assert.Equal(v2.GetProperty("demographic_parity_difference_sex").GetDouble(), fairness.GetProperty("demographicParityDifference").GetDouble(), 1e-4);
        foreach (var (measure, camel) in new[] { ("demographic_parity_difference", "demographicParityDifference"), ("equalized_odds_difference", "equalizedOddsDifference") })
        {
            var ci = fairness.GetProperty("ci").GetProperty(measure);
            Assert.Contains($"<tr data-measure=\"{measure}\"><th scope=\"row\">{measure}</th><td data-value>{F(fairness.GetProperty(camel).GetDouble())}</td>"
                            + $"<td data-interval>[{F(ci[0].GetDouble())}, {F(ci[1].GetDouble())}]</td>", run);
        }

        // Slices: each sex's row count, counted here from the test set, and its accuracy as the REST API gives it.
        var lines = Encoding.UTF8.GetString(csv).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var sexColumn = Array.IndexOf(lines[0].Trim().Split(','), "sex");
        foreach (var sex in new[] { "Female", "Male" })
        {
            var rows = lines.Skip(1).Count(l => l.Trim().Split(',')[sexColumn].Trim() == sex);
            var accuracy = result.GetProperty("slices").GetProperty("sex").GetProperty(sex).GetProperty("accuracy").GetDouble();
            Assert.Matches($"<tr data-slice=\"sex={sex}\"><td>sex</td><th scope=\"row\">{sex}</th><td>{rows.ToString("N0", CultureInfo.InvariantCulture)}</td>.*?<td data-figure=\"accuracy\">{F(accuracy)}</td>", run);
        }

        // Thresholds as judged by the run.
        foreach (var check in result.GetProperty("thresholds").EnumerateArray())
        {
            Assert.Contains($"data-threshold=\"{check.GetProperty("metric").GetString()}\" data-passed=\"{(check.GetProperty("passed").GetBoolean() ? "true" : "false")}\"", run);
        }

        // The paired deltas against 1.0.0: scikit-learn's v2 − v1, with the run's paired intervals.
        foreach (var metric in new[] { "accuracy", "roc_auc", "f1" })
        {
            var delta = result.GetProperty("baseline").GetProperty("deltas").GetProperty(metric);
            Assert.Equal(v2.GetProperty(metric).GetDouble() - v1.GetProperty(metric).GetDouble(), delta.GetProperty("value").GetDouble(), 1e-4);
            var ci = delta.GetProperty("ci");
            Assert.Contains($"<td>{F(v1.GetProperty(metric).GetDouble())}</td><td>{F(v2.GetProperty(metric).GetDouble())}</td><td data-delta>{Signed(delta.GetProperty("value").GetDouble())}</td>"
                            + $"<td data-interval>[{Signed(ci[0].GetDouble())}, {Signed(ci[1].GetDouble())}]</td>", run);
        }

        // A second run of the suite: it is the one shown open, the first folds into "earlier runs".
        var again = await evaluator.StartEvaluationAsync(model, "1.1.0", new StartEvaluationRequest(suite, Baseline: "1.0.0"));
        await server.EvaluationFinishedAsync(again.Id);
        page = await PageAsync(browser, $"/console/models/{model}/versions/1.1.0", await SignInAsync(browser, Roles.Viewer));
        var details = page.IndexOf("<details class=\"older\">", StringComparison.Ordinal);
        Assert.True(details > 0);
        Assert.True(page.IndexOf($"id=\"run-{again.Id}\"", StringComparison.Ordinal) < details);
        Assert.True(page.IndexOf($"id=\"run-{started.Id}\"", StringComparison.Ordinal) > details);
    }

    [Fact]
    public async Task Lineage_IsAGraphWithTheSameFactsAsATable_LinkingTheBaseModelInTheRegistry_AndTheDeploymentsThatServeIt()
    {
        var api = server.Api();
        var baseName = ServerFixture.UniqueName("vp-base");
        var model = ServerFixture.UniqueName("vp-lineage");
        var sha = await server.UploadAsync(Fixtures.ModelBytes("v1-logreg"));
        await api.CreateModelAsync(new CreateModelRequest(baseName, "o", RiskTiers.Low, "classification"));
        await api.CreateVersionAsync(baseName, new CreateVersionRequest("2.0.0", [new ArtifactRef(sha, "m.onnx")], Fixtures.Attestation()));
        await api.CreateModelAsync(new CreateModelRequest(model, "o", RiskTiers.Low, "classification"));
        await api.CreateVersionAsync(model, new CreateVersionRequest("1.0.0", [new ArtifactRef(sha, "m.onnx")], Fixtures.Attestation(baseModel: $"{baseName}@2.0.0")));
        var other = await server.UploadAsync(Fixtures.ModelBytes("v2-mlp"));
        await api.CreateVersionAsync(model, new CreateVersionRequest("1.1.0", [new ArtifactRef(other, "m.onnx")], Fixtures.Attestation(baseModel: "not-in-the-registry")));
        var deployment = ServerFixture.UniqueName("vp-dep");
        await api.CreateDeploymentAsync(new CreateDeploymentRequest(deployment, DeploymentEnvironments.Development, model, new RoutingTable("1.0.0")));

        var browser = Browser();
        var cookie = await SignInAsync(browser, Roles.Viewer);
        var page = await PageAsync(browser, $"/console/models/{model}/versions/1.0.0", cookie);
        var figure = page[page.IndexOf("<figure id=\"lineage\"", StringComparison.Ordinal)..];
        figure = figure[..figure.IndexOf("</figure>", StringComparison.Ordinal)];
        Assert.Contains("role=\"img\" aria-labelledby=\"lineage-caption\"", figure);
        var dataset = Fixtures.Attestation().Datasets![0];
        Assert.Contains($"<tr><th scope=\"row\">dataset</th><td>{dataset.Name} sha256:{dataset.Sha256[..12]}</td>", figure);
        Assert.Contains("<tr><th scope=\"row\">code</th><td>https://git.example/ml/adult@9f1c2d3</td>", figure);
        var baseLink = $"<a href=\"/console/models/{baseName}/versions/2.0.0\">{baseName}@2.0.0</a>";
        Assert.Contains($"<tr><th scope=\"row\">base model</th><td>{baseLink}</td>", figure);
        Assert.Contains($"<tr><th scope=\"row\">deployment (stable)</th><td><a href=\"/console/deployments/{deployment}\">{deployment} (development)</a></td>", figure);
        // The drawing: four inputs and one deployment, each an arrow into or out of the version.
        Assert.Equal(4, figure.Split("class=\"edge\"").Length - 1);
        Assert.Contains($"<a href=\"/console/models/{baseName}/versions/2.0.0\"><rect", figure);

        // A base model the registry does not hold is named, not linked; 1.1.0 is deployed nowhere.
        var unlinked = await PageAsync(browser, $"/console/models/{model}/versions/1.1.0", cookie);
        Assert.Contains("<tr><th scope=\"row\">base model</th><td>not-in-the-registry</td>", unlinked);
        Assert.DoesNotContain("deployment (", unlinked);
    }

    [Fact]
    public async Task HostileTextInTheAttestationAndTheCard_IsShownAsText_NeverAsMarkup()
    {
        var api = server.Api();
        var model = ServerFixture.UniqueName("vp-hostile");
        await api.CreateModelAsync(new CreateModelRequest(model, "o", RiskTiers.Low, "classification"));
        var sha = await server.UploadAsync(Fixtures.ModelBytes("v1-logreg"));
        const string hostile = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>";
        var attestation = Fixtures.Attestation(trainer: hostile, baseModel: hostile) with
        {
            Datasets = [new DatasetRef(hostile, "file:x", new string('a', 64))],
            Code = new CodeRef(hostile, "abc"),
            PromptTemplate = new PromptTemplate("</pre>" + hostile, "{{x}} </text></svg>" + hostile),
        };
        await api.CreateVersionAsync(model, new CreateVersionRequest("1.0.0", [new ArtifactRef(sha, "m.onnx")], attestation));
        await api.PutCardAsync(model, "1.0.0", new ModelCard(IntendedUse: hostile + "\nsecond line", OutOfScopeUse: "none", Limitations: [hostile],
            TrainingData: "adult", Evaluation: new CardEvaluation(hostile, ["eval_notarun"]), EthicalConsiderations: [new EthicalConsideration(hostile, hostile)],
            Markdown: "# Notes\n<b>bold</b> [link](javascript:alert(3))"));

        var browser = Browser();
        var page = await PageAsync(browser, $"/console/models/{model}/versions/1.0.0", await SignInAsync(browser, Roles.Viewer));
        Assert.DoesNotContain("<script", page, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<img", page, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<b>bold", page);
        Assert.DoesNotContain("</text></svg>{", page);
        Assert.DoesNotContain("href=\"javascript", page);
        Assert.Contains("&lt;script&gt;alert(1)&lt;/script&gt;", page);
        // The card's fields as sections, its notes as text.
        Assert.Contains("<h3>Intended use</h3><p class=\"text\" id=\"card-intended-use\">&lt;script&gt;", page);
        Assert.Contains("&#xA;second line</p>", page); // a line break kept as text (the paragraph keeps white space)
        Assert.Contains("<pre class=\"text\" id=\"card-notes\"># Notes&#xA;&lt;b&gt;bold&lt;/b&gt; [link](javascript:alert(3))</pre>", page);
        // Every card field is there; the model has no licence, which the card's completeness names.
        Assert.Matches("id=\"card-completeness\" data-complete=\"false\">missing: licen[cs]e\\.<", page);
    }

    [Fact]
    public async Task Approvals_ShowRolePrincipalEvidencePlansAndNextReview_MarkedOverdueOnceItHasPassed()
    {
        var api = server.Api();
        var model = ServerFixture.UniqueName("vp-approvals");
        await api.CreateModelAsync(new CreateModelRequest(model, "o", RiskTiers.Low, "classification"));
        var sha = await server.UploadAsync(Fixtures.ModelBytes("v1-logreg"));
        await api.CreateVersionAsync(model, new CreateVersionRequest("1.0.0", [new ArtifactRef(sha, "m.onnx")], Fixtures.Attestation()));
        var suite = await server.UploadAsync(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "fixtures", "suites", "adult-classification.json")));
        var evaluation = await api.StartEvaluationAsync(model, "1.0.0", new StartEvaluationRequest(suite, External: true, Metrics: new Dictionary<string, double> { ["accuracy"] = 0.85 }));
        await server.WithDbAsync(db => Microsoft.EntityFrameworkCore.EntityFrameworkQueryableExtensions.ExecuteUpdateAsync(
            db.ModelVersions.Where(v => v.Model!.Name == model), u => u.SetProperty(v => v.Stage, Stages.Staging)));
        var lead = await server.CreateKeyAsync(new CreateKeyRequest("vp lead", [Roles.MlLead]));
        var review = server.Time.GetUtcNow().UtcDateTime.Date.AddDays(30);
        var approval = await server.Api(lead.Key!).ApproveAsync(model, "1.0.0", new ApprovalRequest(ApprovalDecisions.Approve, Roles.MlLead, [evaluation.Id],
            "<i>lower recall</i> for women", "error-rate alerts", "modelgate rollback", review));

        var browser = Browser();
        var page = await PageAsync(browser, $"/console/models/{model}/versions/1.0.0", await SignInAsync(browser, Roles.Viewer));
        Assert.Contains($"<tr data-approval=\"{approval.Id}\"><th scope=\"row\">{Roles.MlLead}</th><td>{lead.Principal}</td><td>approve on ", page);
        Assert.Contains($"<a href=\"#run-{evaluation.Id}\"><code>{evaluation.Id}</code></a>", page);
        Assert.Contains("<td class=\"text\">&lt;i&gt;lower recall&lt;/i&gt; for women</td><td class=\"text\">error-rate alerts</td><td class=\"text\">modelgate rollback</td>", page);
        Assert.Contains($"data-next-review=\"{review:yyyy-MM-dd}\" data-overdue=\"false\"", page);

        // A day past the review date it is overdue (a fresh session: the old one's lifetime has passed too).
        server.Time.Advance(TimeSpan.FromDays(31));
        page = await PageAsync(browser, $"/console/models/{model}/versions/1.0.0", await SignInAsync(browser, Roles.Viewer));
        Assert.Contains($"data-next-review=\"{review:yyyy-MM-dd}\" data-overdue=\"true\">{review:yyyy-MM-dd} <strong class=\"tier-high\">overdue</strong>", page);
    }
}
