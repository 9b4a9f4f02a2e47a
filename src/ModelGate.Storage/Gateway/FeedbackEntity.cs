namespace ModelGate.Storage.Gateway;

/// <summary>Feedback on one served request: a true label (judged against the prediction), a score, or a comment.</summary>
public sealed class FeedbackEntity
{
    public long Id { get; set; }
    public required string RequestId { get; set; }
    public required string Deployment { get; set; }
    public string? Version { get; set; }
    public string? Route { get; set; }
    public string? Label { get; set; }
    /// <summary>The score counted for live quality: 1/0 for a label that matches/misses the prediction, or the score given.</summary>
    public double? Score { get; set; }
    public string? Comment { get; set; }
    /// <summary>A named business metric (<c>conversion</c>) and its value, added to the serving version's telemetry.</summary>
    public string? Metric { get; set; }
    public double? MetricValue { get; set; }
    public DateTime RequestTime { get; set; }
    public DateTime Time { get; set; }
    public required string Actor { get; set; }
}
