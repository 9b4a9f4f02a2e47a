using System.Text.Json;
using ModelGate.Client;
using ModelGate.Errors;

namespace ModelGate.Registry;

/// <summary>Checks an attestation and produces its canonical stored form.</summary>
public static class AttestationRules
{
    public static void Validate(Attestation? a, ValidationErrors errors)
    {
        if (a is null)
        {
            errors.Add("attestation", "the training attestation is required");
            return;
        }
        if (string.IsNullOrWhiteSpace(a.Trainer) || a.Trainer.Length > 200)
        {
            errors.Add("attestation.trainer", "the trainer's identity (1–200 characters) is required");
        }
        var datasets = a.Datasets ?? [];
        for (var i = 0; i < datasets.Count; i++)
        {
            var d = datasets[i];
            if (d is null)
            {
                errors.Add($"attestation.datasets[{i}]", "must be an object {name, uri, sha256}");
                continue;
            }
            if (string.IsNullOrWhiteSpace(d.Name) || d.Name.Length > 200)
            {
                errors.Add($"attestation.datasets[{i}].name", "a name of 1–200 characters is required");
            }
            if (Digests.Normalize(d.Sha256) is null)
            {
                errors.Add($"attestation.datasets[{i}].sha256", "a SHA-256 digest (64 hex characters) is required");
            }
            if (d.Uri is { Length: > 2000 })
            {
                errors.Add($"attestation.datasets[{i}].uri", "at most 2000 characters");
            }
        }
        if (a.Code is not null && (string.IsNullOrWhiteSpace(a.Code.Repo) || string.IsNullOrWhiteSpace(a.Code.Commit) || a.Code.Commit.Length > 128))
        {
            errors.Add("attestation.code", "code needs both repo and commit (at most 128 characters)");
        }
        if (a.StartedAt is { } s && a.FinishedAt is { } f && f < s)
        {
            errors.Add("attestation.finishedAt", "finishedAt is before startedAt");
        }
        if (a.LogSummary is { } log && (log.Errors < 0 || log.Warnings < 0))
        {
            errors.Add("attestation.logSummary", "error and warning counts cannot be negative");
        }
        if (a.Metrics is { } metrics && metrics.Values.Any(v => double.IsNaN(v) || double.IsInfinity(v)))
        {
            errors.Add("attestation.metrics", "metrics must be finite numbers");
        }
        if (a.ServingConfig is { } serving)
        {
            if (serving.Count > MaxServingConfigEntries)
            {
                errors.Add("attestation.servingConfig", $"at most {MaxServingConfigEntries} settings");
            }
            if (serving.Keys.Any(k => string.IsNullOrWhiteSpace(k) || k.Length > 200))
            {
                errors.Add("attestation.servingConfig", "setting names are 1–200 characters");
            }
        }
        if (a.Derivation is { } derivation)
        {
            if (!DerivationKinds.All.Contains(derivation.Kind))
            {
                errors.Add("attestation.derivation.kind", $"'{derivation.Kind}' is not a derivation kind: {string.Join(" or ", DerivationKinds.All)}");
            }
            if (!SemVersion.TryParse(derivation.From, out _, out var fromError))
            {
                errors.Add("attestation.derivation.from", $"the version it was derived from: {fromError}");
            }
            if (derivation.Method is not null && (string.IsNullOrWhiteSpace(derivation.Method) || derivation.Method.Length > 100))
            {
                errors.Add("attestation.derivation.method", "the method (e.g. q4, int8) is 1–100 characters");
            }
        }
    }

    public const int MaxServingConfigEntries = 1000;

    /// <summary>
    /// The attestation with digests lower-cased, serialised in the contract's property order. Absent serving
    /// configuration and derivation are left out, so that an attestation without them keeps the form (and digest) it
    /// had before they existed.
    /// </summary>
    public static (Attestation Normalized, string Json) Canonicalize(Attestation a)
    {
        var normalized = a with
        {
            Datasets = a.Datasets?.Select(d => d with { Sha256 = Digests.Normalize(d.Sha256)! }).ToList(),
        };
        return (normalized, JsonSerializer.Serialize(normalized, ModelGateJson.Options));
    }
}
