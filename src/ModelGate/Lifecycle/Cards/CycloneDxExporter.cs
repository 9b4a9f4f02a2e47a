using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using ModelGate.Client;

namespace ModelGate.Lifecycle.Cards;

/// <param name="Timestamp">metadata.timestamp (omitted when null, so that the same inputs give the same document).</param>
/// <param name="SerialNumber">serialNumber as urn:uuid (omitted when null).</param>
/// <param name="ToolVersion">The ModelGate version named in metadata.tools (default: this assembly's).</param>
public sealed record CycloneDxOptions(DateTimeOffset? Timestamp = null, Guid? SerialNumber = null, string? ToolVersion = null);

/// <summary>
/// Exports a version and its card as a CycloneDX 1.6 ML-BOM: one <c>machine-learning-model</c> component carrying the
/// <c>modelCard</c>, with its artifacts as nested <c>file</c> components and its datasets as <c>data</c> components.
/// </summary>
/// <remarks>
/// Mapping: intended use → <c>considerations.useCases</c>; limitations → <c>technicalLimitations</c>; ethical
/// considerations → <c>ethicalConsiderations</c> (name, mitigationStrategy); evaluation results →
/// <c>quantitativeAnalysis.performanceMetrics</c> (sliced metrics carry <c>slice</c>); architecture →
/// <c>modelParameters.modelArchitecture</c>; attested and evaluation datasets → <c>modelParameters.datasets</c> refs.
/// CycloneDX has no field for out-of-scope use, the training-data and evaluation narratives, the free markdown or
/// evaluation ids: they go to <c>modelCard.properties</c> as <c>modelgate:card:*</c> and <c>modelgate:evaluation</c>.
/// The owner is the component's manufacturer, the trainer its author, the base model and a derivation's source its
/// pedigree. A licence written as an SPDX expression is exported as one; anything else as a licence name.
/// </remarks>
public static partial class CycloneDxExporter
{
    public const string SpecVersion = "1.6";
    public const string SchemaUri = "http://cyclonedx.org/schema/bom-1.6.schema.json";
    public const string MediaType = "application/vnd.cyclonedx+json";

    public static string ExportJson(CardSubject subject, ModelCard? card, IReadOnlyList<CardEvaluationSummary> evaluations, CycloneDxOptions? options = null) =>
        Export(subject, card, evaluations, options).ToJsonString(new JsonSerializerOptions { WriteIndented = true });

    public static JsonObject Export(CardSubject subject, ModelCard? card, IReadOnlyList<CardEvaluationSummary> evaluations, CycloneDxOptions? options = null)
    {
        options ??= new CycloneDxOptions();
        var a = subject.Attestation;
        var modelRef = $"{subject.Model}@{subject.Version}";

        var datasets = new List<(string Ref, JsonObject Component)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var d in a.Datasets ?? [])
        {
            if (d is not null && seen.Add(d.Sha256))
            {
                datasets.Add((DatasetRef(d.Sha256), DataComponent(d.Sha256, d.Name, d.Uri, "training data")));
            }
        }
        foreach (var e in evaluations)
        {
            if (e.DatasetSha256 is { } sha && seen.Add(sha))
            {
                datasets.Add((DatasetRef(sha), DataComponent(sha, $"evaluation data ({e.Suite})", null, $"the dataset of evaluation suite {e.Suite}")));
            }
        }

