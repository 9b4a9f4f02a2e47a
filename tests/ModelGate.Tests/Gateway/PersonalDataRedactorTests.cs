using System.Text;
using System.Text.Json.Nodes;
using ModelGate.Gateway;

namespace ModelGate.Tests.Gateway;

public sealed class PersonalDataRedactorTests
{
    /// <summary>Each kind of datum, and fragments of it that must not survive (each long enough to be the datum's own).</summary>
    public static TheoryData<string, string[]> Data => new()
    {
        { "4111 1111 1111 1111", ["4111", "1111"] },
        { "4111111111111111", ["4111", "1111"] },
        { "JOHN.DOE+tag@example.com", ["JOHN", "DOE", "tag@", "example"] },
        { "jane.roe@mail.example.org", ["jane", "roe@", "mail.example"] },
        { "+1 415 555 0132", ["415", "555", "0132"] },
        { "192.168.10.20", ["192.168", "168.10", "10.20"] },
        { "2001:0db8:85a3:0000:0000:8a2e:0370:7334", ["2001", "0db8", "85a3", "8a2e", "7334"] },
        { "2001:db8:85a3::8a2e:370:7334", ["2001", "db8:", "85a3", "8a2e", "7334"] },
        { "fe80::1ff:fe23:4567:890a", ["fe80", "1ff:", "fe23", "4567", "890a"] },
        { "::ffff:192.0.2.1", ["ffff", "192.0", "0.2.1"] },
        { "DE89 3704 0044 0532 0130 00", ["DE89", "3704", "0044", "0532"] },
        { "078-05-1120", ["078-05", "05-1120", "1120"] },
    };

    [Theory]
    [MemberData(nameof(Data))]
    public void Redact_EachKindOfDatum_LeavesNoFragment(string datum, string[] fragments)
    {
        var text = PersonalDataRedactor.Redact($"before {datum} after");

        Assert.StartsWith("before [", text);
        Assert.EndsWith("] after", text);
        Assert.All(fragments, f => Assert.DoesNotContain(f, text));
    }

    [Theory]
    [MemberData(nameof(Data))]
    public void Payload_AStreamWithChunkBoundariesInsideTheDatum_StoresNoFragmentOfIt(string datum, string[] fragments)
    {
        var answer = $"Sure: {datum}. Anything else?";
        // Every split of the datum in two chunks, and chunks of 1 to 4 characters through the whole answer.
        var splits = Enumerable.Range(1, datum.Length - 1).Select(i => new[] { answer[..(6 + i)], answer[(6 + i)..] })
            .Concat(Enumerable.Range(1, 4).Select(size => answer.Chunk(size).Select(c => new string(c)).ToArray()));
        foreach (var chunks in splits)
        {
            var captured = new CaptureBuffer(streamed: true);
            var sse = Encoding.UTF8.GetBytes(string.Concat(chunks.Select(c =>
                "data: " + new JsonObject { ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = new JsonObject { ["content"] = c } }) }
                    .ToJsonString() + "\n\n")) + "data: [DONE]\n\n");
            foreach (var piece in sse.Chunk(7)) // the bytes arrive in reads that cut events, too
            {
                captured.Append(piece);
            }
            var request = JsonNode.Parse($$"""{"model":"m","stream":true,"messages":[{"role":"user","content":"repeat {{datum}}"}]}""")!.AsObject();

            var payload = PersonalDataRedactor.Payload(request, captured);

            Assert.All(fragments, f => Assert.DoesNotContain(f, payload));
            Assert.Contains("Anything else?", payload);
        }
    }

    [Fact]
    public void Payload_APlainAnswer_RedactsTheTextBeforeItIsEscaped()
    {
        var captured = new CaptureBuffer(streamed: false);
        captured.Append(Encoding.UTF8.GetBytes("""{"choices":[{"index":0,"message":{"role":"assistant","content":"write to JOHN.DOE+tag@example.com"}}]}"""));
        var request = JsonNode.Parse("""{"model":"m","messages":[{"role":"user","content":"mail JOHN.DOE+tag@example.com <ok>"}]}""")!.AsObject();

        var payload = PersonalDataRedactor.Payload(request, captured);

        Assert.DoesNotContain("JOHN", payload);
        Assert.DoesNotContain("tag@", payload);
        Assert.DoesNotContain("\\[EMAIL]", payload);
        var stored = JsonNode.Parse(payload)!;
        Assert.Equal("mail [EMAIL] <ok>", (string?)stored["request"]!["messages"]![0]!["content"]);
        Assert.Equal("write to [EMAIL]", (string?)stored["response"]!["choices"]![0]!["message"]!["content"]);
    }

    [Theory]
    [InlineData("the meeting is at 10:30:45 today")]
    [InlineData("std::vector<int> and a::b::c")]
    [InlineData("version 1.2.3 and ratio 3:2")]
    public void Redact_TextWithoutPersonalData_IsLeftAlone(string text) => Assert.Equal(text, PersonalDataRedactor.Redact(text));
}
