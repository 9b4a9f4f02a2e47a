using System.Text;
using System.Text.Json.Nodes;
using ModelGate.Gateway;

namespace ModelGate.Tests.Gateway;

/// <summary>
/// The Responses API's shapes as the gateway reads and rewrites them: the body sent upstream (the version's prompt first in
/// <c>input</c>, no <c>stream_options</c>), its usage (plain and in <c>response.completed</c>), its generated text and its prompt count.
/// </summary>
public sealed class ResponsesShapeTests
{
    private static readonly UpstreamRoute Upstream = new(new Uri("http://127.0.0.1:9/v1/"), "up", null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1), 0);

    private static string Upstreamed(string json, ModelGate.Client.PromptTemplate? template = null)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        var buffer = new byte[bytes.Length + 9];
        bytes.CopyTo(buffer, 0);
        buffer.AsSpan(bytes.Length).Fill((byte)'#');
        var request = OpenAiRequest.Parse(buffer, bytes.Length, responses: true);
        return Encoding.UTF8.GetString(request.UpstreamBody(new VersionRoute("1.0.0", "", Upstream, ModelGate.Registry.PromptRenderer.For(template)), chat: false));
    }

    private static readonly ModelGate.Client.PromptTemplate Template = new("Be brief.", "Ticket: {{t}}", ["t"]);
    private const string Rendered = """{"role":"system","content":"Be brief."},{"role":"user","content":"Ticket: x"}""";

    [Fact]
    public void UpstreamBody_AStream_GetsNoStreamOptions_AndKeepsEveryOtherByte()
    {
        const string Body = """{"model":"d","stream":true,"input":"hi","instructions":"Be kind.","store":false}""";
        Assert.Equal(Body.Replace("\"d\"", "\"up\"", StringComparison.Ordinal), Upstreamed(Body));
    }

    [Theory]
    [InlineData("""{"model":"d","input":"and?","prompt_variables":{"t":"x"}}""", """{"model":"up","input":[""" + Rendered + """,{"role":"user","content":"and?"}]}""")]
    [InlineData("""{"model":"d","input":[{"role":"user","content":"and?"}],"prompt_variables":{"t":"x"}}""", """{"model":"up","input":[""" + Rendered + """,{"role":"user","content":"and?"}]}""")]
    [InlineData("""{"model":"d","input":[ ],"prompt_variables":{"t":"x"}}""", """{"model":"up","input":[""" + Rendered + """ ]}""")]
    [InlineData("""{"model":"d","input":null,"prompt_variables":{"t":"x"}}""", """{"model":"up","input":[""" + Rendered + """]}""")]
    [InlineData("""{"prompt_variables":{"t":"x"},"model":"d"}""", """{"model":"up","input":[""" + Rendered + """]}""")]
    public void UpstreamBody_WithAPromptTemplate_PutsTheRenderedMessagesFirstInInput(string body, string expected) =>
        Assert.Equal(expected, Upstreamed(body, Template));

    [Fact]
    public void UpstreamBody_OnChat_DoesNotTouchInput()
    {
        var bytes = Encoding.UTF8.GetBytes("""{"model":"d","input":"x"}""");
        var sent = OpenAiRequest.Parse(bytes, bytes.Length).UpstreamBody(new VersionRoute("1.0.0", "", Upstream, ModelGate.Registry.PromptRenderer.For(new("S"))), chat: false);
        Assert.Equal("""{"model":"up","input":"x"}""", Encoding.UTF8.GetString(sent));
    }

    [Fact]
    public void Usage_ReadsInputAndOutputTokens_PlainAndFromResponseCompleted()
    {
        Assert.Equal((12L, 5L), Usage.Read("""{"object":"response","output":[],"usage":{"input_tokens":12,"output_tokens":5,"total_tokens":17}}""", streamed: false));
        const string Stream = """
            event: response.created
            data: {"type":"response.created","response":{"id":"r","usage":null}}

            event: response.output_text.delta
            data: {"type":"response.output_text.delta","delta":"hi"}

            event: response.completed
            data: {"type":"response.completed","response":{"id":"r","status":"completed","usage":{"input_tokens":7,"output_tokens":2,"total_tokens":9}}}


            """;
        Assert.Equal((7L, 2L), Usage.Read(Stream, streamed: true));
        Assert.Equal((null, null), Usage.Read(Stream.Replace("\"usage\":{\"input_tokens\":7,\"output_tokens\":2,\"total_tokens\":9}", "\"usage\":null", StringComparison.Ordinal), streamed: true));
    }

    [Fact]
    public void Completion_ReadsTheOutputsTextAndCalls_PlainAndStreamed()
    {
        Assert.Equal("Hello.get_weather{\"city\":\"Paris\"}", ChatText.Completion("""
            {"output":[{"type":"reasoning","summary":[]},{"type":"message","content":[{"type":"output_text","text":"Hello."}]},
            {"type":"function_call","name":"get_weather","arguments":"{\"city\":\"Paris\"}"}]}
            """, streamed: false));
        Assert.Equal("Hi there.get_weather{\"city\":1}", ChatText.Completion("""
            event: response.output_text.delta
            data: {"type":"response.output_text.delta","delta":"Hi"}

            data: {"type":"response.output_text.delta","delta":" there."}

            data: {"type":"response.output_text.done","text":"Hi there."}

            data: {"type":"response.output_item.added","item":{"type":"function_call","name":"get_weather","arguments":""}}

            data: {"type":"response.function_call_arguments.delta","delta":"{\"city\":"}

            data: {"type":"response.function_call_arguments.delta","delta":"1}"}

            data: {"type":"response.completed","response":{"output":[{"type":"message","content":[{"type":"output_text","text":"Hi there."}]}]}}

            """, streamed: true));
    }

    [Fact]
    public void Completion_OfAnOddlyShapedAnswer_IsWhatCanBeRead_NotAnError()
    {
        Assert.Equal("ok", ChatText.Completion("""{"output":[{"type":7},{"type":"message","content":[{"text":1},{"text":"ok"}]},"x",{"type":"function_call"}]}""", streamed: false));
        Assert.Equal("", ChatText.Completion("""
            data: {"type":"response.output_item.added","item":{"type":["function_call"],"name":"f"}}

            data: {"type":5,"delta":"x"}

            """, streamed: true));
    }

    [Fact]
    public void CountPrompt_CountsInstructionsAndInput_AsTheChatMessagesTheyAmountTo()
    {
        var chat = TokenCounter.CountPrompt(JsonNode.Parse("""{"messages":[{"role":"system","content":"Be kind."},{"role":"user","content":"hello world"}]}""")!.AsObject());
        Assert.Equal(chat, TokenCounter.CountPrompt(JsonNode.Parse("""{"instructions":"Be kind.","input":"hello world"}""")!.AsObject(), responses: true));
        Assert.Equal(chat, TokenCounter.CountPrompt(JsonNode.Parse("""{"input":[{"role":"system","content":"Be kind."},{"role":"user","content":[{"type":"input_text","text":"hello world"}]}]}""")!.AsObject(), responses: true));
        Assert.Equal(chat, TokenCounter.CountPrompt(JsonNode.Parse("""{"input":"hello world"}""")!.AsObject(), [("system", "Be kind.")], responses: true));
        // An embedding's input stays counted as plain text.
        Assert.Equal(TokenCounter.Count("hello world"), TokenCounter.CountPrompt(JsonNode.Parse("""{"input":"hello world"}""")!.AsObject()));
    }
}