        var model = new JsonObject
        {
            ["type"] = "machine-learning-model",
            ["bom-ref"] = modelRef,
            ["manufacturer"] = new JsonObject { ["name"] = subject.Owner },
        };
        if (!string.IsNullOrWhiteSpace(a.Trainer))
        {
            model["authors"] = new JsonArray(new JsonObject { ["name"] = a.Trainer });
        }
        model["name"] = subject.Model;
        model["version"] = subject.Version;
        if (!string.IsNullOrWhiteSpace(subject.Description))
        {
            model["description"] = subject.Description;
        }
        if (subject.Artifacts.Count == 1)
        {
            model["hashes"] = Hashes(subject.Artifacts[0].Sha256);
        }
        if (Licenses(subject.License) is { } licenses)
        {
            model["licenses"] = licenses;
        }
        if (Pedigree(subject) is { } pedigree)
        {
            model["pedigree"] = pedigree;
        }
        if (a.Code is { } code && !string.IsNullOrWhiteSpace(code.Repo))
        {
            model["externalReferences"] = new JsonArray(new JsonObject { ["url"] = code.Repo, ["comment"] = $"commit {code.Commit}", ["type"] = "vcs" });
        }
        model["components"] = new JsonArray(subject.Artifacts.Select(x => (JsonNode)ArtifactComponent(modelRef, x)).ToArray());
        model["modelCard"] = ModelCardNode(subject, card, evaluations, datasets.Select(x => x.Ref), modelRef);
        model["properties"] = Properties(("modelgate:stage", subject.Stage), ("modelgate:riskTier", subject.RiskTier), ("modelgate:task", subject.Task));

