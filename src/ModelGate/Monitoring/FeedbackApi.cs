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
/// <c>POST /api/v1/feedback {requestId, label | score | comment}</c>: joined to the request log by the request id. A label
/// is judged against the prediction recorded for the request (1 right, 0 wrong); a score in [0, 1] is taken as given.
/// Either feeds live quality per version (telemetry, the metrics API, the canary judge).
/// </summary>
public static class FeedbackApi
{
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
        if (request.Label is null && request.Score is null && string.IsNullOrWhiteSpace(request.Comment))
        {
            errors.Add("feedback", "give a label, a score or a comment");
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
        var served = await db.RequestLogs.AsNoTracking().Where(r => r.RequestId == request.RequestId && r.Route != RouteKinds.Shadow)
            .OrderBy(r => r.Route == RouteKinds.Fallback ? 0 : 1).ThenBy(r => r.Id).FirstOrDefaultAsync(cancellationToken);
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
            Comment = request.Comment, RequestTime = served.Time, Time = time.GetUtcNow().UtcDateTime, Actor = user.ActorId(),
        };
        db.Feedback.Add(entity);
        await db.SaveChangesAsync(cancellationToken);
        if (score is { } counted && served.Version is not null && served.Route is not null)
        {
            telemetry.RecordFeedback(served.Deployment, served.Version, served.Route, served.Time, counted);
        }
        return TypedResults.Created($"/api/v1/feedback/{entity.Id}", new FeedbackDto(entity.Id, entity.RequestId, entity.Deployment, entity.Version, entity.Route,
            entity.Label, served.Prediction, entity.Score, entity.Comment, entity.Time));
    }

    /// <summary>Labels compare as numbers where both are numbers ("1" and "1.0"), else as trimmed text.</summary>
    private static string Normalize(string label) =>
        double.TryParse(label, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) ? n.ToString("R", CultureInfo.InvariantCulture) : label.Trim();
}
