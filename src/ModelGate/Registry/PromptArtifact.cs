using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Storage;
using ModelGate.Storage.Registry;

namespace ModelGate.Registry;

/// <summary>
/// A prompt-only version's artifact: its prompt template (system prompt, user template, variables) as canonical JSON, stored
/// content-addressed by the server when the version is registered without artifacts, and listed with its digest like any
/// other. Two versions with the same template have the same digest.
/// </summary>
public static class PromptArtifact
{
    public const string FileName = "prompt-template.json";
    public const string MediaType = "application/vnd.modelgate.prompt-template+json";

    /// <summary>Whether a template has something to serve: a system prompt or a user template.</summary>
    public static bool Describes(PromptTemplate? template) =>
        template is not null && (!string.IsNullOrEmpty(template.System) || !string.IsNullOrEmpty(template.Template));

    public static byte[] Serialize(PromptTemplate template) => JsonSerializer.SerializeToUtf8Bytes(template, ModelGateJson.Options);

    /// <summary>Writes the template's bytes to the blob store and records the artifact (in <paramref name="db"/>, not saved) if new.</summary>
    public static async Task<ArtifactRef> StoreAsync(ModelGateDbContext db, IBlobStore blobs, PromptTemplate template, string actor, DateTime now,
        CancellationToken cancellationToken)
    {
        var bytes = Serialize(template);
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        var written = await blobs.WriteAsync(new MemoryStream(bytes, writable: false), sha, bytes.Length, cancellationToken);
        if (written.Status is not (BlobWriteStatus.Created or BlobWriteStatus.AlreadyExists))
        {
            throw new IOException($"the prompt template could not be stored ({written.Status})");
        }
        if (!await db.Artifacts.AnyAsync(a => a.Sha256 == sha, cancellationToken))
        {
            db.Artifacts.Add(new ArtifactEntity { Sha256 = sha, Size = bytes.Length, CreatedAt = now, CreatedBy = actor });
        }
        return new ArtifactRef(sha, FileName, MediaType);
    }
}
