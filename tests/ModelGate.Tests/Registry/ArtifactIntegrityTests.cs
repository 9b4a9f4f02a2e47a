using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Registry;

/// <summary>Artifacts up to 100 KB are hashed before their first byte is sent; larger ones while they stream.</summary>
public sealed class ArtifactIntegrityFixture : SqliteServerFixture
{
    public const int VerifyBeforeSendingBytes = 100_000;

    protected override Task<IEnumerable<string>> ExtraArgumentsAsync() =>
        Task.FromResult<IEnumerable<string>>([$"--Artifacts:VerifyBeforeSendingBytes={VerifyBeforeSendingBytes}"]);
}

/// <summary>Stored artifacts changed on disk behind the store's back: never sent, never served, and the server says so.</summary>
public sealed class ArtifactIntegrityTests(ArtifactIntegrityFixture server) : IClassFixture<ArtifactIntegrityFixture>
{
    private string PathOf(string sha) => Path.Combine(server.DataDirectory, "artifacts", "sha256", sha[..2], sha);

    private Task<ModelGate.Storage.Monitoring.AlertEntity?> FiringAlertAsync(string sha) => server.WithDbAsync(db =>
        db.Alerts.AsNoTracking().FirstOrDefaultAsync(a => a.Key == $"{AlertKinds.ArtifactCorrupt}:{sha}" && a.Status == "firing"));

    private static async Task AssertCorruptAsync(HttpResponseMessage response, string sha)
    {
        await ProblemAssert.IsProblem(response, HttpStatusCode.ServiceUnavailable, "artifact_corrupt");
        Assert.False(response.Headers.Contains(ModelGateClient.DigestHeader));
    }

    [Fact]
    public async Task Download_OfASmallArtifactSwappedOnDisk_Is503BeforeAnyByte_RaisesAnAlert_AndAnUploadRepairsIt()
    {
        var ct = TestContext.Current.CancellationToken;
        var original = RandomNumberGenerator.GetBytes(1000);
        var sha = await server.UploadAsync(original);
        using var http = server.Client();
        using (var first = await http.GetAsync($"/api/v1/artifacts/{sha}", ct))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
            Assert.Equal(original, await first.Content.ReadAsByteArrayAsync(ct));
        }

        // The same size, other bytes: verified once and remembered must not mean trusted after the file changed.
        await File.WriteAllBytesAsync(PathOf(sha), RandomNumberGenerator.GetBytes(1000), ct);
        using (var swapped = await http.GetAsync($"/api/v1/artifacts/{sha}", ct))
        {
            await AssertCorruptAsync(swapped, sha);
        }
        var alert = await FiringAlertAsync(sha);
        Assert.NotNull(alert);
        Assert.Equal(AlertKinds.ArtifactCorrupt, alert.Kind);
        Assert.Equal("critical", alert.Severity);

