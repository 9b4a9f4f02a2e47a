using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Security;
using ModelGate.Storage;
using ModelGate.Storage.Registry;

namespace ModelGate.Registry;

public static class ArtifactsApi
{
    public static IEndpointRouteBuilder MapArtifactsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/artifacts").WithTags("Artifacts");
        api.MapPut("/{sha256}", PutArtifact).WithName(nameof(PutArtifact)).RequireAuthorization(Permissions.ArtifactWrite);
        api.MapGet("/{sha256}", GetArtifact).WithName(nameof(GetArtifact)).RequireAuthorization(Permissions.Read);
        api.MapMethods("/{sha256}", [HttpMethods.Head], HeadArtifact).WithName(nameof(HeadArtifact)).RequireAuthorization(Permissions.Read);
        return app;
    }

    /// <summary>
    /// Streams the body to a temporary file while hashing it; only a body whose SHA-256 equals the digest in the path is
    /// kept (renamed into place). Uploading the same bytes again answers 200 and changes nothing.
    /// </summary>
    public static async Task<Results<Created<ArtifactDto>, Ok<ArtifactDto>, ProblemHttpResult>> PutArtifact(string sha256, HttpRequest request,
        ClaimsPrincipal user, IBlobStore blobs, ArtifactIntegrity integrity, AuditedWrite write, IOptions<LimitsOptions> limits,
        CancellationToken cancellationToken)
    {
        var digest = Digests.Normalize(sha256);
        if (digest is null)
        {
            return InvalidDigest(sha256);
        }
        var max = limits.Value.MaxArtifactBytes;
        var result = await blobs.WriteAsync(request.Body, digest, max, cancellationToken);
        switch (result.Status)
        {
            case BlobWriteStatus.TooLarge:
                return Problems.TooLarge(max);
            case BlobWriteStatus.DigestMismatch:
                return Problems.Result(StatusCodes.Status400BadRequest, ProblemCodes.DigestMismatch, "The upload does not match its digest.",
                    $"the body's SHA-256 is {result.ActualSha256}, not {digest}; nothing was stored",
                    new Dictionary<string, object?> { ["expected"] = digest, ["actual"] = result.ActualSha256, ["size"] = result.Size });
        }

        // The bytes were hashed as they were written, so the file now stored is intact, whatever was remembered of the one before:
        // a repair can leave the same size and, within the file system's timestamp granularity, the same modification time.
        if (await blobs.GetStampAsync(digest, cancellationToken) is { } stamp)
        {
            await integrity.RecordAsync(digest, stamp, digest, cancellationToken);
        }

        await using var tx = await write.BeginAsync(cancellationToken);
        var entity = await tx.Db.Artifacts.AsNoTracking().FirstOrDefaultAsync(a => a.Sha256 == digest, cancellationToken);
        if (entity is not null)
        {
            return TypedResults.Ok(ToDto(entity, created: false));
        }
        // The blob may already be on disk without its row if an earlier process died between the rename and the commit.
        entity = new ArtifactEntity { Sha256 = digest, Size = result.Size, CreatedAt = tx.Now, CreatedBy = user.ActorId() };
        tx.Db.Artifacts.Add(entity);
        await tx.AppendAsync(user.ActorId(), "artifact.uploaded", $"artifacts/{digest}", new { size = result.Size }, cancellationToken: cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return TypedResults.Created($"/api/v1/artifacts/{digest}", ToDto(entity, created: true));
    }

    /// <summary>
    /// Never sends bytes that do not hash to the address: an artifact found intact before and unchanged since is streamed as
    /// stored (ranges too); otherwise one of at most <see cref="ArtifactStoreOptions.VerifyBeforeSendingBytes"/> (or any range
    /// request) is hashed before its first byte, and a larger one while it streams, the response aborted short of its end on a
    /// mismatch. A corrupt artifact is 503 <c>artifact_corrupt</c> and raises an alert.
    /// </summary>
    public static async Task<Results<FileStreamHttpResult, ProblemHttpResult>> GetArtifact(string sha256, IBlobStore blobs, ArtifactIntegrity integrity,
        IOptions<ArtifactStoreOptions> store, HttpContext context, CancellationToken cancellationToken)
    {
        var digest = Digests.Normalize(sha256);
        if (digest is null)
        {
            return InvalidDigest(sha256);
        }
        var (state, stamp) = await integrity.KnownAsync(digest, cancellationToken);
        if (state is null && (stamp!.Value.Size <= store.Value.VerifyBeforeSendingBytes || context.Request.Headers.Range.Count > 0))
        {
            state = await integrity.VerifyAsync(digest, cancellationToken);
        }
        if (state == ArtifactState.Missing)
        {
            return NotFound(digest);
        }
        if (state == ArtifactState.Corrupt)
        {
            return Corrupt(digest);
        }
        var stream = await blobs.OpenReadAsync(digest, cancellationToken);
        if (stream is null)
        {
            return NotFound(digest);
        }
        context.Response.Headers[ModelGateClient.DigestHeader] = digest;
        context.Response.Headers.ETag = $"\"{digest}\"";
        return state == ArtifactState.Intact
            ? TypedResults.Stream(stream, "application/octet-stream", enableRangeProcessing: true)
            : TypedResults.Stream(new VerifyingReadStream(stream, digest, stamp!.Value, integrity, context), "application/octet-stream");
    }

    /// <summary>503 <c>artifact_corrupt</c>: the stored bytes of <paramref name="digest"/> no longer hash to it.</summary>
    public static ProblemHttpResult Corrupt(string digest) =>
        Problems.Result(StatusCodes.Status503ServiceUnavailable, ProblemCodes.ArtifactCorrupt, "The stored artifact is corrupt.",
            $"the stored bytes of {digest} no longer hash to it; it is not served until it is restored (uploading the same " +
            "bytes again replaces the damaged file)", new Dictionary<string, object?> { ["digest"] = digest });

    public static async Task<Results<Ok, ProblemHttpResult>> HeadArtifact(string sha256, IBlobStore blobs, HttpResponse response,
        CancellationToken cancellationToken)
    {
        var digest = Digests.Normalize(sha256);
        if (digest is null)
        {
            return InvalidDigest(sha256);
        }
        var size = await blobs.GetSizeAsync(digest, cancellationToken);
        if (size is null)
        {
            return NotFound(digest);
        }
        response.Headers[ModelGateClient.DigestHeader] = digest;
        response.ContentLength = size;
        return TypedResults.Ok();
    }

    private static ProblemHttpResult InvalidDigest(string value) =>
        Problems.Result(StatusCodes.Status400BadRequest, ProblemCodes.InvalidDigest, "The digest is not valid.",
            $"'{value}' is not a SHA-256 digest (64 hex characters)");

    private static ProblemHttpResult NotFound(string digest) =>
        Problems.NotFound(ProblemCodes.ArtifactNotFound, $"no artifact is stored with digest {digest}");

    private static ArtifactDto ToDto(ArtifactEntity a, bool created) => new(a.Sha256, a.Size, a.CreatedAt, a.CreatedBy, created);
}
