using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Storage;

namespace ModelGate.WebConsole;

/// <summary>One model as the catalog lists it: owner, risk tier, task, tags, and its versions in each stage.</summary>
public sealed record CatalogEntry(string Name, string Owner, string RiskTier, string Task, IReadOnlyList<string> Tags,
    IReadOnlyDictionary<string, IReadOnlyList<string>> VersionsByStage);

/// <summary>The filters of the catalog: free text over name, owner and tags; risk tier; task.</summary>
public sealed record CatalogFilter(string? Text, string? Tier, string? Task);

/// <summary>The catalog: every model with the versions in each stage, filtered, by name.</summary>
public sealed class Catalog(ModelGateDbContext db)
{
    /// <summary>Stages in lifecycle order, as the catalog's columns show them (rejected and retired versions are not listed).</summary>
    public static readonly IReadOnlyList<string> Columns = [Stages.Trained, Stages.Evaluated, Stages.Registered, Stages.Staging, Stages.Production];

    public async Task<IReadOnlyList<CatalogEntry>> ListAsync(CatalogFilter filter, CancellationToken cancellationToken)
    {
        var models = db.Models.AsNoTracking();
        if (filter.Tier is { Length: > 0 } tier)
        {
            models = models.Where(m => m.RiskTier == tier);
        }
        if (filter.Task is { Length: > 0 } task)
        {
            models = models.Where(m => m.Task == task);
        }
        var rows = await models.OrderBy(m => m.Name)
            .Select(m => new { m.Name, m.Owner, m.RiskTier, m.Task, m.Tags, Versions = m.Versions.Select(v => new { v.Version, v.Stage }).ToList() })
            .ToListAsync(cancellationToken);
        var text = filter.Text?.Trim();
        var entries = new List<CatalogEntry>(rows.Count);
        foreach (var m in rows)
        {
            var tags = JsonSerializer.Deserialize<List<string>>(m.Tags) ?? [];
            if (text is { Length: > 0 } && !m.Name.Contains(text, StringComparison.OrdinalIgnoreCase) && !m.Owner.Contains(text, StringComparison.OrdinalIgnoreCase) &&
                !tags.Any(t => t.Contains(text, StringComparison.OrdinalIgnoreCase)))
            {
                continue;
            }
            var byStage = Columns.ToDictionary(s => s, s => (IReadOnlyList<string>)m.Versions.Where(v => v.Stage == s).Select(v => v.Version)
                .OrderBy(v => Registry.SemVersion.Parse(v)).ToList());
            entries.Add(new CatalogEntry(m.Name, m.Owner, m.RiskTier, m.Task, tags, byStage));
        }
        return entries;
    }
}