        // Uploading the right bytes again replaces the damaged file and resolves the alert. The repaired file has the damaged
        // one's size and, within the file system's timestamp granularity (a few milliseconds), may have its modification time
        // too: set it so, and the upload must still count, not the remembered verdict on the damaged file.
        var swappedAt = File.GetLastWriteTimeUtc(PathOf(sha));
        await server.Api().PushArtifactAsync(new MemoryStream(original), sha, ct: ct);
        File.SetLastWriteTimeUtc(PathOf(sha), swappedAt);
        using (var repaired = await http.GetAsync($"/api/v1/artifacts/{sha}", ct))
        {
            Assert.Equal(HttpStatusCode.OK, repaired.StatusCode);
            Assert.Equal(original, await repaired.Content.ReadAsByteArrayAsync(ct));
        }
        Assert.Null(await FiringAlertAsync(sha));
    }

    [Fact]
    public async Task Download_OfALargeArtifactSwappedOnDisk_IsAbortedBeforeItsEnd_AndRaisesAnAlert()
    {
        var ct = TestContext.Current.CancellationToken;
        const int size = 4 * ArtifactIntegrityFixture.VerifyBeforeSendingBytes;
        var original = RandomNumberGenerator.GetBytes(size);
        var sha = await server.UploadAsync(original);
        var swapped = (byte[])original.Clone();
        swapped[^1] ^= 0xFF; // only the last byte differs: the damage is seen only once everything else was read
        await File.WriteAllBytesAsync(PathOf(sha), swapped, ct);

        using var http = server.Client();
        var received = new MemoryStream();
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            using var response = await http.GetAsync($"/api/v1/artifacts/{sha}", HttpCompletionOption.ResponseHeadersRead, ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(size, response.Content.Headers.ContentLength);
            await using var body = await response.Content.ReadAsStreamAsync(ct);
            await body.CopyToAsync(received, ct);
        });
        Assert.True(received.Length < size, $"the client received all {received.Length} bytes of a corrupt artifact");
        Assert.NotNull(await FiringAlertAsync(sha));

        // Now known to be corrupt: refused before the first byte.
        using (var again = await http.GetAsync($"/api/v1/artifacts/{sha}", ct))
        {
            await AssertCorruptAsync(again, sha);
        }
        await File.WriteAllBytesAsync(PathOf(sha), original, ct);
        var back = new MemoryStream();
        await server.Api().PullArtifactAsync(sha, back, ct: ct);
        Assert.Equal(original, back.ToArray());
    }

    [Fact]
    public async Task Infer_OnACorruptArtifact_Is503ArtifactCorrupt_AndTheServerIsNotReady_UntilItIsRestored()
    {
        var ct = TestContext.Current.CancellationToken;
        var model = await AdultServing.RegisterAsync(server);
        var sha = Fixtures.ReferenceSha256("v1-logreg");
        var original = await File.ReadAllBytesAsync(PathOf(sha), ct);
        var corrupt = (byte[])original.Clone();
        corrupt[^10] ^= 0xFF;
        await File.WriteAllBytesAsync(PathOf(sha), corrupt, ct);
        try
        {
            var deployment = await AdultServing.DeployAsync(server, model, new { stable = "1.0.0" });
            using var http = server.Client();
            using (var infer = await http.PostAsJsonAsync($"/v2/models/{deployment}/infer", AdultServing.Request(0, 1), ct))
            {
                await ProblemAssert.IsProblem(infer, HttpStatusCode.ServiceUnavailable, "artifact_corrupt");
            }
            using (var metadata = await http.GetAsync($"/v2/models/{deployment}", ct))
            {
                await ProblemAssert.IsProblem(metadata, HttpStatusCode.ServiceUnavailable, "artifact_corrupt");
            }
            using (var ready = await http.GetAsync($"/v2/models/{deployment}/ready", ct))
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
                var body = await ready.Content.ReadFromJsonAsync<JsonObject>(ct);
                Assert.False((bool)body!["ready"]!);
                Assert.Equal("artifact_corrupt", (string?)body["code"]);
            }
            foreach (var path in (string[])["/readyz", "/v2/health/ready"])
            {
                using var anonymous = server.Client(token: null);
                using var ready = await anonymous.GetAsync(path, ct);
                Assert.True(ready.StatusCode == HttpStatusCode.ServiceUnavailable, $"{path}: {(int)ready.StatusCode}");
            }
            Assert.NotNull(await FiringAlertAsync(sha));

            await File.WriteAllBytesAsync(PathOf(sha), original, ct);
            using (var ready = await server.Client(token: null).GetAsync("/readyz", ct))
            {
                Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
            }
            using (var infer = await http.PostAsJsonAsync($"/v2/models/{deployment}/infer", AdultServing.Request(0, 1), ct))
            {
                Assert.Equal(HttpStatusCode.OK, infer.StatusCode);
            }
            Assert.Null(await FiringAlertAsync(sha));
        }
        finally
        {
            await File.WriteAllBytesAsync(PathOf(sha), original, CancellationToken.None);
        }
    }
}
