namespace ModelGate.Hosting;

/// <summary>
/// <c>Server:InlineIO</c> (default on for <c>modelgate serve</c>): socket completions run on the socket engine's own
/// threads instead of being queued to the thread pool, which saves a thread hop on every read and write of a data-plane
/// request (measured in bench/README.md). The price is that code running there must not block, so every request that is
/// not data plane (the REST API, which waits on the database) is moved to the thread pool first, and so are large
/// inference batches. Set through .NET's <c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS</c>, which the runtime reads
/// once, on the first socket: <see cref="Configure"/> must run before the server opens one. A value already in the
/// environment is left as it is.
/// </summary>
public static class InlineIO
{
    public const string Variable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";
    public const string Setting = "Server:InlineIO";

    /// <summary>Whether socket completions run inline in this process.</summary>
    public static bool Active => Environment.GetEnvironmentVariable(Variable) == "1";

    public static void Configure(IConfiguration configuration)
    {
        if (Environment.GetEnvironmentVariable(Variable) is null && configuration.GetValue(Setting, true))
        {
            Environment.SetEnvironmentVariable(Variable, "1");
        }
    }

    /// <summary>The data plane's paths: served where the socket completed; everything else goes to the thread pool.</summary>
    public static bool IsDataPlane(PathString path) =>
        path.StartsWithSegments("/v1") || path.StartsWithSegments("/v2") || path == "/healthz" || path == "/metrics";

    /// <summary>With inline completions, moves every request that may block (not data plane) to the thread pool.</summary>
    public static IApplicationBuilder UseThreadPoolForControlPlane(this IApplicationBuilder app) => !Active
        ? app
        : app.Use(async (context, next) =>
        {
            if (!IsDataPlane(context.Request.Path))
            {
                await Task.Yield(); // no synchronization context here: the rest of the request runs on a thread-pool thread
            }
            await next(context);
        });

    /// <summary>Moves CPU-heavy work (a large inference batch) off a socket thread; a no-op on a pool thread or when not inline.</summary>
    public static async ValueTask LeaveSocketThreadAsync()
    {
        if (Active && !Thread.CurrentThread.IsThreadPoolThread)
        {
            await Task.Yield();
        }
    }
}
