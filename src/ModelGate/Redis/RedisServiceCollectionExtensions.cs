using Microsoft.Extensions.Options;
using ModelGate.Hosting;

namespace ModelGate.Redis;

public static class RedisServiceCollectionExtensions
{
    /// <summary>
    /// Redis when <c>Redis:Configuration</c> is set: shared limits for the data plane's guard, change pushes and the leader's
    /// alert. Without it only the (inert) publisher and the failure counter are registered, and a process behaves as before.
    /// </summary>
    public static IServiceCollection AddModelGateRedis(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<RedisOptions>().BindConfiguration(RedisOptions.Section)
            .Validate(o => o.FailureMode is FailureModes.Open or FailureModes.Closed, "Redis:FailureMode must be open or closed")
            .Validate(o => o.Timeout > TimeSpan.Zero && o.Timeout <= TimeSpan.FromSeconds(30), "Redis:Timeout must be positive and at most 30 s")
            .Validate(o => o.KeyPrefix.Length <= 64, "Redis:KeyPrefix must be at most 64 characters")
            .Validate(o => !o.Enabled || Parses(o.Configuration), "Redis:Configuration is not a valid StackExchange.Redis connection string")
            .ValidateOnStart();
        services.AddSingleton<RedisFailures>();
        var enabled = !string.IsNullOrWhiteSpace(configuration[$"{RedisOptions.Section}:{nameof(RedisOptions.Configuration)}"]);
        if (!enabled)
        {
            services.AddSingleton(sp => new ClusterPush(null, sp.GetRequiredService<IOptions<ServerOptions>>()));
            return services;
        }
        services.AddSingleton<RedisConnection>();
        services.AddSingleton<SharedLimits>();
        services.AddSingleton(sp => new ClusterPush(sp.GetRequiredService<RedisConnection>(), sp.GetRequiredService<IOptions<ServerOptions>>()));
        services.AddHostedService<ClusterSubscriber>();
        services.AddHostedService<RedisHealth>();
        return services;
    }

    private static bool Parses(string configuration)
    {
        try
        {
            StackExchange.Redis.ConfigurationOptions.Parse(configuration);
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
