namespace ModelGate.Redis;

/// <summary>Section <c>Redis</c>: shared limits, budgets and change pushes across replicas.</summary>
public sealed class RedisOptions
{
    public const string Section = "Redis";

    /// <summary>
    /// A StackExchange.Redis connection string (<c>host:6379,password=…,ssl=true</c>). Empty (default): no Redis; a process
    /// keeps its limits in memory and learns other replicas' changes by polling.
    /// </summary>
    public string Configuration { get; set; } = "";

    /// <summary>
    /// What a request meets while Redis fails or answers too late: <c>open</c> (default) serves it on this replica's own
    /// in-memory limits, counts the failure and alerts; <c>closed</c> refuses it with 429 <c>limits_unavailable</c>.
    /// </summary>
    public string FailureMode { get; set; } = FailureModes.Open;

    /// <summary>The longest a request waits for Redis on its path; past it, the call counts as failed.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Prefix of every key and channel, so that several installations can share one Redis.</summary>
    public string KeyPrefix { get; set; } = "modelgate:";

    public bool Enabled => !string.IsNullOrWhiteSpace(Configuration);

    public bool FailsClosed => FailureMode == FailureModes.Closed;
}

public static class FailureModes
{
    public const string Open = "open";
    public const string Closed = "closed";
}
