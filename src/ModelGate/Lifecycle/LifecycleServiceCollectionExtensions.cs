using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace ModelGate.Lifecycle;

public static class LifecycleServiceCollectionExtensions
{
    public static IServiceCollection AddModelGateLifecycle(this IServiceCollection services)
    {
        services.TryAddSingleton(sp => new LoopbackClient(sp.GetRequiredService<IServer>()));
        services.AddSingleton<StagingVerifier>();
        services.AddSingleton<Retirement>();
        services.AddSingleton<PolicyVerifier>();
        services.AddSingleton<GateVerifiers>();
        return services;
    }

    public static IEndpointRouteBuilder MapLifecycleApi(this IEndpointRouteBuilder app)
    {
        app.MapPoliciesApi();
        app.MapTransitionsApi();
        app.MapApprovalsApi();
        app.MapFloorApprovalsApi();
        app.MapCardsApi();
        app.MapStagingVerificationApi();
        return app;
    }
}
