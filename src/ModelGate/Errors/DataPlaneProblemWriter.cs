using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace ModelGate.Errors;

/// <summary>
/// Writes the data plane's problems so that the protocol's own clients can read them too. The body stays an RFC 9457
/// problem (<c>application/problem+json</c>, with <c>type</c>, <c>title</c>, <c>status</c>, <c>detail</c>, <c>code</c>),
/// with one more member in the shape each protocol's SDKs look for:
/// <list type="bullet">
/// <item><c>/v1/…</c> (OpenAI): <c>"error": {"message", "type", "code", "param"}</c>, which the OpenAI SDKs turn into their
/// error's message and code (without it, the npm SDK reports "429 status code (no body)");</item>
/// <item><c>/v2/…</c> (Open Inference Protocol): <c>"error": "…"</c>, the protocol's error response.</item>
/// </list>
/// It answers whatever the request's <c>Accept</c> says (a streaming request asks for <c>text/event-stream</c> and still gets
/// its error as JSON). Registered ahead of ASP.NET Core's writer, which writes every other path's problems.
/// </summary>
public sealed class DataPlaneProblemWriter(IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions> json) : IProblemDetailsWriter
{
    public bool CanWrite(ProblemDetailsContext context) =>
        context.HttpContext.Request.Path.StartsWithSegments("/v1") || context.HttpContext.Request.Path.StartsWithSegments("/v2");

    public ValueTask WriteAsync(ProblemDetailsContext context)
    {
        var problem = context.ProblemDetails;
        var http = context.HttpContext;
        problem.Status ??= http.Response.StatusCode;
        Problems.EnsureCode(problem); // a 404 from status-code pages, say
        problem.Extensions.TryAdd("traceId", System.Diagnostics.Activity.Current?.Id ?? http.TraceIdentifier); // as ASP.NET Core's writer does
        problem.Extensions["error"] = Shape(http.Request.Path, problem);
        return new ValueTask(http.Response.WriteAsJsonAsync(problem, typeof(ProblemDetails), json.Value.SerializerOptions, "application/problem+json",
            http.RequestAborted));
    }

    /// <summary>The protocol's error member for a problem on <paramref name="path"/>.</summary>
    private static object Shape(PathString path, ProblemDetails problem)
    {
        var message = problem.Detail ?? problem.Title ?? "error";
        if (path.StartsWithSegments("/v2"))
        {
            return message;
        }
        var code = problem.Extensions.TryGetValue("code", out var c) ? c as string : null;
        var param = problem.Extensions.TryGetValue("errors", out var e) && e is IDictionary<string, string[]> errors && errors.Count == 1 ? errors.Keys.First() : null;
        return new OpenAiError(message, OpenAiType(problem.Status ?? 500), code, param);
    }

    /// <summary>The <c>type</c> OpenAI's API gives errors of that status.</summary>
    private static string OpenAiType(int status) => status switch
    {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        409 => "conflict_error",
        413 or 422 or 400 => "invalid_request_error",
        429 => "rate_limit_error",
        >= 500 => "server_error",
        _ => "invalid_request_error",
    };

    private sealed record OpenAiError(string Message, string Type, string? Code, string? Param);
}
