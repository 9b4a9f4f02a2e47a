using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using ModelGate.Audit;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Evaluation;
using ModelGate.Gateway;
using ModelGate.Gateway.Telemetry;
using ModelGate.Lifecycle;
using ModelGate.Monitoring;
using ModelGate.Rollouts;
using ModelGate.WebConsole;
using ModelGate.Redis;
using ModelGate.Registry;
using ModelGate.Security;
using ModelGate.Storage;

namespace ModelGate.Hosting;

/// <summary>Section <c>Server</c>.</summary>
public sealed class ServerOptions
{
    public const string Section = "Server";

    /// <summary><c>all</c> (default): control and data plane; <c>control</c>: REST API and workers; <c>gateway</c>: data plane only.</summary>
    public string Role { get; set; } = "all";

    public bool ServesControlPlane => Role is "all" or "control";

    /// <summary>
    /// This process's name among the replicas on one store (<c>Server:Replica</c>): its rows of shared telemetry and its
    /// lease are written under it. Default: the host name, the process id and a random suffix, so that a restarted
    /// process (a container's is always process 1) never continues another's rows.
    /// </summary>
    public string Replica { get; set; } = DefaultReplica();

    private static string DefaultReplica()
    {
        var host = Environment.MachineName;
        return $"{(host.Length > 40 ? host[..40] : host)}-{Environment.ProcessId}-{Random.Shared.Next():x8}";
    }
}

/// <summary>Builds the server: <c>modelgate serve</c> and the functional tests use the same composition.</summary>
public static class ModelGateHost
{
    public const string DefaultUrl = "http://localhost:5180";

    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseKestrelCore();
        builder.WebHost.ConfigureKestrel(k => k.AddServerHeader = false);
        TlsConfiguration.EnableHttps(builder);
        if (string.IsNullOrEmpty(builder.Configuration["urls"]) && string.IsNullOrEmpty(builder.Configuration["ASPNETCORE_URLS"]))
        {
            builder.WebHost.UseUrls(DefaultUrl);
        }
        // Quiet defaults; Logging:LogLevel:* in configuration overrides them.
        builder.Logging.AddFilter("Microsoft.EntityFrameworkCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.AspNetCore.DataProtection", LogLevel.Error);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
        // Hosting starts an Activity for every request whenever this category logs at all (for its log scopes): a
        // few hundred bytes and an async-local per request that nothing here reads. A start-up failure still ends
        // `serve` with the exception's message; OpenTelemetry, when configured, starts its own activities.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddOptions<ServerOptions>().BindConfiguration(ServerOptions.Section)
            .Validate(o => o.Role is "all" or "control" or "gateway", "Server:Role (--role) must be all, control or gateway")
            .Validate(o => o.Replica is { Length: > 0 and <= Storage.Cluster.TelemetrySlotEntity.ReplicaLength } r && r.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'),
                "Server:Replica must be 1 to 64 letters, digits, '-', '_' or '.'")
            .ValidateOnStart();
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.PropertyNamingPolicy = ModelGateJson.Options.PropertyNamingPolicy;
            // A misspelt field is an error, not silently ignored.
            o.SerializerOptions.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
        });
        // Every control-plane body is read with the rules for client input (clean text, bounded strings, finite numbers).
        builder.Services.AddOptions<Microsoft.AspNetCore.Http.Json.JsonOptions>().Configure<IOptions<LimitsOptions>>((o, limits) =>
            ClientJson.AddInputRules(o.SerializerOptions, limits.Value.MaxStringLength));
        builder.Services.AddOptions<ClusterOptions>().BindConfiguration(ClusterOptions.Section)
            .Validate(o => o.LeaseRenewInterval > TimeSpan.Zero && o.LeaseDuration > 2 * o.LeaseRenewInterval,
                "Cluster:LeaseDuration must be more than twice Cluster:LeaseRenewInterval, which must be positive")
            .Validate(o => o.TelemetryFlushInterval > TimeSpan.Zero && o.SharedTelemetryRetention > TimeSpan.Zero,
                "Cluster:TelemetryFlushInterval and Cluster:SharedTelemetryRetention must be positive")
            .ValidateOnStart();
        builder.Services.AddModelGateErrors();
        builder.Services.AddModelGateStorage();
        builder.Services.AddModelGateLeadership();
        builder.Services.AddModelGateAudit();
        builder.Services.AddModelGateSecurity();
        builder.Services.AddModelGateGateway();
        builder.Services.AddModelGateRedis(builder.Configuration);
        builder.Services.AddModelGateEvaluation();
        builder.Services.AddModelGateLifecycle();
        builder.Services.AddModelGateMonitoring();
        builder.Services.AddModelGateRollouts();
        builder.Services.AddModelGateConsole();
        builder.Services.AddModelGateOpenTelemetry(builder.Configuration);
        builder.Services.AddOpenApi("v1", o => o.AddSchemaTransformer(ClientJson.DescribeConvertedTypes));
        configure?.Invoke(builder);

        var app = builder.Build();
        app.UseThreadPoolForControlPlane();
        app.UseExceptionHandler();
        app.UseModelGateRequestLimits();
        app.UseOpenAiFastPath();
        app.UseRouting(); // after the fast path, so that its requests are not matched against every route first
        app.UseStatusCodePages();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseModelGateCleanNames();
        app.UseDeploymentScope();

        app.MapHealthApi();
        app.MapOpenApi("/openapi/{documentName}.json").AllowAnonymous();
        if (app.Services.GetRequiredService<IOptions<ServerOptions>>().Value.ServesControlPlane)
        {
            app.MapModelsApi();
            app.MapVersionsApi();
            app.MapArtifactsApi();
            app.MapAuditApi();
            app.MapKeysApi();
            app.MapPrincipalsApi();
            app.MapMeApi();
            app.MapEvaluationsApi();
            app.MapDeploymentsApi();
            app.MapUsageApi();
            app.MapLifecycleApi();
            app.MapFeedbackApi();
            app.MapAlertsApi();
            app.MapDriftApi();
            app.MapRolloutsApi();
            app.MapClusterApi();
            app.MapConsole();
        }
        // The data plane: served by the all-in-one process and by gateway replicas.
        app.MapInferenceProtocolApi();
        app.MapOpenAiApi();
        app.MapPrometheusMetrics();
        return app;
    }

    public static IEndpointRouteBuilder MapHealthApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", () => TypedResults.Ok(new { status = "ok" })).AllowAnonymous().WithTags("Health");
        app.MapGet("/readyz", async (ModelGateDbContext db, RoutingSnapshots routes, ArtifactIntegrity integrity, CancellationToken ct) =>
            !await db.Database.CanConnectAsync(ct) ? Results.Problem(Problems.Create(503, "not_ready", "The database is not reachable."))
            : await routes.FirstCorruptArtifactAsync(integrity, null, ct) is { } corrupt ? ArtifactsApi.Corrupt(corrupt)
            : Results.Ok(new { status = "ready" }))
            .AllowAnonymous().WithTags("Health");
        return app;
    }

    /// <summary>Prints where the server listens once it does.</summary>
    public static void AnnounceOnStart(WebApplication app)
    {
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
            var data = app.Services.GetRequiredService<IOptions<DataOptions>>().Value;
            var db = app.Services.GetRequiredService<IOptions<DatabaseOptions>>().Value;
            Console.Out.WriteLine($"ModelGate listening on {string.Join(", ", addresses)} " +
                                  $"(database: {db.Provider}, data: {Path.GetFullPath(data.Directory)})");
            Console.Out.Flush();
        });
    }
}
