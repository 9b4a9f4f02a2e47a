using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Registry;
using ModelGate.Storage;
using ModelGate.Storage.Registry;

namespace ModelGate.Lifecycle;

/// <summary>
/// What "production" means for a regression check: the version a candidate is compared with, chosen here alone for the
/// evaluation's default baseline and for the evaluated gate's regression check.
/// </summary>
/// <remarks>
/// A replaced version keeps stage <c>production</c> (it stays deployable as last-known-good until it is retired), so
/// the stage alone can name several versions; what users are served is the stable version of the model's production
/// deployments. That version is the baseline. When production deployments route different stables (one per region,
/// say), the highest version among them is (SemVer precedence). When no production deployment routes one (none
/// exists yet), the highest version in stage production is. The candidate is never its own baseline.
/// </remarks>
public static class ProductionBaseline
{
    /// <summary>The baseline for <paramref name="candidateId"/> among the model's versions (with artifacts), or null when the model has nothing in production.</summary>
    public static async Task<ModelVersionEntity?> FindAsync(ModelGateDbContext db, long modelId, long candidateId, CancellationToken cancellationToken)
    {
        var inProduction = await db.ModelVersions.AsNoTracking().Include(v => v.Artifacts)
            .Where(v => v.ModelId == modelId && v.Stage == Stages.Production && v.Id != candidateId).ToListAsync(cancellationToken);
        if (inProduction.Count == 0)
        {
            return null;
        }
        var tables = await db.Deployments.AsNoTracking().Where(d => d.ModelId == modelId && d.Environment == DeploymentEnvironments.Production)
            .Select(d => d.Routing).ToListAsync(cancellationToken);
        var stables = tables.Select(t => JsonSerializer.Deserialize<RoutingTable>(t, ModelGateJson.Options)!.Stable).ToHashSet(StringComparer.Ordinal);
        var serving = inProduction.Where(v => stables.Contains(v.Version)).ToList();
        return (serving.Count > 0 ? serving : inProduction).MaxBy(v => SemVersion.Parse(v.Version));
    }
}
