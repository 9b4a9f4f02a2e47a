using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using ModelGate.Client;
using ModelGate.Gateway.Onnx;
using ModelGate.Storage.Gateway;

namespace ModelGate.Gateway.Telemetry;

/// <summary>How a failed request failed, as counted per series.</summary>
public enum ErrorClass
{
    /// <summary>4xx other than 429: the caller's mistake.</summary>
    Client,
    /// <summary>429: a limit refused it.</summary>
    Throttled,
    /// <summary>502, 503, 504: the backend failed or did not answer.</summary>
    Upstream,
    /// <summary>Any other 5xx.</summary>
    Server,
}

/// <summary>
/// In-memory telemetry of the data plane, per deployment, version and route: totals since start (for Prometheus) and a
/// ring of 10-second slots covering the last hour (for windows, the canary judge and the metrics API). Recording takes
/// one short lock on its series and allocates nothing once the slot exists; no database work happens here.
/// </summary>
public sealed class GatewayTelemetry(TimeProvider time, RoutingSnapshots routes, IOptions<GatewayOptions> options)
{
    public static readonly TimeSpan SlotLength = TimeSpan.FromSeconds(10);
    public const int SlotCount = 360;
    public static readonly TimeSpan Horizon = SlotLength * SlotCount;

    /// <summary>Series key used for requests that named no known deployment, so that callers cannot grow the label set.</summary>
    public const string Unrouted = "-";

    /// <summary>The <see cref="System.Diagnostics.Metrics.Meter"/> OpenTelemetry exports when configured.</summary>
    public const string MeterName = "ModelGate.Gateway";

    private static readonly System.Diagnostics.Metrics.Meter Meter = new(MeterName);
    private static readonly System.Diagnostics.Metrics.Counter<long> RequestCounter =
        Meter.CreateCounter<long>("modelgate.gateway.requests", "{request}", "Data-plane requests by deployment, version, route and outcome");
    private static readonly System.Diagnostics.Metrics.Histogram<double> DurationHistogram =
        Meter.CreateHistogram<double>("modelgate.gateway.request.duration", "s", "Data-plane request latency");
    private static readonly System.Diagnostics.Metrics.Counter<long> TokenCounter =
        Meter.CreateCounter<long>("modelgate.gateway.tokens", "{token}", "Tokens accounted");
    private static readonly System.Diagnostics.Metrics.Counter<long> FallbackCounter =
        Meter.CreateCounter<long>("modelgate.gateway.fallbacks", "{request}", "Failed attempts on a version that the stable version answered instead");
    private static readonly System.Diagnostics.Metrics.Histogram<double> FirstByteHistogram =
        Meter.CreateHistogram<double>("modelgate.gateway.first_byte.duration", "s", "Time from sending to an upstream to the first byte of its answer");

    private readonly ConcurrentDictionary<(string Deployment, string Version, string Route), TelemetrySeries> _series = new();
    private long _overflowed;

    /// <summary>Records that found no room because <see cref="GatewayOptions.TelemetryMaxSeries"/> series already exist.</summary>
    public long Overflowed => Interlocked.Read(ref _overflowed);

    public IEnumerable<TelemetrySeries> Series => _series.Values;

    public static ErrorClass? Classify(int status) => status switch
    {
        < 400 => null,
        429 => ErrorClass.Throttled,
        < 500 => ErrorClass.Client,
        502 or 503 or 504 => ErrorClass.Upstream,
        _ => ErrorClass.Server,
    };

    public void Record(RequestLogEntity record)
    {
        var deployment = routes.Find(record.Deployment) is null ? Unrouted : record.Deployment;
        var key = (deployment, record.Version ?? Unrouted, record.Route ?? Unrouted);
        if (SeriesFor(key) is not { } series)
        {
            return;
        }
        series.Record(SlotOf(record.Time), record.Status, record.LatencyMs, record.PromptTokens, record.CompletionTokens, record.Cost);
        if (RequestCounter.Enabled || DurationHistogram.Enabled)
        {
            var tags = new System.Diagnostics.TagList
            {
                { "deployment", key.deployment }, { "version", key.Item2 }, { "route", key.Item3 },
                { "outcome", Classify(record.Status)?.ToString().ToLowerInvariant() ?? "ok" },
            };
            RequestCounter.Add(1, tags);
            DurationHistogram.Record(record.LatencyMs / 1000, tags);
            if (record.PromptTokens + record.CompletionTokens is > 0 and var tokens)
            {
                TokenCounter.Add(tokens, tags);
            }
        }
    }

