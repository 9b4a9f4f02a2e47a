using System.Buffers;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelGate.Client;

namespace ModelGate.Evaluation.Text;

/// <summary>
/// One answer: its text and the token counts the upstream reported (null when it reported none); <see cref="ServedBy"/> the
/// version that answered, when the upstream is a ModelGate deployment (its <c>x-modelgate-version</c> header).
/// </summary>
public sealed record ChatAnswer(string Content, long? PromptTokens, long? CompletionTokens, string? ServedBy = null);

/// <summary>Calls an OpenAI-compatible <c>/chat/completions</c> endpoint for evaluation runs (not the gateway's hot path).</summary>
/// <remarks>Connections go through the egress policy (checked on the resolved address), without redirects.</remarks>
public sealed class UpstreamChatClient(Security.EgressPolicy egress) : IDisposable
{
    private readonly HttpClient _http = new(Configure(egress.CreateHandler()))
    {
        Timeout = TimeSpan.FromSeconds(120),
    };

    private static SocketsHttpHandler Configure(SocketsHttpHandler handler)
    {
        handler.PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1);
        handler.ConnectTimeout = TimeSpan.FromSeconds(10);
        return handler;
    }

    /// <summary>
    /// Asks for one completion of <paramref name="messages"/> (the rendered messages, comma-separated JSON objects, sent
    /// byte for byte) at temperature 0; through <paramref name="via"/> when given (this process's own data plane, which the
    /// egress policy does not govern), else through the egress-checked client.
    /// </summary>
    public async Task<ChatAnswer> CompleteAsync(UpstreamTarget upstream, byte[] messages, int maxTokens, CancellationToken cancellationToken,
        HttpClient? via = null)
    {
        var body = new ArrayBufferWriter<byte>(messages.Length + 128);
        using (var writer = new Utf8JsonWriter(body))
        {
            writer.WriteStartObject();
            writer.WriteString("model"u8, upstream.Model);
            writer.WritePropertyName("messages"u8);
            writer.WriteRawValue([.. "["u8, .. messages, .. "]"u8], skipInputValidation: true);
            writer.WriteNumber("temperature"u8, 0);
            writer.WriteNumber("max_tokens"u8, maxTokens);
            writer.WriteEndObject();
        }
        using var request = new HttpRequestMessage(HttpMethod.Post, upstream.Url.TrimEnd('/') + "/chat/completions")
        {
            Content = new ByteArrayContent(body.WrittenSpan.ToArray()) { Headers = { ContentType = new MediaTypeHeaderValue("application/json") } },
        };
        if (!string.IsNullOrEmpty(upstream.ApiKey))
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", upstream.ApiKey);
        }
        using var response = await (via ?? _http).SendAsync(request, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"the upstream answered {(int)response.StatusCode}", null, response.StatusCode);
        }
        using var doc = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(cancellationToken), cancellationToken: cancellationToken);
        if (doc.RootElement.TryGetProperty("choices", out var choices) && choices.GetArrayLength() > 0 &&
            choices[0].TryGetProperty("message", out var message) && message.TryGetProperty("content", out var content) &&
            content.ValueKind == JsonValueKind.String)
        {
            long? Usage(string name) => doc.RootElement.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object &&
                                        usage.TryGetProperty(name, out var n) && n.TryGetInt64(out var v) && v >= 0 ? v : null;
            var servedBy = response.Headers.TryGetValues(Gateway.InferenceProtocolApi.VersionHeader, out var versions) ? versions.FirstOrDefault() : null;
            return new ChatAnswer(content.GetString()!, Usage("prompt_tokens"), Usage("completion_tokens"), servedBy);
        }
        throw new InvalidDataException("the upstream's answer has no choices[0].message.content");
    }

    public void Dispose() => _http.Dispose();
}
