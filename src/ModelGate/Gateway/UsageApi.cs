using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Security;
using ModelGate.Storage;

namespace ModelGate.Gateway;

public static class UsageApi
{
    private static readonly string[] Dimensions = ["key", "deployment", "version"];

    public static IEndpointRouteBuilder MapUsageApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/usage", GetUsage).WithTags("Usage").WithName(nameof(GetUsage)).RequireAuthorization(Permissions.Read).AllowScopedKeys();
        return app;
    }

    /// <summary>Requests, errors, tokens, cost and mean latency from the request log, grouped by any of key, deployment and version.</summary>
    public static async Task<Results<Ok<UsageDto>, ProblemHttpResult>> GetUsage(HttpContext context, ModelGateDbContext db, RequestLog log, string? groupBy,
        string? deployment, string? key, DateTimeOffset? from, DateTimeOffset? to, CancellationToken cancellationToken)
    {
        var groups = (groupBy ?? "deployment,version").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (groups.Any(g => !Dimensions.Contains(g)))
        {
            return Problems.Validation("groupBy", $"groupBy is a comma-separated list of {string.Join(", ", Dimensions)}");
        }
        var query = db.RequestLogs.AsNoTracking();
        if (DeploymentScope.Of(context) is { } scope)
        {
            var own = scope.ToList();
            query = query.Where(r => own.Contains(r.Deployment));
        }
        if (deployment is not null)
        {
            query = query.Where(r => r.Deployment == deployment);
        }
        if (key is not null)
        {
            query = query.Where(r => r.KeyId == key);
        }
        if (from is { } f)
        {
            var fromUtc = f.UtcDateTime;
            query = query.Where(r => r.Time >= fromUtc);
        }
        if (to is { } t)
        {
            var toUtc = t.UtcDateTime;
            query = query.Where(r => r.Time < toUtc);
        }
        var rows = await query.GroupBy(r => new { r.KeyId, r.Deployment, r.Version }).Select(g => new
        {
            g.Key.KeyId,
            g.Key.Deployment,
            g.Key.Version,
            Requests = g.LongCount(),
            Errors = g.LongCount(r => r.Status >= 400),
            Prompt = g.Sum(r => r.PromptTokens ?? 0),
            Completion = g.Sum(r => r.CompletionTokens ?? 0),
            Cost = g.Sum(r => r.Cost ?? 0),
            Latency = g.Sum(r => r.LatencyMs),
        }).ToListAsync(cancellationToken);
        var result = rows.GroupBy(r => (
                Key: groups.Contains("key") ? r.KeyId : null,
                Deployment: groups.Contains("deployment") ? r.Deployment : null,
                Version: groups.Contains("version") ? r.Version : null))
            .Select(g => new UsageRowDto(g.Key.Key, g.Key.Deployment, g.Key.Version, g.Sum(r => r.Requests), g.Sum(r => r.Errors),
                g.Sum(r => r.Prompt), g.Sum(r => r.Completion), Math.Round(g.Sum(r => r.Cost), 8), g.Sum(r => r.Latency) / g.Sum(r => r.Requests)))
            .OrderBy(r => r.Deployment, StringComparer.Ordinal).ThenBy(r => r.Version, StringComparer.Ordinal).ThenBy(r => r.Key, StringComparer.Ordinal)
            .ToList();
        return TypedResults.Ok(new UsageDto(result, log.Dropped));
    }
}
