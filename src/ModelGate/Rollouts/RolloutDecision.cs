using System.Text.Json;
using ModelGate.Client;

namespace ModelGate.Rollouts;

/// <summary>What the controller does after an analysis.</summary>
public enum RolloutAction
{
    /// <summary>Stay at this step (no data, a marginal score, or a shadow/A-B rollout that needs more passing intervals).</summary>
    Hold,
    /// <summary>A failed analysis below the failed-check limit: counted, the step holds.</summary>
    FailCheck,
    /// <summary>On to the next canary weight.</summary>
    Step,
    /// <summary>Promote the candidate (complete a shadow rollout).</summary>
    Promote,
    /// <summary>All traffic back to stable: the failed-check or the no-data limit was reached.</summary>
    RollBack,
}

/// <summary>A rollout's record before an analysis: its step and the outcomes of its analyses so far, oldest first.</summary>
public sealed record RolloutState(string Strategy, int Step, IReadOnlyList<string> Outcomes)
{
    public int Passed => Outcomes.Count(o => o == AnalysisOutcomes.Pass);
    public int Failed => Outcomes.Count(o => o == AnalysisOutcomes.Fail);
    public int Marginal => Outcomes.Count(o => o == AnalysisOutcomes.Marginal);
    public int NoData => Outcomes.Count(o => o == AnalysisOutcomes.NoData);

    /// <summary>No-data analyses since the last analysis that had data.</summary>
    public int NoDataRun
    {
        get
        {
            var run = 0;
            for (var i = Outcomes.Count - 1; i >= 0 && Outcomes[i] == AnalysisOutcomes.NoData; i--)
            {
                run++;
            }
            return run;
        }
    }

    /// <summary>The outcomes of the <c>check</c> entries of a rollout's history.</summary>
    public static RolloutState FromHistory(string strategy, int step, string history)
    {
        using var document = JsonDocument.Parse(history);
        var outcomes = new List<string>();
        foreach (var entry in document.RootElement.EnumerateArray())
        {
            if (entry.TryGetProperty("type", out var type) && type.GetString() == "check" && entry.TryGetProperty("outcome", out var outcome)
                && outcome.GetString() is { } value)
            {
                outcomes.Add(value);
            }
        }
        return new RolloutState(strategy, step, outcomes);
    }
}

/// <summary>The controller's decision and the reason it records (never at odds with the history it follows).</summary>
public sealed record RolloutDecisionResult(RolloutAction Action, string Reason);

/// <summary>
/// The controller's rule, free of storage: given a rollout's record, its spec and the new analysis, what to do. No data
/// holds the step and is never a pass; <see cref="StartRolloutRequest.NoDataLimit"/> no-data analyses in a row roll back;
/// a failure counts towards <see cref="StartRolloutRequest.FailedCheckLimit"/>, which rolls back; a marginal score holds;
/// a pass steps on, and the pass at the last step (a shadow's or A/B's <see cref="StartRolloutRequest.Intervals"/>-th pass) promotes.
/// </summary>
public static class RolloutDecision
{
    public static RolloutDecisionResult Decide(RolloutState state, StartRolloutRequest spec, AnalysisResult analysis)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(analysis);
        switch (analysis.Outcome)
        {
            case AnalysisOutcomes.NoData:
            {
                var run = state.NoDataRun + 1;
                return run >= spec.NoDataLimit
                    ? new(RolloutAction.RollBack, $"no data for {run} analyses in a row (the no-data limit is {spec.NoDataLimit}): {analysis.Reason}")
                    : new(RolloutAction.Hold, $"no data ({run} of {spec.NoDataLimit} in a row): {analysis.Reason}");
            }
            case AnalysisOutcomes.Fail:
            {
                var failed = state.Failed + 1;
                return failed >= spec.FailedCheckLimit
                    ? new(RolloutAction.RollBack, $"the canary analysis failed {failed} time(s) (the limit is {spec.FailedCheckLimit}): {analysis.Reason}")
                    : new(RolloutAction.FailCheck, $"the canary analysis failed ({failed} of {spec.FailedCheckLimit}): {analysis.Reason}");
            }
            case AnalysisOutcomes.Pass:
            {
                var canary = state.Strategy == RolloutStrategies.Canary;
                var passes = canary ? state.Step + 1 : state.Passed + 1;
                var needed = canary ? RolloutController.Steps(spec).Count : spec.Intervals;
                if (passes < needed)
                {
                    return canary
                        ? new(RolloutAction.Step, $"the analysis passed at step {state.Step + 1} of {needed}: {analysis.Reason}")
                        : new(RolloutAction.Hold, $"{passes} of {needed} analyses passed: {analysis.Reason}");
                }
                return new(RolloutAction.Promote, Summary(state, canary ? needed : passes));
            }
            default:
                return new(RolloutAction.Hold, $"marginal, the step holds: {analysis.Reason}");
        }
    }

    /// <summary>"every analysis passed (4)" only when every one did; else the count of each outcome.</summary>
    private static string Summary(RolloutState state, int needed)
    {
        var passed = state.Passed + 1;
        var others = state.Failed + state.Marginal + state.NoData;
        return others == 0
            ? $"every analysis passed ({passed})"
            : $"{needed} passing analyses ({passed} passed, {state.Failed} failed, {state.Marginal} marginal, {state.NoData} without data)";
    }
}
