using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using ModelGate.Client;
using ModelGate.Gateway;
using ModelGate.Gateway.Telemetry;
using ModelGate.Rollouts;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Gateway;

/// <summary>
/// The prediction evidence the canary judge reads from the ONNX path, on the real Adult models through the real host: what a
/// served version predicted (positive rate, score distribution, invalid outputs) and how a shadow agreed with stable. The
/// expected figures come from ONNX Runtime run here directly on the same rows, not through the gateway's code.
/// </summary>
public sealed class PredictionEvidenceTests(SqliteServerFixture server) : IClassFixture<SqliteServerFixture>
{
    /// <summary>Rows per request: a request of 200 Adult rows stays under the test host's 64 KiB body limit.</summary>
    private const int Batch = 200;

    [Fact]
    public async Task Infer_V1LogregOnTheAdultTestSet_RecordsItsPositiveRateAndScores()
    {
        var deployment = await DeployAsync(("1.0.0", "v1-logreg"), new { stable = "1.0.0" });
        var rows = AdultServing.TestSet.Value.RowCount;
        await InferAsync(deployment, 0, rows);

        var (labels, p) = RunInProcess("v1-logreg", 0, rows);
        var positives = labels.Count(l => l == 1);
        var series = (await server.Api().GetDeploymentMetricsAsync(deployment, "5m")).Series.Single();
        Assert.Equal(rows, series.Predictions);
        Assert.Equal(0, series.InvalidOutputs);
        Assert.Equal((double)positives / rows, series.PositiveRate!.Value, 12);
        Assert.Equal(p.Average(x => (double)x), series.MeanScore!.Value, 6);
        // The same figure scikit-learn reported for the model on test.csv (threshold 0.5).
        Assert.Equal(Reference("v1-logreg").GetProperty("positive_rate").GetDouble(), series.PositiveRate!.Value, 3);

        // The judge's input: one slot holding the counts and the 20-bin histogram of P(>50K).
        var slot = Assert.Single(await Evidence.SlotsAsync(deployment, "1.0.0", server.Time.GetUtcNow().UtcDateTime.AddMinutes(-1), shadow: false, TestContext.Current.CancellationToken));
        Assert.Equal(rows, slot.Predictions);
        Assert.Equal(positives, slot.PositivePredictions);
        Assert.Equal(Histogram(p), slot.Scores);
        Assert.Equal(p.Sum(x => (double)x), slot.ScoreSum, 6);
    }

    [Fact]
    public async Task Infer_V4Broken_RecordsItsNearZeroPositiveRate()
    {
        var deployment = await DeployAsync(("1.0.0", "v4-broken"), new { stable = "1.0.0" });
        const int rows = 4000;
        await InferAsync(deployment, 0, rows);

        var (labels, _) = RunInProcess("v4-broken", 0, rows);
        var series = (await server.Api().GetDeploymentMetricsAsync(deployment, "5m")).Series.Single();
        Assert.Equal(rows, series.Predictions);
        Assert.Equal(labels.Count(l => l == 1) / (double)rows, series.PositiveRate!.Value, 12);
        Assert.True(series.PositiveRate < 0.01, $"positive rate {series.PositiveRate}");
    }