        var bom = new JsonObject
        {
            ["$schema"] = SchemaUri,
            ["bomFormat"] = "CycloneDX",
            ["specVersion"] = SpecVersion,
        };
        if (options.SerialNumber is { } serial)
        {
            bom["serialNumber"] = "urn:uuid:" + serial.ToString("D");
        }
        bom["version"] = 1;
        var metadata = new JsonObject();
        if (options.Timestamp is { } timestamp)
        {
            metadata["timestamp"] = timestamp.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        }
        metadata["tools"] = new JsonObject
        {
            ["components"] = new JsonArray(new JsonObject
            {
                ["type"] = "application",
                ["name"] = "ModelGate",
                ["version"] = options.ToolVersion ?? ToolVersion,
            }),
        };
        bom["metadata"] = metadata;
        bom["components"] = new JsonArray([model, .. datasets.Select(x => (JsonNode)x.Component)]);
        var dependencies = new JsonArray(new JsonObject
        {
            ["ref"] = modelRef,
            ["dependsOn"] = new JsonArray(datasets.Select(x => (JsonNode)JsonValue.Create(x.Ref)!).ToArray()),
        });
        foreach (var (r, _) in datasets)
        {
            dependencies.Add(new JsonObject { ["ref"] = r });
        }
        bom["dependencies"] = dependencies;
        return bom;
    }

    private static JsonObject ModelCardNode(CardSubject subject, ModelCard? card, IReadOnlyList<CardEvaluationSummary> evaluations,
        IEnumerable<string> datasetRefs, string modelRef)
    {
        var node = new JsonObject { ["bom-ref"] = modelRef + "#model-card" };

        var parameters = new JsonObject();
        if (subject.Task is "classification" or "regression")
        {
            parameters["approach"] = new JsonObject { ["type"] = "supervised" };
        }
        parameters["task"] = subject.Task;
        if (!string.IsNullOrWhiteSpace(subject.Attestation.Architecture))
        {
            parameters["modelArchitecture"] = subject.Attestation.Architecture;
        }
        var refs = datasetRefs.Select(r => (JsonNode)new JsonObject { ["ref"] = r }).ToArray();
        if (refs.Length > 0)
        {
            parameters["datasets"] = new JsonArray(refs);
        }
        node["modelParameters"] = parameters;

        var metrics = new JsonArray();
        foreach (var e in evaluations)
        {
            foreach (var (name, value) in e.Metrics.OrderBy(m => m.Key, StringComparer.Ordinal))
            {
                AddMetric(metrics, name, value, null);
            }
            foreach (var (slice, values) in (e.Slices ?? new Dictionary<string, IReadOnlyDictionary<string, CardMetricValue>>()).OrderBy(s => s.Key, StringComparer.Ordinal))
            {
                foreach (var (name, value) in values.OrderBy(m => m.Key, StringComparer.Ordinal))
                {
                    AddMetric(metrics, name, value, slice);
                }
            }
        }
        if (metrics.Count > 0)
        {
            node["quantitativeAnalysis"] = new JsonObject { ["performanceMetrics"] = metrics };
        }

        var considerations = new JsonObject();
        if (!string.IsNullOrWhiteSpace(card?.IntendedUse))
        {
            considerations["useCases"] = new JsonArray(JsonValue.Create(card.IntendedUse));
        }
        var limitations = (card?.Limitations ?? []).Where(l => !string.IsNullOrWhiteSpace(l)).ToList();
        if (limitations.Count > 0)
        {
            considerations["technicalLimitations"] = new JsonArray(limitations.Select(l => (JsonNode)JsonValue.Create(l)!).ToArray());
        }
        var ethical = (card?.EthicalConsiderations ?? []).Where(e => e is not null && !string.IsNullOrWhiteSpace(e.Name)).ToList();
        if (ethical.Count > 0)
        {
            considerations["ethicalConsiderations"] = new JsonArray(ethical.Select(e =>
            {
                var risk = new JsonObject { ["name"] = e.Name };
                if (!string.IsNullOrWhiteSpace(e.MitigationStrategy))
                {
                    risk["mitigationStrategy"] = e.MitigationStrategy;
                }
                return (JsonNode)risk;
            }).ToArray());
        }
        if (considerations.Count > 0)
        {
            node["considerations"] = considerations;
        }

        var evaluationIds = (card?.Evaluation?.EvaluationIds ?? []).Concat(evaluations.Select(e => e.Id)).Distinct(StringComparer.Ordinal);
        var properties = Properties(
            [
                ("modelgate:card:outOfScopeUse", card?.OutOfScopeUse),
                ("modelgate:card:trainingData", card?.TrainingData),
                ("modelgate:card:evaluation", card?.Evaluation?.Text),
                .. evaluationIds.Select(id => ("modelgate:evaluation", (string?)id)),
                ("modelgate:card:markdown", card?.Markdown),
            ]);
        if (properties.Count > 0)
        {
            node["properties"] = properties;
        }
        return node;
    }

    private static void AddMetric(JsonArray metrics, string name, CardMetricValue value, string? slice)
    {
        if (!double.IsFinite(value.Value))
        {
            return;
        }
        var metric = new JsonObject { ["type"] = name, ["value"] = Number(value.Value) };
        if (slice is not null)
        {
            metric["slice"] = slice;
        }
        if (value is { Lower: { } lower, Upper: { } upper } && double.IsFinite(lower) && double.IsFinite(upper))
        {
            metric["confidenceInterval"] = new JsonObject { ["lowerBound"] = Number(lower), ["upperBound"] = Number(upper) };
        }
        metrics.Add(metric);
    }

    private static JsonObject? Pedigree(CardSubject subject)
    {
        var a = subject.Attestation;
        var ancestors = new JsonArray();
        var notes = new List<string>();
        if (!string.IsNullOrWhiteSpace(a.BaseModel))
        {
            ancestors.Add(new JsonObject { ["type"] = "machine-learning-model", ["name"] = a.BaseModel });
            notes.Add($"base model {a.BaseModel}");
        }
        if (a.Derivation is { } d)
        {
            ancestors.Add(new JsonObject
            {
                ["type"] = "machine-learning-model",
                ["bom-ref"] = $"{subject.Model}@{d.From}",
                ["name"] = subject.Model,
                ["version"] = d.From,
            });
            notes.Add($"{d.Kind} of {subject.Model}@{d.From}" + (d.Method is null ? "" : $" ({d.Method})"));
        }
        return ancestors.Count == 0 ? null : new JsonObject { ["ancestors"] = ancestors, ["notes"] = string.Join("; ", notes) };
    }

    private static JsonObject ArtifactComponent(string modelRef, ArtifactRef artifact)
    {
        var file = new JsonObject { ["type"] = "file" };
        if (artifact.MediaType is { } mediaType && MimeType().IsMatch(mediaType))
        {
            file["mime-type"] = mediaType;
        }
        file["bom-ref"] = $"{modelRef}/{artifact.FileName}";
        file["name"] = artifact.FileName;
        file["hashes"] = Hashes(artifact.Sha256);
        if (artifact.Size is { } size)
        {
            file["properties"] = Properties(("modelgate:size", size.ToString(CultureInfo.InvariantCulture)));
        }
        return file;
    }

    private static JsonObject DataComponent(string sha256, string name, string? uri, string description)
    {
        var data = new JsonObject { ["type"] = "dataset", ["name"] = name };
        if (!string.IsNullOrWhiteSpace(uri))
        {
            data["contents"] = new JsonObject { ["url"] = uri };
        }
        data["description"] = description;
        return new JsonObject
        {
            ["type"] = "data",
            ["bom-ref"] = DatasetRef(sha256),
            ["name"] = name,
            ["hashes"] = Hashes(sha256),
            ["data"] = new JsonArray(data),
        };
    }

    private static string DatasetRef(string sha256) => "dataset:sha256:" + sha256;

    private static JsonArray Hashes(string sha256) => new(new JsonObject { ["alg"] = "SHA-256", ["content"] = sha256 });

    private static JsonArray Properties(params (string Name, string? Value)[] properties) =>
        new(properties.Where(p => !string.IsNullOrWhiteSpace(p.Value))
            .Select(p => (JsonNode)new JsonObject { ["name"] = p.Name, ["value"] = p.Value }).ToArray());

    private static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>SPDX licence expressions go to <c>expression</c>; other text (e.g. "proprietary") to a licence <c>name</c>.</summary>
    internal static JsonArray? Licenses(string? license)
    {
        if (string.IsNullOrWhiteSpace(license))
        {
            return null;
        }
        var text = license.Trim();
        return IsSpdxExpression(text)
            ? new JsonArray(new JsonObject { ["expression"] = text })
            : new JsonArray(new JsonObject { ["license"] = new JsonObject { ["name"] = text } });
    }

    /// <summary>
    /// The SPDX licence-expression grammar (ids, <c>LicenseRef-</c>, <c>+</c>, AND/OR/WITH, parentheses), minus the words
    /// teams write for licences that are not SPDX ones. Without the SPDX list this cannot tell an unknown id from a word.
    /// </summary>
    internal static bool IsSpdxExpression(string text)
    {
        if (NotLicenceIds.Contains(text))
        {
            return false;
        }
        var (depth, expectId) = (0, true);
        foreach (Match token in SpdxToken().Matches(text))
        {
            switch (token.Value)
            {
                case "(" when expectId:
                    depth++;
                    break;
                case ")" when !expectId && depth > 0:
                    depth--;
                    break;
                case "AND" or "OR" or "WITH" when !expectId:
                    expectId = true;
                    break;
                case var id when expectId && SpdxId().IsMatch(id):
                    expectId = false;
                    break;
                default:
                    return false;
            }
        }
        return depth == 0 && !expectId;
    }

    private static readonly HashSet<string> NotLicenceIds = new(StringComparer.OrdinalIgnoreCase)
    {
        "proprietary", "commercial", "internal", "private", "confidential", "custom", "other", "unknown", "none", "unlicensed",
    };

    private static readonly string ToolVersion =
        typeof(CycloneDxExporter).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    [GeneratedRegex(@"\(|\)|[^\s()]+")]
    private static partial Regex SpdxToken();

    [GeneratedRegex(@"^(DocumentRef-[A-Za-z0-9.\-]+:)?[A-Za-z0-9.\-]+\+?$")]
    private static partial Regex SpdxId();

    [GeneratedRegex(@"^[-+a-z0-9.]+/[-+a-z0-9.]+$")]
    private static partial Regex MimeType();
}
