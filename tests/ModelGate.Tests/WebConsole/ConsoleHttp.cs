using System.Net;
using System.Text.RegularExpressions;
using ModelGate.Tests.Infrastructure;
using ModelGate.WebConsole;

namespace ModelGate.Tests.WebConsole;

/// <summary>A console page or an action's answer as the HTTP-level tests read it.</summary>
public sealed record ConsoleAnswer(HttpStatusCode Status, string Body, string? Location = null, string? CacheControl = null)
{
    public void Deconstruct(out HttpStatusCode status, out string body) => (status, body) = (Status, Body);
}

/// <summary>
/// The console over HTTP without a browser, for the tests of its pages: a client that neither follows redirects nor keeps
/// cookies (each request says which session it carries), sign-in, GET and form POSTs, and the page's anti-forgery token.
/// </summary>
internal static partial class ConsoleHttp
{
    public static HttpClient Browser(ServerFixture server) => new(server.Handler()) { BaseAddress = new Uri("http://localhost/") };

    public static FormUrlEncodedContent Form(params (string Name, string Value)[] fields) => new(fields.Select(f => KeyValuePair.Create(f.Name, f.Value)));

    /// <summary>Signs in with <paramref name="key"/> (a redirect to the console) and returns the session cookie as a request sends it.</summary>
    public static async Task<string> SignInAsync(HttpClient browser, string key)
    {
        using var response = await browser.PostAsync("/console/sign-in", Form(("apiKey", key)));
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        return response.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith(ConsoleSessions.CookieName + "=", StringComparison.Ordinal)).Split(';')[0];
    }

    public static Task<ConsoleAnswer> GetAsync(HttpClient browser, string path, string? cookie) => SendAsync(browser, new HttpRequestMessage(HttpMethod.Get, path), cookie);

    public static Task<ConsoleAnswer> PostAsync(HttpClient browser, string path, string? cookie, params (string Name, string Value)[] fields) =>
        SendAsync(browser, new HttpRequestMessage(HttpMethod.Post, path) { Content = Form(fields) }, cookie);

    private static async Task<ConsoleAnswer> SendAsync(HttpClient browser, HttpRequestMessage request, string? cookie)
    {
        using (request)
        {
            if (cookie is not null)
            {
                request.Headers.Add("Cookie", cookie);
            }
            using var response = await browser.SendAsync(request);
            return new ConsoleAnswer(response.StatusCode, await response.Content.ReadAsStringAsync(), response.Headers.Location?.OriginalString,
                response.Headers.CacheControl?.ToString());
        }
    }

    /// <summary>The page's anti-forgery token (the hidden field every form that posts carries).</summary>
    public static string Csrf(string body) => CsrfField().Match(body).Groups[1].Value;

    /// <summary>The element with id <paramref name="id"/> of the tag <paramref name="tag"/>, up to its closing tag (not nested).</summary>
    public static string Element(string body, string tag, string id) =>
        Regex.Match(body, $"<{tag} id=\"{Regex.Escape(id)}\".*?</{tag}>", RegexOptions.Singleline).Value;

    /// <summary>The <c>data-field</c> cells of a row with their <c>data-value</c>s.</summary>
    public static Dictionary<string, string> Fields(string row) =>
        FieldCell().Matches(row).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);

    [GeneratedRegex("name=\"_csrf\" value=\"([^\"]+)\"")]
    private static partial Regex CsrfField();

    [GeneratedRegex("data-field=\"([^\"]+)\" data-value=\"([^\"]*)\"")]
    private static partial Regex FieldCell();
}
