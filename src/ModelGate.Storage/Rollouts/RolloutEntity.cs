namespace ModelGate.Storage.Rollouts;

/// <summary>A progressive move of a deployment from its stable version to a candidate, and where it stands.</summary>
public sealed class RolloutEntity
{
    public required string Id { get; set; }
    public required string Deployment { get; set; }
    public required string Stable { get; set; }
    public required string Candidate { get; set; }
    public required string Strategy { get; set; }
    public required string Status { get; set; }
    /// <summary>The spec as requested (JSON): steps, interval, minimum samples, failed-check limit, deadline, hooks.</summary>
    public required string Spec { get; set; }
    public int Step { get; set; }
    public double Weight { get; set; }
    public int Checks { get; set; }
    public int FailedChecks { get; set; }
    public DateTime StartedAt { get; set; }
    public DateTime StepStartedAt { get; set; }
    public DateTime NextCheckAt { get; set; }
    public DateTime? EndedAt { get; set; }
    public string? Reason { get; set; }
    /// <summary>JSON array of what happened: each check with its judgement, each step, each human action.</summary>
    public required string History { get; set; }
    public required string CreatedBy { get; set; }
}
