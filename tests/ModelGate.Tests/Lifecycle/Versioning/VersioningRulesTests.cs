using System.Text.Json;
using ModelGate.Client;
using ModelGate.Lifecycle.Versioning;
using ModelGate.Registry;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Lifecycle.Versioning;

public sealed class VersioningRulesTests
{
    private const string WeightsA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    private const string WeightsB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    private static VersionFacts Facts(string version, Attestation? attestation = null, params string[] digests) =>
        new(SemVersion.Parse(version), attestation ?? Fixtures.Attestation(), digests.Length == 0 ? [WeightsA] : digests);

    private static JsonElement Json(object value) => JsonSerializer.SerializeToElement(value);

    private static VersioningVerdict Decide(string from, string to, Func<Attestation, Attestation> change, string toDigest = WeightsB) =>
        VersioningRules.Decide(Facts(to, change(Fixtures.Attestation()), toDigest), Facts(from));

    [Fact]
    public void Decide_FirstVersion_IsUnconstrained()
    {
        var verdict = VersioningRules.Decide(Facts("0.0.1"), reference: null);
        Assert.True(verdict.Accepted);
        Assert.Null(verdict.ComparedWith);
        Assert.Empty(verdict.Changes);
    }

    [Fact]
    public void Decide_ArchitectureChangedWithPatchBump_RefusedNamingTheChange()
    {
        var verdict = Decide("1.0.0", "1.0.1", a => a with { Architecture = "mlp" });
        Assert.False(verdict.Accepted);
        Assert.Equal(VersionBump.Major, verdict.Required);
        Assert.Equal(VersionBump.Patch, verdict.Actual);
        var change = verdict.Changes[0];
        Assert.Equal("architecture", change.Field);
        Assert.Equal("architecture changed: major version required", change.Message);
        Assert.Equal("logistic-regression → mlp", change.Detail);
    }

    [Theory]
    [InlineData("2.0.0", true)]
    [InlineData("3.1.4", true)]
    [InlineData("1.1.0", false)]
    [InlineData("1.0.1", false)]
    public void Decide_ArchitectureChanged_NeedsMajor(string to, bool accepted) =>
        Assert.Equal(accepted, Decide("1.0.0", to, a => a with { Architecture = "mlp" }).Accepted);

    public static TheoryData<string, string, VersionBump> SingleChanges => new()
    {
        { "datasets", "datasets changed: minor version required", VersionBump.Minor },
        { "baseModel", "base model changed: minor version required", VersionBump.Minor },
        { "hyperparameters", "hyper-parameters changed: patch version required", VersionBump.Patch },
        { "servingConfig", "serving configuration changed: patch version required", VersionBump.Patch },
        { "promptTemplate", "prompt template changed: patch version required", VersionBump.Patch },
        { "code", "code commit changed: patch version required", VersionBump.Patch },
    };

    private static Attestation Change(Attestation a, string field) => field switch
    {
        "datasets" => a with { Datasets = [.. a.Datasets!, new DatasetRef("extra", null, new string('c', 64))] },
        "baseModel" => a with { BaseModel = "bert-base" },
        "hyperparameters" => a with { Hyperparameters = new Dictionary<string, JsonElement> { ["C"] = Json(0.5) } },
        "servingConfig" => a with { ServingConfig = new Dictionary<string, JsonElement> { ["threshold"] = Json(0.4) } },
        "promptTemplate" => a with { PromptTemplate = new PromptTemplate("Be brief.") },
        "code" => a with { Code = a.Code! with { Commit = "abc1234" } },
        _ => throw new ArgumentOutOfRangeException(nameof(field)),
    };

    [Theory]
    [MemberData(nameof(SingleChanges))]
    public void Differences_EachField_NamesItAndTheBumpItNeeds(string field, string message, VersionBump bump)
    {
        // Same artifacts, so that the field is the only difference.
        var changes = VersioningRules.Differences(Facts("1.0.0"), Facts("9.0.0", Change(Fixtures.Attestation(), field)));
        var change = Assert.Single(changes);
        Assert.Equal(field, change.Field);
        Assert.Equal(message, change.Message);
        Assert.Equal(bump, change.Requires);
    }

