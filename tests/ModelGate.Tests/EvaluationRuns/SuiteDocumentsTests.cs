using System.Text.Json;
using ModelGate.Client;
using ModelGate.Evaluation;

namespace ModelGate.Tests.EvaluationRuns;

public sealed class SuiteDocumentsTests
{
    [Fact]
    public void ToJson_YamlSuite_ReadsLikeTheJsonOne()
    {
        const string yaml = """
            # the default Adult suite, in YAML
            name: adult-default
            task: classification
            dataset:
              sha256: 215c804e56d913c87e462dec36172a041900690eb41cfa78fdb5577ba85de886
              format: csv
            target: income
            positiveLabel: "1"
            threshold: 0.5
            metrics: [accuracy, roc_auc]
            sensitive: sex
            thresholds:
              roc_auc: { min: 0.88 }
            bootstrap: { resamples: 200, seed: 7 }
            """;
        var suite = JsonSerializer.Deserialize<EvaluationSuite>(SuiteDocuments.ToJson(yaml), ModelGateJson.Options)!;
        Assert.Equal("adult-default", suite.Name);
        Assert.Equal("215c804e56d913c87e462dec36172a041900690eb41cfa78fdb5577ba85de886", suite.Dataset!.Sha256);
        Assert.Equal("1", suite.PositiveLabel);
        Assert.Equal(0.5, suite.Threshold);
        Assert.Equal(["accuracy", "roc_auc"], suite.Metrics);
        Assert.Equal(0.88, suite.Thresholds!["roc_auc"].Min);
        Assert.Equal(200, suite.Bootstrap!.Resamples);
        Assert.Equal(7, suite.Bootstrap.Seed);
    }

    [Fact]
    public void ToJson_JsonSuite_IsPassedThrough() =>
        Assert.Equal("{\"name\": \"x\"}", SuiteDocuments.ToJson("{\"name\": \"x\"}"));
}
