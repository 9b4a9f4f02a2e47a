using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection.Extensions;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Gateway.Telemetry;
using ModelGate.Registry;
using ModelGate.Security;
using ModelGate.Storage;
using ModelGate.Storage.Gateway;

namespace ModelGate.Gateway;

public static class DeploymentsApi
{
    public static IServiceCollection AddModelGateGateway(this IServiceCollection services)
    {
        services.TryAddSingleton<Registry.ArtifactIntegrity>();
        services.TryAddSingleton<Onnx.OnnxModelCache>();
        services.AddSingleton<RoutingSnapshots>();
        services.AddSingleton<CircuitBreakers>();
        services.AddSingleton<Telemetry.EndpointTelemetry>();
        services.AddSingleton<UpstreamForwarder>();
        services.AddSingleton<UpstreamBinding>();
        services.AddSingleton<DeploymentRouting>();
        services.AddSingleton<DataPlaneGuard>();
        services.AddOptions<GatewayOptions>().BindConfiguration(GatewayOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<Telemetry.GatewayTelemetry>();
        services.AddSingleton<Telemetry.InputSamples>();
        services.AddSingleton<RequestLog>();
        services.AddHostedService(sp => sp.GetRequiredService<RequestLog>());
        services.AddSingleton<RequestLogRetention>();
        services.AddHostedService(sp => sp.GetRequiredService<RequestLogRetention>());
        services.AddHostedService(sp => sp.GetRequiredService<RoutingSnapshots>());
        services.AddModelGateSharedTelemetry();
        return services;
    }

    public static IEndpointRouteBuilder MapDeploymentsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/deployments").WithTags("Deployments");
        api.MapPost("/", CreateDeployment).WithName(nameof(CreateDeployment)).RequireAuthorization(Permissions.Deploy);
        api.MapGet("/", ListDeployments).WithName(nameof(ListDeployments)).RequireAuthorization(Permissions.Read).AllowScopedKeys();
        api.MapGet("/{name}", GetDeployment).WithName(nameof(GetDeployment)).RequireAuthorization(Permissions.Read).ForOwnDeployment();
        api.MapGet("/{name}/metrics", GetMetrics).WithName(nameof(GetMetrics)).RequireAuthorization(Permissions.Read).ForOwnDeployment();
        api.MapPost("/{name}/rollback", Rollback).WithName(nameof(Rollback)).RequireAuthorization(Permissions.Deploy).ForOwnDeployment();
        api.MapPut("/{name}/routing", SetRouting).WithName(nameof(SetRouting)).RequireAuthorization(Permissions.Deploy).ForOwnDeployment();
        return app;
    }

    public static async Task<Results<Created<DeploymentDto>, ProblemHttpResult>> CreateDeployment(CreateDeploymentRequest request, ClaimsPrincipal user,
        AuditedWrite write, DeploymentRouting routing, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        if (!Names.IsValidModelName(request.Name))
        {
            errors.Add("name", $"'{ClientText.Echo(request.Name)}' is not a valid name: {Names.ModelNameRule.Replace("a model name", "a deployment name")}");
        }
        if (!DeploymentEnvironments.All.Contains(request.Environment))
        {
            errors.Add("environment", $"environment is one of {string.Join(", ", DeploymentEnvironments.All)}");
        }
        if (!Names.IsValidModelName(request.Model))
        {
            errors.Add("model", $"'{ClientText.Echo(request.Model)}' is not a model name");
        }
        if (errors.Any)
        {
            return errors.ToProblem();
        }
        await using var tx = await write.BeginAsync(cancellationToken);
        if (await tx.Db.Deployments.AnyAsync(d => d.Name == request.Name, cancellationToken))
        {
            return Problems.Conflict(ProblemCodes.DeploymentExists, $"a deployment named '{request.Name}' already exists");
        }
        var model = await tx.Db.Models.FirstOrDefaultAsync(m => m.Name == request.Model, cancellationToken);
        if (model is null)
        {
            return Problems.From(Registry.Versions.NoSuchModel(request.Model));
        }
        var created = await routing.CreateAsync(tx, request.Name, request.Environment, model.Id, model.Name, request.Routing, user.ActorId(), cancellationToken);
        if (!created.IsChanged)
        {
            return Problem(created, request.Name);
        }
        await tx.CommitAsync(cancellationToken);
        return TypedResults.Created($"/api/v1/deployments/{request.Name}", ToDto(created.Deployment!, user));
    }

    public static async Task<Ok<List<DeploymentDto>>> ListDeployments(HttpContext context, ModelGateDbContext db, CancellationToken cancellationToken) =>
        TypedResults.Ok((await db.Deployments.AsNoTracking().OrderBy(d => d.Name).ToListAsync(cancellationToken))
            .Where(d => DeploymentScope.Allows(context, d.Name)).Select(d => ToDto(d, context.User)).ToList());

