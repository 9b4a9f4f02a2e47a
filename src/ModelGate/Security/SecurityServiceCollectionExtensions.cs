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
            .ValidateOnStart();
        services.AddSingleton<ApiKeyService>();
        services.AddSingleton<SecretProtector>();
        services.AddSingleton<EgressPolicy>();
        // The core services only: AddAuthentication() also registers ASP.NET Core's data protection, whose hosted
        // service creates and loads an XML key ring under ~/.aspnet at start for cookies nothing here issues.
        services.AddAuthenticationCore(o => o.DefaultScheme = ApiKeyAuthenticationHandler.SchemeName);
        services.AddWebEncoders();
        new AuthenticationBuilder(services)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        services.AddAuthorization(o =>
        {
            foreach (var (name, roles) in Permissions.Policies)
            {
                o.AddPolicy(name, p => p.RequireAuthenticatedUser().RequireRole(roles));
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
