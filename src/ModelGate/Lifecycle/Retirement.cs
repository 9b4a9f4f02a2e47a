using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Gateway.Onnx;
using ModelGate.Lifecycle.Archives;
using ModelGate.Lifecycle.Cards;
using ModelGate.Registry;
using ModelGate.Storage;
using ModelGate.Storage.Registry;

namespace ModelGate.Lifecycle;

/// <summary>
/// Retiring a version: refused while a deployment routes to it unless a replacement is named, in which case traffic moves
/// to the replacement first; the version is unloaded; an archive of everything recorded about it is written as an
/// artifact with a SHA-256 manifest, and the version keeps the archive's digest.
/// </summary>
public sealed class Retirement(IBlobStore blobs, OnnxModelCache models)
{
    public static readonly TimeSpan UnloadGrace = TimeSpan.FromSeconds(30);

    /// <summary>Adds the retirement checks (traffic, replacement) to a report whose stage checks passed.</summary>
    public async Task<GateReport> CheckAsync(ModelGateDbContext db, ModelVersionEntity version, string? replacement, GateReport report,
        CancellationToken cancellationToken)
    {
        var checks = report.Checks.ToList();
        var routing = await RoutingToAsync(db, version, cancellationToken);
        if (replacement is null)
        {
            checks.Add(new GateCheck("traffic", "no deployment routes to the version, or a replacement is named",
                routing.Count == 0 ? "none" : $"routed by {string.Join(", ", routing.Select(d => d.Name))}; no replacement named", routing.Count == 0));
        }
        else
        {
            var target = await db.ModelVersions.AsNoTracking()
                .FirstOrDefaultAsync(v => v.ModelId == version.ModelId && v.Version == replacement && v.Id != version.Id, cancellationToken);
            var fits = target is not null && routing.All(d => d.Environment switch
            {
                DeploymentEnvironments.Production => target.Stage == Stages.Production,
                DeploymentEnvironments.Staging => target.Stage is Stages.Staging or Stages.Production,
                _ => target.Stage is not (Stages.Retired or Stages.Rejected),
            });
            checks.Add(new GateCheck("replacement", "another version of the model that the deployments' environments accept",
                target is null ? $"'{replacement}' is not another version of {report.Model}" : $"{target.Version} ({target.Stage})", fits));
        }
        return report with { Checks = checks, Passed = checks.All(c => c.Passed) };
    }

    /// <summary>Moves traffic, writes the archive; runs inside the transition's write, so it all lands or none of it does.</summary>
    public async Task<string> RetireAsync(AuditScope tx, ModelVersionEntity version, TransitionRequest request, string actor, CancellationToken cancellationToken)
    {
        var model = version.Model!.Name;
        foreach (var deployment in await RoutingToAsync(tx.Db, version, cancellationToken))
        {
            var entity = await tx.Db.Deployments.FirstAsync(d => d.Id == deployment.Id, cancellationToken);
            var routing = JsonSerializer.Deserialize<RoutingTable>(entity.Routing, ModelGateJson.Options)!;
            var moved = routing with
            {
                Stable = routing.Stable == version.Version ? request.Replacement! : routing.Stable,
                Candidates = routing.Candidates?.Where(c => c.Version != version.Version && c.Version != (routing.Stable == version.Version ? request.Replacement : null)).ToList(),
                Shadow = routing.Shadow?.Version == version.Version ? null : routing.Shadow,
            };
            entity.Routing = JsonSerializer.Serialize(moved, ModelGateJson.Options);
            if (entity.LastKnownGood == version.Version)
            {
                entity.LastKnownGood = null;
            }
            entity.Revision++;
            entity.UpdatedAt = tx.Now;
            entity.UpdatedBy = actor;
            await tx.AppendAsync(actor, "deployment.routing_changed", $"deployments/{entity.Name}",
                new { entity.Revision, reason = $"{model}@{version.Version} retired ({request.Trigger}); traffic moved to {request.Replacement}", stable = moved.Stable },
                cancellationToken: cancellationToken);
        }

        version.RetirementTrigger = request.Trigger;
        var entries = await CollectAsync(tx.Db, version, request, actor, tx.Now, cancellationToken);
        var (archive, result) = await RetirementArchive.WriteAsync(entries, new Dictionary<string, string>
        {
            ["model"] = model, ["version"] = version.Version, ["trigger"] = request.Trigger!, ["retiredAt"] = tx.Now.ToString("O"), ["retiredBy"] = actor,
        }, cancellationToken);
        var sha = result.Sha256;
        var stored = await blobs.WriteAsync(new MemoryStream(archive), sha, long.MaxValue, cancellationToken);
        if (stored.Status is not (BlobWriteStatus.Created or BlobWriteStatus.AlreadyExists))
        {
            throw new IOException($"the retirement archive of {model}@{version.Version} could not be stored");
        }
        if (!await tx.Db.Artifacts.AnyAsync(a => a.Sha256 == sha, cancellationToken))
        {
            tx.Db.Artifacts.Add(new ArtifactEntity { Sha256 = sha, Size = archive.Length, CreatedAt = tx.Now, CreatedBy = actor });
        }
        version.ArchiveSha256 = sha;
        return sha;
    }

