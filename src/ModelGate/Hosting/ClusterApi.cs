using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using ModelGate.Client;
using ModelGate.Security;

namespace ModelGate.Hosting;

/// <summary>The workers' leadership (<see cref="LeaderLease"/>) and <c>GET /api/v1/cluster</c>.</summary>
public static class ClusterApi
{
    /// <summary>Registered after the storage (whose initializer migrates first) and before the workers, which the host stops before it releases the lease.</summary>
    public static IServiceCollection AddModelGateLeadership(this IServiceCollection services)
    {
        services.AddSingleton<LeaderLease>();
        services.AddSingleton<ILeadership>(sp => sp.GetRequiredService<LeaderLease>());
        services.AddHostedService(sp => sp.GetRequiredService<LeaderLease>());
        services.AddSingleton<LeaseFenceInterceptor>();
        return services;
    }

    public static IEndpointRouteBuilder MapClusterApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/cluster", GetCluster).WithName(nameof(GetCluster)).WithTags("Cluster").RequireAuthorization(Permissions.Read);
        return app;
    }

    public static async Task<Ok<ClusterDto>> GetCluster(LeaderLease lease, IOptions<ServerOptions> server, CancellationToken cancellationToken)
    {
        var state = await lease.ReadAsync(cancellationToken);
        return TypedResults.Ok(new ClusterDto(lease.Replica, server.Value.Role, lease.IsLeader, lease.UsesLease, lease.FencingToken,
            state is null ? null : new LeaseDto(LeaderLease.WorkersLease, state.Holder, state.Token, state.AcquiredAt, state.ExpiresAt, state.Expired)));
    }

    /// <summary><c>modelgate_leader</c> for <c>/metrics</c>: 1 while this process leads the workers.</summary>
    public static string LeaderGauge(ILeadership leadership) =>
        "# HELP modelgate_leader Whether this process leads the workers (1) or not (0).\n# TYPE modelgate_leader gauge\n" +
        $"modelgate_leader {(leadership.IsLeader ? 1 : 0)}\n";
}
