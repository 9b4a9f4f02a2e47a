using System.Text.Json;
using System.Text.Json.Nodes;
using ModelGate.Client;
using ModelGate.Lifecycle.Cards;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Lifecycle.Cards;

public sealed class CycloneDxExporterTests
{
    private static readonly JsonSchemaValidator Schema = JsonSchemaValidator.CycloneDx16();
    private static readonly CycloneDxOptions Fixed = new(new DateTimeOffset(2026, 11, 1, 12, 0, 0, TimeSpan.Zero),
        Guid.Parse("3e671687-395b-41f5-a30f-a58921a69b79"), "1.2.3");

    private static JsonElement Export(CardSubject? subject = null, ModelCard? card = null, IReadOnlyList<CardEvaluationSummary>? evaluations = null) =>
        JsonDocument.Parse(CycloneDxExporter.ExportJson(subject ?? CardSamples.Subject(), card, evaluations ?? [], Fixed)).RootElement.Clone();

    private static void AssertValid(JsonElement bom)
    {
        var errors = Schema.Validate(bom);
        Assert.True(errors.Count == 0, string.Join("\n", errors.Take(20)) + "\n" + bom);
    }

    private static JsonElement Model(JsonElement bom) =>
        bom.GetProperty("components").EnumerateArray().Single(c => c.GetProperty("type").GetString() == "machine-learning-model");