    [Theory]
    [MemberData(nameof(SingleChanges))]
    public void Decide_OneBumpBelowWhatTheChangeNeeds_Refused(string field, string message, VersionBump bump)
    {
        var smaller = bump == VersionBump.Minor ? "1.0.1" : "1.0.0-q4";
        var enough = bump == VersionBump.Minor ? "1.1.0" : "1.0.1";
        var refused = VersioningRules.Decide(Facts(smaller, Change(Fixtures.Attestation(), field)), Facts("1.0.0"));
        Assert.False(refused.Accepted);
        Assert.Contains(refused.Changes, c => c.Message == message);
        Assert.True(VersioningRules.Decide(Facts(enough, Change(Fixtures.Attestation(), field)), Facts("1.0.0")).Accepted);
    }

    [Fact]
    public void Differences_ArtifactContents_NeedPatch()
    {
        var change = Assert.Single(VersioningRules.Differences(Facts("1.0.0"), Facts("1.0.1", null, WeightsB)));
        Assert.Equal("artifacts", change.Field);
        Assert.Equal("artifact contents changed: patch version required", change.Message);
        Assert.Equal($"added {WeightsB}; removed {WeightsA}", change.Detail);
    }

    [Fact]
    public void Differences_RunRecordOnly_NeedNothing()
    {
        var a = Fixtures.Attestation();
        var rerun = a with
        {
            Trainer = "bob",
            Metrics = new Dictionary<string, double> { ["train_accuracy"] = 0.9 },
            Environment = new EnvironmentRef("sha256:" + new string('f', 64)),
            LogSummary = new LogSummary(1, 0),
            StartedAt = a.StartedAt!.Value.AddDays(1),
            FinishedAt = a.FinishedAt!.Value.AddDays(1),
            Datasets = [a.Datasets![0] with { Name = "renamed", Uri = "s3://elsewhere", Sha256 = a.Datasets[0].Sha256.ToUpperInvariant() }],
        };
        Assert.Empty(VersioningRules.Differences(Facts("1.0.0", a), Facts("1.0.1", rerun)));
    }

    [Fact]
    public void Differences_SettingsComparedAsJsonValues_NotText()
    {
        var before = Fixtures.Attestation() with
        {
            Hyperparameters = new Dictionary<string, JsonElement> { ["C"] = JsonDocument.Parse("1.0").RootElement, ["grid"] = JsonDocument.Parse("{\"a\":1,\"b\":[1,2]}").RootElement },
        };
        var same = before with
        {
            Hyperparameters = new Dictionary<string, JsonElement> { ["grid"] = JsonDocument.Parse("{\"b\":[1,2],\"a\":1}").RootElement, ["C"] = JsonDocument.Parse("1").RootElement },
        };
        Assert.Empty(VersioningRules.Differences(Facts("1.0.0", before), Facts("1.0.1", same)));

        var changed = before with { Hyperparameters = new Dictionary<string, JsonElement> { ["C"] = Json(2), ["max_iter"] = Json(10) } };
        var change = Assert.Single(VersioningRules.Differences(Facts("1.0.0", before), Facts("1.0.1", changed)));
        Assert.Equal("added max_iter; removed grid; changed C 1.0 → 2", change.Detail);
    }

    [Fact]
    public void Decide_SeveralChanges_RequiresTheLargest_AndListsAllMostDemandingFirst()
    {
        var verdict = Decide("1.0.0", "1.1.0", a => a with
        {
            Architecture = "mlp",
            BaseModel = "none",
            ServingConfig = new Dictionary<string, JsonElement> { ["batch"] = Json(8) },
        });
        Assert.False(verdict.Accepted);
        Assert.Equal(VersionBump.Major, verdict.Required);
        Assert.Equal(["architecture", "baseModel", "servingConfig", "artifacts"], verdict.Changes.Select(c => c.Field));
    }

    [Fact]
    public void Decide_QuantizationOfTheReference_NeedsOnlyAQualifier()
    {
        var quantised = Fixtures.Attestation() with
        {
            Derivation = new Derivation(DerivationKinds.Quantization, "1.0.0", "q4"),
            Hyperparameters = new Dictionary<string, JsonElement> { ["bits"] = Json(4) },
            ServingConfig = new Dictionary<string, JsonElement> { ["dtype"] = Json("int4") },
            Code = new CodeRef("https://git.example/ml/quantize", "77aa"),
        };
        var verdict = VersioningRules.Decide(Facts("1.0.0-q4", quantised, WeightsB), Facts("1.0.0"));
        Assert.True(verdict.Accepted);
        Assert.Equal(VersionBump.Qualifier, verdict.Required);
        Assert.Equal(VersionBump.Qualifier, verdict.Actual);
        var change = Assert.Single(verdict.Changes);
        Assert.Equal("quantization of 1.0.0 (q4): qualifier version required", change.Message);
    }