    /// <summary>Adds a feedback score (1/0 for a right/wrong label) to the series that served the request.</summary>
    /// <remarks>
    /// The series is made when missing: with gateway replicas, feedback reaches the control process, which served none of
    /// the traffic (the shared store's flusher writes what it counts here). A request older than the slots kept is not
    /// counted: its slot would reuse, and reset, a recent one.
    /// </remarks>
    public void RecordFeedback(string deployment, string version, string route, DateTime time, double score)
    {
        if (SlotOf(time) is var slot && IsKept(slot) && SeriesFor((deployment, version, route)) is { } series)
        {
            series.RecordFeedback(slot, score);
        }
    }

    private bool IsKept(long slot) => slot > SlotOf(time.GetUtcNow().UtcDateTime) - SlotCount;

    /// <summary>
    /// Adds one value of a named business metric from feedback to the series that served the request (its slot is the
    /// request's time, like feedback scores). A series keeps at most <see cref="TelemetrySeries.MaxBusinessMetrics"/> names;
    /// values of further names are not counted (they stay in the feedback table).
    /// </summary>
    public void RecordBusiness(string deployment, string version, string route, DateTime time, string metric, double value)
    {
        if (SlotOf(time) is var slot && IsKept(slot) && SeriesFor((deployment, version, route)) is { } series)
        {
            series.RecordBusiness(slot, metric, value);
        }
    }

    /// <summary>
    /// Adds what an ONNX classifier predicted on a served request (or, on route <c>shadow</c>, on its mirror) to the series of
    /// the version that scored it: predictions, positive predictions, the positive-class probability, invalid outputs.
    /// </summary>
    public void RecordPredictions(string deployment, string version, string route, DateTime time, in ClassifierOutputs outputs)
    {
        if (!options.Value.Monitoring || SeriesFor((deployment, version, route)) is not { } series)
        {
            return;
        }
        var tally = default(PredictionTally);
        tally.Add(outputs);
        series.RecordPredictions(SlotOf(time), tally);
    }

    /// <summary>
    /// Adds a shadow's predictions on a mirrored request to its shadow series, with their comparison against the stable
    /// version's outputs for the same rows (rows compared, same label, |Δp|).
    /// </summary>
    public void RecordShadowPredictions(string deployment, string version, DateTime time, in ClassifierOutputs shadow, in ClassifierOutputs stable)
    {
        if (!options.Value.Monitoring || SeriesFor((deployment, version, RouteKinds.Shadow)) is not { } series)
        {
            return;
        }
        var tally = default(PredictionTally);
        tally.Add(shadow);
        tally.Compare(shadow, stable);
        series.RecordPredictions(SlotOf(time), tally);
    }

    /// <summary>The series of a key, made on first use; null (and counted) when the series limit is reached.</summary>
    private TelemetrySeries? SeriesFor((string Deployment, string Version, string Route) key)
    {
        if (_series.TryGetValue(key, out var series))
        {
            return series;
        }
        if (_series.Count >= options.Value.TelemetryMaxSeries)
        {
            Interlocked.Increment(ref _overflowed);
            return null;
        }
        return _series.GetOrAdd(key, k => new TelemetrySeries(k.Deployment, k.Version, k.Route));
    }

    /// <summary>
    /// A failed attempt on <paramref name="version"/> that the stable version then answered: one
    /// <see cref="SlotAggregate.Fallbacks"/> on the failed version's series. Its request and error are counted by its own
    /// request-log record (<see cref="Record"/>), added first.
    /// </summary>
    public void RecordFallback(string deployment, string version, string route, DateTime time)
    {
        if (_series.TryGetValue((deployment, version, route), out var series))
        {
            series.RecordFallback(SlotOf(time));
            if (FallbackCounter.Enabled)
            {
                FallbackCounter.Add(1, new System.Diagnostics.TagList { { "deployment", deployment }, { "version", version }, { "route", route } });
            }
        }
    }

