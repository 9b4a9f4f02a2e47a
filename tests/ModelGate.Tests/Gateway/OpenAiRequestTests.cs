using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelGate.Gateway;

namespace ModelGate.Tests.Gateway;

public sealed class OpenAiRequestTests
{
    private static readonly UpstreamRoute Upstream = new(new Uri("http://127.0.0.1:9/v1/"), "gpt-\"up\"-é", null, TimeSpan.FromSeconds(1),
        TimeSpan.FromSeconds(1), 0);

    private static OpenAiRequest Parse(string json)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        // A pooled buffer is larger than the body: only the first `length` bytes count.
        var buffer = new byte[bytes.Length + 17];
        bytes.CopyTo(buffer, 0);
        buffer.AsSpan(bytes.Length).Fill((byte)'#');
        return OpenAiRequest.Parse(buffer, bytes.Length);
    }

    private static string Upstreamed(string json, string? systemPrompt = null, bool chat = true) =>
        Encoding.UTF8.GetString(Parse(json).UpstreamBody(new VersionRoute("1.0.0", "", Upstream,
            ModelGate.Registry.PromptRenderer.For(new ModelGate.Client.PromptTemplate(systemPrompt))), chat));

    [Fact]
    public void ReadsTheFieldsTheGatewayRoutesBy()
    {
        var request = Parse("""{ "model" : "chat@1.1.0", "stream": true, "user": "u-42", "messages": [] }""");
        Assert.Equal("chat@1.1.0", request.Model);
        Assert.True(request.Stream);
        Assert.Equal("u-42", request.User);

        var plain = Parse("""{"model":"chat","stream":"yes","user":7}""");
        Assert.False(plain.Stream);
        Assert.Null(plain.User);
        Assert.Null(Parse("""{"model":42}""").Model);
        Assert.Null(Parse("""{"messages":[]}""").Model);
    }

    [Fact]
    public void ReplacesOnlyTheModel_AndPassesEveryOtherByteThrough()
    {
        const string Body = """{"model":"chat","messages":[{"role":"user","content":"h\u00e9llo \"q\""}],"temperature":0.25,"x_unknown":{"a":[1,2,{"b":null}]},"logit_bias":{"50256":-100}}""";
        var sent = Upstreamed(Body);
        var expected = Body.Replace("\"model\":\"chat\"", "\"model\":" + JsonSerializer.Serialize(Upstream.Model), StringComparison.Ordinal);
        Assert.Equal(expected, sent);
        Assert.Equal(Upstream.Model, JsonNode.Parse(sent)!["model"]!.GetValue<string>());
    }

    [Fact]
    public void AStream_AsksForUsage_AddingStreamOptionsOrKeepingTheClientsOwn()
    {
        var added = JsonNode.Parse(Upstreamed("""{"model":"chat","stream":true,"messages":[]} """))!;
        Assert.True(added["stream_options"]!["include_usage"]!.GetValue<bool>());
        Assert.True(added["stream"]!.GetValue<bool>());

        var merged = JsonNode.Parse(Upstreamed("""{"stream_options":{"include_usage":false,"x":1},"model":"chat","stream":true}"""))!;
        Assert.True(merged["stream_options"]!["include_usage"]!.GetValue<bool>());
        Assert.Equal(1, merged["stream_options"]!["x"]!.GetValue<int>());

        var notStreamed = Upstreamed("""{"model":"chat","stream":false}""");
        Assert.DoesNotContain("stream_options", notStreamed, StringComparison.Ordinal);
    }

    [Fact]
    public void TheVersionsSystemPrompt_GoesFirstInMessages()
    {
        var prompt = "You are \"terse\".\nAnswer in one line.";
        var sent = JsonNode.Parse(Upstreamed("""{"model":"chat","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}]}""", prompt))!;
        var messages = sent["messages"]!.AsArray();
        Assert.Equal(3, messages.Count);
        Assert.Equal("system", messages[0]!["role"]!.GetValue<string>());
        Assert.Equal(prompt, messages[0]!["content"]!.GetValue<string>());
        Assert.Equal("hi", messages[1]!["content"]!.GetValue<string>());

        var empty = JsonNode.Parse(Upstreamed("""{"model":"chat","messages":[ ]}""", prompt))!;
        Assert.Single(empty["messages"]!.AsArray());

        // A completion (no messages) is sent as it came, apart from the model.
        Assert.Equal("""{"model":""" + JsonSerializer.Serialize(Upstream.Model) + ""","prompt":"p"}""", Upstreamed("""{"model":"chat","prompt":"p"}""", prompt, chat: false));
    }

    [Theory]
    [InlineData("", "JSON object")]
    [InlineData("[1,2]", "JSON object")]
    [InlineData("\"chat\"", "JSON object")]
    [InlineData("""{"model":"chat",}""", "")]
    [InlineData("""{"model":"chat"} {"model":"other"}""", "")]
    [InlineData("""{"model":"chat","messages":[}""", "")]
    [InlineData("""{"model":"chat","model":"other"}""", "'model' appears more than once")]
    [InlineData("""{"model":"chat","stream":false,"stream":true}""", "'stream' appears more than once")]
    public void MalformedOrAmbiguousBodies_AreRefused(string json, string reason)
    {
        var e = Assert.ThrowsAny<JsonException>(() => Parse(json));
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheJsonView_IsTheWholeBody()
    {
        var request = Parse("""{"model":"chat","messages":[{"role":"user","content":"hi"}],"n":2}""");
        Assert.Equal(2, request.Json["n"]!.GetValue<int>());
        Assert.Same(request.Json, request.Json);
    }
}