    [Fact]
    public void Decide_DistillationOnNewData_StillNeedsMinor()
    {
        var distilled = Fixtures.Attestation(datasetSha: new string('d', 64)) with { Derivation = new Derivation(DerivationKinds.Distillation, "1.0.0") };
        var verdict = VersioningRules.Decide(Facts("1.0.0-distilled", distilled, WeightsB), Facts("1.0.0"));
        Assert.False(verdict.Accepted);
        Assert.Equal(VersionBump.Minor, verdict.Required);
        Assert.Equal(["datasets", "derivation"], verdict.Changes.Select(c => c.Field));
    }

    [Fact]
    public void Decide_QualifierWithoutDerivation_Refused()
    {
        var verdict = VersioningRules.Decide(Facts("1.0.0-q4", null, WeightsB), Facts("1.0.0"));
        Assert.False(verdict.Accepted);
        Assert.Equal(VersionBump.Patch, verdict.Required);
        Assert.Equal(VersionBump.Qualifier, verdict.Actual);
    }

    [Fact]
    public void Decide_DerivedVersionNamedAfterAnotherRelease_IsAConflict()
    {
        var derived = Fixtures.Attestation() with { Derivation = new Derivation(DerivationKinds.Quantization, "1.0.0", "q4") };
        var verdict = VersioningRules.Decide(Facts("1.1.0-q4", derived, WeightsB), Facts("1.0.0"));
        Assert.False(verdict.Accepted);
        Assert.Contains("derived from 1.0.0", Assert.Single(verdict.Conflicts));

        var lower = VersioningRules.Decide(Facts("0.9.0-q4", derived, WeightsB), Facts("1.0.0"));
        Assert.False(lower.Accepted);
        Assert.Contains("lower than 1.0.0", lower.Conflicts[0]);

        // A release number is a larger bump, which is always allowed.
        Assert.True(VersioningRules.Decide(Facts("1.0.1", derived, WeightsB), Facts("1.0.0")).Accepted);
    }

    [Theory]
    [InlineData("2.0.0", null, "1.0.0,1.1.0,1.0.0-q4", "1.1.0")]           // the highest release
    [InlineData("1.0.0-q8", null, "1.0.0,1.1.0,1.0.0-q4", "1.0.0")]        // a qualified build: its release
    [InlineData("1.2.0-q4", "1.1.0", "1.0.0,1.1.0", "1.1.0")]              // a declared derivation: its source
    [InlineData("1.3.0", null, "1.0.0,1.2.0-q4", "1.0.0")]                 // qualified builds are not steps of the line
    [InlineData("0.2.0", null, "0.1.0-rc.1,0.1.0-rc.2", "0.1.0-rc.2")]     // no release yet: the highest version
    [InlineData("1.0.0", null, "", null)]
    public void ReferenceFor_ChoosesTheVersionToCompareWith(string candidate, string? derivedFrom, string existing, string? expected)
    {
        var versions = existing.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(SemVersion.Parse).ToList();
        var derivation = derivedFrom is null ? null : new Derivation(DerivationKinds.Quantization, derivedFrom);
        Assert.Equal(expected, VersioningRules.ReferenceFor(SemVersion.Parse(candidate), derivation, versions)?.ToString());
    }

    [Theory]
    [InlineData("1.0.0", "2.0.0", VersionBump.Major)]
    [InlineData("1.0.0", "1.1.0", VersionBump.Minor)]
    [InlineData("1.0.0", "1.0.1", VersionBump.Patch)]
    [InlineData("1.0.0", "1.0.0-q4", VersionBump.Qualifier)]
    [InlineData("1.0.0-q4", "1.0.0-q8", VersionBump.Qualifier)]
    [InlineData("1.0.0", "1.0.0", VersionBump.None)]
    public void BumpBetween_IsTheMostSignificantPartThatDiffers(string from, string to, VersionBump bump) =>
        Assert.Equal(bump, VersioningRules.BumpBetween(SemVersion.Parse(from), SemVersion.Parse(to)));

