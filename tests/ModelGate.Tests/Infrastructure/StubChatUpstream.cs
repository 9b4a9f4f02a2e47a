using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace ModelGate.Tests.Infrastructure;

/// <summary>
/// Stands in for an upstream LLM server at the HTTP boundary: an OpenAI-compatible <c>/v1/chat/completions</c>,
/// <c>/v1/responses</c> (OpenAI's Responses API) and <c>/v1/embeddings</c> on a loopback port whose answer to each request
/// is decided by the test.
/// </summary>
public sealed class StubChatUpstream : IAsyncDisposable
{
    private readonly WebApplication _app;

    public ConcurrentQueue<JsonObject> Requests { get; } = new();

    /// <summary>Every request body exactly as it arrived (in the order of <see cref="Requests"/>).</summary>
    public ConcurrentQueue<byte[]> RawBodies { get; } = new();

    /// <summary>How many requests have arrived (each already in <see cref="Requests"/>), to await.</summary>
    public CountSignal Received { get; } = new();
    public ConcurrentQueue<string?> Authorizations { get; } = new();

    /// <summary>When set, every request fails with 500 (a crashed or overloaded upstream).</summary>
    public bool Broken { get; set; }

    /// <summary>When false, answers carry no <c>usage</c> (as some self-hosted servers do), plain or streamed.</summary>
    public bool ReportsUsage { get; set; } = true;

    /// <summary>When set, an answer stops after this many bytes of its body (headers and, for a plain answer, the full
    /// Content-Length already sent) and the upstream then says nothing more until the client goes away.</summary>
    public int? StallAfterBytes { get; set; }

    /// <summary>When set, the whole JSON body of a plain answer, given the request (tool calls, several choices, logprobs…), or null to answer as usual.</summary>
    public Func<JsonObject, string?>? RawAnswer { get; set; }

    /// <summary>Given (system, user), returns the answer, or null to fail the request with 500.</summary>
    public Func<string?, string, string?> Answer { get; set; } = (_, user) => user;

    private StubChatUpstream(WebApplication app) => _app = app;

    public string BaseUrl { get; private set; } = "";