    /// <summary>Time from sending to an upstream to the first byte of its successful answer (of a stream: its first chunk), on the series that served it.</summary>
    public void RecordFirstByte(string deployment, string version, string route, DateTime time, double milliseconds)
    {
        if (_series.TryGetValue((deployment, version, route), out var series))
        {
            series.RecordFirstByte(SlotOf(time), milliseconds);
            if (FirstByteHistogram.Enabled)
            {
                FirstByteHistogram.Record(milliseconds / 1000, new System.Diagnostics.TagList { { "deployment", deployment }, { "version", version }, { "route", route } });
            }
        }
    }

    /// <summary>
    /// An LLM request mirrored to a shadow version whose shadow and stable answers both succeeded: on the shadow series,
    /// one <see cref="SlotAggregate.Compared"/> and the shadow's minus the stable version's completion tokens and latency.
    /// </summary>
    public void RecordCompletionComparison(string deployment, string shadowVersion, DateTime time, long completionTokensDelta, double latencyDeltaMs)
    {
        if (_series.TryGetValue((deployment, shadowVersion, RouteKinds.Shadow), out var series))
        {
            series.RecordCompletionComparison(SlotOf(time), completionTokensDelta, latencyDeltaMs);
        }
    }

    /// <summary>Sums each of the deployment's series over the last <paramref name="window"/> (at most one hour).</summary>
    public IReadOnlyList<SeriesMetrics> Summarize(string deployment, TimeSpan window)
    {
        var now = SlotOf(time.GetUtcNow().UtcDateTime);
        var slots = (int)Math.Clamp(Math.Ceiling(window / SlotLength), 1, SlotCount);
        return _series.Values
            .Where(s => s.Deployment == deployment)
            .Select(s => s.Summarize(now - slots + 1, now, window))
            .OrderBy(s => s.Version, StringComparer.Ordinal).ThenBy(s => s.Route, StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>
    /// Per 10-second slot between <paramref name="from"/> and now: the slot aggregates of one version, its served routes
    /// merged (or, with <paramref name="shadow"/>, only its mirrored traffic).
    /// </summary>
    public IReadOnlyList<SlotAggregate> Slots(string deployment, string version, DateTime from, bool shadow = false)
    {
        var now = SlotOf(time.GetUtcNow().UtcDateTime);
        var first = Math.Max(SlotOf(from), now - SlotCount + 1);
        var result = new List<SlotAggregate>();
        foreach (var series in _series.Values.Where(s => s.Deployment == deployment && s.Version == version && (s.Route == RouteKinds.Shadow) == shadow))
        {
            series.CollectSlots(first, now, result);
        }
        return result.GroupBy(a => a.Slot).Select(g => SlotAggregate.Merge(g.Key, g)).OrderBy(a => a.Slot).ToList();
    }

    public static long SlotOf(DateTime utc) => utc.Ticks / SlotLength.Ticks;
}

/// <summary>The count and sum of one named metric's values.</summary>
public readonly record struct MetricSum(long Count, double Sum);

/// <summary>Counts of one series in one slot (or in total).</summary>
public sealed class SlotAggregate
{
    public long Slot { get; set; }
    public long Requests { get; set; }
    public long[] Errors { get; } = new long[4];
    public long PromptTokens { get; set; }
    public long CompletionTokens { get; set; }
    public double Cost { get; set; }
    public long[] Latency { get; } = new long[LatencyHistogram.BucketCount];
    public double LatencySumMs { get; set; }
    public long FeedbackCount { get; set; }
    public double FeedbackSum { get; set; }

    /// <summary>Bins of <see cref="Scores"/>: the positive-class probability in steps of 1/20.</summary>
    public const int ScoreBins = 20;

    /// <summary>
    /// Attempts on this version that failed (an error status, a timeout, a refused connection) and that the stable version
    /// answered instead. Each is also counted in <see cref="Requests"/> and <see cref="Errors"/> of this version: the
    /// failure is the candidate's, whatever the client got.
    /// </summary>
    public long Fallbacks { get; set; }

    /// <summary>ONNX classifiers: rows scored, rows predicted positive (label 1, true, or the second of two classes).</summary>
    public long Predictions { get; set; }
    public long PositivePredictions { get; set; }

    /// <summary>Rows whose output could not be read as a prediction: NaN or infinite scores, probabilities outside [0, 1], no label.</summary>
    public long InvalidOutputs { get; set; }

    /// <summary>Histogram of the positive-class probability (<see cref="ScoreBins"/> equal bins over [0, 1]) and its sum.</summary>
    public long[] Scores { get; } = new long[ScoreBins];
    public double ScoreSum { get; set; }

    /// <summary>LLM upstreams: time to the answer's first byte (time to first token when streaming), in <see cref="LatencyHistogram"/> buckets.</summary>
    public long[] FirstByte { get; } = new long[LatencyHistogram.BucketCount];

    /// <summary>
    /// Shadow series only: requests whose shadow answer was compared with the stable version's answer to the same request —
    /// ONNX: rows compared, rows with the same label, and the sum of |Δp| of the positive-class probability; LLM: requests
    /// compared and the sums of the shadow's minus the stable version's completion tokens and latency (ms).
    /// </summary>
    public long Compared { get; set; }
    public long Agreed { get; set; }
    public double AbsDeltaPSum { get; set; }
    public double CompletionTokensDeltaSum { get; set; }
    public double LatencyDeltaSumMs { get; set; }

    /// <summary>Named business metrics from feedback (<c>{"metric": "conversion", "value": 1}</c>); null until one arrives.</summary>
    public Dictionary<string, MetricSum>? Business { get; private set; }

    public long ServerErrors => Errors[(int)ErrorClass.Upstream] + Errors[(int)ErrorClass.Server];

    /// <summary>Adds one value of a named business metric.</summary>
    public void AddBusiness(string metric, double value)
    {
        Business ??= new Dictionary<string, MetricSum>(StringComparer.Ordinal);
        var sum = Business.GetValueOrDefault(metric);
        Business[metric] = new MetricSum(sum.Count + 1, sum.Sum + value);
    }

    /// <summary>Adds the count and sum of a named business metric (a stored slot read back).</summary>
    internal void AddBusiness(string metric, MetricSum add)
    {
        Business ??= new Dictionary<string, MetricSum>(StringComparer.Ordinal);
        var sum = Business.GetValueOrDefault(metric);
        Business[metric] = new MetricSum(sum.Count + add.Count, sum.Sum + add.Sum);
    }

    internal void Reset(long slot)
    {
        Slot = slot;
        Requests = PromptTokens = CompletionTokens = FeedbackCount = 0;
        Cost = LatencySumMs = FeedbackSum = 0;
        Array.Clear(Errors);
        Array.Clear(Latency);
        Fallbacks = Predictions = PositivePredictions = InvalidOutputs = Compared = Agreed = 0;
        ScoreSum = AbsDeltaPSum = CompletionTokensDeltaSum = LatencyDeltaSumMs = 0;
        Array.Clear(Scores);
        Array.Clear(FirstByte);
        Business?.Clear();
    }

    internal void Add(SlotAggregate other)
    {
        Requests += other.Requests;
        PromptTokens += other.PromptTokens;
        CompletionTokens += other.CompletionTokens;
        Cost += other.Cost;
        LatencySumMs += other.LatencySumMs;
        FeedbackCount += other.FeedbackCount;
        FeedbackSum += other.FeedbackSum;
        for (var i = 0; i < Errors.Length; i++)
        {
            Errors[i] += other.Errors[i];
        }
        for (var i = 0; i < Latency.Length; i++)
        {
            Latency[i] += other.Latency[i];
        }
        Fallbacks += other.Fallbacks;
        Predictions += other.Predictions;
        PositivePredictions += other.PositivePredictions;
        InvalidOutputs += other.InvalidOutputs;
        ScoreSum += other.ScoreSum;
        for (var i = 0; i < Scores.Length; i++)
        {
            Scores[i] += other.Scores[i];
        }
        for (var i = 0; i < FirstByte.Length; i++)
        {
            FirstByte[i] += other.FirstByte[i];
        }
        Compared += other.Compared;
        Agreed += other.Agreed;
        AbsDeltaPSum += other.AbsDeltaPSum;
        CompletionTokensDeltaSum += other.CompletionTokensDeltaSum;
        LatencyDeltaSumMs += other.LatencyDeltaSumMs;
        if (other.Business is { Count: > 0 })
        {
            Business ??= new Dictionary<string, MetricSum>(StringComparer.Ordinal);
            foreach (var (name, sum) in other.Business)
            {
                var mine = Business.GetValueOrDefault(name);
                Business[name] = new MetricSum(mine.Count + sum.Count, mine.Sum + sum.Sum);
            }
        }
    }

    internal SlotAggregate Copy()
    {
        var copy = new SlotAggregate();
        copy.Reset(Slot);
        copy.Add(this);
        return copy;
    }

    public static SlotAggregate Merge(long slot, IEnumerable<SlotAggregate> parts)
    {
        var merged = new SlotAggregate { Slot = slot };
        foreach (var part in parts)
        {
            merged.Add(part);
        }
        return merged;
    }
}

/// <summary>One deployment × version × route series.</summary>
public sealed class TelemetrySeries(string deployment, string version, string route)
{
    private readonly Lock _gate = new();
    private readonly SlotAggregate _total = new();
    private readonly SlotAggregate?[] _ring = new SlotAggregate?[GatewayTelemetry.SlotCount];

    // Slots changed by feedback, which names a past request's slot: the shared store's flusher writes them besides the
    // current ones (SharedTelemetry). Only feedback marks them; the data plane records into the current slot.
    private HashSet<long>? _late;

    public string Deployment { get; } = deployment;
    public string Version { get; } = version;
    public string Route { get; } = route;

    internal void Record(long slot, int status, double latencyMs, long? promptTokens, long? completionTokens, double? cost)
    {
        var bucket = LatencyHistogram.BucketOf(latencyMs);
        var error = GatewayTelemetry.Classify(status);
        lock (_gate)
        {
            foreach (var aggregate in (ReadOnlySpan<SlotAggregate>)[_total, SlotFor(slot)])
            {
                aggregate.Requests++;
                aggregate.Latency[bucket]++;
                aggregate.LatencySumMs += latencyMs;
                aggregate.PromptTokens += promptTokens ?? 0;
                aggregate.CompletionTokens += completionTokens ?? 0;
                aggregate.Cost += cost ?? 0;
                if (error is { } e)
                {
                    aggregate.Errors[(int)e]++;
                }
            }
        }
    }

    internal void RecordFeedback(long slot, double score)
    {
        lock (_gate)
        {
            foreach (var aggregate in (ReadOnlySpan<SlotAggregate>)[_total, SlotFor(slot)])
            {
                aggregate.FeedbackCount++;
                aggregate.FeedbackSum += score;
            }
            MarkLate(slot);
        }
    }

    private void MarkLate(long slot)
    {
        _late ??= [];
        if (_late.Count < GatewayTelemetry.SlotCount)
        {
            _late.Add(slot);
        }
    }

    /// <summary>Moves the slots changed by feedback since the last call into <paramref name="into"/>.</summary>
    internal void TakeLateSlots(List<long> into)
    {
        lock (_gate)
        {
            if (_late is { Count: > 0 })
            {
                into.AddRange(_late);
                _late.Clear();
            }
        }
    }

    /// <summary>Distinct business metric names a series counts (feedback names them; this bounds its memory).</summary>
    public const int MaxBusinessMetrics = 32;

    internal void RecordBusiness(long slot, string metric, double value)
    {
        lock (_gate)
        {
            if (_total.Business is { Count: >= MaxBusinessMetrics } known && !known.ContainsKey(metric))
            {
                return;
            }
            _total.AddBusiness(metric, value);
            SlotFor(slot).AddBusiness(metric, value);
            MarkLate(slot);
        }
    }

    internal void RecordPredictions(long slot, in PredictionTally tally)
    {
        lock (_gate)
        {
            tally.AddTo(_total);
            tally.AddTo(SlotFor(slot));
        }
    }

    internal void RecordFallback(long slot)
    {
        lock (_gate)
        {
            foreach (var aggregate in (ReadOnlySpan<SlotAggregate>)[_total, SlotFor(slot)])
            {
                aggregate.Fallbacks++;
            }
        }
    }

    internal void RecordFirstByte(long slot, double milliseconds)
    {
        var bucket = LatencyHistogram.BucketOf(milliseconds);
        lock (_gate)
        {
            foreach (var aggregate in (ReadOnlySpan<SlotAggregate>)[_total, SlotFor(slot)])
            {
                aggregate.FirstByte[bucket]++;
            }
        }
    }

    internal void RecordCompletionComparison(long slot, long completionTokensDelta, double latencyDeltaMs)
    {
        lock (_gate)
        {
            foreach (var aggregate in (ReadOnlySpan<SlotAggregate>)[_total, SlotFor(slot)])
            {
                aggregate.Compared++;
                aggregate.CompletionTokensDeltaSum += completionTokensDelta;
                aggregate.LatencyDeltaSumMs += latencyDeltaMs;
            }
        }
    }

    /// <summary>A consistent copy of the totals since start.</summary>
    public SlotAggregate Totals()
    {
        lock (_gate)
        {
            return _total.Copy();
        }
    }

    internal SeriesMetrics Summarize(long firstSlot, long lastSlot, TimeSpan window)
    {
        var sum = new SlotAggregate();
        lock (_gate)
        {
            foreach (var aggregate in _ring)
            {
                if (aggregate is not null && aggregate.Slot >= firstSlot && aggregate.Slot <= lastSlot)
                {
                    sum.Add(aggregate);
                }
            }
        }
        return SeriesSummary.From(Deployment, Version, Route, sum, window);
    }

    internal void CollectSlots(long firstSlot, long lastSlot, List<SlotAggregate> into)
    {
        lock (_gate)
        {
            foreach (var aggregate in _ring)
            {
                if (aggregate is not null && aggregate.Slot >= firstSlot && aggregate.Slot <= lastSlot
                    && (aggregate.Requests + aggregate.FeedbackCount + aggregate.Compared > 0 || aggregate.Business is { Count: > 0 }))
                {
                    into.Add(aggregate.Copy());
                }
            }
        }
    }

    private SlotAggregate SlotFor(long slot)
    {
        var index = (int)(slot % GatewayTelemetry.SlotCount);
        var aggregate = _ring[index] ??= new SlotAggregate { Slot = slot };
        if (aggregate.Slot != slot)
        {
            aggregate.Reset(slot);
        }
        return aggregate;
    }
}

/// <summary>Turns counts into the API's figures.</summary>
public static class SeriesSummary
{
    public static SeriesMetrics From(string deployment, string version, string route, SlotAggregate a, TimeSpan window)
    {
        // Rows with a positive-class probability: binary classifiers only, so the positive rate of a multi-class or label-only
        // model stays null rather than a meaningless 0.
        var scored = a.Scores.Sum();
        return Counts(deployment, version, route, a, window) with
        {
            Predictions = a.Predictions,
            PositiveRate = scored == 0 ? null : (double)a.PositivePredictions / a.Predictions,
            MeanScore = scored == 0 ? null : a.ScoreSum / scored,
            InvalidOutputs = a.InvalidOutputs,
            Compared = a.Compared,
            Agreement = a.Compared == 0 ? null : (double)a.Agreed / a.Compared,
            MeanAbsDeltaP = a.Compared == 0 || scored == 0 ? null : a.AbsDeltaPSum / a.Compared,
            Business = a.Business is { Count: > 0 } business
                ? business.ToDictionary(b => b.Key, b => new BusinessMetric(b.Value.Count, b.Value.Sum, b.Value.Sum / b.Value.Count), StringComparer.Ordinal)
                : null,
        };
    }

    private static SeriesMetrics Counts(string deployment, string version, string route, SlotAggregate a, TimeSpan window) => new(
        deployment, version, route, a.Requests,
        Enum.GetValues<ErrorClass>().ToDictionary(e => e.ToString().ToLowerInvariant(), e => a.Errors[(int)e]),
        a.Requests == 0 ? null : (double)a.ServerErrors / a.Requests,
        LatencyHistogram.Quantile(a.Latency, 0.50),
        LatencyHistogram.Quantile(a.Latency, 0.95),
        LatencyHistogram.Quantile(a.Latency, 0.99),
        a.Requests == 0 ? null : a.LatencySumMs / a.Requests,
        a.PromptTokens, a.CompletionTokens, Math.Round(a.Cost, 9),
        a.Requests / Math.Max(window.TotalSeconds, 1e-9),
        a.FeedbackCount,
        a.FeedbackCount == 0 ? null : a.FeedbackSum / a.FeedbackCount,
        Fallbacks: a.Fallbacks,
        FirstByteP50Ms: LatencyHistogram.Quantile(a.FirstByte, 0.50),
        FirstByteP99Ms: LatencyHistogram.Quantile(a.FirstByte, 0.99));
}
