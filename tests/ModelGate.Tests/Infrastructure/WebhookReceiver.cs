using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace ModelGate.Tests.Infrastructure;

/// <summary>Stands in for a webhook receiver (an alert router, a retrain pipeline) at the HTTP boundary: it records every POST.</summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _failuresLeft;

    public sealed record Received(string Path, IReadOnlyDictionary<string, string> Headers, byte[] Body);

    public ConcurrentQueue<Received> Requests { get; } = new();

    /// <summary>How many requests have arrived (each already in <see cref="Requests"/>), to await.</summary>
    public CountSignal Arrived { get; } = new();

    public string Url { get; private set; } = "";

    /// <summary>When set, awaited with each request before it is answered (a receiver that does something meanwhile).</summary>
    public Func<Received, Task>? OnRequest { get; set; }

    private WebhookReceiver(WebApplication app) => _app = app;

    /// <summary>The next <paramref name="count"/> requests are answered 503 (a receiver that is briefly down).</summary>
    public void FailNext(int count) => Interlocked.Exchange(ref _failuresLeft, count);

    public static async Task<WebhookReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new WebhookReceiver(app);
        app.MapPost("/{**path}", async (HttpContext context) =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            var received = new Received(context.Request.Path, context.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString()),
                body.ToArray());
            receiver.Requests.Enqueue(received);
            receiver.Arrived.Increment();
            if (receiver.OnRequest is { } onRequest)
            {
                await onRequest(received);
            }
            return Interlocked.Decrement(ref receiver._failuresLeft) >= 0 ? Results.StatusCode(503) : Results.Ok();
        });
        await app.StartAsync();
        receiver.Url = app.Urls.First() + "/hooks/alerts";
        return receiver;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>A SQLite server whose alerts go to a webhook receiver started with it, signed with <see cref="Secret"/>.</summary>
public sealed class AlertingServerFixture : SqliteServerFixture
{
    public const string Secret = "webhook-test-secret";

    public WebhookReceiver Receiver { get; private set; } = null!;

    /// <summary>The retrain webhook: the same receiver, another path.</summary>
    public string RetrainUrl => Receiver.Url.Replace("/hooks/alerts", "/hooks/retrain", StringComparison.Ordinal);

    protected override async Task<IEnumerable<string>> ExtraArgumentsAsync()
    {
        Receiver = await WebhookReceiver.StartAsync();
        return [$"--Alerts:Webhooks:0={Receiver.Url}", $"--Alerts:RetrainWebhooks:0={RetrainUrl}", $"--Alerts:WebhookSecret={Secret}"];
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await Receiver.DisposeAsync();
    }
}
