using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using System.Security.Claims;

namespace ModelGate.Security;

public static class SecurityServiceCollectionExtensions
{
    public static IServiceCollection AddModelGateSecurity(this IServiceCollection services)
    {
        services.AddOptions<SecurityOptions>().BindConfiguration(SecurityOptions.Section)
            .Validate(o => o.BootstrapAdminKey is null || ApiKeyService.LooksLikeKey(o.BootstrapAdminKey),
                $"Security:BootstrapAdminKey must start with '{ApiKeyService.KeyPrefix}' and be 32–256 characters long")
            .Validate(o => o.AllowedEgress.All(e => EgressPolicy.TryParseAllowance(e, out _, out _)),
                "Security:AllowedEgress lists CIDRs (10.0.0.0/8, ::1/128), IP addresses or host names (optionally *.suffix)")
            .Validate(o => o.UnknownKeyCacheDuration >= TimeSpan.Zero && o.RefusedKeyLogInterval > TimeSpan.Zero,
                "Security:UnknownKeyCacheDuration must not be negative and Security:RefusedKeyLogInterval must be positive")
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton<ApiKeyService>();
        // Refused keys are logged by ApiKeyService, at most once per interval: not one line per request (a flood of made-up keys).
        services.AddLogging(b => b.AddFilter(typeof(ApiKeyAuthenticationHandler).FullName, LogLevel.Warning));
        services.AddSingleton<SecretProtector>();
        services.AddSingleton<EgressPolicy>();
        services.AddSingleton<TemporaryKeys>();
        // The core services only: AddAuthentication() also registers ASP.NET Core's data protection, whose hosted
        // service creates and loads an XML key ring under ~/.aspnet at start for cookies nothing here issues.
        // The default scheme picks API key or OpenID Connect token by the bearer value (OidcAuthentication).
        services.AddAuthenticationCore(o => o.DefaultScheme = OidcAuthentication.SelectorScheme);
        services.AddWebEncoders();
        new AuthenticationBuilder(services)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        services.AddModelGateOidc();
        services.AddAuthorization(o =>
        {
            foreach (var (name, roles) in Permissions.Policies)
            {
                o.AddPolicy(name, p =>
                {
                    p.RequireAuthenticatedUser().RequireRole(roles);
                    if (name == Permissions.Infer)
                    {
                        // The data plane takes API keys only (their scopes and limits are what it enforces): a token gets 401.
                        p.AddAuthenticationSchemes(ApiKeyAuthenticationHandler.SchemeName);
                    }
                });
            }
            // Anything mapped without a policy still needs a key: nothing is open by accident.
            o.FallbackPolicy = new AuthorizationPolicyBuilder().RequireAuthenticatedUser().Build();
        });
        services.AddSingleton<Microsoft.AspNetCore.Authorization.IAuthorizationMiddlewareResultHandler, ProblemAuthorizationResultHandler>();
        services.AddHostedService<AdminKeyBootstrapper>();
        return services;
    }

    public static string ActorId(this ClaimsPrincipal user) =>
        user.FindFirst(ClaimTypes.NameIdentifier)?.Value ?? throw new InvalidOperationException("no authenticated key");
}
