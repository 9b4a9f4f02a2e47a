using System.Net;
using System.Text.Json;

namespace ModelGate.Tests.Infrastructure;

public static class ProblemAssert
{
    /// <summary>Asserts an RFC 9457 problem with the given status and stable code, and returns its body.</summary>
    public static async Task<JsonElement> IsProblem(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var body = JsonDocument.Parse(text).RootElement.Clone();
        Assert.Equal(code, body.GetProperty("code").GetString());
        Assert.Equal((int)status, body.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrWhiteSpace(body.GetProperty("title").GetString()));
        // The data plane's problems also carry the error member its protocol's clients read.
        var path = response.RequestMessage?.RequestUri?.AbsolutePath ?? "";
        var detail = body.TryGetProperty("detail", out var d) ? d.GetString() : null;
        Assert.False(string.IsNullOrEmpty(body.GetProperty("traceId").GetString()));
        if (path.StartsWith("/v1/", StringComparison.Ordinal))
        {
            var error = body.GetProperty("error");
            Assert.Equal(detail ?? body.GetProperty("title").GetString(), error.GetProperty("message").GetString());
            Assert.Equal(code, error.GetProperty("code").GetString());
            Assert.False(string.IsNullOrEmpty(error.GetProperty("type").GetString()));
        }
        else if (path.StartsWith("/v2/", StringComparison.Ordinal))
        {
            Assert.Equal(detail ?? body.GetProperty("title").GetString(), body.GetProperty("error").GetString());
        }
        else
        {
            Assert.False(body.TryGetProperty("error", out _), "only the data plane's problems carry an error member");
        }
        return body;
    }
}
