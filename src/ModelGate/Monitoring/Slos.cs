using System.Security.Claims;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Security;
using ModelGate.Storage;

namespace ModelGate.Monitoring;

/// <summary>A deployment's SLO set (with its status right after), or the fields that were not valid (400), or no such deployment (404).</summary>
public sealed record SloChange(SloStatusDto? Status = null, ValidationErrors? Invalid = null, bool DeploymentMissing = false);

/// <summary>
/// Setting a deployment's service-level objectives: one place for the REST API (<c>PUT …/slo</c>) and the console, each
/// audited as <c>deployment.slo_changed</c> with the spec.
/// </summary>
public static class Slos
{
    public const string ChangedAction = "deployment.slo_changed";

    /// <summary>The objectives' bounds; an empty result means the spec is valid.</summary>
    public static ValidationErrors Validate(SloSpec spec)
    {
        var errors = new ValidationErrors();
        if (spec.Availability is <= 0 or >= 1)
        {
            errors.Add("availability", "an objective strictly between 0 and 1, e.g. 0.999");
        }
        if (spec.LatencyObjective is <= 0 or >= 1)
        {
            errors.Add("latencyObjective", "an objective strictly between 0 and 1, e.g. 0.99");
        }
        if (spec.LatencyThresholdMs is <= 0 or > 600_000)
        {
            errors.Add("latencyThresholdMs", "a threshold in milliseconds (0–600000]");
        }
        if (spec.PeriodDays is < 1 or > 90)
        {
            errors.Add("periodDays", "1–90 days");
        }
        return errors;
    }

    public static async Task<SloChange> SetAsync(AuditedWrite write, Monitors monitors, string name, SloSpec spec, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var errors = Validate(spec);
        if (errors.Any)
        {
            return new SloChange(Invalid: errors);
        }
        await using var tx = await write.BeginAsync(cancellationToken);
        var deployment = await tx.Db.Deployments.FirstOrDefaultAsync(d => d.Name == name, cancellationToken);
        if (deployment is null)
        {
            return new SloChange(DeploymentMissing: true);
        }
        deployment.Slo = JsonSerializer.Serialize(spec, ModelGateJson.Options);
        await tx.AppendAsync(user.ActorId(), ChangedAction, $"deployments/{name}", spec, cancellationToken: cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return new SloChange(await monitors.StatusAsync(tx.Db, deployment, spec, cancellationToken));
    }
}
