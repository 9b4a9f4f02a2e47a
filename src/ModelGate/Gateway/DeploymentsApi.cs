using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection.Extensions;
using ModelGate.Client;
using ModelGate.Errors;
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
        services.AddSingleton<UpstreamForwarder>();
        services.AddSingleton<UpstreamBinding>();
        services.AddSingleton<DataPlaneGuard>();
        services.AddOptions<GatewayOptions>().BindConfiguration(GatewayOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<Telemetry.GatewayTelemetry>();
        services.AddSingleton<Telemetry.InputSamples>();
        services.AddSingleton<ShadowWork>();
        services.AddSingleton<RequestLog>();
        services.AddHostedService(sp => sp.GetRequiredService<RequestLog>());
        services.AddHostedService(sp => sp.GetRequiredService<RoutingSnapshots>());
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
        AuditedWrite write, RoutingSnapshots routes, UpstreamBinding upstreams, CancellationToken cancellationToken)
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
            return Problems.Conflict("deployment_exists", $"a deployment named '{request.Name}' already exists");
        }
        var model = await tx.Db.Models.FirstOrDefaultAsync(m => m.Name == request.Model, cancellationToken);
        if (model is null)
        {
            return ModelsApi.ModelNotFound(request.Model);
        }
        var (routing, problem) = await ValidateRoutingAsync(tx.Db, model.Id, request.Environment, request.Routing, null, upstreams, cancellationToken);
        if (routing is null)
        {
            return problem!;
        }
        var entity = new DeploymentEntity
        {
            Name = request.Name,
            Environment = request.Environment,
            ModelId = model.Id,
            Model = model.Name,
            Routing = JsonSerializer.Serialize(routing, ModelGateJson.Options),
            Revision = 1,
            CreatedAt = tx.Now,
            CreatedBy = user.ActorId(),
            UpdatedAt = tx.Now,
            UpdatedBy = user.ActorId(),
        };
        tx.Db.Deployments.Add(entity);
        await tx.AppendAsync(user.ActorId(), "deployment.created", $"deployments/{entity.Name}",
            new { entity.Environment, entity.Model, routing = Redact(routing) }, cancellationToken: cancellationToken);
        await tx.CommitAsync(cancellationToken);
        await routes.ReloadAsync(cancellationToken);
        return TypedResults.Created($"/api/v1/deployments/{entity.Name}", ToDto(entity, user));
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
        AuditedWrite write, RoutingSnapshots routes, CancellationToken cancellationToken)
    {
        var reason = request?.Reason is { Length: > 0 } r ? r : "rollback";
        if (reason.Length > 2000)
        {
            return Problems.Validation("reason", "at most 2000 characters");
        }
        await using var tx = await write.BeginAsync(cancellationToken);
        var entity = await tx.Db.Deployments.FirstOrDefaultAsync(d => d.Name == name, cancellationToken);
        if (entity is null)
        {
            return NotFound(name);
        }
        var routing = JsonSerializer.Deserialize<RoutingTable>(entity.Routing, ModelGateJson.Options)!;
        RoutingTable target;
        if (routing.Candidates?.Any(c => c.Weight > 0) == true || routing.Shadow is not null)
        {
            target = routing with { Candidates = [], Shadow = null };
        }
        else if (entity.LastKnownGood is { } good && good != routing.Stable &&
                 await tx.Db.ModelVersions.AnyAsync(v => v.ModelId == entity.ModelId && v.Version == good && v.Stage != Stages.Retired && v.Stage != Stages.Rejected,
                     cancellationToken))
        {
            target = routing with { Stable = good, Candidates = [], Shadow = null };
        }
        else
        {
            return Problems.Conflict("nothing_to_roll_back", $"'{name}' routes only {routing.Stable} and has no earlier version that can serve");
        }
        entity.Routing = JsonSerializer.Serialize(target, ModelGateJson.Options);
        // The version rolled away from is not good: a second rollback does not bring it back.
        entity.LastKnownGood = target.Stable == routing.Stable ? entity.LastKnownGood : null;
        entity.Revision++;
        entity.UpdatedAt = tx.Now;
        entity.UpdatedBy = user.ActorId();
        await tx.AppendAsync(user.ActorId(), "deployment.rolled_back", $"deployments/{entity.Name}",
            new { entity.Revision, reason, from = Redact(routing), to = Redact(target) }, cancellationToken: cancellationToken);
        await tx.CommitAsync(cancellationToken);
        await routes.ReloadAsync(cancellationToken);
        return TypedResults.Ok(ToDto(entity, user));
    }

    /// <summary>Replaces the routing table; the data plane switches to it atomically, within a second on every replica.</summary>
    public static Task<Results<Ok<DeploymentDto>, ProblemHttpResult>> SetRouting(string name, RoutingTable routing, ClaimsPrincipal user,
        AuditedWrite write, RoutingSnapshots routes, UpstreamBinding upstreams, CancellationToken cancellationToken) =>
        SetRoutingAsync(name, routing, user, write, routes, upstreams, null, cancellationToken);

    /// <remarks><paramref name="alongside"/> stages more changes (a rollout's state) into the same transaction, so that they and the routing commit together or not at all.</remarks>
    public static async Task<Results<Ok<DeploymentDto>, ProblemHttpResult>> SetRoutingAsync(string name, RoutingTable routing, ClaimsPrincipal user,
        AuditedWrite write, RoutingSnapshots routes, UpstreamBinding upstreams, Func<AuditScope, Task>? alongside, CancellationToken cancellationToken)
    {
        await using var tx = await write.BeginAsync(cancellationToken);
        var entity = await tx.Db.Deployments.FirstOrDefaultAsync(d => d.Name == name, cancellationToken);
        if (entity is null)
        {
            return NotFound(name);
        }
        var previous = JsonSerializer.Deserialize<RoutingTable>(entity.Routing, ModelGateJson.Options);
        var (valid, problem) = await ValidateRoutingAsync(tx.Db, entity.ModelId, entity.Environment, routing, previous, upstreams, cancellationToken);
        if (valid is null)
        {
            return problem!;
        }
        entity.Routing = JsonSerializer.Serialize(valid, ModelGateJson.Options);
        if (previous is not null && previous.Stable != valid.Stable)
        {
            entity.LastKnownGood = previous.Stable;
        }
        entity.Revision++;
        entity.UpdatedAt = tx.Now;
        entity.UpdatedBy = user.ActorId();
        await tx.AppendAsync(user.ActorId(), "deployment.routing_changed", $"deployments/{entity.Name}",
            new { entity.Revision, previous = previous is null ? null : Redact(previous), routing = Redact(valid) }, cancellationToken: cancellationToken);
        if (alongside is not null)
        {
            await alongside(tx);
        }
        await tx.CommitAsync(cancellationToken);
        await routes.ReloadAsync(cancellationToken);
        return TypedResults.Ok(ToDto(entity, user));
    }

    /// <summary>
    /// Every routed version must exist, be servable by the backend, and be in a stage the environment accepts:
    /// production only production versions, staging registered or later, development any version not retired.
    /// </summary>
    /// <remarks>
    /// Returns the table as stored: version numbers canonical, and upstream API keys encrypted and bound to their URLs
    /// (<see cref="UpstreamBinding"/>).
    /// </remarks>
    private static async Task<(RoutingTable? Routing, ProblemHttpResult? Problem)> ValidateRoutingAsync(ModelGateDbContext db, long modelId, string environment,
        RoutingTable? routing, RoutingTable? previous, UpstreamBinding binding, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        if (routing is null || string.IsNullOrWhiteSpace(routing.Stable))
        {
            errors.Add("routing.stable", "a routing table needs a stable version");
            return (null, errors.ToProblem());
        }
        if (routing.Backend is not ("onnx" or "upstream"))
        {
            errors.Add("routing.backend", $"'{routing.Backend}' is not a backend: 'onnx' (the version's ONNX artifact, in-process) or 'upstream' (an OpenAI-compatible server)");
        }
        var candidates = routing.Candidates ?? [];
        var total = 0.0;
        var named = new List<(string Field, string Version)> { ("routing.stable", routing.Stable) };
        if (routing.Shadow is { } shadow && (shadow.Percent is < 0 or > 100 || !double.IsFinite(shadow.Percent)))
        {
            errors.Add("routing.shadow.percent", "a percentage from 0 to 100");
        }
        for (var i = 0; i < candidates.Count; i++)
        {
            if (candidates[i] is null || candidates[i].Weight is < 0 or > 100 || !double.IsFinite(candidates[i].Weight))
            {
                errors.Add($"routing.candidates[{i}].weight", "a weight is a percentage from 0 to 100");
                continue;
            }
            total += candidates[i].Weight;
            named.Add(($"routing.candidates[{i}].version", candidates[i].Version));
        }
        if (total > 100)
        {
            errors.Add("routing.candidates", $"the candidates' weights add up to {total}, more than 100");
        }
        if (routing.Stickiness?.Header is { } header && (header.Length is 0 or > 100 || !header.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_')))
        {
            errors.Add("routing.stickiness.header", $"'{header}' is not a header name");
        }
        if (routing.Shadow is { } s)
        {
            named.Add(("routing.shadow.version", s.Version));
        }
        var canonical = new List<string>();
        foreach (var (field, version) in named)
        {
            if (!SemVersion.TryParse(version, out var v, out var error))
            {
                errors.Add(field, error!);
                continue;
            }
            if (canonical.Contains(v!.ToString()))
            {
                errors.Add(field, $"{v} is routed twice");
            }
            canonical.Add(v.ToString());
        }
        if (errors.Any)
        {
            return (null, errors.ToProblem());
        }
        var versions = await db.ModelVersions.AsNoTracking().Include(v => v.Artifacts)
            .Where(v => v.ModelId == modelId && canonical.Contains(v.Version)).ToDictionaryAsync(v => v.Version, cancellationToken);
        for (var i = 0; i < named.Count; i++)
        {
            var (field, _) = named[i];
            if (!versions.TryGetValue(canonical[i], out var version))
            {
                errors.Add(field, $"the model has no version {canonical[i]}");
                continue;
            }
            var allowed = environment switch
            {
                DeploymentEnvironments.Production => version.Stage == Stages.Production,
                // A registered version may be deployed to staging: being served there is what the staging gate checks.
                DeploymentEnvironments.Staging => version.Stage is Stages.Registered or Stages.Staging or Stages.Production,
                _ => version.Stage is not Stages.Retired,
            };
            if (!allowed)
            {
                errors.Add(field, $"{version.Version} is in stage '{version.Stage}', which a {environment} deployment does not serve");
            }
            if (routing.Backend == "onnx" &&
                !version.Artifacts.Any(a => a.MediaType == "application/onnx" || a.FileName.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase)))
            {
                errors.Add(field, $"{version.Version} has no ONNX artifact for the onnx backend");
            }
        }
        Dictionary<string, UpstreamBackend>? upstreams = null;
        UpstreamBound? refused = null;
        if (routing.Backend == "upstream")
        {
            upstreams = new Dictionary<string, UpstreamBackend>(StringComparer.Ordinal);
            var given = (routing.Upstreams ?? new Dictionary<string, UpstreamBackend>())
                .ToDictionary(kv => SemVersion.TryParse(kv.Key, out var v, out _) ? v!.ToString() : kv.Key, kv => kv.Value, StringComparer.Ordinal);
            foreach (var version in canonical)
            {
                var field = $"routing.upstreams.{version}";
                if (!given.TryGetValue(version, out var upstream) || upstream is null)
                {
                    errors.Add(field, $"an upstream backend needs {{url, model}} for every routed version; {version} has none");
                    continue;
                }
                if (string.IsNullOrWhiteSpace(upstream.Model))
                {
                    errors.Add(field + ".model", "the upstream's model name is required");
                }
                if (upstream.FirstByteTimeoutSeconds is <= 0 or > 600 || upstream.IdleTimeoutSeconds is <= 0 or > 600 || upstream.Retries is < 0 or > 3)
                {
                    errors.Add(field, "timeouts are 0–600 s and retries 0–3");
                }
                var bound = binding.Bind(field, upstream, previous?.Upstreams?.GetValueOrDefault(version));
                if (bound.Stored is { } stored)
                {
                    upstreams[version] = stored;
                }
                else if (bound.Status == StatusCodes.Status400BadRequest)
                {
                    errors.Add(bound.Field!, bound.Detail!);
                }
                else
                {
                    refused ??= bound;
                }
            }
        }
        else if (routing.Upstreams is { Count: > 0 })
        {
            errors.Add("routing.upstreams", "upstreams are given only with backend 'upstream'");
        }
        if (errors.Any)
        {
            return (null, errors.ToProblem());
        }
        if (refused is { } r)
        {
            return (null, Problems.Unprocessable(r.Code!, r.Detail!, new Dictionary<string, object?> { ["field"] = r.Field }));
        }
        return (routing with
        {
            Stable = canonical[0],
            Candidates = candidates.Select((c, i) => c with { Version = canonical[i + 1] }).ToList(),
            Upstreams = upstreams,
            Shadow = routing.Shadow is null ? null : routing.Shadow with { Version = canonical[^1] },
        }, null);
    }

    /// <summary>
    /// The table as shown to people: upstream keys (even encrypted) never leave the server, nor credentials in upstream URLs
    /// (user-info always; for callers other than admins, query parameters whose names look like credentials too).
    /// </summary>
    internal static RoutingTable Redact(RoutingTable table, bool hideQuerySecrets = true) => table.Upstreams is null
        ? table
        : table with
        {
            Upstreams = table.Upstreams.ToDictionary(kv => kv.Key,
                kv => kv.Value with { Url = UpstreamBinding.Shown(kv.Value.Url, hideQuerySecrets), ApiKey = null, ApiKeyGiven = false }),
        };

    /// <summary>The table with every upstream's key left out, so that it is kept where the URL stays (for changes copied from the stored table).</summary>
    internal static RoutingTable KeepingStoredKeys(RoutingTable table) => table.Upstreams is null
        ? table
        : table with { Upstreams = table.Upstreams.ToDictionary(kv => kv.Key, kv => kv.Value with { ApiKey = null, ApiKeyGiven = false }) };

    public static ProblemHttpResult NotFound(string name) => Problems.NotFound(ProblemCodes.DeploymentNotFound, $"there is no deployment named '{ClientText.Echo(name)}'");

    private static DeploymentDto ToDto(DeploymentEntity d, ClaimsPrincipal user) => new(d.Name, d.Environment, d.Model,
        Redact(JsonSerializer.Deserialize<RoutingTable>(d.Routing, ModelGateJson.Options)!, hideQuerySecrets: !user.IsInRole(Roles.Admin)),
        d.Revision, d.CreatedAt, d.CreatedBy, d.UpdatedAt, d.UpdatedBy);
}
