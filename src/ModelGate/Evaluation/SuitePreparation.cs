using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Evaluation.Datasets;
using ModelGate.Gateway.Onnx;
using ModelGate.Registry;
using ModelGate.Storage;
using ModelGate.Storage.Registry;

namespace ModelGate.Evaluation;

/// <summary>A suite checked against its dataset and the version's model, ready to score.</summary>
public sealed record PreparedSuite(EvaluationSuite Suite, string SuiteSha256, string DatasetSha256, CsvTable Table, OnnxModel Model,
    IReadOnlyDictionary<string, string> InputColumns);

/// <summary>
/// Everything about a suite that can be wrong is found here, before any row is scored: the suite document,
/// its metrics, the dataset digest, every column it names, and every model input it must feed.
/// </summary>
public static class SuitePreparation
{
    public static readonly IReadOnlySet<string> ClassificationMetrics = new HashSet<string>(StringComparer.Ordinal)
    {
        "accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss", "brier", "positive_rate", "confusion_matrix",
    };

    public static readonly IReadOnlyList<string> DefaultClassificationMetrics =
        ["accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss", "brier", "positive_rate", "confusion_matrix"];

    public static readonly IReadOnlyList<string> Tasks = ["classification", "regression", "llm-chat", "safety"];

    public static readonly IReadOnlySet<string> RegressionMetrics = new HashSet<string>(StringComparer.Ordinal) { "mae", "rmse", "r2" };

    /// <summary>Reads and parses the suite artifact; checks what every task needs.</summary>
    public static async Task<(EvaluationSuite? Suite, ProblemHttpResult? Problem)> LoadAsync(string suiteSha256, IBlobStore blobs, CancellationToken cancellationToken)
    {
        var suiteStream = await blobs.OpenReadAsync(suiteSha256, cancellationToken);
        if (suiteStream is null)
        {
            return (null, Problems.Unprocessable(ProblemCodes.UnknownArtifact, $"no artifact is stored with digest {suiteSha256}: push the suite file first",
                new Dictionary<string, object?> { ["field"] = "suite" }));
        }
        EvaluationSuite? suite;
        await using (suiteStream)
        {
            try
            {
                using var reader = new StreamReader(suiteStream);
                var text = await reader.ReadToEndAsync(cancellationToken);
                suite = JsonSerializer.Deserialize<EvaluationSuite>(SuiteDocuments.ToJson(text), SuiteJson);
            }
            catch (JsonException e)
            {
                return (null, Problems.Validation("suite", $"the suite is not a valid suite document: {e.Message}"));
            }
            catch (YamlDotNet.Core.YamlException e)
            {
                return (null, Problems.Validation("suite", $"the suite is not valid YAML: {e.Message}"));
            }
        }
        if (suite is null || string.IsNullOrWhiteSpace(suite.Name) || suite.Task is null)
        {
            return (null, Problems.Validation("suite", "a suite needs at least name and task"));
        }
        if (!Tasks.Contains(suite.Task))
        {
            return (null, Problems.Validation("suite.task", $"'{suite.Task}' is not a task; tasks are {string.Join(", ", Tasks)}"));
        }
        return (suite, null);
    }

    public static async Task<(PreparedSuite? Suite, ProblemHttpResult? Problem)> PrepareAsync(EvaluationSuite suite, string suiteSha256, ModelVersionEntity version,
        IBlobStore blobs, OnnxModelCache models, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        if (suite.Dataset is null || string.IsNullOrWhiteSpace(suite.Target))
        {
            errors.Add("suite", $"a {suite.Task} suite needs dataset {{sha256, format}} and target");
            return (null, errors.ToProblem());
        }
        if (suite.Dataset.Format != "csv")
        {
            errors.Add("suite.dataset.format", $"'{suite.Dataset.Format}' is not supported; use csv");
        }
        var regression = suite.Task == "regression";
        var allowed = regression ? RegressionMetrics : ClassificationMetrics;
        var metrics = suite.Metrics ?? (regression ? [.. RegressionMetrics.Order(StringComparer.Ordinal)] : DefaultClassificationMetrics);
        for (var i = 0; i < metrics.Count; i++)
        {
            if (!allowed.Contains(metrics[i]))
            {
                errors.Add($"suite.metrics[{i}]", $"'{metrics[i]}' is not a {suite.Task} metric; they are {string.Join(", ", allowed.Order(StringComparer.Ordinal))}");
            }
        }
        if (regression && suite.Sensitive is not null)
        {
            errors.Add("suite.sensitive", "fairness metrics are defined for classification suites");
        }
        foreach (var name in (suite.Thresholds ?? new Dictionary<string, MetricThreshold>()).Keys)
        {
            if (!allowed.Contains(name) && !(FairnessMetrics.Contains(name) && !regression))
            {
                errors.Add($"suite.thresholds.{name}", $"'{name}' is not a metric");
            }
        }
        if (suite.Threshold is <= 0 or >= 1)
        {
            errors.Add("suite.threshold", "the decision threshold is between 0 and 1");
        }
        if (suite.BatchSize is < 1 or > 65536)
        {
            errors.Add("suite.batchSize", "between 1 and 65536");
        }
        if (suite.Bootstrap is { } b && (b.Resamples is < 0 or > 10000 || b.Confidence is <= 0 or >= 1))
        {
            errors.Add("suite.bootstrap", "resamples 0–10000 and confidence strictly between 0 and 1");
        }
        var datasetSha = Digests.Normalize(suite.Dataset.Sha256);
        if (datasetSha is null)
        {
            errors.Add("suite.dataset.sha256", $"'{suite.Dataset.Sha256}' is not a SHA-256 digest");
        }
        if (errors.Any)
        {
            return (null, errors.ToProblem());
        }

        var datasetStream = await blobs.OpenReadAsync(datasetSha!, cancellationToken);
        if (datasetStream is null)
        {
            return (null, Problems.Unprocessable(ProblemCodes.UnknownArtifact, $"the suite's dataset {datasetSha} is not stored: push it first",
                new Dictionary<string, object?> { ["field"] = "suite.dataset.sha256" }));
        }
        CsvTable table;
        await using (datasetStream)
        {
            try
            {
                table = await CsvTable.ReadAsync(datasetStream, cancellationToken);
            }
            catch (FormatException e)
            {
                return (null, Problems.Validation("suite.dataset", $"the dataset is not a readable CSV: {e.Message}"));
            }
        }

        void RequireColumn(string field, string? column)
        {
            if (column is not null && !table.HasColumn(column))
            {
                errors.Add(field, $"the dataset has no column '{column}' (columns: {string.Join(", ", table.ColumnNames)})");
            }
        }
        RequireColumn("suite.target", suite.Target!);
        RequireColumn("suite.sensitive", suite.Sensitive);
        for (var i = 0; i < (suite.Slices?.Count ?? 0); i++)
        {
            RequireColumn($"suite.slices[{i}]", suite.Slices![i]);
        }

        var (model, mapping, modelProblem) = await PrepareModelAsync(version, suite, table, models, errors, "suite.inputs", cancellationToken);
        if (modelProblem is not null)
        {
            return (null, modelProblem);
        }
        if (errors.Any)
        {
            return (null, errors.ToProblem());
        }
        return (new PreparedSuite(suite with { Metrics = metrics }, suiteSha256, datasetSha!, table, model!, mapping!), null);
    }

