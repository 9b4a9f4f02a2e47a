using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Evaluation;
using ModelGate.Gateway;
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
public sealed class Retirement(IBlobStore blobs, OnnxModelCache models, DeploymentRouting routings, RequestLog requestLog)
{
    public static readonly TimeSpan UnloadGrace = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Before the retirement's write: every request answered so far is in the request log's table, so that the archive holds the
    /// version's traffic up to the retirement (the log is written in batches; flushing inside the write would wait on itself).
    /// </summary>
    public Task FlushTrafficAsync(CancellationToken cancellationToken) => requestLog.FlushAsync(cancellationToken);

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
            if (target is not null && routing.Count > 0)
            {
                // The same rule the move itself goes through: e.g. an upstream deployment needs the replacement's upstream.
                var refused = new List<string>();
                foreach (var deployment in routing)
                {
                    var moved = await routings.CheckAsync(db, deployment, table => Moved(table, version.Version, target.Version), cancellationToken);
                    if (!moved.IsChanged)
                    {
                        refused.Add($"{deployment.Name}: {moved.Explain()}");
                    }
                }
                checks.Add(new GateCheck("replacement_routing", $"every deployment that routes {version.Version} can route {target.Version} in its place",
                    refused.Count == 0 ? string.Join(", ", routing.Select(d => d.Name)) : string.Join("; ", refused), refused.Count == 0));
            }
        }
        return report with { Checks = checks, Passed = checks.All(c => c.Passed) };
    }

    /// <summary>Moves traffic, writes the archive; runs inside the transition's write, so it all lands or none of it does.</summary>
    public async Task<string> RetireAsync(AuditScope tx, ModelVersionEntity version, TransitionRequest request, string actor, CancellationToken cancellationToken)
    {
        var model = version.Model!.Name;
        foreach (var deployment in await RoutingToAsync(tx.Db, version, cancellationToken))
        {
            var moved = await routings.ChangeAsync(tx, deployment.Name, new RoutingChange(actor, RoutingChange.Changed,
                table => Moved(table, version.Version, request.Replacement!),
                $"{model}@{version.Version} retired ({request.Trigger}); traffic moved to {request.Replacement}", NotGood: version.Version), cancellationToken);
            if (!moved.IsChanged)
            {
                // The gate checked this same move (replacement_routing) in this transaction: not reached unless that check is bypassed.
                throw new InvalidOperationException($"moving {deployment.Name} off {model}@{version.Version} failed: {moved.Explain()}");
            }
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

    /// <summary>
    /// The table with <paramref name="retired"/> out of it: its traffic (when stable) goes to <paramref name="replacement"/>, which then is no
    /// longer a candidate or shadow; the retired version's upstream goes, the replacement's (kept while it took no traffic) stays.
    /// </summary>
    private static RoutingTable Moved(RoutingTable routing, string retired, string replacement)
    {
        var stable = routing.Stable == retired ? replacement : routing.Stable;
        return routing with
        {
            Stable = stable,
            Candidates = routing.Candidates?.Where(c => c.Version != retired && c.Version != stable).ToList(),
            Shadow = routing.Shadow?.Version == retired || routing.Shadow?.Version == stable ? null : routing.Shadow,
            Upstreams = routing.Upstreams?.Where(u => u.Key != retired).ToDictionary(u => u.Key, u => u.Value),
        };
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
        foreach (var e in await db.Evaluations.AsNoTracking().Where(e => e.VersionId == version.Id).OldestFirst().ToListAsync(cancellationToken))
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
