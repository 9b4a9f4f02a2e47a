using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Infrastructure;
using Microsoft.AspNetCore.Authorization.Policy;
using ModelGate.Errors;

namespace ModelGate.Security;

/// <summary>Answers a forbidden request with a problem that names the roles the endpoint needs.</summary>
public sealed class ProblemAuthorizationResultHandler : IAuthorizationMiddlewareResultHandler
{
    private readonly AuthorizationMiddlewareResultHandler _default = new();

    public Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult authorizeResult)
    {
        if (!authorizeResult.Forbidden)
        {
            return _default.HandleAsync(next, context, policy, authorizeResult);
        }
        var needed = authorizeResult.AuthorizationFailure?.FailedRequirements.OfType<RolesAuthorizationRequirement>()
            .SelectMany(r => r.AllowedRoles).Distinct().ToList() ?? [];
        return ForbidAsync(context, needed);
    }

    /// <summary>403 naming the roles that would do and the roles the key has.</summary>
    public static Task ForbidAsync(HttpContext context, IReadOnlyList<string> needed)
    {
        var has = context.User.FindAll(System.Security.Claims.ClaimTypes.Role).Select(c => c.Value).ToList();
        var detail = $"this needs one of the roles [{string.Join(", ", needed)}]; the key has [{string.Join(", ", has)}]";
        return Problems.Result(StatusCodes.Status403Forbidden, ProblemCodes.Forbidden, "Forbidden.", detail,
            new Dictionary<string, object?> { ["requiredRoles"] = needed }).ExecuteAsync(context);
    }
}
