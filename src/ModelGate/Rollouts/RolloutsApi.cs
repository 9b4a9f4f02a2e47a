using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Security;
using ModelGate.Storage;
using ModelGate.Storage.Rollouts;

namespace ModelGate.Rollouts;

/// <summary><c>/api/v1/deployments/{name}/rollouts</c>: start one, follow it, pause, resume, abort or promote it.</summary>
public static class RolloutsApi
{
    public static IServiceCollection AddModelGateRollouts(this IServiceCollection services)
    {
        services.AddOptions<RolloutOptions>().BindConfiguration(RolloutOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddHttpClient(nameof(RolloutController), c => c.Timeout = TimeSpan.FromSeconds(10))
            .ConfigurePrimaryHttpMessageHandler(sp => sp.GetRequiredService<Security.EgressPolicy>().CreateHandler());
        services.AddSingleton<IRolloutEvidence, StoredRolloutEvidence>();
        services.AddSingleton<RolloutController>();
        services.AddHostedService(sp => sp.GetRequiredService<RolloutController>());
        services.AddSingleton<RolloutOperations>();
        return services;
    }

    public static IEndpointRouteBuilder MapRolloutsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/deployments/{name}/rollouts").WithTags("Rollouts").ForOwnDeployment();
        api.MapPost("/", StartRollout).WithName(nameof(StartRollout)).RequireAuthorization(Permissions.Deploy);
        api.MapGet("/", ListRollouts).WithName(nameof(ListRollouts)).RequireAuthorization(Permissions.Read);
        api.MapGet("/{id}", GetRollout).WithName(nameof(GetRollout)).RequireAuthorization(Permissions.Read);
        foreach (var action in RolloutActions.All)
        {
            api.MapPost("/{id}/" + action, (string name, string id, RolloutActionRequest? request, ClaimsPrincipal user, ModelGateDbContext db,
                    RolloutOperations operations, CancellationToken ct) => Act(action, name, id, request, user, db, operations, ct))
                .WithName("Rollout" + char.ToUpperInvariant(action[0]) + action[1..]).RequireAuthorization(Permissions.Deploy);
        }
        return app;
    }

    public static async Task<Results<Created<RolloutDto>, ProblemHttpResult>> StartRollout(string name, StartRolloutRequest request, ClaimsPrincipal user,
        ModelGateDbContext db, RolloutOperations operations, CancellationToken cancellationToken)
    {
        var result = await operations.StartAsync(db, name, request, user, cancellationToken);
        return result.IsDone
            ? TypedResults.Created($"/api/v1/deployments/{name}/rollouts/{result.Rollout!.Id}", ToDto(result.Rollout))
            : ToProblem(result);
    }

    /// <summary>An operation's refusal as problem+json: its code and detail under the status its outcome means.</summary>
    private static ProblemHttpResult ToProblem(RolloutOperationResult result) => result.Outcome switch
    {
        RolloutOperationOutcome.Invalid => Problems.Validation(result.Errors!.ToDictionary(e => e.Key, e => e.Value)),
        RolloutOperationOutcome.DeploymentNotFound or RolloutOperationOutcome.RolloutNotFound => Problems.NotFound(result.Code!, result.Detail!),
        RolloutOperationOutcome.EgressDenied or RolloutOperationOutcome.RoutingRefused => Problems.Unprocessable(result.Code!, result.Detail!),
        // The candidate cannot be routed: the routing change's field errors (or refusal) under the rollout's own code.
        RolloutOperationOutcome.NotRoutable => Problems.Unprocessable(result.Code!, result.Detail!, result.Routing!.Errors is { } errors
            ? new Dictionary<string, object?> { ["errors"] = errors }
            : new Dictionary<string, object?> { ["field"] = result.Routing.Field }),
        _ => Problems.Conflict(result.Code!, result.Detail!),
    };

    public static async Task<Ok<List<RolloutDto>>> ListRollouts(string name, ModelGateDbContext db, CancellationToken cancellationToken) =>
        TypedResults.Ok((await db.Rollouts.AsNoTracking().Where(r => r.Deployment == name).OrderByDescending(r => r.StartedAt).ToListAsync(cancellationToken))
            .Select(ToDto).ToList());

    public static async Task<Results<Ok<RolloutDto>, ProblemHttpResult>> GetRollout(string name, string id, ModelGateDbContext db, CancellationToken cancellationToken)
    {
        var rollout = await db.Rollouts.AsNoTracking().FirstOrDefaultAsync(r => r.Deployment == name && r.Id == id, cancellationToken);
        return rollout is null
            ? Problems.NotFound(ProblemCodes.RolloutNotFound, $"deployment '{name}' has no rollout '{ClientText.Echo(id)}'")
            : TypedResults.Ok(ToDto(rollout));
    }

    private static async Task<Results<Ok<RolloutDto>, ProblemHttpResult>> Act(string action, string name, string id, RolloutActionRequest? request,
        ClaimsPrincipal user, ModelGateDbContext db, RolloutOperations operations, CancellationToken cancellationToken)
    {
        var result = await operations.ActAsync(db, action, name, id, request?.Reason, user, cancellationToken);
        return result.IsDone ? TypedResults.Ok(ToDto(result.Rollout!)) : ToProblem(result);
    }

    public static RolloutDto ToDto(RolloutEntity r)
    {
        var history = JsonDocument.Parse(r.History).RootElement.Clone();
        return new(r.Id, r.Deployment, r.Stable, r.Candidate, r.Strategy, r.Status, r.Step, r.Weight, r.Checks, r.FailedChecks, r.StartedAt, r.NextCheckAt,
            r.EndedAt, r.Reason, RolloutController.Spec(r), history, r.CreatedBy, Analyses(history));
    }

    /// <summary>The analyses recorded in the history's <c>check</c> entries, oldest first.</summary>
    public static List<RolloutAnalysisDto> Analyses(JsonElement history)
    {
        var analyses = new List<RolloutAnalysisDto>();
        foreach (var entry in history.EnumerateArray())
        {
            if (entry.TryGetProperty("type", out var type) && type.GetString() == "check" && entry.TryGetProperty("analysis", out var analysis)
                && analysis.Deserialize<RolloutAnalysisDto>(ModelGateJson.Options) is { } dto)
            {
                analyses.Add(dto);
            }
        }
        return analyses;
    }
}
