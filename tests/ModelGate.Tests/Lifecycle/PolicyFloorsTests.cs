using ModelGate.Client;
using ModelGate.Lifecycle;

namespace ModelGate.Tests.Lifecycle;

/// <summary>The floors as a pure rule: derived from the built-in default policy, per risk tier.</summary>
public sealed class PolicyFloorsTests
{
    [Theory]
    [InlineData("low")]
    [InlineData("medium")]
    [InlineData("high")]
    public void Breaches_TheBuiltinPolicy_MeetsEveryFloor(string tier) => Assert.Empty(PolicyFloors.Breaches(PoliciesApi.Builtin, tier));

    [Fact]
    public void Breaches_GatesLeftOut_AreTheGatesDefaults_AndMeetTheFloor() => Assert.Empty(PolicyFloors.DefaultBreaches(new PolicyDocument()));

    [Fact]
    public void Breaches_ALooserToleranceOrMissingRegressionMetric_IsBelowTheFloor()
    {
        var policy = new PolicyDocument(new EvaluatedGate(RegressionTolerance: 0.05, RegressionMetrics: ["roc_auc"]));
        Assert.Equal(["evaluated.regressionTolerance", "evaluated.regressionMetrics"], PolicyFloors.Breaches(policy, RiskTiers.Low).Select(b => b.Field));
        Assert.Empty(PolicyFloors.Breaches(new PolicyDocument(new EvaluatedGate(RegressionTolerance: 0.001, RegressionMetrics: ["roc_auc", "accuracy", "f1"])), RiskTiers.Low));
    }

    [Fact]
    public void Breaches_Approvals_AreCheckedForTheModelsOwnTier()
    {
        var policy = new PolicyDocument(Production: new ProductionGate(Approvals: new Dictionary<string, IReadOnlyList<string>>
        {
            ["low"] = [], ["medium"] = [Roles.ProductOwner, Roles.MlLead], ["high"] = [Roles.MlLead],
        }));
        Assert.Equal(["production.approvals.low"], PolicyFloors.Breaches(policy, RiskTiers.Low).Select(b => b.Field));
        Assert.Empty(PolicyFloors.Breaches(policy, RiskTiers.Medium));
        var high = Assert.Single(PolicyFloors.Breaches(policy, RiskTiers.High));
        Assert.Equal(("production.approvals.high", "lacks risk-committee"), (high.Field, high.Actual));
        Assert.Equal(["production.approvals.low", "production.approvals.high"], PolicyFloors.DefaultBreaches(policy).Select(b => b.Field));
    }

    [Fact]
    public void Authority_RiskCommitteeForMediumAndHigh_ProductOwnerForLow()
    {
        Assert.Equal(Roles.RiskCommittee, PolicyFloors.Authority(RiskTiers.High));
        Assert.Equal(Roles.RiskCommittee, PolicyFloors.Authority(RiskTiers.Medium));
        Assert.Equal(Roles.ProductOwner, PolicyFloors.Authority(RiskTiers.Low));
    }
}
