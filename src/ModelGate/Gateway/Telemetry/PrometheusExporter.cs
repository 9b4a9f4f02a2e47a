using System.Globalization;
using System.Text;
using ModelGate.Security;

namespace ModelGate.Gateway.Telemetry;

/// <summary>
/// <c>GET /metrics</c> in the Prometheus text format (0.0.4): the data plane's per deployment × version × route series.
/// Label values are deployment names, versions and route kinds that ModelGate itself validated, and the number of series
/// is capped (<see cref="GatewayOptions.TelemetryMaxSeries"/>), so the cardinality stays bounded whatever clients send.
/// Scraping needs a key with read access (Prometheus' <c>authorization</c> setting).
/// </summary>
public static class PrometheusExporter
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>What /metrics is written from: this process's telemetry, request log, endpoints, breakers, leadership and Redis failures.</summary>
    internal sealed record MetricsSources(GatewayTelemetry Telemetry, RequestLog Log, EndpointTelemetry Endpoints, CircuitBreakers Breakers,
        Hosting.ILeadership Leadership, Redis.RedisFailures Redis);

    public static IEndpointRouteBuilder MapPrometheusMetrics(this IEndpointRouteBuilder app)
    {
        app.MapGet("/metrics", ([AsParameters] MetricsSources s) =>
                Results.Text(Render(s.Telemetry, s.Log, s.Endpoints, s.Breakers) + Hosting.ClusterApi.LeaderGauge(s.Leadership) + s.Redis.Render(), ContentType))
            .WithTags("Monitoring").RequireAuthorization(Permissions.Read).ExcludeFromDescription();
        return app;
    }

    public static string Render(GatewayTelemetry telemetry, RequestLog log, EndpointTelemetry? endpoints = null, CircuitBreakers? breakers = null)
    {
        var series = telemetry.Series.Select(s => (s, Totals: s.Totals())).OrderBy(x => x.s.Deployment, StringComparer.Ordinal)
            .ThenBy(x => x.s.Version, StringComparer.Ordinal).ThenBy(x => x.s.Route, StringComparer.Ordinal).ToList();
        var text = new StringBuilder(4096);

        Header(text, "modelgate_gateway_requests_total", "counter", "Data-plane requests served, by deployment, version and route.");
        foreach (var (s, t) in series)
        {
            Sample(text, "modelgate_gateway_requests_total", Labels(s), t.Requests);
        }
        Header(text, "modelgate_gateway_errors_total", "counter", "Failed data-plane requests by class: client (4xx), throttled (429), upstream (502-504), server (other 5xx).");
        foreach (var (s, t) in series)
        {
            foreach (var e in Enum.GetValues<ErrorClass>())
            {
                Sample(text, "modelgate_gateway_errors_total", Labels(s) + $",class=\"{e.ToString().ToLowerInvariant()}\"", t.Errors[(int)e]);
            }
        }
        Header(text, "modelgate_gateway_request_duration_seconds", "histogram", "Data-plane request latency as the gateway measured it.");
        foreach (var (s, t) in series)
        {
            Histogram(text, "modelgate_gateway_request_duration_seconds", Labels(s), t.Latency, t.LatencySumMs);
        }
        Header(text, "modelgate_gateway_fallbacks_total", "counter",
            "Failed attempts on this version (also counted in its requests and errors) that the stable version answered instead.");
        foreach (var (s, t) in series)
        {
            Sample(text, "modelgate_gateway_fallbacks_total", Labels(s), t.Fallbacks);
        }
        Header(text, "modelgate_gateway_first_byte_seconds", "histogram",
            "Time from sending to the upstream to the first byte of its successful answer (of a stream: its first chunk, the time to first token).");
        foreach (var (s, t) in series.Where(x => x.Totals.FirstByte.Sum() > 0))
        {
            Histogram(text, "modelgate_gateway_first_byte_seconds", Labels(s), t.FirstByte, sumMs: null);
        }
        Header(text, "modelgate_gateway_tokens_total", "counter", "Tokens accounted, by kind (prompt, completion).");
        foreach (var (s, t) in series.Where(x => x.Totals.PromptTokens + x.Totals.CompletionTokens > 0))
        {
            Sample(text, "modelgate_gateway_tokens_total", Labels(s) + ",kind=\"prompt\"", t.PromptTokens);
            Sample(text, "modelgate_gateway_tokens_total", Labels(s) + ",kind=\"completion\"", t.CompletionTokens);
        }
        Header(text, "modelgate_gateway_cost_total", "counter", "Cost accounted from the versions' price tables.");
        foreach (var (s, t) in series.Where(x => x.Totals.Cost > 0))
        {
            Sample(text, "modelgate_gateway_cost_total", Labels(s), t.Cost);
        }
        Header(text, "modelgate_gateway_feedback_total", "counter", "Feedback records joined to served requests.");
        foreach (var (s, t) in series.Where(x => x.Totals.FeedbackCount > 0))
        {
            Sample(text, "modelgate_gateway_feedback_total", Labels(s), t.FeedbackCount);
            Sample(text, "modelgate_gateway_feedback_score_sum", Labels(s), t.FeedbackSum);
        }
        if (endpoints is not null && breakers is not null)
        {
            Endpoints(text, endpoints, breakers);
        }
        Header(text, "modelgate_request_log_dropped_total", "counter", "Request-log records dropped because the buffer was full or the database failed.");
        Sample(text, "modelgate_request_log_dropped_total", null, log.Dropped);
        Header(text, "modelgate_telemetry_series_overflow_total", "counter", "Requests not recorded because the series limit was reached.");
        Sample(text, "modelgate_telemetry_series_overflow_total", null, telemetry.Overflowed);
        return text.ToString();
    }

    /// <summary>
    /// Per endpoint of each routed upstream version: attempts, failed attempts, attempts refused by its open circuit, and its
    /// circuit's state. Labelled by the endpoint's list and place and its host (and port) only: never its path, query or key.
    /// </summary>
    private static void Endpoints(StringBuilder text, EndpointTelemetry endpoints, CircuitBreakers breakers)
    {
        var all = endpoints.All.OrderBy(e => e.Deployment, StringComparer.Ordinal).ThenBy(e => e.Version, StringComparer.Ordinal)
            .ThenBy(e => e.List, StringComparer.Ordinal).ThenBy(e => e.Index).ToList();
        static string Labels(EndpointCounters e) => $"deployment=\"{Escape(e.Deployment)}\",version=\"{Escape(e.Version)}\",list=\"{e.List}\"," +
                                                    $"endpoint=\"{e.Index.ToString(CultureInfo.InvariantCulture)}\",host=\"{Escape(e.Host)}\"";
        Header(text, "modelgate_gateway_upstream_attempts_total", "counter", "Attempts sent to an upstream endpoint (retries and fallbacks included).");
        foreach (var e in all)
        {
            Sample(text, "modelgate_gateway_upstream_attempts_total", Labels(e), e.Attempts);
        }
        Header(text, "modelgate_gateway_upstream_failures_total", "counter", "Attempts on an upstream endpoint that failed: 5xx, no answer within the first-byte timeout, unreachable.");
        foreach (var e in all)
        {
            Sample(text, "modelgate_gateway_upstream_failures_total", Labels(e), e.Failures);
        }
        Header(text, "modelgate_gateway_upstream_circuit_rejected_total", "counter", "Attempts not sent to an upstream endpoint because its circuit was open.");
        foreach (var e in all)
        {
            Sample(text, "modelgate_gateway_upstream_circuit_rejected_total", Labels(e), e.Rejected);
        }
        Header(text, "modelgate_gateway_upstream_circuit_open", "gauge", "1 while an upstream endpoint's circuit is open (it is not tried), else 0.");
        foreach (var e in all)
        {
            Sample(text, "modelgate_gateway_upstream_circuit_open", Labels(e), breakers.IsOpen(e.Backend) ? 1 : 0);
        }
    }

    /// <summary>
    /// A histogram of <see cref="LatencyHistogram"/> counts in seconds: the cumulative counts at its Prometheus bounds and
    /// +Inf, the sum when one is kept, the count.
    /// </summary>
    private static void Histogram(StringBuilder text, string name, string labels, long[] counts, double? sumMs)
    {
        long cumulative = 0;
        var next = 0;
        foreach (var index in LatencyHistogram.PrometheusBuckets)
        {
            for (; next <= index; next++)
            {
                cumulative += counts[next];
            }
            var le = (LatencyHistogram.UpperBoundsMs[index] / 1000).ToString("G6", CultureInfo.InvariantCulture);
            Sample(text, name + "_bucket", labels + $",le=\"{le}\"", cumulative);
        }
        for (; next < counts.Length; next++)
        {
            cumulative += counts[next];
        }
        Sample(text, name + "_bucket", labels + ",le=\"+Inf\"", cumulative);
        if (sumMs is { } sum)
        {
            Sample(text, name + "_sum", labels, sum / 1000);
        }
        Sample(text, name + "_count", labels, cumulative);
    }

    private static string Labels(TelemetrySeries s) => $"deployment=\"{Escape(s.Deployment)}\",version=\"{Escape(s.Version)}\",route=\"{Escape(s.Route)}\"";

    private static void Header(StringBuilder text, string name, string type, string help) =>
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n').Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');

    private static void Sample(StringBuilder text, string name, string? labels, double value)
    {
        text.Append(name);
        if (labels is not null)
        {
            text.Append('{').Append(labels).Append('}');
        }
        text.Append(' ').Append(value.ToString("G17", CultureInfo.InvariantCulture)).Append('\n');
    }

    private static string Escape(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)
        .Replace("\n", "\\n", StringComparison.Ordinal);
}
