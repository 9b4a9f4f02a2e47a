using System.CommandLine;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelGate.Client;

namespace ModelGate.Cli;

internal static class ChatCommand
{
    public static Command Create(CliContext context)
    {
        var deployment = new Argument<string>("deployment") { Description = "Deployment name, or DEPLOYMENT@VERSION to pin a version" };
        var prompt = new Argument<string>("prompt") { Description = "What to say" };
        var system = new Option<string?>("--system") { Description = "A system message (sent before the deployment's own system prompt is applied)" };
        var noStream = new Option<bool>("--no-stream") { Description = "Wait for the whole answer instead of printing it as it arrives" };
        var command = new Command("chat", "Send one prompt through the gateway's OpenAI-compatible API") { deployment, prompt, system, noStream };
        command.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            var messages = new JsonArray();
            if (parse.GetValue(system) is { } s)
            {
                messages.Add(new JsonObject { ["role"] = "system", ["content"] = s });
            }
            messages.Add(new JsonObject { ["role"] = "user", ["content"] = parse.GetValue(prompt) });
            var stream = !parse.GetValue(noStream) && !CliApp.Json(parse);
            var body = new JsonObject { ["model"] = parse.GetValue(deployment), ["messages"] = messages, ["stream"] = stream };
            using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = JsonContent.Create(body) };
            using var response = await client.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, c);
            await ModelGateClient.EnsureSuccessAsync(response, c);
            var version = response.Headers.TryGetValues("x-modelgate-version", out var v) ? v.First() : "?";
            var route = response.Headers.TryGetValues("x-modelgate-route", out var r) ? r.First() : "?";
            if (!stream)
            {
                var answer = await response.Content.ReadFromJsonAsync<JsonElement>(c);
                if (CliApp.Json(parse))
                {
                    await CliApp.WriteJsonAsync(context, answer);
                }
                else
                {
                    await context.Out.WriteLineAsync(answer.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
                    await context.Err.WriteLineAsync($"({version}, {route})");
                }
                return ExitCodes.Ok;
            }
            await using var events = await response.Content.ReadAsStreamAsync(c);
            using var reader = new StreamReader(events);
            while (await reader.ReadLineAsync(c) is { } line)
            {
                if (!line.StartsWith("data:", StringComparison.Ordinal) || line.Contains("[DONE]", StringComparison.Ordinal))
                {
                    continue;
                }
                using var chunk = JsonDocument.Parse(line[5..]);
                if (chunk.RootElement.TryGetProperty("choices", out var choices) && choices.GetArrayLength() > 0 &&
                    choices[0].TryGetProperty("delta", out var delta) && delta.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String)
                {
                    await context.Out.WriteAsync(content.GetString());
                    await context.Out.FlushAsync(c);
                }
            }
            await context.Out.WriteLineAsync();
            await context.Err.WriteLineAsync($"({version}, {route})");
            return ExitCodes.Ok;
        }, ct));
        return command;
    }
}
