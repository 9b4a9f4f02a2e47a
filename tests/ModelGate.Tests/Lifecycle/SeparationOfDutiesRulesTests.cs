using ModelGate.Client;
using ModelGate.Lifecycle;
using ModelGate.Storage.Lifecycle;

namespace ModelGate.Tests.Lifecycle;

/// <summary>The pure rules of <see cref="SeparationOfDuties"/>, without a server.</summary>
public sealed class SeparationOfDutiesRulesTests
{
    private static VersionParties Version(string? trainerPrincipal = null, string? trainer = "alice@example.com") =>
        new(trainerPrincipal, trainer, "prn_registrant", new HashSet<string> { "prn_evaluator" }, new HashSet<string> { "prn_requester" });

    private static Party Person(string id, string? identity = null, string? display = null, string? keyName = null) =>
        new(id, "person", identity, display, keyName);

    [Fact]
    public void IsTrainer_WithATrainerPrincipal_ComparesPrincipalsOnly()
    {
        var version = Version(trainerPrincipal: "prn_alice");
        Assert.True(SeparationOfDuties.IsTrainer(version, Person("prn_alice")));
        // Another principal is not the trainer, whatever its names say.
        Assert.False(SeparationOfDuties.IsTrainer(version, Person("prn_other", "alice@example.com", "alice@example.com", "alice@example.com")));
    }

    [Theory]
    [InlineData("ALICE@example.com", null, null)]
    [InlineData(null, " alice@example.com ", null)]
    [InlineData(null, null, "Alice@Example.com")]
    public void IsTrainer_WithoutATrainerPrincipal_ComparesTheTrainerTextWithEachName(string? identity, string? display, string? keyName) =>
        Assert.True(SeparationOfDuties.IsTrainer(Version(), Person("prn_x", identity, display, keyName)));

    [Fact]
    public void ApproverConflict_NamesEachHandInTheVersion()
    {
        var version = Version(trainerPrincipal: "prn_alice");
        Assert.Contains("trained", SeparationOfDuties.ApproverConflict(version, Person("prn_alice"), []));
        Assert.Contains("registered", SeparationOfDuties.ApproverConflict(version, Person("prn_registrant"), []));
        Assert.Contains("evaluated", SeparationOfDuties.ApproverConflict(version, Person("prn_evaluator"), []));
        Assert.Contains("asked to promote", SeparationOfDuties.ApproverConflict(version, Person("prn_requester"), []));
        Assert.Contains("made by people", SeparationOfDuties.ApproverConflict(version, new Party("prn_svc", "service", "key:x", null, "ci"), []));
        var previous = new ApprovalEntity
        {
            Id = "apr_1", VersionId = 1, Decision = ApprovalDecisions.Approve, Approver = "prn_max", Role = Roles.MlLead, Evidence = "[]",
            RisksAccepted = "r", MonitoringPlan = "m", RollbackPlan = "b",
        };
        Assert.Contains("one person fills one role", SeparationOfDuties.ApproverConflict(version, Person("prn_max"), [previous]));
        Assert.Null(SeparationOfDuties.ApproverConflict(version, Person("prn_mo"), [previous]));
    }

    [Fact]
    public void Counts_AtTheGate_ExcludesTheRequesterNowEveryHandInTheVersionAndUsedApprovers()
    {
        var version = Version(trainerPrincipal: "prn_alice");
        var used = new HashSet<string> { "prn_used" };
        Assert.True(SeparationOfDuties.Counts(version, "prn_mo", "prn_lee", used));
        foreach (var approver in new[] { "prn_lee", "prn_used", "prn_alice", "prn_registrant", "prn_evaluator", "prn_requester" })
        {
            Assert.False(SeparationOfDuties.Counts(version, approver, "prn_lee", used), approver);
        }
    }

    [Fact]
    public void GrantRefusal_OnlyForAnApprovingRoleToOneself()
    {
        Assert.NotNull(SeparationOfDuties.GrantRefusal("prn_a", "prn_a", [Roles.ProductOwner]));
        Assert.Null(SeparationOfDuties.GrantRefusal("prn_a", "prn_a", [Roles.Viewer]));
        Assert.Null(SeparationOfDuties.GrantRefusal("prn_a", "prn_b", [Roles.RiskCommittee]));
        Assert.NotNull(SeparationOfDuties.FloorApproverConflict("prn_a", "prn_a"));
        Assert.Null(SeparationOfDuties.FloorApproverConflict("prn_a", "prn_b"));
    }
}