    public static async Task<StubChatUpstream> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var stub = new StubChatUpstream(app);
        app.MapPost("/v1/chat/completions", async (HttpContext context) =>
        {
            using var raw = new MemoryStream();
            await context.Request.Body.CopyToAsync(raw);
            var body = JsonNode.Parse(raw.ToArray())!.AsObject();
            stub.RawBodies.Enqueue(raw.ToArray());
            stub.Requests.Enqueue(body);
            stub.Authorizations.Enqueue(context.Request.Headers.Authorization);
            stub.Received.Increment();
            if (stub.Broken)
            {
                return Results.StatusCode(500);
            }
            if (stub.RawAnswer is { } rawAnswer && body["stream"]?.GetValue<bool>() != true && rawAnswer(body) is { } rawBody)
            {
                return Results.Text(rawBody, "application/json");
            }
            var messages = body["messages"]!.AsArray();
            var system = messages.FirstOrDefault(m => (string?)m!["role"] == "system")?["content"]?.GetValue<string>();
            var user = messages.Last(m => (string?)m!["role"] == "user")!["content"]!.GetValue<string>();
            var answer = stub.Answer(system, user);
            if (answer is null)
            {
                return Results.StatusCode(500);
            }
            if (stub.StallAfterBytes is { } stallAfter)
            {
                var full = body["stream"]?.GetValue<bool>() == true
                    ? System.Text.Encoding.UTF8.GetBytes(string.Join("", answer.Split(' ').Select(w =>
                        "data: {\"id\":\"chatcmpl-stub\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + w + " \"}}]}\n\n")) + "data: [DONE]\n\n")
                    : System.Text.Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { id = "chatcmpl-stub", @object = "chat.completion", model = "m",
                        choices = new[] { new { index = 0, message = new { role = "assistant", content = answer }, finish_reason = "stop" } } }));
                context.Response.ContentType = body["stream"]?.GetValue<bool>() == true ? "text/event-stream" : "application/json";
                if (body["stream"]?.GetValue<bool>() != true)
                {
                    context.Response.ContentLength = full.Length;
                }
                await context.Response.Body.WriteAsync(full.AsMemory(0, Math.Min(stallAfter, full.Length)));
                await context.Response.Body.FlushAsync();
                try
                {
                    await Task.Delay(Timeout.Infinite, context.RequestAborted);
                }
                catch (OperationCanceledException)
                {
                }
                return Results.Empty;
            }
            if (body["stream"]?.GetValue<bool>() == true)
            {
                context.Response.ContentType = "text/event-stream";
                var words = answer.Split(' ');
                for (var i = 0; i < words.Length; i++)
                {
                    var chunk = new JsonObject
                    {
                        ["id"] = "chatcmpl-stub", ["object"] = "chat.completion.chunk", ["created"] = 1, ["model"] = (string?)body["model"],
                        ["choices"] = new JsonArray(new JsonObject
                        {
                            ["index"] = 0, ["delta"] = new JsonObject { ["content"] = (i == 0 ? "" : " ") + words[i] }, ["finish_reason"] = null,
                        }),
                    };
                    await context.Response.WriteAsync($"data: {chunk.ToJsonString()}\n\n");
                    await context.Response.Body.FlushAsync();
                }
                if (stub.ReportsUsage && body["stream_options"]?["include_usage"]?.GetValue<bool>() == true)
                {
                    await context.Response.WriteAsync("data: {\"id\":\"chatcmpl-stub\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":" + words.Length + ",\"total_tokens\":" + (3 + words.Length) + "}}\n\n");
                }
                await context.Response.WriteAsync("data: [DONE]\n\n");
                return Results.Empty;
            }
            var choices = new[] { new { index = 0, message = new { role = "assistant", content = answer }, finish_reason = "stop" } };
            return stub.ReportsUsage
                ? Results.Json(new
                {
                    id = "chatcmpl-stub",
                    @object = "chat.completion",
                    model = (string?)body["model"],
                    choices,
                    usage = new { prompt_tokens = user.Length / 4, completion_tokens = answer.Length / 4, total_tokens = (user.Length + answer.Length) / 4 },
                })
                : Results.Json(new { id = "chatcmpl-stub", @object = "chat.completion", model = (string?)body["model"], choices });
        });
        app.MapPost("/v1/responses", async (HttpContext context) =>
        {
            using var raw = new MemoryStream();
            await context.Request.Body.CopyToAsync(raw);
            var body = JsonNode.Parse(raw.ToArray())!.AsObject();
            stub.RawBodies.Enqueue(raw.ToArray());
            stub.Requests.Enqueue(body);
            stub.Authorizations.Enqueue(context.Request.Headers.Authorization);
            stub.Received.Increment();
            if (stub.Broken)
            {
                return Results.StatusCode(500);
            }
            var streamed = body["stream"]?.GetValue<bool>() == true;
            if (stub.RawAnswer is { } rawAnswer && !streamed && rawAnswer(body) is { } rawBody)
            {
                return Results.Text(rawBody, "application/json");
            }
            // The system prompt: `instructions`, else the first system item; the user's text: `input` as a string, else the last user item's.
            var items = body["input"] as JsonArray ?? [];
            var system = (string?)body["instructions"] ?? items.OfType<JsonObject>().Where(i => (string?)i["role"] is "system" or "developer")
                .Select(i => ResponseText(i["content"])).FirstOrDefault();
            var user = body["input"] is JsonValue input ? input.GetValue<string>()
                : items.OfType<JsonObject>().Last(i => (string?)i["role"] == "user") is var last ? ResponseText(last["content"]) : "";
            var answer = stub.Answer(system, user);
            if (answer is null)
            {
                return Results.StatusCode(500);
            }
            var model = (string?)body["model"];
            JsonObject Response(string status, JsonNode? output, JsonNode? usage) => new()
            {
                ["id"] = "resp_stub", ["object"] = "response", ["created_at"] = 1, ["status"] = status, ["model"] = model,
                ["output"] = output ?? new JsonArray(), ["usage"] = usage,
            };
            JsonObject Message(string text) => new()
            {
                ["type"] = "message", ["id"] = "msg_stub", ["status"] = "completed", ["role"] = "assistant",
                ["content"] = new JsonArray(new JsonObject { ["type"] = "output_text", ["text"] = text, ["annotations"] = new JsonArray() }),
            };
            if (!streamed)
            {
                var usage = stub.ReportsUsage
                    ? new JsonObject { ["input_tokens"] = user.Length / 4, ["output_tokens"] = answer.Length / 4, ["total_tokens"] = user.Length / 4 + answer.Length / 4 }
                    : null;
                return Results.Text(Response("completed", new JsonArray(Message(answer)), usage).ToJsonString(), "application/json");
            }
            // The Responses API's server-sent events: named events, the text in output_text deltas, the usage in response.completed.
            context.Response.ContentType = "text/event-stream";
            var sequence = 0;
            async Task Send(string type, JsonObject data)
            {
                data["type"] = type;
                data["sequence_number"] = sequence++;
                await context.Response.WriteAsync($"event: {type}\ndata: {data.ToJsonString()}\n\n");
                await context.Response.Body.FlushAsync();
            }
            await Send("response.created", new JsonObject { ["response"] = Response("in_progress", null, null) });
            await Send("response.output_item.added", new JsonObject
            {
                ["output_index"] = 0,
                ["item"] = new JsonObject { ["type"] = "message", ["id"] = "msg_stub", ["status"] = "in_progress", ["role"] = "assistant", ["content"] = new JsonArray() },
            });
            await Send("response.content_part.added", new JsonObject
            {
                ["item_id"] = "msg_stub", ["output_index"] = 0, ["content_index"] = 0,
                ["part"] = new JsonObject { ["type"] = "output_text", ["text"] = "", ["annotations"] = new JsonArray() },
            });
            var words = answer.Split(' ');
            for (var i = 0; i < words.Length; i++)
            {
                await Send("response.output_text.delta", new JsonObject
                {
                    ["item_id"] = "msg_stub", ["output_index"] = 0, ["content_index"] = 0, ["delta"] = (i == 0 ? "" : " ") + words[i],
                });
            }
            await Send("response.output_text.done", new JsonObject { ["item_id"] = "msg_stub", ["output_index"] = 0, ["content_index"] = 0, ["text"] = answer });
            await Send("response.content_part.done", new JsonObject
            {
                ["item_id"] = "msg_stub", ["output_index"] = 0, ["content_index"] = 0,
                ["part"] = new JsonObject { ["type"] = "output_text", ["text"] = answer, ["annotations"] = new JsonArray() },
            });
            await Send("response.output_item.done", new JsonObject { ["output_index"] = 0, ["item"] = Message(answer) });
            var streamUsage = stub.ReportsUsage
                ? new JsonObject { ["input_tokens"] = 3, ["output_tokens"] = words.Length, ["total_tokens"] = 3 + words.Length }
                : null;
            await Send("response.completed", new JsonObject { ["response"] = Response("completed", new JsonArray(Message(answer)), streamUsage) });
            return Results.Empty;
        });
        app.MapPost("/v1/embeddings", async (HttpContext context) =>
        {
            using var raw = new MemoryStream();
            await context.Request.Body.CopyToAsync(raw);
            var body = JsonNode.Parse(raw.ToArray())!.AsObject();
            stub.RawBodies.Enqueue(raw.ToArray());
            stub.Requests.Enqueue(body);
            stub.Authorizations.Enqueue(context.Request.Headers.Authorization);
            stub.Received.Increment();
            var text = body["input"]!.GetValue<string>();
            // A deterministic toy embedding: length and vowel count, so a test can check what it got back.
            return Results.Json(new
            {
                @object = "list",
                model = (string?)body["model"],
                data = new[] { new { @object = "embedding", index = 0, embedding = new[] { (float)text.Length, text.Count(c => "aeiou".Contains(c)) } } },
                usage = new { prompt_tokens = 1, total_tokens = 1 },
            });
        });
        await app.StartAsync();
        stub.BaseUrl = app.Urls.First() + "/v1";
        return stub;
    }

    /// <summary>A Responses API item's content: a string, or its text parts (<c>input_text</c>, <c>output_text</c>).</summary>
    private static string ResponseText(JsonNode? content) => content switch
    {
        JsonValue v => v.GetValue<string>(),
        JsonArray parts => string.Concat(parts.OfType<JsonObject>().Select(p => (string?)p["text"] ?? "")),
        _ => "",
    };

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
