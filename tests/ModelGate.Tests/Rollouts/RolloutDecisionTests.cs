using ModelGate.Client;
using ModelGate.Rollouts;
using ModelGate.Rollouts.Judge;

namespace ModelGate.Tests.Rollouts;

/// <summary>The controller's rule: no data holds and is never a pass, limits roll back, passes step and promote, reasons match the history.</summary>
public sealed class RolloutDecisionTests
{
    private static readonly StartRolloutRequest Spec = new("1.1.0");

    private static AnalysisResult Analysis(string outcome, string reason = "because") =>
        new(new CanaryJudgement { Metrics = [], Score = outcome == AnalysisOutcomes.Pass ? 100 : 0 }, outcome, reason, 1000, 60);

    private static RolloutState State(int step, params string[] outcomes) => new(RolloutStrategies.Canary, step, outcomes);

    [Fact]
    public void Decide_NoData_HoldsUntilTheLimit_ThenRollsBackNamingIt()
    {
        var hold = RolloutDecision.Decide(State(0, AnalysisOutcomes.NoData), Spec, Analysis(AnalysisOutcomes.NoData, "the candidate served 12 requests"));
        Assert.Equal(RolloutAction.Hold, hold.Action);
        Assert.Equal("no data (2 of 3 in a row): the candidate served 12 requests", hold.Reason);

        var limit = RolloutDecision.Decide(State(0, AnalysisOutcomes.NoData, AnalysisOutcomes.NoData), Spec, Analysis(AnalysisOutcomes.NoData, "few"));
        Assert.Equal(RolloutAction.RollBack, limit.Action);
        Assert.Equal("no data for 3 analyses in a row (the no-data limit is 3): few", limit.Reason);

        // A pass in between resets the run.
        var reset = RolloutDecision.Decide(State(1, AnalysisOutcomes.NoData, AnalysisOutcomes.NoData, AnalysisOutcomes.Pass), Spec, Analysis(AnalysisOutcomes.NoData));
        Assert.Equal(RolloutAction.Hold, reset.Action);
        Assert.Equal(RolloutAction.RollBack, RolloutDecision.Decide(State(0), Spec with { NoDataLimit = 1 }, Analysis(AnalysisOutcomes.NoData)).Action);
    }

    [Fact]
    public void Decide_NoData_IsNeverCountedAsAPass()
    {
        // A shadow needs five passing intervals: four no-data checks and a pass are one pass, not five.
        var shadow = new RolloutState(RolloutStrategies.Shadow, 0, [AnalysisOutcomes.NoData, AnalysisOutcomes.Pass, AnalysisOutcomes.NoData, AnalysisOutcomes.Pass]);
        var decision = RolloutDecision.Decide(shadow, Spec, Analysis(AnalysisOutcomes.Pass));
        Assert.Equal(RolloutAction.Hold, decision.Action);
        Assert.StartsWith("3 of 5 analyses passed", decision.Reason);

        var done = RolloutDecision.Decide(shadow with { Outcomes = [.. shadow.Outcomes, AnalysisOutcomes.Pass, AnalysisOutcomes.Pass] }, Spec, Analysis(AnalysisOutcomes.Pass));
        Assert.Equal(RolloutAction.Promote, done.Action);
    }

    [Fact]
    public void Decide_Failures_CountToTheLimit_ThenRollBackWithTheFailedMetrics()
    {
        var first = RolloutDecision.Decide(State(1, AnalysisOutcomes.Pass), Spec, Analysis(AnalysisOutcomes.Fail, "score 0: error_rate High (critical)"));
        Assert.Equal(RolloutAction.FailCheck, first.Action);
        var second = RolloutDecision.Decide(State(1, AnalysisOutcomes.Pass, AnalysisOutcomes.Fail), Spec, Analysis(AnalysisOutcomes.Fail, "score 0: error_rate High (critical)"));
        Assert.Equal(RolloutAction.RollBack, second.Action);
        Assert.Equal("the canary analysis failed 2 time(s) (the limit is 2): score 0: error_rate High (critical)", second.Reason);
        Assert.DoesNotContain("()", second.Reason);
    }

    [Fact]
    public void Decide_Passes_StepThenPromote_AndThePromotionReasonMatchesTheHistory()
    {
        Assert.Equal(RolloutAction.Step, RolloutDecision.Decide(State(0), Spec, Analysis(AnalysisOutcomes.Pass)).Action);
        Assert.Equal(RolloutAction.Hold, RolloutDecision.Decide(State(2), Spec, Analysis(AnalysisOutcomes.Marginal)).Action);

        var clean = RolloutDecision.Decide(State(3, AnalysisOutcomes.Pass, AnalysisOutcomes.Pass, AnalysisOutcomes.Pass), Spec, Analysis(AnalysisOutcomes.Pass));
        Assert.Equal(RolloutAction.Promote, clean.Action);
        Assert.Equal("every analysis passed (4)", clean.Reason);

        var bumpy = RolloutDecision.Decide(State(3, AnalysisOutcomes.Pass, AnalysisOutcomes.Fail, AnalysisOutcomes.Pass, AnalysisOutcomes.NoData, AnalysisOutcomes.Pass),
            Spec, Analysis(AnalysisOutcomes.Pass));
        Assert.Equal(RolloutAction.Promote, bumpy.Action);
        Assert.DoesNotContain("every analysis passed", bumpy.Reason);
        Assert.Equal("4 passing analyses (4 passed, 1 failed, 0 marginal, 1 without data)", bumpy.Reason);
    }

    [Fact]
    public void State_FromHistory_ReadsTheCheckOutcomes()
    {
        var state = RolloutState.FromHistory(RolloutStrategies.Canary, 1,
            """[{"type":"started"},{"type":"check","outcome":"no_data"},{"type":"check","outcome":"pass"},{"type":"step"},{"type":"check","outcome":"no_data"}]""");
        Assert.Equal([AnalysisOutcomes.NoData, AnalysisOutcomes.Pass, AnalysisOutcomes.NoData], state.Outcomes);
        Assert.Equal(1, state.NoDataRun);
        Assert.Equal(1, state.Passed);
    }
}