    [Fact]
    public void Export_CompleteCard_ValidatesAgainstTheCycloneDx16Schema()
    {
        var bom = Export(card: CardSamples.CompleteCard(), evaluations: [CardSamples.Evaluation()]);
        AssertValid(bom);

        Assert.Equal("CycloneDX", bom.GetProperty("bomFormat").GetString());
        Assert.Equal("1.6", bom.GetProperty("specVersion").GetString());
        Assert.Equal("http://cyclonedx.org/schema/bom-1.6.schema.json", bom.GetProperty("$schema").GetString());
        Assert.Equal("urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79", bom.GetProperty("serialNumber").GetString());
        Assert.Equal("2026-11-01T12:00:00Z", bom.GetProperty("metadata").GetProperty("timestamp").GetString());

        var model = Model(bom);
        Assert.Equal("adult-income", model.GetProperty("name").GetString());
        Assert.Equal("1.0.0", model.GetProperty("version").GetString());
        var hash = model.GetProperty("hashes").EnumerateArray().Single();
        Assert.Equal("SHA-256", hash.GetProperty("alg").GetString());
        Assert.Equal(Fixtures.ReferenceSha256("v1-logreg"), hash.GetProperty("content").GetString());
        Assert.Equal("CC-BY-4.0", model.GetProperty("licenses")[0].GetProperty("expression").GetString());
        Assert.Equal("risk-team", model.GetProperty("manufacturer").GetProperty("name").GetString());
        Assert.Equal("alice", model.GetProperty("authors")[0].GetProperty("name").GetString());
        var file = model.GetProperty("components").EnumerateArray().Single();
        Assert.Equal(("file", "v1-logreg.onnx", "application/onnx"), (file.GetProperty("type").GetString(), file.GetProperty("name").GetString(), file.GetProperty("mime-type").GetString()));

        var card = model.GetProperty("modelCard");
        var parameters = card.GetProperty("modelParameters");
        Assert.Equal("supervised", parameters.GetProperty("approach").GetProperty("type").GetString());
        Assert.Equal("logistic-regression", parameters.GetProperty("modelArchitecture").GetString());
        Assert.Equal([$"dataset:sha256:{Fixtures.TrainCsvSha256}", $"dataset:sha256:{CardSamples.TestCsvSha256}"],
            parameters.GetProperty("datasets").EnumerateArray().Select(d => d.GetProperty("ref").GetString()));

        var metrics = card.GetProperty("quantitativeAnalysis").GetProperty("performanceMetrics").EnumerateArray().ToList();
        var auc = metrics.Single(m => m.GetProperty("type").GetString() == "roc_auc");
        Assert.Equal(0.9054203752388135, double.Parse(auc.GetProperty("value").GetString()!, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(0.9004203752388135, double.Parse(auc.GetProperty("confidenceInterval").GetProperty("lowerBound").GetString()!, System.Globalization.CultureInfo.InvariantCulture), 12);
        Assert.False(auc.TryGetProperty("slice", out _));
        var women = metrics.Single(m => m.TryGetProperty("slice", out var s) && s.GetString() == "sex=Female");
        Assert.Equal("positive_rate", women.GetProperty("type").GetString());
        Assert.False(metrics.Single(m => m.GetProperty("type").GetString() == "equalized_odds_difference_sex").TryGetProperty("confidenceInterval", out _));

        var considerations = card.GetProperty("considerations");
        Assert.Equal(CardSamples.CompleteCard().IntendedUse, considerations.GetProperty("useCases")[0].GetString());
        Assert.Equal(2, considerations.GetProperty("technicalLimitations").GetArrayLength());
        var risk = considerations.GetProperty("ethicalConsiderations")[0];
        Assert.Equal("Lower positive rate for women", risk.GetProperty("name").GetString());
        Assert.Equal("Equalized odds difference by sex is gated at 0.1", risk.GetProperty("mitigationStrategy").GetString());

        var properties = card.GetProperty("properties").EnumerateArray().ToDictionary(p => p.GetProperty("name").GetString()!, p => p.GetProperty("value").GetString());
        Assert.Equal(CardSamples.CompleteCard().OutOfScopeUse, properties["modelgate:card:outOfScopeUse"]);
        Assert.Equal(CardSamples.CompleteCard().TrainingData, properties["modelgate:card:trainingData"]);
        Assert.Equal(CardSamples.EvaluationId, properties["modelgate:evaluation"]);
        Assert.StartsWith("## Contact", properties["modelgate:card:markdown"]);

        var data = bom.GetProperty("components").EnumerateArray().Where(c => c.GetProperty("type").GetString() == "data").ToList();
        Assert.Equal(Fixtures.TrainCsvSha256, data[0].GetProperty("hashes")[0].GetProperty("content").GetString());
        Assert.Equal("file:fixtures/datasets/adult/train.csv", data[0].GetProperty("data")[0].GetProperty("contents").GetProperty("url").GetString());
        var dependsOn = bom.GetProperty("dependencies")[0];
        Assert.Equal("adult-income@1.0.0", dependsOn.GetProperty("ref").GetString());
        Assert.Equal(2, dependsOn.GetProperty("dependsOn").GetArrayLength());
    }

    [Fact]
    public void Export_NoCardNoEvaluations_IsStillAValidBom()
    {
        var bom = Export();
        AssertValid(bom);
        var card = Model(bom).GetProperty("modelCard");
        Assert.False(card.TryGetProperty("considerations", out _));
        Assert.False(card.TryGetProperty("quantitativeAnalysis", out _));
        Assert.False(card.TryGetProperty("properties", out _));
    }

    [Fact]
    public void Export_SeveralArtifacts_HashesEachAsANestedFile()
    {
        var artifacts = new[]
        {
            new ArtifactRef(new string('a', 64), "model.onnx", "application/onnx", 10),
            new ArtifactRef(new string('b', 64), "tokenizer.json", "application/json", 20),
            new ArtifactRef(new string('c', 64), "NOTES.TXT", "Text/Plain_Odd", null),
        };
        var bom = Export(CardSamples.Subject(artifacts: artifacts));
        AssertValid(bom);
        var model = Model(bom);
        Assert.False(model.TryGetProperty("hashes", out _));
        var files = model.GetProperty("components").EnumerateArray().ToList();
        Assert.Equal(artifacts.Select(a => a.Sha256), files.Select(f => f.GetProperty("hashes")[0].GetProperty("content").GetString()));
        Assert.False(files[2].TryGetProperty("mime-type", out _)); // not a media type the schema's pattern accepts
    }

    [Fact]
    public void Export_DerivedVersionWithBaseModel_RecordsPedigree()
    {
        var subject = CardSamples.Subject() with
        {
            Version = "1.0.0-q4",
            Attestation = Fixtures.Attestation(baseModel: "distilbert-base") with { Derivation = new Derivation(DerivationKinds.Quantization, "1.0.0", "q4") },
        };
        var bom = Export(subject);
        AssertValid(bom);
        var pedigree = Model(bom).GetProperty("pedigree");
        Assert.Equal(["distilbert-base", "adult-income"], pedigree.GetProperty("ancestors").EnumerateArray().Select(a => a.GetProperty("name").GetString()));
        Assert.Equal("1.0.0", pedigree.GetProperty("ancestors")[1].GetProperty("version").GetString());
        Assert.Contains("quantization of adult-income@1.0.0 (q4)", pedigree.GetProperty("notes").GetString());
    }

    [Theory]
    [InlineData("CC-BY-4.0", true)]
    [InlineData("Apache-2.0 OR MIT", true)]
    [InlineData("(MIT AND BSD-3-Clause) OR GPL-2.0+", true)]
    [InlineData("GPL-2.0-only WITH Classpath-exception-2.0", true)]
    [InlineData("LicenseRef-acme-internal", true)]
    [InlineData("proprietary", false)]
    [InlineData("Internal use only", false)]
    [InlineData("MIT OR", false)]
    [InlineData("(MIT", false)]
    public void Licenses_SpdxExpressionsAsExpression_OtherTextAsName(string license, bool expression)
    {
        var bom = Export(CardSamples.Subject(license: license));
        AssertValid(bom);
        var choice = Model(bom).GetProperty("licenses")[0];
        if (expression)
        {
            Assert.Equal(license, choice.GetProperty("expression").GetString());
        }
        else
        {
            Assert.Equal(license, choice.GetProperty("license").GetProperty("name").GetString());
        }
    }

    [Fact]
    public void Export_NoLicence_LeavesLicensesOut()
    {
        var bom = Export(CardSamples.Subject(license: null));
        AssertValid(bom);
        Assert.False(Model(bom).TryGetProperty("licenses", out _));
    }

    [Fact]
    public void Export_SameInputs_SameDocument()
    {
        var first = CycloneDxExporter.ExportJson(CardSamples.Subject(), CardSamples.CompleteCard(), [CardSamples.Evaluation()], Fixed);
        var second = CycloneDxExporter.ExportJson(CardSamples.Subject(), CardSamples.CompleteCard(), [CardSamples.Evaluation()], Fixed);
        Assert.Equal(first, second);
        var unstamped = CycloneDxExporter.Export(CardSamples.Subject(), null, []);
        Assert.False(unstamped.ContainsKey("serialNumber"));
        Assert.False(unstamped["metadata"]!.AsObject().ContainsKey("timestamp"));
    }

    [Fact]
    public void Validator_RejectsWhatTheSchemaForbids()
    {
        // The validator must bite, or the tests above prove nothing.
        var bom = JsonNode.Parse(CycloneDxExporter.ExportJson(CardSamples.Subject(), CardSamples.CompleteCard(), [CardSamples.Evaluation()], Fixed))!.AsObject();
        var model = bom["components"]![0]!.AsObject();
        model["type"] = "ml-model";
        model["hashes"]![0]!.AsObject().Remove("alg");
        model["modelCard"]!["considerations"]!["ethicalConsiderations"]![0]!["severity"] = "high";
        model["modelCard"]!["modelParameters"]!["approach"]!["type"] = "guesswork";
        bom["bomFormat"] = "SPDX";
        var errors = Schema.Validate(JsonDocument.Parse(bom.ToJsonString()).RootElement);
        Assert.Contains(errors, e => e.StartsWith("$.bomFormat:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("$.components[0]", StringComparison.Ordinal));
    }

    [Fact]
    public void Validator_EachViolation_IsNamed()
    {
        JsonElement Broken(Action<JsonObject> breakIt)
        {
            var bom = JsonNode.Parse(CycloneDxExporter.ExportJson(CardSamples.Subject(), CardSamples.CompleteCard(), [CardSamples.Evaluation()], Fixed))!.AsObject();
            breakIt(bom["components"]![0]!["modelCard"]!.AsObject());
            return JsonDocument.Parse(bom.ToJsonString()).RootElement.Clone();
        }
        Assert.NotEmpty(Schema.Validate(Broken(card => card["modelParameters"]!["approach"]!["type"] = "guesswork")));
        Assert.NotEmpty(Schema.Validate(Broken(card => card["considerations"]!["ethicalConsiderations"]![0]!["severity"] = "high")));
        Assert.NotEmpty(Schema.Validate(Broken(card => card["quantitativeAnalysis"]!["performanceMetrics"]![0]!["value"] = 0.9)));
        Assert.NotEmpty(Schema.Validate(Broken(card => card["outOfScope"] = "x")));
    }
}
