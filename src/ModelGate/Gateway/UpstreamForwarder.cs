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

    /// <summary>
    /// One attempt: the response once its headers arrived within the first-byte timeout, or null when the upstream could
    /// not be reached or answered 5xx (both safe to retry: nothing was streamed to the client yet).
    /// </summary>
    /// <exception cref="Security.EgressDeniedException">The egress policy refused the address the upstream resolved to.</exception>
    public async Task<HttpResponseMessage?> TrySendAsync(UpstreamRoute upstream, string path, byte[] body, CancellationToken cancellationToken)
    {
        var backend = CircuitBreakers.KeyOf(upstream);
        if (!breakers.TryEnter(backend))
        {
            return null; // the circuit is open: fail fast so the caller falls back without waiting on a dead backend
        }
        HttpResponseMessage? response;
        try
        {
            response = await SendOnceAsync(upstream, path, body, cancellationToken);
        }
        catch (Security.EgressDeniedException)
        {
            breakers.Failed(backend); // ends a half-open trial, which would otherwise stay in flight
            throw;
        }
        if (response is null)
        {
            if (!cancellationToken.IsCancellationRequested)
            {
                breakers.Failed(backend);
            }
        }
        else
        {
            breakers.Succeeded(backend);
        }
        return response;
    }

    private async Task<HttpResponseMessage?> SendOnceAsync(UpstreamRoute upstream, string path, byte[] body, CancellationToken cancellationToken)
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
            if ((int)response.StatusCode >= 500)
            {
                response.Dispose();
                return null;
            }
            return response;
        }
        catch (HttpRequestException e) when (e.InnerException is Security.EgressDeniedException denied)
        {
            throw denied;
        }
        catch (Exception e) when (e is HttpRequestException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return null;
        }
    }

    private static readonly MediaTypeHeaderValue JsonType = new("application/json") { CharSet = "utf-8" };

    public void Dispose() => _invoker.Dispose();
}