    /// <summary>Takes the version's ONNX sessions out of memory once traffic has moved.</summary>
    public void Unload(ModelVersionEntity version)
    {
        foreach (var artifact in version.Artifacts.Where(a => a.FileName.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase)))
        {
            models.Unload(artifact.Sha256, UnloadGrace);
        }
    }

    private static async Task<List<Storage.Gateway.DeploymentEntity>> RoutingToAsync(ModelGateDbContext db, ModelVersionEntity version, CancellationToken cancellationToken)
    {
        var deployments = await db.Deployments.AsNoTracking().Where(d => d.ModelId == version.ModelId).ToListAsync(cancellationToken);
        return deployments.Where(d => Gates.Routing(d) is { } r &&
                                      (r.Stable == version.Version || r.Candidates?.Any(c => c.Version == version.Version) == true || r.Shadow?.Version == version.Version))
            .ToList();
    }

    /// <summary>Everything recorded about the version, as archive entries.</summary>
    private static async Task<List<RetirementArchive.Entry>> CollectAsync(ModelGateDbContext db, ModelVersionEntity version, TransitionRequest request, string actor,
        DateTime now, CancellationToken cancellationToken)
    {
        var model = version.Model!;
        var subject0 = RegistryMapping.VersionSubject(model.Name, version.Version);
        var entries = new List<RetirementArchive.Entry>();
        void Add(string path, object value) => entries.Add(new(path, JsonSerializer.SerializeToUtf8Bytes(value, Indented)));
        void AddLines<T>(string path, IEnumerable<T> rows) =>
            entries.Add(new(path, Encoding.UTF8.GetBytes(string.Concat(rows.Select(r => JsonSerializer.Serialize(r, ModelGateJson.Options) + "\n")))));

        Add("version.json", new
        {
            model = model.Name, model.Owner, model.RiskTier, model.License, version = version.Version, stageBefore = version.Stage, version.CreatedAt,
            version.CreatedBy, artifacts = version.Artifacts.Select(a => new { a.FileName, a.Sha256, a.Size }),
            retired = new { at = now, by = actor, request.Trigger, request.Reason, request.Replacement },
        });
        entries.Add(new(RetirementArchiveLayout.Attestation, Encoding.UTF8.GetBytes(version.Attestation)));
        var attestation = JsonSerializer.Deserialize<Attestation>(version.Attestation, ModelGateJson.Options)!;
        if (attestation.PromptTemplate is { } prompt)
        {
            Add(RetirementArchiveLayout.PromptTemplate, prompt);
        }
        var stored = await db.ModelCards.AsNoTracking().FirstOrDefaultAsync(c => c.VersionId == version.Id, cancellationToken);
        var card = stored is null ? null : JsonSerializer.Deserialize<ModelCard>(stored.Card, ModelGateJson.Options);
        var subject = new CardSubject(model.Name, version.Version, model.Owner, model.Task, model.RiskTier, model.License, version.Stage,
            version.Artifacts.Select(a => new ArtifactRef(a.Sha256, a.FileName, a.MediaType, a.Size)).ToList(), attestation, version.Description ?? model.Description);
        var summaries = await CardsApi.EvaluationSummariesAsync(db, version.Id, cancellationToken);
        if (card is not null)
        {
            Add(RetirementArchiveLayout.CardJson, card);
        }
        entries.Add(new(RetirementArchiveLayout.CardMarkdown, Encoding.UTF8.GetBytes(ModelCardMarkdown.Render(subject, card, summaries))));
        entries.Add(new(RetirementArchiveLayout.CardCycloneDx, Encoding.UTF8.GetBytes(CycloneDxExporter.ExportJson(subject, card, summaries,
            new CycloneDxOptions(Timestamp: now, SerialNumber: DeterministicGuid($"{model.Name}@{version.Version}"))))));
        foreach (var e in await db.Evaluations.AsNoTracking().Where(e => e.VersionId == version.Id).OrderBy(e => e.CreatedAt).ToListAsync(cancellationToken))
        {
            Add(RetirementArchiveLayout.Evaluation(e.Id), e);
        }
        foreach (var a in await db.Approvals.AsNoTracking().Where(a => a.VersionId == version.Id).OrderBy(a => a.Time).ToListAsync(cancellationToken))
        {
            Add(RetirementArchiveLayout.Approval(a.Id), a);
        }
        foreach (var v in await db.StagingVerifications.AsNoTracking().Where(v => v.VersionId == version.Id).OrderBy(v => v.CreatedAt).ToListAsync(cancellationToken))
        {
            Add(RetirementArchiveLayout.StagingCheck(v.Id), v);
        }
        AddLines("transitions.jsonl", await db.Transitions.AsNoTracking().Where(t => t.VersionId == version.Id).OrderBy(t => t.Id).ToListAsync(cancellationToken));
        var deployments = await db.Deployments.AsNoTracking().Where(d => d.ModelId == version.ModelId).Select(d => d.Name).ToListAsync(cancellationToken);
        AddLines(RetirementArchiveLayout.RequestLogs, await db.RequestLogs.AsNoTracking().Where(r => deployments.Contains(r.Deployment) && r.Version == version.Version)
            .OrderBy(r => r.Time).ToListAsync(cancellationToken));
        AddLines(RetirementArchiveLayout.AuditEvents, await db.AuditEvents.AsNoTracking().Where(a => a.Subject == subject0).OrderBy(a => a.Sequence).ToListAsync(cancellationToken));
        return entries;
    }

    private static Guid DeterministicGuid(string text)
    {
        var bytes = System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(text))[..16];
        bytes[6] = (byte)((bytes[6] & 0x0F) | 0x50);
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80);
        return new Guid(bytes, bigEndian: true);
    }

    private static readonly JsonSerializerOptions Indented = new(ModelGateJson.Options) { WriteIndented = true };
}
