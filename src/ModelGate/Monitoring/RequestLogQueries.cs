using ModelGate.Client;
using ModelGate.Storage.Gateway;

namespace ModelGate.Monitoring;

/// <summary>The request log's shared filters, so that the SLO, the spike monitor and the dashboards count the same requests.</summary>
public static class RequestLogQueries
{
    /// <summary>
    /// The records of answers a client received: not shadow copies (mirrored, never served) and not failed attempts (a chosen
    /// version's error that the stable version answered instead, recorded again as that answer). The SLO's own rule.
    /// </summary>
    public static IQueryable<RequestLogEntity> Served(this IQueryable<RequestLogEntity> rows) =>
        rows.Where(r => r.Route != RouteKinds.Shadow && r.Route != RouteKinds.FailedAttempt);

    /// <summary>The records of the window (<paramref name="from"/>, <paramref name="to"/>]: after its start, up to and including its end.</summary>
    public static IQueryable<RequestLogEntity> Within(this IQueryable<RequestLogEntity> rows, DateTime from, DateTime to) =>
        rows.Where(r => r.Time > from && r.Time <= to);
}
