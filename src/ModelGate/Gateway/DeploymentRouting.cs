using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Registry;
using ModelGate.Storage;
using ModelGate.Storage.Gateway;

namespace ModelGate.Gateway;

public enum RoutingOutcome
{
    /// <summary>The change is staged in the caller's transaction (table, last-known-good, revision, audit event).</summary>
    Changed,
    /// <summary>There is no such deployment.</summary>
    NotFound,
    /// <summary>The table is not valid: <see cref="RoutingResult.Errors"/> per field.</summary>
    Invalid,
    /// <summary>The table is well-formed but cannot be used (<see cref="RoutingResult.Code"/>: egress_denied, upstream_key_required).</summary>
    Refused,
}

/// <summary>What became of a routing change; <see cref="Previous"/> and <see cref="Routing"/> are the tables as stored (keys encrypted).</summary>
public sealed record RoutingResult(RoutingOutcome Outcome, DeploymentEntity? Deployment = null, RoutingTable? Previous = null, RoutingTable? Routing = null,
    IReadOnlyDictionary<string, string[]>? Errors = null, string? Code = null, string? Field = null, string? Detail = null)
{
    public bool IsChanged => Outcome == RoutingOutcome.Changed;

    /// <summary>Why the change did not happen, in one line (for a gate check, a log line or a 422's detail).</summary>
    public string Explain() => Outcome switch
    {
        RoutingOutcome.Invalid => string.Join("; ", Errors!.Select(e => $"{e.Key}: {string.Join(" ", e.Value)}")),
        RoutingOutcome.Refused => Detail!,
        RoutingOutcome.NotFound => "there is no such deployment",
        _ => "changed",
    };
}

/// <summary>A change of a deployment's routing: <see cref="Apply"/> turns the stored table into the new one.</summary>
/// <param name="Apply">
/// Given the stored table with its upstream keys left out (so that each upstream keeps its stored key where its URL
/// stays), returns the new table; a person's table simply ignores it.
/// </param>
/// <param name="Action">The audit action, e.g. <c>deployment.routing_changed</c>.</param>
/// <param name="NotGood">A version that must not become or stay the last-known-good: the stable version a rollback leaves, a retired version.</param>
public sealed record RoutingChange(string Actor, string Action, Func<RoutingTable, RoutingTable?> Apply, string? Reason = null, string? NotGood = null)
{
    public const string Changed = "deployment.routing_changed";
    public const string RolledBack = "deployment.rolled_back";
}

/// <summary>
/// The one place where a deployment's routing is created or changed — REST, retirement, staging verification and the
/// rollout controller all come here with their own audited transaction: the table is validated (versions, stages,
/// backends, upstreams bound to their keys), the previous stable version becomes last-known-good, the revision goes up,
/// the audit event is appended, and the data plane reloads its snapshot once the caller commits.
/// </summary>
public sealed class DeploymentRouting(UpstreamBinding binding, RoutingSnapshots routes)
{
    public const string Created = "deployment.created";

    public static RoutingTable Read(DeploymentEntity deployment) => JsonSerializer.Deserialize<RoutingTable>(deployment.Routing, ModelGateJson.Options)!;

    /// <summary>Adds a new deployment with <paramref name="routing"/> to the caller's transaction (the caller has checked that the name is free).</summary>
    public async Task<RoutingResult> CreateAsync(AuditScope tx, string name, string environment, long modelId, string model, RoutingTable? routing, string actor,
        CancellationToken cancellationToken)
    {
        var valid = await ValidateAsync(tx.Db, modelId, environment, routing, null, cancellationToken);
        if (!valid.IsChanged)
        {
            return valid;
        }
        var entity = new DeploymentEntity
        {
            Name = name, Environment = environment, ModelId = modelId, Model = model, Routing = JsonSerializer.Serialize(valid.Routing, ModelGateJson.Options),
            Revision = 1, CreatedAt = tx.Now, CreatedBy = actor, UpdatedAt = tx.Now, UpdatedBy = actor,
        };
        tx.Db.Deployments.Add(entity);
        await tx.AppendAsync(actor, Created, $"deployments/{name}", new { environment, model, routing = Redact(valid.Routing!) }, cancellationToken: cancellationToken);
        tx.AfterCommit(ct => routes.ChangedAsync(name, ct));
        return valid with { Deployment = entity };
    }

