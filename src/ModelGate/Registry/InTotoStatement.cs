using System.Text.Json.Nodes;
using ModelGate.Client;

namespace ModelGate.Registry;

/// <summary>
/// Exports a version's attestation as an in-toto Statement v1 whose predicate is SLSA Provenance v1: the subject is
/// the version's artifacts, the resolved dependencies are the datasets, the code commit and the base model.
/// </summary>
public static class InTotoStatement
{
    public const string StatementType = "https://in-toto.io/Statement/v1";
    public const string PredicateType = "https://slsa.dev/provenance/v1";
    public const string BuildType = "https://modelgate.dev/attestation/training/v1";

    public static JsonObject Create(ModelVersionDto version, Uri serverBase)
    {
        var a = version.Attestation;
        var subject = new JsonArray(version.Artifacts
            .Select(x => (JsonNode)new JsonObject { ["name"] = x.FileName, ["digest"] = new JsonObject { ["sha256"] = x.Sha256 } })
            .ToArray());

        var dependencies = new JsonArray();
        foreach (var d in a.Datasets ?? [])
        {
            dependencies.Add(new JsonObject
            {
                ["name"] = d.Name,
                ["uri"] = d.Uri,
                ["digest"] = new JsonObject { ["sha256"] = d.Sha256 },
                ["annotations"] = new JsonObject { ["kind"] = "dataset" },
            });
        }
        if (a.Code is { } code)
        {
            dependencies.Add(new JsonObject
            {
                ["uri"] = code.Repo.StartsWith("git+", StringComparison.Ordinal) ? $"{code.Repo}@{code.Commit}" : $"git+{code.Repo}@{code.Commit}",
                ["digest"] = new JsonObject { ["gitCommit"] = code.Commit },
                ["annotations"] = new JsonObject { ["kind"] = "code" },
            });
        }
        if (a.BaseModel is { } baseModel)
        {
            dependencies.Add(new JsonObject { ["name"] = baseModel, ["annotations"] = new JsonObject { ["kind"] = "base-model" } });
        }
        if (a.Derivation is { } derivation)
        {
            // A quantised or distilled build: the version it was made from is an input of this build.
            dependencies.Add(new JsonObject
            {
                ["name"] = $"{version.Model}@{derivation.From}",
                ["uri"] = new Uri(serverBase, $"api/v1/models/{Uri.EscapeDataString(version.Model)}/versions/{Uri.EscapeDataString(derivation.From)}").ToString(),
                ["annotations"] = new JsonObject { ["kind"] = "derived-from", ["derivation"] = derivation.Kind, ["method"] = derivation.Method },
            });
        }

        var external = new JsonObject
        {
            ["model"] = version.Model,
            ["version"] = version.Version,
            ["architecture"] = a.Architecture,
            ["baseModel"] = a.BaseModel,
            ["hyperparameters"] = ToNode(a.Hyperparameters),
            ["promptTemplate"] = ToNode(a.PromptTemplate),
            ["servingConfig"] = ToNode(a.ServingConfig),
            ["derivation"] = ToNode(a.Derivation),
        };
        var byproducts = new JsonArray();
        if (a.Metrics is not null)
        {
            byproducts.Add(new JsonObject { ["name"] = "training-metrics", ["mediaType"] = "application/json", ["annotations"] = ToNode(a.Metrics) });
        }
        if (a.LogSummary is not null)
        {
            byproducts.Add(new JsonObject { ["name"] = "log-summary", ["mediaType"] = "application/json", ["annotations"] = ToNode(a.LogSummary) });
        }

        return new JsonObject
        {
            ["_type"] = StatementType,
            ["subject"] = subject,
            ["predicateType"] = PredicateType,
            ["predicate"] = new JsonObject
            {
                ["buildDefinition"] = new JsonObject
                {
                    ["buildType"] = BuildType,
                    ["externalParameters"] = external,
                    ["internalParameters"] = new JsonObject { ["environment"] = ToNode(a.Environment) },
                    ["resolvedDependencies"] = dependencies,
                },
                ["runDetails"] = new JsonObject
                {
                    ["builder"] = new JsonObject { ["id"] = $"trainer:{a.Trainer}" },
                    ["metadata"] = new JsonObject
                    {
                        ["invocationId"] = new Uri(serverBase, $"api/v1/models/{version.Model}/versions/{version.Version}").ToString(),
                        ["startedOn"] = a.StartedAt?.UtcDateTime.ToString("O"),
                        ["finishedOn"] = a.FinishedAt?.UtcDateTime.ToString("O"),
                    },
                    ["byproducts"] = byproducts,
                },
            },
        };
    }

    private static JsonNode? ToNode<T>(T? value) =>
        value is null ? null : System.Text.Json.JsonSerializer.SerializeToNode(value, ModelGateJson.Options);
}