    /// <summary>Loads a version's ONNX artifact and maps each of its inputs to a dataset column; errors are named under <paramref name="field"/>.</summary>
    public static async Task<(OnnxModel? Model, Dictionary<string, string>? Mapping, ProblemHttpResult? Problem)> PrepareModelAsync(ModelVersionEntity version,
        EvaluationSuite suite, CsvTable table, OnnxModelCache models, ValidationErrors errors, string field, CancellationToken cancellationToken)
    {
        var onnx = version.Artifacts.FirstOrDefault(a => a.MediaType == "application/onnx" || a.FileName.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase));
        if (onnx is null)
        {
            return (null, null, Problems.Unprocessable("no_onnx_artifact", $"{version.Version} has no ONNX artifact to evaluate in-process"));
        }
        OnnxModel model;
        try
        {
            model = await models.GetAsync(onnx.Sha256, cancellationToken);
        }
        catch (Registry.ArtifactCorruptException e)
        {
            return (null, null, Problems.Unprocessable(ProblemCodes.ArtifactCorrupt, e.Message));
        }
        var mapping = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var input in model.Inputs)
        {
            var column = suite.Inputs is not null && suite.Inputs.TryGetValue(input.Name, out var mapped) ? mapped : input.Name;
            if (!table.HasColumn(column))
            {
                errors.Add($"{field}.{input.Name}", $"the model input '{input.Name}' of {version.Version} needs a column; the dataset has no column '{column}'");
            }
            else if (input.Datatype is not ("FP32" or "BYTES"))
            {
                errors.Add($"{field}.{input.Name}", $"the model input '{input.Name}' is {input.Datatype}; CSV suites feed FP32 and BYTES inputs");
            }
            mapping[input.Name] = column;
        }
        foreach (var name in (suite.Inputs ?? new Dictionary<string, string>()).Keys.Where(k => model.Inputs.All(i => i.Name != k)))
        {
            errors.Add($"{field}.{name}", $"the model of {version.Version} has no input '{name}'");
        }
        if (suite.Task == "regression")
        {
            var output = suite.Output is null ? model.Outputs.FirstOrDefault(o => o.Datatype is "FP32" or "FP64") : model.Outputs.FirstOrDefault(o => o.Name == suite.Output);
            if (output is null || output.Datatype is not ("FP32" or "FP64"))
            {
                errors.Add("suite.output", $"{version.Version} has no floating-point output{(suite.Output is null ? "" : $" named '{suite.Output}'")}; outputs: {string.Join(", ", model.Outputs.Select(o => $"{o.Name} ({o.Datatype})"))}");
            }
        }
        else if (model.Outputs.All(o => o.Name != "probabilities") || model.Outputs.All(o => o.Name != "label"))
        {
            errors.Add("suite.task", $"a classification model must output 'label' and 'probabilities'; {version.Version} does not");
        }
        return (model, mapping, null);
    }

    public static readonly IReadOnlySet<string> FairnessMetrics = new HashSet<string>(StringComparer.Ordinal)
    {
        "demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference", "equal_opportunity_difference",
    };

    private static readonly JsonSerializerOptions SuiteJson = new(ModelGateJson.Options)
    {
        UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
    };
}
