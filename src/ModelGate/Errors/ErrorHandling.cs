using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using ModelGate.Storage;

namespace ModelGate.Errors;

public static class ErrorHandlingExtensions
{
    public static IServiceCollection AddModelGateErrors(this IServiceCollection services)
    {
        services.AddSingleton<IProblemDetailsWriter, DataPlaneProblemWriter>(); // ahead of the default writer, which comes with AddProblemDetails
        // Every problem carries a code, also those ASP.NET Core writes itself (status-code pages, a 415 from body binding).
        services.AddProblemDetails(o => o.CustomizeProblemDetails = context => Problems.EnsureCode(context.ProblemDetails));
        services.AddExceptionHandler<BadRequestExceptionHandler>();
        // Binding failures throw so that BadRequestExceptionHandler can answer them with a problem naming the cause.
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        return services;
    }

    /// <summary>
    /// Names in the path (route values) and query values follow the text rule (<see cref="ClientText.Check"/>, single line):
    /// a <c>%00</c> in a name is 400 <c>invalid_text</c> before any handler looks it up, stores it or echoes it. After
    /// routing (route values are known) and authorization (a caller without a key is still told 401 first).
    /// </summary>
    public static IApplicationBuilder UseModelGateCleanNames(this IApplicationBuilder app) =>
        app.Use((context, next) => FirstUncleanName(context) is { } problem ? WriteAsync(context, problem).AsTask() : next(context));

    /// <summary>
    /// The problem for the first route value or query name or value that breaks the text rule; null when all are clean. Not
    /// async and reading the query only when there is one: this runs on every request, data plane included, and a clean
    /// request goes on without an allocation of its own.
    /// </summary>
    private static Microsoft.AspNetCore.Mvc.ProblemDetails? FirstUncleanName(HttpContext context)
    {
        foreach (var (name, value) in context.Request.RouteValues)
        {
            if (value is string text && ClientText.Check(text, singleLine: true) is { } reason)
            {
                return ClientJson.Problem(ProblemCodes.InvalidText, name, reason);
            }
        }
        if (!context.Request.QueryString.HasValue)
        {
            return null;
        }
        foreach (var (name, values) in context.Request.Query)
        {
            foreach (var text in values)
            {
                if ((ClientText.Check(name, singleLine: true) ?? ClientText.Check(text, singleLine: true)) is { } reason)
                {
                    return ClientJson.Problem(ProblemCodes.InvalidText, ClientText.Echo(name), reason);
                }
            }
        }
        return null;
    }

    private static ValueTask WriteAsync(HttpContext context, Microsoft.AspNetCore.Mvc.ProblemDetails problem)
    {
        context.Response.StatusCode = problem.Status ?? 400;
        return context.RequestServices.GetRequiredService<IProblemDetailsService>()
            .WriteAsync(new ProblemDetailsContext { HttpContext = context, ProblemDetails = problem });
    }

    /// <summary>Answers bodies over the configured limit with 413 before anything reads them.</summary>
    public static IApplicationBuilder UseModelGateRequestLimits(this IApplicationBuilder app) =>
        app.UseLimits(app.ApplicationServices.GetRequiredService<IOptions<LimitsOptions>>().Value);

    private static IApplicationBuilder UseLimits(this IApplicationBuilder app, LimitsOptions limits) =>
        app.Use(async (context, next) =>
        {
            var limit = RequestLimits.For(context.Request.Path, limits);
            var feature = context.Features.Get<IHttpMaxRequestBodySizeFeature>();
            if (feature is { IsReadOnly: false })
            {
                feature.MaxRequestBodySize = limit;
            }
            if (context.Request.ContentLength > limit)
            {
                await Problems.TooLarge(limit).ExecuteAsync(context);
                return;
            }
            await next(context);
        });
}

public static class RequestLimits
{
    public static long For(PathString path, LimitsOptions limits) =>
        path.StartsWithSegments("/api/v1/artifacts") ? limits.MaxArtifactBytes : limits.MaxRequestBodyBytes;
}

internal sealed partial class BadRequestExceptionHandler(IProblemDetailsService problems, ILogger<BadRequestExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        var problem = exception switch
        {
            BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } => Problems.Create(413, ProblemCodes.BodyTooLarge,
                "The request body is too large.", exception.Message),
            BadHttpRequestException { StatusCode: StatusCodes.Status415UnsupportedMediaType } => Problems.Create(415, ProblemCodes.UnsupportedMediaType,
                "Unsupported media type.", "send the body as application/json"),
            BadHttpRequestException { InnerException: JsonException json } => JsonProblem(json),
            ClientInputException input => ClientJson.Problem(input),
            BadHttpRequestException bad => Problems.Create(bad.StatusCode, ProblemCodes.BadRequest, "The request is not valid.", bad.Message),
            _ => null,
        };
        if (problem is null)
        {
            LogUnhandled(logger, exception, context.Request.Method, context.Request.Path);
            problem = Problems.Create(500, ProblemCodes.Internal, "An unexpected error occurred.",
                "the error was logged; the request's changes were not committed");
        }
        context.Response.StatusCode = problem.Status ?? 500;
        return await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = context, ProblemDetails = problem, Exception = exception });
    }

    /// <summary>The 400 problem for a body the serializer could not read: a broken rule for client input, bad syntax, or the wrong shape.</summary>
    public static Microsoft.AspNetCore.Mvc.ProblemDetails JsonProblem(JsonException json)
    {
        if (json is ClientInputException input)
        {
            return ClientJson.Problem(input);
        }
        // System.Text.Json reports syntax errors with its reader's exception (a JsonException subtype), either thrown
        // directly or wrapped; type and shape errors are plain JsonExceptions.
        var syntax = json.GetType() != typeof(JsonException) || json.InnerException is JsonException;
        return Problems.Create(400, syntax ? ProblemCodes.MalformedJson : ProblemCodes.InvalidJson,
            syntax ? "The request body is not well-formed JSON." : "The request body does not have the expected shape.",
            json.Message, new Dictionary<string, object?> { ["path"] = json.Path });
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Unhandled exception for {Method} {Path}")]
    private static partial void LogUnhandled(ILogger logger, Exception exception, string method, string path);
}
