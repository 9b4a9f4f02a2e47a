using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using ModelGate.Audit;
using ModelGate.Client;
using ModelGate.Evaluation.Metrics;
using ModelGate.Registry;
using ModelGate.Storage;

namespace ModelGate.Evaluation;

/// <summary>
/// Scores queued runs in batches, one run at a time, reporting progress as it goes. A cancelled or failed run is
/// recorded as such with no result; only a run that scored every row it could records metrics.
/// </summary>
public sealed partial class EvaluationRunner(EvaluationJobs jobs, IServiceScopeFactory scopes, Text.UpstreamChatClient upstream,
    Text.DeploymentJudges judges, EvaluationClaims claims, ILogger<EvaluationRunner> logger) : BackgroundService
{
    public const string Interrupted = "interrupted: the server stopped before the run finished";

    /// <summary>
    /// Runs the runs this process accepted, on every control process (leading or not): a run's dataset and its upstream's key
    /// are in this process's memory only. Runs another process held when it stopped are failed by the leader (<see cref="InterruptedEvaluations"/>).
    /// </summary>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var job in jobs.Reader.ReadAllAsync(stoppingToken))
            {
                try
                {
                    await RunAsync(job, stoppingToken);
                }
                finally
                {
                    await EndJudgeAsync(job);
                    await claims.ReleaseAsync(job.Id);
                    jobs.Complete(job.Id);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping (or a start that failed, where the host disposes the service without stopping it): not a fault.
        }
    }

    private async Task RunAsync(EvaluationJob job, CancellationToken stoppingToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, job.Cancellation.Token);
        await UpdateAsync(job.Id, e => e.Status == EvaluationStatuses.Queued, (e, now) =>
        {
            e.Status = EvaluationStatuses.Running;
            e.StartedAt = now;
        }, null, CancellationToken.None);
        job.MarkStarted();
        try
        {
            string json;
            if (job.Text is { } text)
            {
                var answers = await Text.TextRunner.AskAllAsync(job, text, upstream, linked.Token);
                Text.TextBaseline? compared = null;
                if (job.TextBaseline is { } b)
                {
                    var theirs = b.Reused ?? await Text.TextRunner.AskAllAsync(job, b.Ask!, upstream, linked.Token);
                    compared = new Text.TextBaseline(b.Version, b.AttestationSha256, theirs, b.ReusedFrom);
                }
                json = System.Text.Json.JsonSerializer.Serialize(Text.TextScoring.Compute(text, answers, compared), ModelGateJson.Options);
            }
            else
            {
                var (scored, baseline) = await Task.Run(() => Score(job, linked.Token), linked.Token);
                json = System.Text.Json.JsonSerializer.Serialize(EvaluationScoring.Compute(job.Suite!, scored, job.Baseline, baseline), ModelGateJson.Options);
            }
            await UpdateAsync(job.Id, e => e.Status == EvaluationStatuses.Running, (e, now) =>
            {
                e.Status = EvaluationStatuses.Succeeded;
                e.RowsDone = job.RowsDone;
                e.RowsFailed = job.RowsFailed;
                e.FinishedAt = now;
                e.Result = json;
                e.ResultSha256 = AuditChain.Hex(json);
            }, "evaluation.succeeded", CancellationToken.None);
        }
        catch (OperationCanceledException) when (job.Cancellation.IsCancellationRequested)
        {
            await FinishAsync(job, EvaluationStatuses.Cancelled, "cancelled before every row was scored; no result is recorded");
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            await FinishAsync(job, EvaluationStatuses.Failed, Interrupted);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogRunFailed(logger, e, job.Id);
            await FinishAsync(job, EvaluationStatuses.Failed, e.Message);
        }
    }

    /// <summary>A deployment judge's temporary key is revoked as soon as the run ends, however it ended.</summary>
    private async Task EndJudgeAsync(EvaluationJob job)
    {
        if (job.Text?.Judge is not { } judge)
        {
            return;
        }
        try
        {
            await judges.RevokeAsync(judge, $"evaluation {job.Id} ended");
        }
        catch (Exception e)
        {
            LogJudgeKeyNotRevoked(logger, e, job.Id); // it still expires on its own (DeploymentJudges.KeyLifetime)
        }
    }

    private Task FinishAsync(EvaluationJob job, string status, string error) =>
        UpdateAsync(job.Id, e => !EvaluationStatuses.IsTerminal(e.Status), (e, now) =>
        {
            e.Status = status;
            e.RowsDone = job.RowsDone;
            e.RowsFailed = job.RowsFailed;
            e.FinishedAt = now;
            e.Error = error;
        }, "evaluation." + status, CancellationToken.None);

    /// <summary>
    /// Runs the model (and the baseline, batch for batch) over the dataset; a batch that fails is retried row by row so
    /// one bad row costs only itself.
    /// </summary>
    internal static (ScoredRows Candidate, ScoredRows? Baseline) Score(EvaluationJob job, CancellationToken cancellationToken)
    {
        var prepared = job.Suite!;
        var suite = prepared.Suite;
        var table = prepared.Table;
        var n = table.RowCount;
        var target = table.Strings(suite.Target!);
        var truth = target.Select(t => t == suite.PositiveLabel ? 1 : 0).ToArray();
        double[]? numeric = null;
        if (suite.Task == "regression")
        {
            numeric = target.Select(t => double.TryParse(t, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : double.NaN).ToArray();
            // A missing or non-numeric target leaves nothing to score the row against.
            target = numeric.Select((v, i) => double.IsFinite(v) ? target[i] : "").ToArray();
        }
        var output = suite.Task == "regression"
            ? (suite.Output ?? prepared.Model.Outputs.First(o => o.Datatype is "FP32" or "FP64").Name, suite.OutputIndex)
            : ("probabilities", -1);
        var candidate = new ModelScorer(prepared.Model, prepared.InputColumns, table, output);
        var baseline = job.Baseline is { } b ? new ModelScorer(b.Model, b.InputColumns, table, output) : null;
        for (var start = 0; start < n; start += suite.BatchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var count = Math.Min(suite.BatchSize, n - start);
            var failed = candidate.ScoreBatch(start, count, target, cancellationToken);
            baseline?.ScoreBatch(start, count, target, cancellationToken);
            job.AddDone(count, failed);
        }
        return (new ScoredRows(candidate.Ok, candidate.Probability, candidate.Epsilon, truth, candidate.BatchMsPerRow, numeric),
            baseline is null ? null : new ScoredRows(baseline.Ok, baseline.Probability, baseline.Epsilon, truth, baseline.BatchMsPerRow, numeric));
    }

    private sealed class ModelScorer(Gateway.Onnx.OnnxModel model, IReadOnlyDictionary<string, string> inputColumns, Datasets.CsvTable table,
        (string Name, int Index) output)
    {
        private readonly Dictionary<string, Array> _columns = model.Inputs.ToDictionary(i => i.Name, i => i.Datatype == "FP32"
            ? (Array)table.Floats(inputColumns[i.Name])
            : table.Strings(inputColumns[i.Name]));

        public bool[] Ok { get; } = new bool[table.RowCount];
        public double[] Probability { get; } = new double[table.RowCount];

        /// <summary>
        /// Machine epsilon of the output's element type, which <see cref="Probability"/> widens to double: float32's for
        /// the usual ONNX classifier. No other type is scored (<see cref="RunRows"/> refuses every row), so none has one.
        /// </summary>
        public double Epsilon { get; } = model.Outputs.FirstOrDefault(o => o.Name == output.Name)?.Datatype switch
        {
            "FP32" => ProbabilityMetrics.Float32Epsilon,
            "FP64" => ProbabilityMetrics.Float64Epsilon,
            _ => double.NaN,
        };
        public List<double> BatchMsPerRow { get; } = [];

        /// <summary>Scores rows [start, start+count) and returns how many could not be scored.</summary>
        public int ScoreBatch(int start, int count, string[] target, CancellationToken cancellationToken)
        {
            var clock = Stopwatch.StartNew();
            var failed = 0;
            try
            {
                var p = RunRows(model, _columns, start, count, output);
                for (var i = 0; i < count; i++)
                {
                    Probability[start + i] = p[i];
                    Ok[start + i] = true;
                }
            }
            catch (Exception) when (!cancellationToken.IsCancellationRequested)
            {
                for (var i = 0; i < count; i++)
                {
                    try
                    {
                        Probability[start + i] = RunRows(model, _columns, start + i, 1, output)[0];
                        Ok[start + i] = true;
                    }
                    catch (Exception)
                    {
                        failed++;
                    }
                }
            }
            BatchMsPerRow.Add(clock.Elapsed.TotalMilliseconds / count);
            for (var i = start; i < start + count; i++)
            {
                if (Ok[i] && target[i].Length == 0)
                {
                    Ok[i] = false; // no label to score against
                    failed++;
                }
            }
            return failed;
        }
    }

    /// <summary>Column <paramref name="output"/>.Index (−1: the last) of the named output, one value per row.</summary>
    private static double[] RunRows(Gateway.Onnx.OnnxModel model, Dictionary<string, Array> columns, int start, int count, (string Name, int Index) output)
    {
        var slice = new Dictionary<string, Array>(columns.Count, StringComparer.Ordinal);
        foreach (var (name, data) in columns)
        {
            var part = Array.CreateInstance(data.GetType().GetElementType()!, count);
            Array.Copy(data, start, part, 0, count);
            slice[name] = part;
        }
        var outputs = model.Run(slice, count);
        var tensor = outputs[output.Name];
        var width = tensor.Shape.Length == 2 ? tensor.Shape[1] : 1;
        var column = output.Index < 0 ? width - 1 : Math.Min(output.Index, width - 1);
        var result = new double[count];
        for (var i = 0; i < count; i++)
        {
            result[i] = tensor.Data switch
            {
                float[] f => f[i * width + column],
                double[] d => d[i * width + column],
                _ => throw new InvalidDataException($"output '{output.Name}' is not floating-point"),
            };
        }
        return result;
    }

    private Task UpdateAsync(string id, Func<Storage.Evaluation.EvaluationEntity, bool> when,
        Action<Storage.Evaluation.EvaluationEntity, DateTime> change, string? auditAction, CancellationToken cancellationToken) =>
        UpdateAsync(scopes, id, when, change, auditAction, cancellationToken);

    /// <summary>Changes one run in its own audited transaction when <paramref name="when"/> holds; a run that becomes terminal is hashed as evidence.</summary>
    internal static async Task UpdateAsync(IServiceScopeFactory scopes, string id, Func<Storage.Evaluation.EvaluationEntity, bool> when,
        Action<Storage.Evaluation.EvaluationEntity, DateTime> change, string? auditAction, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var write = scope.ServiceProvider.GetRequiredService<AuditedWrite>();
        await using var tx = await write.BeginAsync(cancellationToken);
        var entity = await tx.Db.Evaluations.FirstAsync(e => e.Id == id, cancellationToken);
        if (!when(entity))
        {
            return;
        }
        change(entity, tx.Now);
        if (auditAction is not null)
        {
            // A terminal record never changes again: from here on it is evidence, hashed and recorded with this event.
            var stamp = EvaluationStatuses.IsTerminal(entity.Status) ? EvidenceHashes.Stamp(entity) : null;
            var recorded = await tx.AppendAsync(entity.Evaluator, auditAction, RegistryMapping.VersionSubject(entity.Model, entity.Version) + "/evaluations/" + entity.Id,
                new { entity.Status, entity.SuiteSha256, entity.RowsDone, entity.RowsFailed, entity.ResultSha256, entity.Error, evidenceHash = stamp },
                entity.Status == EvaluationStatuses.Succeeded ? AuditOutcomes.Success : entity.Status, cancellationToken);
            if (stamp is not null)
            {
                entity.EvidenceAuditSequence = recorded.Sequence;
            }
        }
        await tx.CommitAsync(cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Evaluation {Id} failed")]
    private static partial void LogRunFailed(ILogger logger, Exception exception, string id);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The judge key of evaluation {Id} could not be revoked; it expires on its own")]
    private static partial void LogJudgeKeyNotRevoked(ILogger logger, Exception exception, string id);
}

/// <summary>
/// Fails the runs no live process holds (<see cref="EvaluationClaims.OrphansAsync"/>): a process stopped, or was killed,
/// before they finished. The leader does it at the start of its term and, on PostgreSQL, every
/// <see cref="Hosting.ClusterOptions.LeaseDuration"/> after (a claim expires that long after its process's last renewal).
/// </summary>
public sealed class InterruptedEvaluations(EvaluationClaims claims, IServiceScopeFactory scopes, Microsoft.Extensions.Options.IOptions<Hosting.ClusterOptions> cluster,
    Hosting.ILeadership leadership) : Hosting.LeaderWorker(leadership)
{
    protected override async Task LeadAsync(CancellationToken leading)
    {
        while (true)
        {
            await FailOrphansAsync(leading);
            if (!claims.Shared)
            {
                return; // one process: what it did not accept since it started is a previous process's
            }
            await Task.Delay(cluster.Value.LeaseDuration, leading);
        }
    }

    /// <summary>Fails every orphaned run now; returns their ids (the loop calls it, and tests to wait for the fact).</summary>
    public async Task<IReadOnlyList<string>> FailOrphansAsync(CancellationToken cancellationToken)
    {
        IReadOnlyList<string> orphans;
        await using (var scope = scopes.CreateAsyncScope())
        {
            orphans = await claims.OrphansAsync(scope.ServiceProvider.GetRequiredService<ModelGateDbContext>(), cancellationToken);
        }
        foreach (var id in orphans)
        {
            await EvaluationRunner.UpdateAsync(scopes, id, e => !EvaluationStatuses.IsTerminal(e.Status), (e, now) =>
            {
                e.Status = EvaluationStatuses.Failed;
                e.FinishedAt = now;
                e.Error = EvaluationRunner.Interrupted;
            }, "evaluation.failed", cancellationToken);
        }
        return orphans;
    }
}

/// <summary>Per row: whether it was scored, P(positive), and the true label; and the scoring time per row of each batch.</summary>
/// <param name="Epsilon">
/// Machine epsilon of the model output's element type (float32: 2^-23), which <see cref="Probability"/> has widened to
/// double. Log loss clips at it, as scikit-learn clips at the epsilon of the predictions' own dtype.
/// </param>
/// <remarks>For regression runs <see cref="Probability"/> holds the prediction and <see cref="Numeric"/> the numeric target.</remarks>
public sealed record ScoredRows(bool[] Scored, double[] Probability, double Epsilon, int[] Truth, IReadOnlyList<double> BatchMsPerRow, double[]? Numeric = null);