    [Fact]
    public void FindDuplicate_SameArtifactsInAnyOrder_IsADuplicate_UnlessWhatIsServedDiffers()
    {
        var existing = new[] { Facts("1.0.0", null, WeightsA, WeightsB), Facts("1.1.0", null, WeightsB) };
        Assert.Equal("1.0.0", VersioningRules.FindDuplicate(Facts("2.0.0", Fixtures.Attestation() with { Architecture = "relabelled" }, WeightsB, WeightsA), existing)?.Version.ToString());
        Assert.Null(VersioningRules.FindDuplicate(Facts("2.0.0", null, WeightsA), existing));
        // An LLM integration whose prompt or serving settings change over the same artifacts is a new model, not a duplicate.
        Assert.Null(VersioningRules.FindDuplicate(Facts("1.1.1", Fixtures.Attestation() with { PromptTemplate = new PromptTemplate("Be brief.") }, WeightsB), existing));
        Assert.Null(VersioningRules.FindDuplicate(Facts("1.1.1", Fixtures.Attestation() with { ServingConfig = new Dictionary<string, JsonElement> { ["t"] = Json(0) } }, WeightsB), existing));
    }

    [Theory]
    [InlineData("1.0.0", VersionBump.Major, "1.0.0", "2.0.0")]
    [InlineData("1.0.0", VersionBump.Minor, "1.0.0", "1.1.0")]
    [InlineData("1.0.0", VersionBump.Patch, "1.0.0,1.0.0-q4", "1.0.1")]
    [InlineData("1.0.0", VersionBump.Minor, "1.0.0,1.1.0-rc.1", "1.1.0")]
    [InlineData("1.0.0", VersionBump.Minor, "1.0.0,1.5.0-rc.1", "1.5.0")]
    [InlineData("1.0.0", VersionBump.Patch, "1.0.0,1.5.0-rc.1", "1.5.0")]
    [InlineData("1.0.0", VersionBump.Major, "1.0.0,2.0.0-rc.1", "2.0.0")]
    [InlineData("1.0.0", VersionBump.Minor, "1.0.0,1.0.5-rc.1", "1.1.0")]
    public void Suggest_IsTheLowestSufficientVersionAboveEveryOther(string reference, VersionBump required, string existing, string expected) =>
        Assert.Equal(expected, VersioningRules.Suggest(SemVersion.Parse(reference), required, existing.Split(',').Select(SemVersion.Parse).ToList())?.ToString());

    [Theory]
    [InlineData("2.0.1", "1.0.0,2.0.0,3.0.0", "3.0.0", "2.0.0")]          // a hotfix after the newer release was rejected
    [InlineData("4.0.0", "1.0.0,2.0.0,3.0.0", "2.0.0,3.0.0", "1.0.0")]
    [InlineData("3.0.0-q4", "2.0.0,3.0.0", "3.0.0", "3.0.0")]              // a qualified build still compares with its own release
    [InlineData("2.0.0", "1.0.0", "1.0.0", null)]                          // every version rejected: no line yet
    public void ReferenceFor_LeavesRejectedVersionsOutOfTheLine(string candidate, string existing, string rejected, string? expected) =>
        Assert.Equal(expected, VersioningRules.ReferenceFor(SemVersion.Parse(candidate), null, Parse(existing), Parse(rejected))?.ToString());

    [Theory]
    [InlineData("2.0.0", VersionBump.Patch, "1.0.0,2.0.0,3.0.0", "3.0.0", "2.0.1")]
    [InlineData("2.0.0", VersionBump.Patch, "2.0.0,2.0.1,3.0.0", "2.0.1,3.0.0", "2.0.2")]  // a rejected number stays taken
    [InlineData("2.0.0", VersionBump.Minor, "2.0.0,2.1.0,3.0.0", "2.1.0,3.0.0", "2.2.0")]
    [InlineData("2.0.0", VersionBump.Patch, "2.0.0,3.0.0", "", "3.0.1")]
    public void Suggest_SkipsRejectedVersions_WithoutReusingTheirNumbers(string reference, VersionBump required, string existing, string rejected, string expected) =>
        Assert.Equal(expected, VersioningRules.Suggest(SemVersion.Parse(reference), required, Parse(existing), Parse(rejected))?.ToString());

    private static List<SemVersion> Parse(string versions) => versions.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(SemVersion.Parse).ToList();
}
