using System.Security.Claims;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection.Extensions;
using ModelGate.Audit;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Gateway.Onnx;
using ModelGate.Registry;
using ModelGate.Security;
using ModelGate.Storage;
using ModelGate.Storage.Evaluation;

namespace ModelGate.Evaluation;

public static class EvaluationsApi
{
    public static IServiceCollection AddModelGateEvaluation(this IServiceCollection services)
    {
        services.TryAddSingleton<Registry.ArtifactIntegrity>();
        services.TryAddSingleton<OnnxModelCache>();
        services.AddSingleton<EvaluationJobs>();
        services.AddSingleton<Text.UpstreamChatClient>();
        services.AddSingleton<Text.DeploymentJudges>();
        services.AddSingleton<EvaluationClaims>();
        services.AddHostedService(sp => sp.GetRequiredService<EvaluationClaims>());
        services.AddHostedService<EvaluationRunner>();
        services.AddSingleton<InterruptedEvaluations>();
        services.AddHostedService(sp => sp.GetRequiredService<InterruptedEvaluations>());
        return services;
    }

    public static IEndpointRouteBuilder MapEvaluationsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/models/{model}/versions/{version}/evaluations").WithTags("Evaluations");
        api.MapPost("/", StartEvaluation).WithName(nameof(StartEvaluation)).RequireAuthorization(Permissions.EvaluationRun);
        api.MapGet("/", ListEvaluations).WithName(nameof(ListEvaluations)).RequireAuthorization(Permissions.Read).AllowScopedKeys();
        api.MapGet("/{id}", GetEvaluation).WithName(nameof(GetEvaluation)).RequireAuthorization(Permissions.Read).AllowScopedKeys();
        api.MapPost("/{id}/cancel", CancelEvaluation).WithName(nameof(CancelEvaluation)).RequireAuthorization(Permissions.EvaluationRun);
        return app;
    }

    /// <summary>The services starting an evaluation uses.</summary>
    public sealed record StartServices(ModelGateDbContext Db, AuditedWrite Write, IBlobStore Blobs, OnnxModelCache Models, EvaluationJobs Jobs,
        Security.EgressPolicy Egress, EvidenceVerifier Evidence, Text.DeploymentJudges Judges, EvaluationClaims Claims);

    /// <summary>
    /// Checks the suite against its dataset and the model (refusing a bad suite before any row is scored) and queues
    /// the run in this process, claimed for it (<see cref="EvaluationClaims"/>); 202 with the record, whose progress the caller
    /// polls. An external result is recorded at once, marked external.
    /// </summary>
    public static async Task<Results<Accepted<EvaluationDto>, Created<EvaluationDto>, ProblemHttpResult>> StartEvaluation(string model, string version,
        StartEvaluationRequest request, ClaimsPrincipal user, [AsParameters] StartServices services, CancellationToken cancellationToken)
    {
        var (db, write, blobs, models, jobs, egress, evidence, judges, claims) = services;
        var (entity, problem) = await VersionsApi.FindAsync(db, model, version, cancellationToken);
        if (entity is null)
        {
            return problem!;
        }
        var suiteSha = Digests.Normalize(request.Suite);
        if (suiteSha is null)
        {
            return Problems.Validation("suite", $"'{ClientText.Echo(request.Suite)}' is not the SHA-256 digest of a stored suite artifact");
        }
        var actor = user.ActorId();
        var independent = Lifecycle.SeparationOfDuties.IsIndependentEvaluator(await Lifecycle.VersionParties.LoadAsync(db, entity, cancellationToken),
            await Lifecycle.Party.OfAsync(db, user, cancellationToken));

        PreparedSuite? prepared = null;
        BaselineModel? baseline = null;
        Text.PreparedTextSuite? text = null;
        TextBaselineRun? textBaseline = null;
        if (!request.External)
        {
            var (suite, suiteProblem) = await SuitePreparation.LoadAsync(suiteSha, blobs, cancellationToken);
            if (suite is null)
            {
                return suiteProblem!;
            }
            if (suite.Task is "classification" or "regression")
            {
                (prepared, problem) = await SuitePreparation.PrepareAsync(suite, suiteSha, entity, blobs, models, cancellationToken);
                if (prepared is null)
                {
                    return problem!;
                }
                (baseline, problem) = await ResolveBaselineAsync(db, model, entity, request.Baseline, prepared, models, cancellationToken);
                if (problem is not null)
                {
                    return problem;
                }
            }
            else
            {
                if (request.Baseline is not null && suite.Task != "llm-chat")
                {
                    return Problems.Validation("baseline", "baselines are compared in classification, regression and llm-chat runs");
                }
                (text, problem) = await Text.TextSuitePreparation.PrepareAsync(suite, suiteSha, entity, request.Upstream, blobs, cancellationToken, request.JudgeApiKey);
                if (text is null)
                {
                    return problem!;
                }
                if (suite.Task == "llm-chat")
                {
                    (textBaseline, problem) = await ResolveTextBaselineAsync(db, model, entity, request, text, blobs, evidence, cancellationToken);
                    if (problem is not null)
                    {
                        return problem;
                    }
                }
                var upstreamUrl = new Uri(text.Upstream.Url);
                if (upstreamUrl.UserInfo.Length > 0)
                {
                    return Problems.Validation("upstream.url", "credentials in the URL (user:password@) are not accepted; give the key as apiKey");
                }
                if (egress.CheckUrl(upstreamUrl) is { } refused)
                {
                    return Problems.Unprocessable(ProblemCodes.EgressDenied, $"upstream.url: {refused}");
                }
                if (suite.Judge is { Deployment: null } judge && egress.CheckUrl(new Uri(judge.Url!)) is { } judgeRefused)
                {
                    return Problems.Unprocessable(ProblemCodes.EgressDenied, $"suite.judge.url: {judgeRefused}");
                }
                if (suite.Judge is { Deployment: { } judgeDeployment } && await Text.DeploymentJudges.CheckAsync(db, judgeDeployment, cancellationToken) is { } cannot)
                {
                    return Problems.Result(cannot.Status, cannot.Code, "The judge cannot be asked.", cannot.Detail);
                }
                // The baseline's answers, when asked, are judged by the same judge (with the run's key).
                if (textBaseline?.Ask is { } ask)
                {
                    textBaseline = textBaseline with { Ask = ask with { Judge = text.Judge } };
                }
            }
        }
        else
        {
            if (request.Metrics is null || request.Metrics.Count == 0 || request.Metrics.Values.Any(v => !double.IsFinite(v)))
            {
                return Problems.Validation("metrics", "an external result needs its metrics as finite numbers");
            }
            foreach (var (metric, value) in request.Metrics)
            {
                if (MetricRanges.Check(metric, value) is { } reason)
                {
                    return TypedResults.Problem(ClientJson.Problem(ProblemCodes.InvalidNumber, $"metrics.{metric}", reason));
                }
            }
            if (await blobs.GetSizeAsync(suiteSha, cancellationToken) is null)
            {
                return Problems.Unprocessable(ProblemCodes.UnknownArtifact, $"no artifact is stored with digest {suiteSha}: push the suite file first");
            }
        }

        var evaluationId = "eval_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        if (text?.Suite.Judge is { Deployment: { } judgedBy })
        {
            // Issued last, once nothing can refuse the run: the key is revoked when the run ends (or here, if recording it fails).
            var endpoint = await judges.OpenAsync(judgedBy, evaluationId, actor, cancellationToken);
            text = text with { Judge = endpoint };
            if (textBaseline?.Ask is { } ask)
            {
                textBaseline = textBaseline with { Ask = ask with { Judge = endpoint } };
            }
        }
        try
        {
            return await RecordAndQueueAsync(model, entity, request, suiteSha, actor, independent, evaluationId, prepared, baseline, text, textBaseline, write, jobs, claims, cancellationToken);
        }
        catch when (text?.Judge?.TemporaryKeyId is not null)
        {
            await judges.RevokeAsync(text.Judge, "the evaluation could not be recorded");
            throw;
        }
    }

    private static async Task<Results<Accepted<EvaluationDto>, Created<EvaluationDto>, ProblemHttpResult>> RecordAndQueueAsync(string model,
        Storage.Registry.ModelVersionEntity entity, StartEvaluationRequest request, string suiteSha, string actor, bool independent, string evaluationId, PreparedSuite? prepared,
        BaselineModel? baseline, Text.PreparedTextSuite? text, TextBaselineRun? textBaseline, AuditedWrite write, EvaluationJobs jobs,
        EvaluationClaims claims, CancellationToken cancellationToken)
    {
        await using var tx = await write.BeginAsync(cancellationToken);
        var evaluation = new EvaluationEntity
        {
            Id = evaluationId,
            VersionId = entity.Id,
            Model = model,
            Version = entity.Version,
            SuiteSha256 = suiteSha,
            BaselineVersion = baseline?.Version ?? textBaseline?.Version,
            DatasetSha256 = prepared?.DatasetSha256 ?? text?.DatasetSha256,
            Status = request.External ? EvaluationStatuses.Succeeded : EvaluationStatuses.Queued,
            External = request.External,
            Evaluator = actor,
            Trainer = entity.Trainer,
            Independent = independent,
            RowsTotal = prepared?.Table.RowCount ?? (text?.Rows.Count ?? 0) + (textBaseline?.Ask?.Rows.Count ?? 0),
            CreatedAt = tx.Now,
        };
        if (request.External)
        {
            var json = JsonSerializer.Serialize(new { external = true, metrics = request.Metrics }, ModelGateJson.Options);
            evaluation.StartedAt = evaluation.FinishedAt = tx.Now;
            evaluation.Result = json;
            evaluation.ResultSha256 = AuditChain.Hex(json);
        }
        tx.Db.Evaluations.Add(evaluation);
        // A recorded external result is evidence at once; a queued run becomes evidence when it reaches a terminal status.
        var stamp = request.External ? EvidenceHashes.Stamp(evaluation) : null;
        var recorded = await tx.AppendAsync(actor, request.External ? "evaluation.recorded" : "evaluation.queued",
            RegistryMapping.VersionSubject(model, entity.Version) + "/evaluations/" + evaluation.Id,
            new
            {
                suite = suiteSha, dataset = evaluation.DatasetSha256, baseline = evaluation.BaselineVersion, baselineReusedFrom = textBaseline?.ReusedFrom,
                external = request.External, independent,
                upstream = text is null ? null : new { text.Upstream.Url, text.Upstream.Model }, // never the key
                judge = text?.Suite.Judge is { } judged ? new { judged.Deployment, judged.Url, judged.Model, judgeKey = text.Judge?.TemporaryKeyId } : null,
                evidenceHash = stamp,
            },
            cancellationToken: cancellationToken);
        if (stamp is not null)
        {
            evaluation.EvidenceAuditSequence = recorded.Sequence;
        }
        else
        {
            await claims.ClaimAsync(tx.Db, evaluation.Id, cancellationToken); // with the queued run: never a moment without its holder
        }
        await tx.CommitAsync(cancellationToken);

        var location = $"/api/v1/models/{model}/versions/{entity.Version}/evaluations/{evaluation.Id}";
        if (request.External)
        {
            return TypedResults.Created(location, ToDto(evaluation, null));
        }
        var job = new EvaluationJob(evaluation.Id, actor, evaluation.RowsTotal) { Suite = prepared, Baseline = baseline, Text = text, TextBaseline = textBaseline };
        jobs.Enqueue(job);
        return TypedResults.Accepted(location, ToDto(evaluation, job));
    }

    /// <summary>The version's evaluations; each finished one with its <c>integrity</c> (re-verified against its audit event).</summary>
    public static async Task<Results<Ok<List<EvaluationDto>>, ProblemHttpResult>> ListEvaluations(string model, string version, ModelGateDbContext db,
        EvaluationJobs jobs, EvidenceVerifier evidence, CancellationToken cancellationToken)
    {
        var (entity, problem) = await VersionsApi.FindAsync(db, model, version, cancellationToken);
        if (entity is null)
        {
            return problem!;
        }
        var rows = await db.Evaluations.AsNoTracking().Where(e => e.VersionId == entity.Id).OldestFirst().ToListAsync(cancellationToken);
        var finished = rows.Where(e => EvaluationStatuses.IsTerminal(e.Status)).ToList();
        var integrity = (await evidence.VerifyAsync(db, finished.Select(EvidenceRecord.Of).ToList(), cancellationToken)).ToDictionary(i => i.Id);
        return TypedResults.Ok(rows.Select(e => ToDto(e, jobs.Find(e.Id)) with { Integrity = integrity.GetValueOrDefault(e.Id)?.ToDto() }).ToList());
    }

    public static async Task<Results<Ok<EvaluationDto>, ProblemHttpResult>> GetEvaluation(string model, string version, string id, ModelGateDbContext db,
        EvaluationJobs jobs, EvidenceVerifier evidence, CancellationToken cancellationToken)
    {
        var (evaluation, problem) = await FindAsync(db, model, version, id, cancellationToken);
        if (evaluation is null)
        {
            return problem!;
        }
        var integrity = EvaluationStatuses.IsTerminal(evaluation.Status)
            ? (await evidence.VerifyAsync(db, EvidenceRecord.Of(evaluation), cancellationToken)).ToDto()
            : null;
        return TypedResults.Ok(ToDto(evaluation, jobs.Find(id)) with { Integrity = integrity });
    }

    public static async Task<Results<Accepted<EvaluationDto>, Ok<EvaluationDto>, ProblemHttpResult>> CancelEvaluation(string model, string version, string id,
        ModelGateDbContext db, EvaluationJobs jobs, CancellationToken cancellationToken)
    {
        var (evaluation, problem) = await FindAsync(db, model, version, id, cancellationToken);
        if (evaluation is null)
        {
            return problem!;
        }
        if (EvaluationStatuses.IsTerminal(evaluation.Status))
        {
            return Problems.Conflict("evaluation_finished", $"evaluation {id} already {evaluation.Status}; a finished record never changes");
        }
        var job = jobs.Find(id);
        if (job is not null)
        {
            await job.Cancellation.CancelAsync();
        }
        return TypedResults.Accepted($"/api/v1/models/{model}/versions/{evaluation.Version}/evaluations/{id}", ToDto(evaluation, job));
    }

    /// <summary>
    /// An llm-chat run's baseline: the named version, or by default the production baseline (none when there is none). Its
    /// answers are reused from its latest succeeded run of the same suite and dataset when that run kept them and still verifies; otherwise its
    /// rows are rendered with its own prompt template and asked through <c>baselineUpstream</c> (default: the run's upstream).
    /// </summary>
    private static async Task<(TextBaselineRun?, ProblemHttpResult?)> ResolveTextBaselineAsync(ModelGateDbContext db, string model,
        Storage.Registry.ModelVersionEntity candidate, StartEvaluationRequest request, Text.PreparedTextSuite text, IBlobStore blobs,
        EvidenceVerifier evidence, CancellationToken cancellationToken)
    {
        var (baseline, problem) = await BaselineVersionAsync(db, model, candidate, request.Baseline, cancellationToken);
        if (baseline is null)
        {
            return (null, problem);
        }
        var stored = await db.Evaluations.AsNoTracking()
            .Where(e => e.VersionId == baseline.Id && e.SuiteSha256 == text.SuiteSha256 && e.DatasetSha256 == text.DatasetSha256 &&
                        e.Status == EvaluationStatuses.Succeeded && !e.External && e.Result != null)
            .NewestFirst().FirstOrDefaultAsync(cancellationToken);
        // Reused only while that run still verifies against its audit event (evidence is verified where it is used).
        if (stored is not null && (await evidence.VerifyAsync(db, EvidenceRecord.Of(stored), cancellationToken)).Verified &&
            Text.TextScoring.ReadAnswers(stored.Result!, text.Rows) is { } reused)
        {
            return (new TextBaselineRun(baseline.Version, baseline.AttestationSha256, null, reused, stored.Id), null);
        }
        var (ask, askProblem) = await Text.TextSuitePreparation.PrepareAsync(text.Suite, text.SuiteSha256, baseline, request.BaselineUpstream ?? request.Upstream,
            blobs, cancellationToken);
        if (ask is null)
        {
            return (null, askProblem);
        }
        return (new TextBaselineRun(baseline.Version, baseline.AttestationSha256, ask, null, null), null);
    }

    /// <summary>
    /// The version a run compares with, for every task: the named one (never the candidate itself), or by default the production
    /// baseline the regression check uses (<see cref="Lifecycle.ProductionBaseline"/>); (null, null) when there is none.
    /// </summary>
    private static async Task<(Storage.Registry.ModelVersionEntity?, ProblemHttpResult?)> BaselineVersionAsync(ModelGateDbContext db, string model,
        Storage.Registry.ModelVersionEntity candidate, string? requested, CancellationToken cancellationToken)
    {
        if (requested is null)
        {
            return (await Lifecycle.ProductionBaseline.FindAsync(db, candidate.ModelId, candidate.Id, cancellationToken), null);
        }
        var (baseline, problem) = await VersionsApi.FindAsync(db, model, requested, cancellationToken);
        return baseline is null ? (null, problem)
            : baseline.Id == candidate.Id ? (null, Problems.Validation("baseline", "a version cannot be its own baseline"))
            : (baseline, null);
    }

    /// <summary>The named baseline, or by default the one the regression check compares with (<see cref="Lifecycle.ProductionBaseline"/>; none when there is none).</summary>
    private static async Task<(BaselineModel?, ProblemHttpResult?)> ResolveBaselineAsync(ModelGateDbContext db, string model,
        Storage.Registry.ModelVersionEntity candidate, string? requested, PreparedSuite prepared, OnnxModelCache models, CancellationToken cancellationToken)
    {
        var (baseline, problem) = await BaselineVersionAsync(db, model, candidate, requested, cancellationToken);
        if (baseline is null)
        {
            return (null, problem);
        }
        var errors = new ValidationErrors();
        var (onnx, mapping, modelProblem) = await SuitePreparation.PrepareModelAsync(baseline, prepared.Suite, prepared.Table, models, errors, "baseline.inputs", cancellationToken);
        if (modelProblem is not null)
        {
            return (null, modelProblem);
        }
        return errors.Any ? (null, errors.ToProblem()) : (new BaselineModel(baseline.Version, onnx!, mapping!), null);
    }

    private static async Task<(EvaluationEntity?, ProblemHttpResult?)> FindAsync(ModelGateDbContext db, string model, string version, string id,
        CancellationToken cancellationToken)
    {
        var (entity, problem) = await VersionsApi.FindAsync(db, model, version, cancellationToken);
        if (entity is null)
        {
            return (null, problem);
        }
        var evaluation = await db.Evaluations.AsNoTracking().FirstOrDefaultAsync(e => e.Id == id && e.VersionId == entity.Id, cancellationToken);
        return evaluation is null
            ? (null, Problems.NotFound("evaluation_not_found", $"{model}@{entity.Version} has no evaluation '{ClientText.Echo(id)}'"))
            : (evaluation, null);
    }

    internal static EvaluationDto ToDto(EvaluationEntity e, EvaluationJob? job)
    {
        var progress = job is not null && !EvaluationStatuses.IsTerminal(e.Status)
            ? job.Progress()
            : new EvaluationProgressDto(e.RowsTotal, e.RowsDone, e.RowsFailed, 0, null);
        JsonElement? result = e.Result is null ? null : JsonDocument.Parse(e.Result).RootElement.Clone();
        return new EvaluationDto(e.Id, e.Model, e.Version, e.SuiteSha256, e.DatasetSha256, e.Status, e.External, e.Evaluator, e.Trainer, e.Independent,
            progress, e.CreatedAt, e.StartedAt, e.FinishedAt, result, e.ResultSha256, e.Error, e.BaselineVersion);
    }
}
