using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace ModelGate.Lifecycle;

/// <summary>
/// HTTP to this very process, so that ModelGate checks its own data plane the way clients reach it (keys, limits, routing,
/// logging and all). It uses the first address the server listens on; a test host supplies its in-memory handler instead.
/// </summary>
public sealed class LoopbackClient(IServer server, Func<HttpMessageHandler>? handlerFactory = null)
{
    public HttpClient Create(string bearer)
    {
        HttpClient client;
        if (handlerFactory is not null)
        {
            client = new HttpClient(handlerFactory()) { BaseAddress = new Uri("http://localhost/") };
        }
        else
        {
            var address = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
                          ?? throw new InvalidOperationException("the server is not listening on any address");
            // A wildcard listener (0.0.0.0, [::], +, *) is reached on loopback.
            var uri = new UriBuilder(address.Replace("://+", "://127.0.0.1", StringComparison.Ordinal).Replace("://*", "://127.0.0.1", StringComparison.Ordinal));
            if (uri.Host is "0.0.0.0" or "[::]" or "::")
            {
                uri.Host = "127.0.0.1";
            }
            uri.Path = "/";
            client = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(1) }) { BaseAddress = uri.Uri };
        }
        client.Timeout = TimeSpan.FromSeconds(60);
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", bearer);
        return client;
    }
}