    /// <summary>Stages <paramref name="change"/> of deployment <paramref name="deployment"/> in the caller's transaction; nothing is written unless it is valid.</summary>
    /// <summary>
    /// Sends all of <paramref name="deployment"/>'s traffic to its last-known-good version at once: with candidates or a shadow
    /// in play, that is the stable version (they are dropped); otherwise it is the stable version before the current one,
    /// which is marked not good so that a second rollback does not bring it back. Refused (<see cref="ProblemCodes.NothingToRollBack"/>)
    /// when there is nothing earlier that can serve. The one rollback, for the REST API and the console alike.
    /// </summary>
    public async Task<RoutingResult> RollbackAsync(AuditScope tx, string deployment, string actor, string reason, CancellationToken cancellationToken)
    {
        var entity = await tx.Db.Deployments.FirstOrDefaultAsync(d => d.Name == deployment, cancellationToken);
        if (entity is null)
        {
            return new RoutingResult(RoutingOutcome.NotFound);
        }
        var current = Read(entity);
        string target;
        if (current.Candidates?.Any(c => c.Weight > 0) == true || current.Shadow is not null)
        {
            target = current.Stable;
        }
        else if (entity.LastKnownGood is { } good && good != current.Stable &&
                 await tx.Db.ModelVersions.AnyAsync(v => v.ModelId == entity.ModelId && v.Version == good && v.Stage != Stages.Retired && v.Stage != Stages.Rejected,
                     cancellationToken))
        {
            target = good;
        }
        else
        {
            return new RoutingResult(RoutingOutcome.Refused, Code: ProblemCodes.NothingToRollBack,
                Detail: $"'{deployment}' routes only {current.Stable} and has no earlier version that can serve");
        }
        return await ChangeAsync(tx, deployment, new RoutingChange(actor, RoutingChange.RolledBack,
            table => table with { Stable = target, Candidates = [], Shadow = null }, reason, NotGood: target == current.Stable ? null : current.Stable), cancellationToken);
    }

    public async Task<RoutingResult> ChangeAsync(AuditScope tx, string deployment, RoutingChange change, CancellationToken cancellationToken)
    {
        var entity = await tx.Db.Deployments.FirstOrDefaultAsync(d => d.Name == deployment, cancellationToken);
        if (entity is null)
        {
            return new(RoutingOutcome.NotFound);
        }
        var result = await CheckAsync(tx.Db, entity, change.Apply, cancellationToken);
        if (!result.IsChanged)
        {
            return result;
        }
        var (previous, valid) = (result.Previous!, result.Routing!);
        entity.Routing = JsonSerializer.Serialize(valid, ModelGateJson.Options);
        if (previous.Stable != valid.Stable && previous.Stable != change.NotGood)
        {
            entity.LastKnownGood = previous.Stable;
        }
        if (entity.LastKnownGood is { } good && (good == change.NotGood || good == valid.Stable))
        {
            entity.LastKnownGood = null;
        }
        entity.Revision++;
        entity.UpdatedAt = tx.Now;
        entity.UpdatedBy = change.Actor;
        await tx.AppendAsync(change.Actor, change.Action, $"deployments/{entity.Name}",
            new { entity.Revision, change.Reason, previous = Redact(previous), routing = Redact(valid) }, cancellationToken: cancellationToken);
        tx.AfterCommit(ct => routes.ChangedAsync(entity.Name, ct));
        return result;
    }

    /// <summary>What <paramref name="apply"/> would make of the deployment's table, validated, without changing anything (a gate's dry run).</summary>
    public async Task<RoutingResult> CheckAsync(ModelGateDbContext db, DeploymentEntity deployment, Func<RoutingTable, RoutingTable?> apply,
        CancellationToken cancellationToken)
    {
        var previous = Read(deployment);
        var result = await ValidateAsync(db, deployment.ModelId, deployment.Environment, apply(KeepingStoredKeys(previous)), previous, cancellationToken);
        return result with { Deployment = deployment, Previous = previous };
    }

