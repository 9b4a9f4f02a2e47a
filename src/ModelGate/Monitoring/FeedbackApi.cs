using System.Globalization;
using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Gateway.Telemetry;
using ModelGate.Security;
using ModelGate.Storage;
using ModelGate.Storage.Gateway;

namespace ModelGate.Monitoring;

/// <summary>
/// <c>POST /api/v1/feedback {requestId, label | score | comment | metric + value}</c>: joined to the request log by the request
/// id. A label is judged against the prediction recorded for the request (1 right, 0 wrong); a score in [0, 1] is taken as
/// given. Either feeds live quality per version (telemetry, the metrics API, the canary judge). A named business metric
/// (<c>"metric": "conversion", "value": 1</c>) is added to the serving version's business metrics the same way.
/// </summary>
public static partial class FeedbackApi
{
    /// <summary>A business metric's name: a lowercase identifier, so that it is safe as a label and a key everywhere.</summary>
    [System.Text.RegularExpressions.GeneratedRegex(@"^[a-z][a-z0-9_]{0,63}\z")]
    internal static partial System.Text.RegularExpressions.Regex MetricName();

    public static IEndpointRouteBuilder MapFeedbackApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/v1/feedback", SendFeedback).WithTags("Monitoring").WithName(nameof(SendFeedback)).RequireAuthorization(Permissions.Infer).AllowScopedKeys();
        return app;
    }

    public static async Task<Results<Created<FeedbackDto>, ProblemHttpResult>> SendFeedback(FeedbackRequest request, ClaimsPrincipal user, HttpContext context,
        ModelGateDbContext db, GatewayTelemetry telemetry, TimeProvider time, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        if (string.IsNullOrWhiteSpace(request.RequestId) || request.RequestId.Length > 64)
        {
            errors.Add("requestId", "the x-modelgate-request-id of the request this is about");
        }
        if (request.Label is null && request.Score is null && string.IsNullOrWhiteSpace(request.Comment) && request.Metric is null && request.Value is null)
        {
            errors.Add("feedback", "give a label, a score, a comment or a business metric with its value");
        }
        if (request.Metric is { } metric && !MetricName().IsMatch(metric))
        {
            errors.Add("metric", "a business metric's name: a lowercase letter, then up to 63 lowercase letters, digits or underscores (conversion, revenue_eur)");
        }
        if (request.Metric is not null && request.Value is null)
        {
            errors.Add("value", "the business metric's value, a finite number");
        }
        if (request.Value is { } value && !double.IsFinite(value))
        {
            errors.Add("value", "a finite number");
        }
        if (request.Value is not null && request.Metric is null)
        {
            errors.Add("metric", "name the business metric the value is for");
        }
        if (request.Label is { Length: > 200 })
        {
            errors.Add("label", "at most 200 characters");
        }
        if (request.Score is { } s && (!double.IsFinite(s) || s < 0 || s > 1))
        {
            errors.Add("score", "a number from 0 to 1");
        }
        if (request.Comment is { Length: > 4000 })
        {
            errors.Add("comment", "at most 4000 characters");
        }
        if (errors.Any)
        {
            return errors.ToProblem();
        }
        // A request that fell back has two records: the failed attempt on the chosen version and the stable version's, which served the client.
        var served = await db.RequestLogs.AsNoTracking()
            .Where(r => r.RequestId == request.RequestId).Served()
            .OrderBy(r => r.Id).FirstOrDefaultAsync(cancellationToken);
        if (served is null || !DeploymentScope.Allows(context, served.Deployment))
        {
            return Problems.NotFound("request_not_found",
                $"no request '{ClientText.Echo(request.RequestId)}' is in the request log (records are written within about a second; retry if it was just served)");
        }
        double? score = request.Score;
        if (score is null && request.Label is { } label && served.Prediction is { } prediction)
        {
            score = string.Equals(Normalize(label), Normalize(prediction), StringComparison.Ordinal) ? 1 : 0;
        }
        var entity = new FeedbackEntity
        {
            RequestId = request.RequestId, Deployment = served.Deployment, Version = served.Version, Route = served.Route, Label = request.Label, Score = score,
            Comment = request.Comment, Metric = request.Metric, MetricValue = request.Value, RequestTime = served.Time, Time = time.GetUtcNow().UtcDateTime,
            Actor = user.ActorId(),
        };
        db.Feedback.Add(entity);
        await db.SaveChangesAsync(cancellationToken);
        if (score is { } counted && served.Version is not null && served.Route is not null)
        {
            telemetry.RecordFeedback(served.Deployment, served.Version, served.Route, served.Time, counted);
        }
        if (request.Metric is { } name && request.Value is { } amount && served.Version is not null && served.Route is not null)
        {
            telemetry.RecordBusiness(served.Deployment, served.Version, served.Route, served.Time, name, amount);
        }
        return TypedResults.Created($"/api/v1/feedback/{entity.Id}", new FeedbackDto(entity.Id, entity.RequestId, entity.Deployment, entity.Version, entity.Route,
            entity.Label, served.Prediction, entity.Score, entity.Comment, entity.Time, entity.Metric, entity.MetricValue));
    }

    /// <summary>Labels compare as numbers where both are numbers ("1" and "1.0"), else as trimmed text.</summary>
    private static string Normalize(string label) =>
        double.TryParse(label, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) ? n.ToString("R", CultureInfo.InvariantCulture) : label.Trim();
}
