using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Evaluation.Datasets;
using ModelGate.Gateway.Telemetry;
using ModelGate.Lifecycle;
using ModelGate.Monitoring.Drift;
using ModelGate.Registry;
using ModelGate.Security;
using ModelGate.Storage;
using ModelGate.Storage.Monitoring;

namespace ModelGate.Monitoring;

/// <summary>The drift of one version's live inputs against its baseline, over a window.</summary>
public sealed record DriftCheckDto(string Deployment, string Version, string Window, DateTime From, DateTime To, DriftReport Report);

/// <summary>
/// Drift: <c>PUT …/versions/{version}/drift-baseline</c> profiles a reference dataset (quantile bins, category
/// frequencies, missing rates); <c>GET /api/v1/deployments/{name}/drift?window=1h</c> compares the inputs the gateway
/// sampled for a routed version with it, column by column, with Evidently's default tests.
/// </summary>
public static class DriftApi
{
    /// <summary>Fewer sampled rows than this make no report: the tests would have no power.</summary>
    public const int MinimumRows = 30;

    public static IEndpointRouteBuilder MapDriftApi(this IEndpointRouteBuilder app)
    {
        app.MapPut("/api/v1/models/{model}/versions/{version}/drift-baseline", SetBaseline).WithTags("Monitoring").WithName(nameof(SetBaseline))
            .RequireAuthorization(Permissions.RegistryWrite);
        app.MapGet("/api/v1/deployments/{name}/drift", CheckDrift).WithTags("Monitoring").WithName(nameof(CheckDrift)).RequireAuthorization(Permissions.Read).ForOwnDeployment();
        return app;
    }