    public static async Task<Results<Ok<DeploymentDto>, ProblemHttpResult>> GetDeployment(string name, ClaimsPrincipal user, ModelGateDbContext db,
        CancellationToken cancellationToken)
    {
        var entity = await db.Deployments.AsNoTracking().FirstOrDefaultAsync(d => d.Name == name, cancellationToken);
        return entity is null ? NotFound(name) : TypedResults.Ok(ToDto(entity, user));
    }

    /// <summary>The deployment's telemetry per version and route over the last <c>window</c> (default 5m, at most 1h), from memory.</summary>
    public static async Task<Results<Ok<DeploymentMetricsDto>, ProblemHttpResult>> GetMetrics(string name, string? window, ModelGateDbContext db,
        Telemetry.GatewayTelemetry telemetry, TimeProvider time, CancellationToken cancellationToken)
    {
        var span = TimeSpan.FromMinutes(5);
        if (window is not null && (!Durations.TryParse(window, out span) || span > Telemetry.GatewayTelemetry.Horizon || span < Telemetry.GatewayTelemetry.SlotLength))
        {
            return Problems.Validation("window", $"'{window}' is not a window: a duration from 10s to 1h, such as 30s, 5m or 1h");
        }
        if (!await db.Deployments.AnyAsync(d => d.Name == name, cancellationToken))
        {
            return NotFound(name);
        }
        var now = time.GetUtcNow().UtcDateTime;
        return TypedResults.Ok(new DeploymentMetricsDto(name, Durations.Format(span), now - span, now, telemetry.Summarize(name, span)));
    }

    /// <summary>
    /// Sends all traffic to the last-known-good version at once: with candidates or a shadow in play, that is the stable
    /// version (they are dropped); otherwise it is the stable version before the current one. Any deployer may do it.
    /// </summary>
    public static async Task<Results<Ok<DeploymentDto>, ProblemHttpResult>> Rollback(string name, RollbackRequest? request, ClaimsPrincipal user,
        AuditedWrite write, DeploymentRouting routing, CancellationToken cancellationToken)
    {
        var reason = request?.Reason is { Length: > 0 } r ? r : "rollback";
        if (reason.Length > 2000)
        {
            return Problems.Validation("reason", "at most 2000 characters");
        }
        await using var tx = await write.BeginAsync(cancellationToken);
        var result = await routing.RollbackAsync(tx, name, user.ActorId(), reason, cancellationToken);
        if (!result.IsChanged)
        {
            return result.Code == ProblemCodes.NothingToRollBack ? Problems.Conflict(result.Code, result.Detail!) : Problem(result, name);
        }
        await tx.CommitAsync(cancellationToken);
        return TypedResults.Ok(ToDto(result.Deployment!, user));
    }

    /// <summary>Replaces the routing table; the data plane switches to it atomically, within a second on every replica.</summary>
    public static async Task<Results<Ok<DeploymentDto>, ProblemHttpResult>> SetRouting(string name, RoutingTable routing, ClaimsPrincipal user,
        AuditedWrite write, DeploymentRouting routings, CancellationToken cancellationToken)
    {
        await using var tx = await write.BeginAsync(cancellationToken);
        var result = await routings.ChangeAsync(tx, name, new RoutingChange(user.ActorId(), RoutingChange.Changed, _ => routing), cancellationToken: cancellationToken);
        if (!result.IsChanged)
        {
            return Problem(result, name);
        }
        await tx.CommitAsync(cancellationToken);
        return TypedResults.Ok(ToDto(result.Deployment!, user));
    }

    /// <summary>The problem+json of a routing change that did not happen.</summary>
    public static ProblemHttpResult Problem(RoutingResult result, string deployment) => result.Outcome switch
    {
        RoutingOutcome.NotFound => NotFound(deployment),
        RoutingOutcome.Invalid => Problems.Validation(result.Errors!.ToDictionary()),
        _ => Problems.Unprocessable(result.Code!, result.Detail!, new Dictionary<string, object?> { ["field"] = result.Field }),
    };

    public static ProblemHttpResult NotFound(string name) => Problems.NotFound(ProblemCodes.DeploymentNotFound, $"there is no deployment named '{ClientText.Echo(name)}'");

    private static DeploymentDto ToDto(DeploymentEntity d, ClaimsPrincipal user) => new(d.Name, d.Environment, d.Model,
        DeploymentRouting.Redact(DeploymentRouting.Read(d), hideQuerySecrets: !user.IsInRole(Roles.Admin)),
        d.Revision, d.CreatedAt, d.CreatedBy, d.UpdatedAt, d.UpdatedBy);
}