    /// <summary>
    /// Every routed version must exist, be servable by the backend, and be in a stage the environment accepts:
    /// production only production versions, staging registered or later, development any version not retired.
    /// With backend <c>upstream</c>, every routed version needs an upstream; upstreams of versions that take no traffic
    /// (configured ahead of a rollout) are kept, checked alike, and must name versions of the model.
    /// </summary>
    /// <remarks>
    /// The table as stored: version numbers canonical, and upstream API keys encrypted and bound to their URLs
    /// (<see cref="UpstreamBinding"/>).
    /// </remarks>
    private async Task<RoutingResult> ValidateAsync(ModelGateDbContext db, long modelId, string environment, RoutingTable? routing, RoutingTable? previous,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        if (routing is null || string.IsNullOrWhiteSpace(routing.Stable))
        {
            errors.Add("routing.stable", "a routing table needs a stable version");
            return Invalid(errors);
        }
        if (routing.Backend is not ("onnx" or "upstream"))
        {
            errors.Add("routing.backend", $"'{routing.Backend}' is not a backend: 'onnx' (the version's ONNX artifact, in-process) or 'upstream' (an OpenAI-compatible server)");
        }
        var candidates = routing.Candidates ?? [];
        var total = 0.0;
        var named = new List<(string Field, string Version)> { ("routing.stable", routing.Stable) };
        if (routing.Shadow is { } shadow && (shadow.Percent is < 0 or > 100 || !double.IsFinite(shadow.Percent)))
        {
            errors.Add("routing.shadow.percent", "a percentage from 0 to 100");
        }
        for (var i = 0; i < candidates.Count; i++)
        {
            if (candidates[i] is null || candidates[i].Weight is < 0 or > 100 || !double.IsFinite(candidates[i].Weight))
            {
                errors.Add($"routing.candidates[{i}].weight", "a weight is a percentage from 0 to 100");
                continue;
            }
            total += candidates[i].Weight;
            named.Add(($"routing.candidates[{i}].version", candidates[i].Version));
        }
        if (total > 100)
        {
            errors.Add("routing.candidates", $"the candidates' weights add up to {total}, more than 100");
        }
        if (routing.Stickiness?.Header is { } header && (header.Length is 0 or > 100 || !header.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_')))
        {
            errors.Add("routing.stickiness.header", $"'{header}' is not a header name");
        }
        if (routing.Shadow is { } s)
        {
            named.Add(("routing.shadow.version", s.Version));
        }
        var canonical = new List<string>();
        foreach (var (field, version) in named)
        {
            if (!SemVersion.TryParse(version, out var v, out var error))
            {
                errors.Add(field, error!);
                continue;
            }
            if (canonical.Contains(v!.ToString()))
            {
                errors.Add(field, $"{v} is routed twice");
            }
            canonical.Add(v.ToString());
        }
        // The upstreams given, by canonical version; those of versions not routed are kept too.
        var given = new Dictionary<string, UpstreamBackend?>(StringComparer.Ordinal);
        if (routing.Backend == "upstream")
        {
            foreach (var (key, upstream) in routing.Upstreams ?? new Dictionary<string, UpstreamBackend>())
            {
                if (!SemVersion.TryParse(key, out var v, out var error))
                {
                    errors.Add($"routing.upstreams.{ClientText.Echo(key)}", error!);
                }
                else if (!given.TryAdd(v!.ToString(), upstream))
                {
                    errors.Add($"routing.upstreams.{ClientText.Echo(key)}", $"{v} has more than one upstream");
                }
            }
        }
        else if (routing.Upstreams is { Count: > 0 })
        {
            errors.Add("routing.upstreams", "upstreams are given only with backend 'upstream'");
        }
        if (errors.Any)
        {
            return Invalid(errors);
        }
        var wanted = canonical.Union(given.Keys).ToList();
        var versions = await db.ModelVersions.AsNoTracking().Include(v => v.Artifacts)
            .Where(v => v.ModelId == modelId && wanted.Contains(v.Version)).ToDictionaryAsync(v => v.Version, cancellationToken);
        for (var i = 0; i < named.Count; i++)
        {
            var (field, _) = named[i];
            if (!versions.TryGetValue(canonical[i], out var version))
            {
                errors.Add(field, $"the model has no version {canonical[i]}");
                continue;
            }
            var allowed = environment switch
            {
                DeploymentEnvironments.Production => version.Stage == Stages.Production,
                // A registered version may be deployed to staging: being served there is what the staging gate checks.
                DeploymentEnvironments.Staging => version.Stage is Stages.Registered or Stages.Staging or Stages.Production,
                _ => version.Stage is not Stages.Retired,
            };
            if (!allowed)
            {
                errors.Add(field, $"{version.Version} is in stage '{version.Stage}', which a {environment} deployment does not serve");
            }
            if (routing.Backend == "onnx" &&
                !version.Artifacts.Any(a => a.MediaType == "application/onnx" || a.FileName.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase)))
            {
                errors.Add(field, $"{version.Version} has no ONNX artifact for the onnx backend");
            }
        }
        Dictionary<string, UpstreamBackend>? upstreams = null;
        UpstreamBound? refused = null;
        if (routing.Backend == "upstream")
        {
            upstreams = new Dictionary<string, UpstreamBackend>(StringComparer.Ordinal);
            foreach (var version in wanted)
            {
                var field = $"routing.upstreams.{version}";
                if (!given.TryGetValue(version, out var upstream) || upstream is null)
                {
                    errors.Add(field, $"an upstream backend needs {{url, model}} for every routed version; {version} has none");
                    continue;
                }
                if (!versions.ContainsKey(version))
                {
                    errors.Add(field, $"the model has no version {version}");
                    continue;
                }
                if (string.IsNullOrWhiteSpace(upstream.Model))
                {
                    errors.Add(field + ".model", "the upstream's model name is required");
                }
                if (upstream.FirstByteTimeoutSeconds is <= 0 or > 600 || upstream.IdleTimeoutSeconds is <= 0 or > 600 || upstream.Retries is < 0 or > 3)
                {
                    errors.Add(field, "timeouts are 0–600 s and retries 0–3");
                }
                var bound = binding.Bind(field, upstream, previous?.Upstreams?.GetValueOrDefault(version));
                if (bound.Stored is { } stored)
                {
                    upstreams[version] = stored;
                }
                else if (bound.Status == StatusCodes.Status400BadRequest)
                {
                    errors.Add(bound.Field!, bound.Detail!);
                }
                else
                {
                    refused ??= bound;
                }
            }
        }
        if (errors.Any)
        {
            return Invalid(errors);
        }
        if (refused is { } r)
        {
            return new(RoutingOutcome.Refused, Code: r.Code, Field: r.Field, Detail: r.Detail);
        }
        return new(RoutingOutcome.Changed, Routing: routing with
        {
            Stable = canonical[0],
            Candidates = candidates.Select((c, i) => c with { Version = canonical[i + 1] }).ToList(),
            Upstreams = upstreams,
            Shadow = routing.Shadow is null ? null : routing.Shadow with { Version = canonical[^1] },
        });
    }

    private static RoutingResult Invalid(ValidationErrors errors) => new(RoutingOutcome.Invalid, Errors: errors.ToDictionary());

    /// <summary>
    /// The table as shown to people: upstream keys (even encrypted) never leave the server, nor credentials in upstream URLs
    /// (user-info always; for callers other than admins, query parameters whose names look like credentials too).
    /// </summary>
    internal static RoutingTable Redact(RoutingTable table, bool hideQuerySecrets = true) => table.Upstreams is null
        ? table
        : table with
        {
            Upstreams = table.Upstreams.ToDictionary(kv => kv.Key, kv => WithoutKeys(kv.Value) with
            {
                Url = kv.Value.Url is null ? null : UpstreamBinding.Shown(kv.Value.Url, hideQuerySecrets),
                Endpoints = kv.Value.Endpoints?.Select(e => e with { Url = UpstreamBinding.Shown(e.Url, hideQuerySecrets) }).ToList(),
                Fallbacks = kv.Value.Fallbacks?.Select(e => e with { Url = UpstreamBinding.Shown(e.Url, hideQuerySecrets) }).ToList(),
            }),
        };

    /// <summary>The table with every upstream's key left out, so that it is kept where the URL stays (for changes made from the stored table).</summary>
    private static RoutingTable KeepingStoredKeys(RoutingTable table) => table.Upstreams is null
        ? table
        : table with { Upstreams = table.Upstreams.ToDictionary(kv => kv.Key, kv => WithoutKeys(kv.Value)) };

    /// <summary>An upstream with its keys and its endpoints' keys left out (not given: kept where the URL stays).</summary>
    private static UpstreamBackend WithoutKeys(UpstreamBackend upstream) => upstream with
    {
        ApiKey = null,
        ApiKeyGiven = false,
        Endpoints = upstream.Endpoints?.Select(e => e with { ApiKey = null, ApiKeyGiven = false }).ToList(),
        Fallbacks = upstream.Fallbacks?.Select(e => e with { ApiKey = null, ApiKeyGiven = false }).ToList(),
    };
}
