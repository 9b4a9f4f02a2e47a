using System.Buffers;
using System.Globalization;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;

namespace ModelGate.Benchmarks;

/// <summary>
/// The gateway suite's helper servers, each run as a process of its own (this program with <c>serve upstream|yarp</c>), so
/// that its memory and CPU are its own: the static OpenAI-compatible upstream, and the minimal YARP proxy in front of it.
/// Both print "listening on http://127.0.0.1:PORT" once they accept connections.
/// </summary>
internal static class GatewayServers
{
    public const string Model = "bench-model";

    /// <summary>The fixed answer to a plain chat completion: a small completion with usage, as OpenAI sends it.</summary>
    public static readonly byte[] Completion =
        """{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench-model","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the static upstream."},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19}}"""u8.ToArray();

    public const int PromptTokens = 12;
    public const int CompletionTokens = 7;

    public static async Task<int> RunAsync(string[] args)
    {
        string Arg(string name, string fallback)
        {
            var i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
        }

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrelCore();
        builder.WebHost.ConfigureKestrel(k => k.AddServerHeader = false);
        builder.WebHost.UseUrls("http://127.0.0.1:" + Arg("--port", "0"));
        WebApplication app;
        switch (args.FirstOrDefault())
        {
            case "upstream":
                app = builder.Build();
                var tokens = int.Parse(Arg("--tokens", "8"), CultureInfo.InvariantCulture);
                var delay = TimeSpan.FromMilliseconds(int.Parse(Arg("--delay-ms", "2"), CultureInfo.InvariantCulture));
                var stream = StreamChunks(tokens);
                app.Run(context => UpstreamAsync(context, stream, delay));
                break;
            case "yarp":
                // YARP's documented direct forwarding (IHttpForwarder), nothing else: the floor of a .NET proxy.
                builder.Services.AddHttpForwarder();
                app = builder.Build();
                var destination = Arg("--to", "");
                var invoker = new HttpMessageInvoker(new SocketsHttpHandler
                {
                    UseProxy = false,
                    AllowAutoRedirect = false,
                    AutomaticDecompression = DecompressionMethods.None,
                    UseCookies = false,
                    EnableMultipleHttp2Connections = true,
                    ActivityHeadersPropagator = null,
                    ConnectTimeout = TimeSpan.FromSeconds(15),
                });
                var forwarder = app.Services.GetRequiredService<IHttpForwarder>();
                var config = new ForwarderRequestConfig { ActivityTimeout = TimeSpan.FromSeconds(100) };
                app.Map("/{**catch-all}", async (HttpContext context) =>
                {
                    await forwarder.SendAsync(context, destination, invoker, config, HttpTransformer.Default);
                });
                break;
            default:
                await Console.Error.WriteLineAsync("usage: serve upstream [--port N] [--tokens N] [--delay-ms N] | serve yarp --to <url> [--port N]");
                return 2;
        }
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            Console.Out.WriteLine($"listening on {address}");
            Console.Out.Flush();
        });
        await app.RunAsync();
        return 0;
    }

    /// <summary>
    /// POST /v1/chat/completions: the fixed completion, or with <c>"stream": true</c> server-sent events: <paramref name="stream"/>'s
    /// content chunks with <paramref name="delay"/> between them, then a usage chunk and <c>data: [DONE]</c>.
    /// </summary>
    private static async Task UpstreamAsync(HttpContext context, byte[][] stream, TimeSpan delay)
    {
        if (!HttpMethods.IsPost(context.Request.Method) || context.Request.Path != "/v1/chat/completions")
        {
            context.Response.StatusCode = 404;
            return;
        }
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        bool streaming;
        try
        {
            var length = 0;
            int read;
            while ((read = await context.Request.Body.ReadAsync(buffer.AsMemory(length))) > 0)
            {
                length += read;
                if (length == buffer.Length)
                {
                    context.Response.StatusCode = 413;
                    return;
                }
            }
            streaming = AsksForStream(buffer.AsSpan(0, length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        if (!streaming)
        {
            context.Response.ContentType = "application/json";
            context.Response.ContentLength = Completion.Length;
            await context.Response.Body.WriteAsync(Completion);
            return;
        }
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        for (var i = 0; i < stream.Length; i++)
        {
            if (i > 0 && i < stream.Length - 1 && delay > TimeSpan.Zero)
            {
                await Task.Delay(delay);
            }
            await context.Response.Body.WriteAsync(stream[i]);
            await context.Response.Body.FlushAsync();
        }
    }

    /// <summary>True when the JSON body has <c>"stream": true</c> (a byte scan: the upstream must cost as little as possible).</summary>
    internal static bool AsksForStream(ReadOnlySpan<byte> body)
    {
        var key = "\"stream\""u8;
        var at = body.IndexOf(key);
        while (at >= 0)
        {
            var rest = body[(at + key.Length)..].TrimStart(" \t\r\n"u8);
            if (rest.Length > 0 && rest[0] == (byte)':')
            {
                return rest[1..].TrimStart(" \t\r\n"u8).StartsWith("true"u8);
            }
            body = body[(at + key.Length)..];
            at = body.IndexOf(key);
        }
        return false;
    }

    /// <summary>The streamed answer: <paramref name="tokens"/> content chunks, a usage chunk and [DONE] (the last two sent together).</summary>
    private static byte[][] StreamChunks(int tokens)
    {
        var chunks = new List<byte[]>();
        for (var i = 0; i < tokens; i++)
        {
            var content = i == 0 ? "Hello" : $" w{i}";
            var finish = i == tokens - 1 ? "\"stop\"" : "null";
            chunks.Add(Encoding.UTF8.GetBytes(
                $$"""data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench-model","choices":[{"index":0,"delta":{"content":"{{content}}"},"finish_reason":{{finish}}}]}""" + "\n\n"));
        }
        chunks.Add(Encoding.UTF8.GetBytes(
            $$$"""data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench-model","choices":[],"usage":{"prompt_tokens":{{{PromptTokens}}},"completion_tokens":{{{tokens}}},"total_tokens":{{{PromptTokens + tokens}}}}}""" +
            "\n\ndata: [DONE]\n\n"));
        return [.. chunks];
    }
}
