using System.Text.Json;
using ModelGate.Client;
using ModelGate.Storage.Registry;

namespace ModelGate.Registry;

internal static class RegistryMapping
{
    public static IReadOnlyList<string> ReadTags(string json) =>
        JsonSerializer.Deserialize<List<string>>(json, ModelGateJson.Options) ?? [];

    public static Attestation ReadAttestation(string json) =>
        JsonSerializer.Deserialize<Attestation>(json, ModelGateJson.Options) ?? new Attestation();

    public static ModelDto ToDto(ModelEntity m, string? latest, int count) =>
        new(m.Name, m.Owner, m.RiskTier, m.Task, m.License, m.Description, ReadTags(m.Tags), m.CreatedAt, m.CreatedBy, latest, count);

    public static ModelVersionDto ToDto(string model, ModelVersionEntity v) =>
        new(model, v.Version, v.Stage, v.StageChangedAt,
            v.Artifacts.OrderBy(a => a.Id).Select(a => new ArtifactRef(a.Sha256, a.FileName, a.MediaType, a.Size)).ToList(),
            ReadAttestation(v.Attestation), v.AttestationSha256, v.Description, v.CreatedAt, v.CreatedBy);

    public static string VersionSubject(string model, string version) => $"models/{model}/versions/{version}";

    public static string ModelSubject(string model) => $"models/{model}";
}