    public static async Task<Results<Ok<DriftBaselineDto>, ProblemHttpResult>> SetBaseline(string model, string version, DriftBaselineRequest request,
        ClaimsPrincipal user, AuditedWrite write, IBlobStore blobs, CancellationToken cancellationToken)
    {
        if (Digests.Normalize(request.Dataset) is not { } sha)
        {
            return Problems.Validation("dataset", "the SHA-256 of a stored CSV artifact");
        }
        await using var stream = await blobs.OpenReadAsync(sha, cancellationToken);
        if (stream is null)
        {
            return Problems.Unprocessable(ProblemCodes.UnknownArtifact, $"no artifact is stored with digest {sha}: push the dataset first");
        }
        CsvTable table;
        try
        {
            table = await CsvTable.ReadAsync(stream, cancellationToken);
        }
        catch (FormatException e)
        {
            return Problems.Unprocessable("dataset_unreadable", $"the dataset is not a CSV table: {e.Message}");
        }
        var columns = request.Columns ?? table.ColumnNames;
        var unknown = columns.Where(c => !table.HasColumn(c)).ToList();
        if (unknown.Count > 0 || columns.Count == 0)
        {
            return Problems.Validation("columns", unknown.Count > 0 ? $"the dataset has no column(s) {string.Join(", ", unknown)}" : "name at least one column");
        }
        var profile = DatasetProfile.FromColumns(columns.Select(c => KeyValuePair.Create(c, (IReadOnlyList<string?>)table.Strings(c))).ToList());
        await using var tx = await write.BeginAsync(cancellationToken);
        var (entity, problem) = await VersionsApi.FindAsync(tx.Db, model, version, cancellationToken, tracked: true);
        if (entity is null)
        {
            return problem!;
        }
        var baseline = await tx.Db.DriftBaselines.FirstOrDefaultAsync(b => b.VersionId == entity.Id, cancellationToken);
        if (baseline is null)
        {
            baseline = new DriftBaselineEntity { VersionId = entity.Id, DatasetSha256 = sha, Profile = "", CreatedBy = user.ActorId() };
            tx.Db.DriftBaselines.Add(baseline);
        }
        baseline.DatasetSha256 = sha;
        baseline.Profile = JsonSerializer.Serialize(profile, ModelGateJson.Options);
        baseline.Rows = table.RowCount;
        baseline.CreatedAt = tx.Now;
        baseline.CreatedBy = user.ActorId();
        await tx.AppendAsync(user.ActorId(), "version.drift_baseline_set", RegistryMapping.VersionSubject(model, entity.Version),
            new { dataset = sha, rows = table.RowCount, columns }, cancellationToken: cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return TypedResults.Ok(new DriftBaselineDto(model, entity.Version, sha, table.RowCount, columns.ToList(), baseline.CreatedAt, baseline.CreatedBy));
    }

    public static async Task<Results<Ok<DriftCheckDto>, ProblemHttpResult>> CheckDrift(string name, string? window, string? version, ModelGateDbContext db,
        DriftChecker checker, CancellationToken cancellationToken)
    {
        var span = TimeSpan.FromHours(1);
        if (window is not null && (!Durations.TryParse(window, out span) || span > TimeSpan.FromDays(7)))
        {
            return Problems.Validation("window", $"'{window}' is not a window: a duration up to 7d, such as 30m or 1h");
        }
        var deployment = await db.Deployments.AsNoTracking().FirstOrDefaultAsync(d => d.Name == name, cancellationToken);
        if (deployment is null)
        {
            return Gateway.DeploymentsApi.NotFound(name);
        }
        var target = version ?? Gates.Routing(deployment)?.Stable ?? "";
        var result = await checker.CheckAsync(db, deployment, target, span, cancellationToken);
        return result.Check is { } check ? TypedResults.Ok(check)
            : result.NoBaseline ? Problems.NotFound(result.Code!, result.Detail!) : Problems.Unprocessable(result.Code!, result.Detail!);
    }
}

/// <summary>Compares a version's sampled inputs with its baseline; shared by the API and the drift monitor.</summary>
/// <summary>A drift check's outcome: the check, or why none could be made (no baseline, or too few sampled rows) with its problem code.</summary>
/// <summary>With <see cref="Histograms"/> when asked for: each column's reference and window distributions over the same bins.</summary>
public sealed record DriftCheckResult(DriftCheckDto? Check, string? Code, string? Detail, bool NoBaseline = false, IReadOnlyList<ColumnHistogram>? Histograms = null)
{
    public static DriftCheckResult Refused(string code, string detail, bool noBaseline = false) => new(null, code, detail, noBaseline);
}

public sealed class DriftChecker(SharedSamples samples, TimeProvider time)
{
    public async Task<DriftCheckResult> CheckAsync(ModelGateDbContext db, Storage.Gateway.DeploymentEntity deployment, string version,
        TimeSpan window, CancellationToken cancellationToken, bool histograms = false)
    {
        var baseline = await db.DriftBaselines.AsNoTracking()
            .Where(b => db.ModelVersions.Any(v => v.Id == b.VersionId && v.ModelId == deployment.ModelId && v.Version == version))
            .FirstOrDefaultAsync(cancellationToken);
        if (baseline is null)
        {
            return DriftCheckResult.Refused(ProblemCodes.DriftBaselineNotFound,
                $"{deployment.Model}@{version} has no drift baseline: PUT /api/v1/models/{deployment.Model}/versions/{version}/drift-baseline", noBaseline: true);
        }
        var now = time.GetUtcNow().UtcDateTime;
        var (columns, rows) = await samples.ReadAsync(db, deployment.Name, version, now - window, cancellationToken);
        if (rows.Count < DriftApi.MinimumRows)
        {
            return DriftCheckResult.Refused(ProblemCodes.NotEnoughSamples,
                $"{rows.Count} input rows of {version} were sampled on '{deployment.Name}' in the last {Durations.Format(window)}; a drift check needs at least {DriftApi.MinimumRows}");
        }
        var profile = JsonSerializer.Deserialize<DatasetProfile>(baseline.Profile, ModelGateJson.Options)!;
        var watched = columns.Where(c => profile.Columns.Any(p => p.Name == c)).ToList();
        var indices = watched.Select(c => columns.ToList().IndexOf(c)).ToArray();
        var window0 = DriftWindow.FromRows(watched, rows.Select(r => (IReadOnlyList<string?>)indices.Select(i => (string?)r.Values[i]).ToArray()).ToList());
        var report = DriftDetector.Compare(profile, window0);
        return new DriftCheckResult(new DriftCheckDto(deployment.Name, version, Durations.Format(window), now - window, now, report), null, null,
            Histograms: histograms ? DriftHistograms.Compute(profile, window0) : null);
    }
}
