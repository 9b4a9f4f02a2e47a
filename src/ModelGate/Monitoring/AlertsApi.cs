using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Security;
using ModelGate.Storage;
using ModelGate.Storage.Monitoring;

namespace ModelGate.Monitoring;

/// <summary><c>/api/v1/alerts</c> (and silences) and the deployments' SLOs (<c>/api/v1/deployments/{name}/slo</c>).</summary>
public static class AlertsApi
{
    public static IServiceCollection AddModelGateMonitoring(this IServiceCollection services)
    {
        services.AddOptions<AlertOptions>().BindConfiguration(AlertOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<Microsoft.Extensions.Options.IValidateOptions<AlertOptions>, AlertWebhooksValidation>();
        services.AddHttpClient(nameof(AlertManager), c => c.Timeout = TimeSpan.FromSeconds(10))
            .ConfigurePrimaryHttpMessageHandler(sp => sp.GetRequiredService<Security.EgressPolicy>().CreateHandler());
        services.AddSingleton<AlertManager>();
        services.AddHostedService(sp => sp.GetRequiredService<AlertManager>());
        services.AddSingleton<DriftChecker>();
        services.AddSingleton<Monitors>();
        services.AddHostedService(sp => sp.GetRequiredService<Monitors>());
        return services;
    }

    public static IEndpointRouteBuilder MapAlertsApi(this IEndpointRouteBuilder app)
    {
        var alerts = app.MapGroup("/api/v1/alerts").WithTags("Monitoring");
        alerts.MapGet("/", ListAlerts).WithName(nameof(ListAlerts)).RequireAuthorization(Permissions.Read);
        alerts.MapPost("/silences", CreateSilence).WithName(nameof(CreateSilence)).RequireAuthorization(Permissions.AlertsManage);
        alerts.MapGet("/silences", ListSilences).WithName(nameof(ListSilences)).RequireAuthorization(Permissions.Read);
        var slo = app.MapGroup("/api/v1/deployments/{name}/slo").WithTags("Monitoring").ForOwnDeployment();
        slo.MapPut("/", SetSlo).WithName(nameof(SetSlo)).RequireAuthorization(Permissions.Deploy);
        slo.MapGet("/", GetSlo).WithName(nameof(GetSlo)).RequireAuthorization(Permissions.Read);
        return app;
    }

    public static async Task<Results<Ok<List<AlertDto>>, ProblemHttpResult>> ListAlerts(string? status, string? group, ModelGateDbContext db,
        CancellationToken cancellationToken)
    {
        if (status is not (null or "firing" or "resolved"))
        {
            return Problems.Validation("status", "firing or resolved");
        }
        var query = db.Alerts.AsNoTracking();
        if (status is not null)
        {
            query = query.Where(a => a.Status == status);
        }
        if (group is not null)
        {
            query = query.Where(a => a.Group == group);
        }
        var list = await query.OrderByDescending(a => a.FiredAt).ThenByDescending(a => a.Id).Take(1000).ToListAsync(cancellationToken);
        return TypedResults.Ok(list.Select(AlertManager.ToDto).ToList());
    }

    public static async Task<Results<Created<SilenceDto>, ProblemHttpResult>> CreateSilence(SilenceRequest request, ClaimsPrincipal user, AuditedWrite write,
        CancellationToken cancellationToken)
    {
        var outcome = await Silences.CreateAsync(write, request, user, cancellationToken);
        return outcome.Created is { } silence ? TypedResults.Created("/api/v1/alerts/silences", ToDto(silence)) : outcome.Invalid!.ToProblem();
    }

    public static async Task<Ok<List<SilenceDto>>> ListSilences(ModelGateDbContext db, TimeProvider time, CancellationToken cancellationToken) =>
        TypedResults.Ok((await Silences.InForceAsync(db, time.GetUtcNow().UtcDateTime, cancellationToken)).Select(ToDto).ToList());

    public static async Task<Results<Ok<SloStatusDto>, ProblemHttpResult>> SetSlo(string name, SloSpec spec, ClaimsPrincipal user, AuditedWrite write,
        Monitors monitors, CancellationToken cancellationToken)
    {
        var change = await Slos.SetAsync(write, monitors, name, spec, user, cancellationToken);
        if (change.Invalid is { } invalid)
        {
            return invalid.ToProblem();
        }
        return change.Status is { } status ? TypedResults.Ok(status) : Gateway.DeploymentsApi.NotFound(name);
    }

    public static async Task<Results<Ok<SloStatusDto>, ProblemHttpResult>> GetSlo(string name, ModelGateDbContext db, Monitors monitors, CancellationToken cancellationToken)
    {
        var deployment = await db.Deployments.AsNoTracking().FirstOrDefaultAsync(d => d.Name == name, cancellationToken);
        if (deployment is null)
        {
            return Gateway.DeploymentsApi.NotFound(name);
        }
        return Monitors.Spec(deployment) is { } spec
            ? TypedResults.Ok(await monitors.StatusAsync(db, deployment, spec, cancellationToken))
            : Problems.NotFound("slo_not_found", $"'{name}' has no SLO: PUT /api/v1/deployments/{name}/slo");
    }

    private static SilenceDto ToDto(SilenceEntity s) => new(s.Id, s.KeyPrefix, s.Until, s.Reason, s.CreatedAt, s.CreatedBy);
}
