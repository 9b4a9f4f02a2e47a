using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using ModelGate.Audit;
using ModelGate.Security;
using ModelGate.Storage;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Audit;

public sealed class AuditCheckpointsTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "modelgate-tests", "checkpoints-" + Guid.NewGuid().ToString("N"));
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 1, 12, 0, 0, TimeSpan.Zero));

    private AuditCheckpoints Create(int every, Uri? webhook = null)
    {
        var data = Options.Create(new DataOptions { Directory = _dir });
        var audit = Options.Create(new AuditOptions { CheckpointEvery = every, CheckpointWebhook = webhook });
        var keys = new AuditKeys(audit, data, new SecretProtector(Options.Create(new SecurityOptions()), data));
        return new AuditCheckpoints(audit, data, keys, _time, new Http(), NullLogger<AuditCheckpoints>.Instance);
    }

    [Fact]
    public async Task Write_WithAWebhook_PostsTheSignedCheckpointThere()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var checkpoints = Create(every: 1, new Uri(receiver.Url));
        var written = await checkpoints.WriteAsync(5, new string('e', 64), force: false, TestContext.Current.CancellationToken);
        await checkpoints.LastDelivery;
        var received = Assert.Single(receiver.Requests);
        var posted = System.Text.Json.JsonSerializer.Deserialize<ModelGate.Client.AuditCheckpointDto>(received.Body, ModelGate.Client.ModelGateJson.Options)!;
        Assert.Equal(written, posted);
        Assert.True(AuditCheckpoints.VerifySignature(posted, written!.PublicKey));
    }

    [Fact]
    public async Task AfterCommit_EveryNEvents_AppendsASignedLine_AndALaterInstanceResumesFromTheLastOne()
    {
        var checkpoints = Create(every: 3);
        for (var sequence = 1; sequence <= 7; sequence++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            await checkpoints.AfterCommitAsync(sequence, new string((char)('a' + sequence), 64), TestContext.Current.CancellationToken);
        }
        var lines = File.ReadAllLines(checkpoints.FilePath);
        Assert.Equal(2, lines.Length);
        var report = AuditCheckpoints.Check("file", lines, checkpoints.Sign(0, "", _time.GetUtcNow()).PublicKey, out var valid);
        Assert.Equal(2, report.ValidSignatures);
        Assert.Equal([3L, 6L], valid.Select(c => c.Sequence));
        Assert.Equal(new string('g', 64), valid[1].Hash);

        var restarted = Create(every: 3);
        Assert.Equal(6, (await restarted.LastAsync(TestContext.Current.CancellationToken))!.Sequence);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_dir, "audit-signing.key")));
        }
    }

    [Fact]
    public void VerifySignature_AnyFieldChanged_IsFalse()
    {
        var checkpoints = Create(every: 1);
        var c = checkpoints.Sign(42, new string('b', 64), _time.GetUtcNow());
        Assert.True(AuditCheckpoints.VerifySignature(c, c.PublicKey));
        Assert.False(AuditCheckpoints.VerifySignature(c with { Sequence = 43 }, c.PublicKey));
        Assert.False(AuditCheckpoints.VerifySignature(c with { Hash = new string('c', 64) }, c.PublicKey));
        Assert.False(AuditCheckpoints.VerifySignature(c with { Time = c.Time.AddSeconds(1) }, c.PublicKey));
        Assert.False(AuditCheckpoints.VerifySignature(c with { Signature = "not base64" }, c.PublicKey));
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    private sealed class Http : IHttpClientFactory
    {
        public HttpClient CreateClient(string name) => new();
    }
}
