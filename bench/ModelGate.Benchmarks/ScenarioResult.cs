namespace ModelGate.Benchmarks;

/// <summary>The measured requests of one scenario (warm-up excluded).</summary>
internal sealed class ScenarioResult
{
    private readonly double[] _sortedMs;

    public ScenarioResult(string provider, string scenario, int clients, double[] latenciesMs, double elapsedSeconds, int errors,
        string? firstError, long sqlCommands, int warmupRequests, double warmupSeconds)
    {
        WarmupRequests = warmupRequests;
        WarmupSeconds = warmupSeconds;
        Provider = provider;
        Scenario = scenario;
        Clients = clients;
        _sortedMs = [.. latenciesMs];
        Array.Sort(_sortedMs);
        ElapsedSeconds = elapsedSeconds;
        Errors = errors;
        FirstError = firstError;
        SqlCommands = sqlCommands;
    }

    public string Provider { get; }
    public string Scenario { get; }
    public int Clients { get; }
    public int Ops => _sortedMs.Length;
    public double ElapsedSeconds { get; }
    public int Errors { get; }
    public string? FirstError { get; }
    public int WarmupRequests { get; }
    public double WarmupSeconds { get; }

    /// <summary>SQL commands the server executed during the measured phase (EF Core command interceptor).</summary>
    public long SqlCommands { get; }

    /// <summary>Completed requests per second of wall-clock time, from the first measured request to the last response.</summary>
    public double Throughput => ElapsedSeconds > 0 ? Ops / ElapsedSeconds : 0;

    public double SqlPerOp => Ops == 0 ? 0 : (double)SqlCommands / Ops;

    public double Mean => Ops == 0 ? 0 : _sortedMs.Average();

    public double Max => Ops == 0 ? 0 : _sortedMs[^1];

    /// <summary>Nearest-rank percentile: the smallest recorded latency with at least <paramref name="p"/>% of requests at or below it.</summary>
    public double Percentile(double p)
    {
        if (Ops == 0)
        {
            return 0;
        }
        var rank = (int)Math.Ceiling(p / 100.0 * Ops);
        return _sortedMs[Math.Clamp(rank, 1, Ops) - 1];
    }

    /// <summary>Median of a slice of the recorded (unsorted) series, to compare early and late requests.</summary>
    public static double Median(IReadOnlyList<double> values, int start, int count)
    {
        var slice = values.Skip(start).Take(count).Order().ToArray();
        return slice.Length == 0 ? 0 : slice[(slice.Length - 1) / 2];
    }
}