    [Fact]
    public async Task Shadow_V4BrokenBehindV1Logreg_ReportsItsLowAgreementOnTheSameRows()
    {
        var deployment = await DeployAsync([("1.0.0", "v1-logreg"), ("4.0.0", "v4-broken")],
            new { stable = "1.0.0", shadow = new { version = "4.0.0", percent = 100 } });
        const int rows = 4000;
        await InferAsync(deployment, 0, rows);
        await server.FlushRequestLogAsync(); // the shadow's work is a recording in flight: the flush waits for it

        var (stableLabels, stableP) = RunInProcess("v1-logreg", 0, rows);
        var (shadowLabels, shadowP) = RunInProcess("v4-broken", 0, rows);
        var agreed = Enumerable.Range(0, rows).Count(i => stableLabels[i] == shadowLabels[i]);
        var deltaP = Enumerable.Range(0, rows).Sum(i => Math.Abs((double)shadowP[i] - stableP[i]));

        var metrics = (await server.Api().GetDeploymentMetricsAsync(deployment, "5m")).Series;
        var shadow = metrics.Single(s => s.Route == RouteKinds.Shadow);
        Assert.Equal("4.0.0", shadow.Version);
        Assert.Equal(rows, shadow.Compared);
        Assert.Equal((double)agreed / rows, shadow.Agreement!.Value, 12);
        Assert.Equal(deltaP / rows, shadow.MeanAbsDeltaP!.Value, 6);
        Assert.Equal(shadowLabels.Count(l => l == 1) / (double)rows, shadow.PositiveRate!.Value, 12);
        // v1 predicts >50K for about one row in five, v4 for almost none: they disagree on those rows.
        Assert.True(shadow.Agreement < 0.85, $"agreement {shadow.Agreement}");
        var stable = metrics.Single(s => s.Route == RouteKinds.Stable);
        Assert.Equal(rows, stable.Predictions);
        Assert.Equal(0, stable.Compared);

        var slot = Assert.Single(await Evidence.SlotsAsync(deployment, "4.0.0", server.Time.GetUtcNow().UtcDateTime.AddMinutes(-1), shadow: true, TestContext.Current.CancellationToken));
        Assert.Equal(rows, slot.Compared);
        Assert.Equal(agreed, slot.Agreed);
        Assert.Equal(Histogram(shadowP), slot.Scores);
    }

    private IRolloutEvidence Evidence => server.App.Services.GetRequiredService<IRolloutEvidence>();

    private Task<string> DeployAsync((string Version, string Onnx) version, object routing) => DeployAsync([version], routing);

    private async Task<string> DeployAsync((string Version, string Onnx)[] versions, object routing)
    {
        var model = ServerFixture.UniqueName("evidence");
        var api = server.Api();
        await api.CreateModelAsync(new CreateModelRequest(model, "o", "low", "classification"));
        foreach (var (version, onnx) in versions)
        {
            var sha = await server.UploadAsync(Fixtures.ModelBytes(onnx));
            await api.CreateVersionAsync(model, new CreateVersionRequest(version, [new ArtifactRef(sha, onnx + ".onnx")], Fixtures.Attestation()));
        }
        return await AdultServing.DeployAsync(server, model, routing);
    }

    private async Task InferAsync(string deployment, int first, int count)
    {
        var client = server.Client();
        for (var start = first; start < first + count; start += Batch)
        {
            var body = AdultServing.Request(start, Math.Min(Batch, first + count - start)).ToJsonString();
            using var response = await client.PostAsync($"/v2/models/{deployment}/infer", new StringContent(body, Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    /// <summary>The model's labels and P(&gt;50K) on test rows [first, first+count), from ONNX Runtime directly.</summary>
    private static (long[] Labels, float[] Positive) RunInProcess(string onnx, int first, int count)
    {
        var table = AdultServing.TestSet.Value;
        using var session = new InferenceSession(Fixtures.ModelBytes(onnx));
        var inputs = new List<NamedOnnxValue>();
        foreach (var name in session.InputMetadata.Keys)
        {
            inputs.Add(AdultServing.Numeric.Contains(name)
                ? NamedOnnxValue.CreateFromTensor(name, new DenseTensor<float>(table.Floats(name).AsMemory(first, count), [count, 1]))
                : NamedOnnxValue.CreateFromTensor(name, new DenseTensor<string>(table.Strings(name).AsMemory(first, count), [count, 1])));
        }
        using var results = session.Run(inputs);
        var labels = results.Single(r => r.Name == "label").AsTensor<long>().ToArray();
        var probabilities = results.Single(r => r.Name == "probabilities").AsTensor<float>();
        return (labels, Enumerable.Range(0, count).Select(i => probabilities[i, 1]).ToArray());
    }

    private static long[] Histogram(float[] p)
    {
        var bins = new long[SlotAggregate.ScoreBins];
        foreach (var x in p)
        {
            bins[Math.Min((int)((double)x * SlotAggregate.ScoreBins), SlotAggregate.ScoreBins - 1)]++;
        }
        return bins;
    }

    private static JsonElement Reference(string model)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.ModelsDirectory, "reference-metrics.json")));
        return doc.RootElement.GetProperty("models").GetProperty(model).GetProperty("metrics").Clone();
    }
}
