using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.HttpResults;
using ModelGate.Errors;

namespace ModelGate.Security;

/// <summary>How an endpoint treats a key scoped to deployments (<c>deployments: [...]</c> on the key).</summary>
public enum ScopedKeyAccess
{
    /// <summary>The endpoint acts on the deployment its route value names: a scoped key may call it for its own deployments only.</summary>
    OwnDeployment,

    /// <summary>
    /// The endpoint serves scoped keys itself: it touches no deployment's data (registry reads), or it shows and acts on
    /// the key's own deployments only (lists, usage, feedback, the data plane's guard).
    /// </summary>
    Served,
}

/// <summary>Endpoint metadata naming how the endpoint treats scoped keys; an endpoint without it refuses them.</summary>
public sealed record ScopedKeyRule(ScopedKeyAccess Access, string RouteValue);

/// <summary>
/// The one rule for keys scoped to deployments, on both planes. An endpoint says what it does with such keys when it is
/// mapped (<see cref="ForOwnDeployment{TBuilder}"/>, <see cref="AllowScopedKeys{TBuilder}"/>); anything that does not
/// say so needs a key without a scope, so a new endpoint is closed to scoped keys until it decides. A deployment outside
/// the key's scope is refused before it is looked up (404 to a read, as for an unknown name; 403 to an act), whether it exists or not, so the answer tells nothing
/// about other deployments; a record found by id (feedback's request) that belongs to another deployment answers as if
/// it did not exist. Lists show the key's own deployments only.
/// </summary>
public static class DeploymentScope
{
    public const string DefaultRouteValue = "name";

    /// <summary>The endpoint acts on the deployment named by <paramref name="routeValue"/>: scoped keys may call it for their deployments.</summary>
    public static TBuilder ForOwnDeployment<TBuilder>(this TBuilder builder, string routeValue = DefaultRouteValue) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ScopedKeyRule(ScopedKeyAccess.OwnDeployment, routeValue));

    /// <summary>The endpoint serves scoped keys: it reads nothing of a deployment, or filters with <see cref="Allows(HttpContext, string)"/>.</summary>
    public static TBuilder AllowScopedKeys<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ScopedKeyRule(ScopedKeyAccess.Served, DefaultRouteValue));

    /// <summary>The deployments the request's key is limited to, or null when it is not limited (or there is no key).</summary>
    public static IReadOnlySet<string>? Of(HttpContext context) => (context.Items[typeof(AuthenticatedKey)] as AuthenticatedKey)?.Deployments;

    /// <summary>Whether <paramref name="key"/> may use <paramref name="deployment"/>.</summary>
    public static bool Allows(AuthenticatedKey? key, string deployment) => key?.Deployments is not { } scope || scope.Contains(deployment);

    /// <summary>Whether the request's key may see or use <paramref name="deployment"/>.</summary>
    public static bool Allows(HttpContext context, string deployment) => Of(context) is not { } scope || scope.Contains(deployment);

    /// <summary>403 for a deployment outside the key's scope (said the same whether the deployment exists or not).</summary>
    public static ProblemHttpResult OutOfScope(string deployment) =>
        Problems.Result(StatusCodes.Status403Forbidden, ProblemCodes.Forbidden, "Forbidden.", $"this key may not call deployment '{deployment}'");

    /// <summary>
    /// 404 for reading a deployment outside the key's scope: to a scoped key the others do not exist, and the answer is the
    /// one an unknown name gets.
    /// </summary>
    public static ProblemHttpResult Invisible(string deployment) =>
        Problems.NotFound(ProblemCodes.DeploymentNotFound, $"there is no deployment named '{ClientText.Echo(deployment)}'");

    /// <summary>403 for an endpoint that spans deployments (or none), which a scoped key may not call.</summary>
    public static ProblemHttpResult UnscopedKeyRequired() =>
        Problems.Result(StatusCodes.Status403Forbidden, ProblemCodes.Forbidden, "Forbidden.",
            "this needs a key that is not scoped to deployments", new Dictionary<string, object?> { ["scopedKey"] = true });

    /// <summary>Applies each endpoint's <see cref="ScopedKeyRule"/> to scoped keys; after authorization, before the handler runs.</summary>
    public static IApplicationBuilder UseDeploymentScope(this IApplicationBuilder app) => app.Use((context, next) =>
    {
        if (context.Items[typeof(AuthenticatedKey)] is not AuthenticatedKey { Deployments: { } scope } || context.GetEndpoint() is not { } endpoint
            || endpoint.Metadata.GetMetadata<IAllowAnonymous>() is not null)
        {
            return next(context);
        }
        var rule = endpoint.Metadata.GetMetadata<ScopedKeyRule>();
        if (rule is null)
        {
            return UnscopedKeyRequired().ExecuteAsync(context);
        }
        if (rule.Access == ScopedKeyAccess.Served)
        {
            return next(context);
        }
        return context.Request.RouteValues[rule.RouteValue] is not string name ? UnscopedKeyRequired().ExecuteAsync(context)
            : scope.Contains(name) ? next(context)
            : HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method) ? Invisible(name).ExecuteAsync(context)
            : OutOfScope(name).ExecuteAsync(context);
    });
}
