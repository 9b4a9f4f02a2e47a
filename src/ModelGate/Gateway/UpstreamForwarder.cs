using System.Net;
using System.Net.Http.Headers;

namespace ModelGate.Gateway;

/// <summary>
/// Sends data-plane requests to upstream servers over one long-lived <see cref="HttpMessageInvoker"/> (no buffering
/// HttpClient, no total timeout: a first-byte timeout per attempt and an idle timeout while streaming).
/// </summary>
/// <remarks>
/// Every new connection is checked by the egress policy on its resolved address (pooled connections are not checked
/// again: the hot path pays nothing per request); a refusal is thrown as <see cref="Security.EgressDeniedException"/>,
/// not retried (the address would not change). Redirects are never followed.
/// </remarks>
public sealed class UpstreamForwarder(CircuitBreakers breakers, IConfiguration configuration, Security.EgressPolicy egress) : IDisposable
{
    private readonly HttpMessageInvoker _invoker = new(new SocketsHttpHandler
    {
        ConnectTimeout = TimeSpan.FromSeconds(5),
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(2),
        AutomaticDecompression = DecompressionMethods.None,
        UseCookies = false,
        UseProxy = false,
        AllowAutoRedirect = false,
        ConnectCallback = egress.ConnectAsync,
        EnableMultipleHttp2Connections = true,
        // Trace context goes to the upstream only when traces are exported; otherwise the diagnostics layer is left out of every request.
        ActivityHeadersPropagator = string.IsNullOrWhiteSpace(configuration[$"{Hosting.OpenTelemetryOptions.Section}:Endpoint"])
            ? null
            : System.Diagnostics.DistributedContextPropagator.CreateDefaultPropagator(),
    }, disposeHandler: true);

    /// <summary>The circuit breakers this forwarder consults, which a version's endpoint choice consults too.</summary>
    public CircuitBreakers Breakers => breakers;

    /// <summary>
    /// One attempt: the response once its headers arrived within the first-byte timeout, or, without one, why: the upstream
    /// answered 5xx, or could not be reached (both safe to retry: nothing was streamed to the client yet).
    /// </summary>
    /// <exception cref="Security.EgressDeniedException">The egress policy refused the address the upstream resolved to.</exception>
    public async Task<UpstreamAttempt> TrySendAsync(UpstreamRoute upstream, string path, byte[] body, CancellationToken cancellationToken)
    {
        var backend = breakers.For(upstream);
        var counters = upstream.Counters;
        if (!breakers.TryEnter(backend))
        {
            counters?.RejectedByCircuit();
            return UpstreamAttempt.NoAnswer; // the circuit is open: fail fast so the caller falls back without waiting on a dead backend
        }
        counters?.Attempted();
        UpstreamAttempt attempt;
        try
        {
            attempt = await SendOnceAsync(upstream, path, body, cancellationToken);
        }
        catch (Security.EgressDeniedException)
        {
            breakers.Failed(backend); // ends a half-open trial, which would otherwise stay in flight
            counters?.Failed();
            throw;
        }
        if (attempt.Response is null)
        {
            if (!cancellationToken.IsCancellationRequested)
            {
                breakers.Failed(backend);
                counters?.Failed();
            }
        }
        else
        {
            breakers.Succeeded(backend);
        }
        return attempt;
    }

    private async Task<UpstreamAttempt> SendOnceAsync(UpstreamRoute upstream, string path, byte[] body, CancellationToken cancellationToken)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = JsonType;
        using var request = new HttpRequestMessage(HttpMethod.Post, upstream.UriFor(path)) { Content = content };
        if (upstream.Authorization is { } authorization)
        {
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
        }
        using var firstByte = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        firstByte.CancelAfter(upstream.FirstByteTimeout);
        try
        {
            var response = await _invoker.SendAsync(request, firstByte.Token);
            var status = (int)response.StatusCode;
            if (status >= 500)
            {
                response.Dispose();
                return new UpstreamAttempt(null, status);
            }
            return new UpstreamAttempt(response, 0);
        }
        catch (HttpRequestException e) when (e.InnerException is Security.EgressDeniedException denied)
        {
            throw denied;
        }
        catch (Exception e) when (e is HttpRequestException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return UpstreamAttempt.NoAnswer;
        }
    }

    private static readonly MediaTypeHeaderValue JsonType = new("application/json") { CharSet = "utf-8" };

    public void Dispose() => _invoker.Dispose();
}

/// <summary>
/// One attempt's outcome: the <see cref="Response"/> (headers arrived, status below 500), or none and why
/// (<see cref="FailedStatus"/>): the upstream's 5xx status, or 502 when it did not answer (refused, reset, no first byte
/// within the timeout, its circuit open).
/// </summary>
public readonly record struct UpstreamAttempt(HttpResponseMessage? Response, int FailedStatus)
{
    public static UpstreamAttempt NoAnswer => new(null, StatusCodes.Status502BadGateway);
}
