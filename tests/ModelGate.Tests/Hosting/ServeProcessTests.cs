using System.Net;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Hosting;

/// <summary>The real binary, killed and restarted: what a crash leaves behind.</summary>
public sealed class ServeProcessTests : IDisposable
{
    private readonly string _data = Directory.CreateTempSubdirectory("modelgate-serve-").FullName;

    public void Dispose() => Directory.Delete(_data, recursive: true);

    private static string? AdminKey(ServerProcess server) =>
        server.Output.Select(l => Regex.Match(l, @"^admin key: (mg_\S+)$")).FirstOrDefault(m => m.Success)?.Groups[1].Value;

    /// <summary><c>modelgate serve --data</c> (this test's directory) with <paramref name="args"/>, for a start that is expected to fail.</summary>
    private async Task<(int ExitCode, string Stderr, string Output)> ServeUntilItExitsAsync(CancellationToken ct, params string[] args)
    {
        var start = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string[])[Path.Combine(AppContext.BaseDirectory, "modelgate.dll"), "serve", "--data", _data, .. args])
        {
            start.ArgumentList.Add(a);
        }
        using var process = System.Diagnostics.Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync(ct);
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        Assert.True(process.WaitForExit(60_000), "modelgate serve did not exit within a minute");
        var err = await stderr;
        return (process.ExitCode, err, err + await stdout);
    }

    [Fact(Timeout = 180_000)]
    public async Task Sigkill_DuringLargeUpload_LeavesNoPartialArtifact_AndAConsistentStore()
    {
        var ct = TestContext.Current.CancellationToken;
        var content = RandomNumberGenerator.GetBytes(64 * 1024 * 1024);
        var sha = Convert.ToHexStringLower(SHA256.HashData(content));
        string key;
        await using (var first = await ServerProcess.StartAsync(_data))
        {
            key = AdminKey(first) ?? throw new InvalidOperationException("no admin key printed:\n" + string.Join('\n', first.Output));
            var api = ModelGateClient.Create(first.BaseAddress, key);
            await api.CreateModelAsync(new CreateModelRequest("survivor", "o", "low", "other"), ct);

            var halfway = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using var abandon = new CancellationTokenSource();
            var upload = api.PushArtifactAsync(new StallingStream(content, 16 * 1024 * 1024, halfway), sha, ct: abandon.Token);
            await halfway.Task.WaitAsync(TimeSpan.FromSeconds(60));
            var incoming = Path.Combine(_data, "artifacts", "incoming");
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (!(Directory.Exists(incoming) && Directory.EnumerateFiles(incoming, "*.part").Any(f => new FileInfo(f).Length > 0)) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }
            Assert.True(Directory.EnumerateFiles(incoming, "*.part").Any(), "the upload was not in progress when the server was killed");

            first.Kill();
            // The client would otherwise wait on its stalled body for ever; a real client gives up the same way.
            await abandon.CancelAsync();
            await Assert.ThrowsAnyAsync<Exception>(() => upload.WaitAsync(TimeSpan.FromSeconds(30)));
        }
        Assert.False(File.Exists(Path.Combine(_data, "artifacts", "sha256", sha[..2], sha)));

        await using var second = await ServerProcess.StartAsync(_data);
        Assert.Null(AdminKey(second));
        var after = ModelGateClient.Create(second.BaseAddress, key);
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(_data, "artifacts", "incoming")));
        var missing = await Assert.ThrowsAsync<ModelGateApiException>(() => after.PullArtifactAsync(sha, Stream.Null));
        Assert.Equal(HttpStatusCode.NotFound, missing.Status);
        Assert.Equal(0, (await after.ListAuditAsync(subject: $"artifacts/{sha}")).Total);
        Assert.Equal("survivor", (await after.GetModelAsync("survivor")).Name);
        var verify = await after.VerifyAuditAsync(ct);
        Assert.True(verify.Valid, verify.Reason);
        Assert.Equal(2, verify.Checked);

        var stored = await after.PushArtifactAsync(new MemoryStream(content), sha);
        Assert.True(stored.Created);
        var back = new MemoryStream();
        await after.PullArtifactAsync(sha, back);
        Assert.Equal(content.Length, back.Length);
    }

    [Fact(Timeout = 180_000)]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task Serve_OnLinux_CreatesTheDatabaseAndArtifactTreeOwnerOnly()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "Unix file modes");
        const UnixFileMode file = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        const UnixFileMode directory = file | UnixFileMode.UserExecute;
        var data = Path.Combine(_data, "store");
        await using var server = await ServerProcess.StartAsync(data);
        var api = ModelGateClient.Create(server.BaseAddress, AdminKey(server));
        var content = RandomNumberGenerator.GetBytes(1000);
        var sha = Convert.ToHexStringLower(SHA256.HashData(content));
        await api.PushArtifactAsync(new MemoryStream(content), sha, ct: TestContext.Current.CancellationToken);

        Assert.Equal(directory, File.GetUnixFileMode(data));
        foreach (var name in (string[])["modelgate.db", "modelgate.db-wal", "modelgate.db-shm"])
        {
            Assert.True(File.Exists(Path.Combine(data, name)), name);
            Assert.True(file == File.GetUnixFileMode(Path.Combine(data, name)), $"{name} is {File.GetUnixFileMode(Path.Combine(data, name))}");
        }
        foreach (var d in (string[])["artifacts", "artifacts/incoming", "artifacts/sha256", $"artifacts/sha256/{sha[..2]}"])
        {
            Assert.True(directory == File.GetUnixFileMode(Path.Combine(data, d)), $"{d} is {File.GetUnixFileMode(Path.Combine(data, d))}");
        }
        Assert.Equal(file, File.GetUnixFileMode(Path.Combine(data, "artifacts", "sha256", sha[..2], sha)));
    }

    [Fact(Timeout = 180_000)]
    public async Task Sigterm_WhileAStreamIsInFlight_WritesEveryBufferedRequestLogRecord()
    {
        Assert.SkipWhen(OperatingSystem.IsWindows(), "POSIX signals");
        var ct = TestContext.Current.CancellationToken;
        await using var upstream = await StubChatUpstream.StartAsync();
        // A flush interval longer than the test: every record is still buffered when the signal comes.
        await using var server = await ServerProcess.StartAsync(_data, "--Gateway:RequestLogFlushInterval=00:10:00");
        var api = ModelGateClient.Create(server.BaseAddress, AdminKey(server));
        await api.CreateModelAsync(new CreateModelRequest("chat", "o", "low", "llm-chat"), ct);
        var config = System.Text.Encoding.UTF8.GetBytes("serving config");
        var sha = Convert.ToHexStringLower(SHA256.HashData(config));
        await api.PushArtifactAsync(new MemoryStream(config), sha);
        await api.CreateVersionAsync("chat", new CreateVersionRequest("1.0.0", [new ArtifactRef(sha, "serving.json")],
            Fixtures.Attestation() with { Architecture = "upstream" }));
        await api.CreateDeploymentAsync(new CreateDeploymentRequest("chat", "development", "chat", new RoutingTable("1.0.0", Backend: "upstream",
            Upstreams: new Dictionary<string, UpstreamBackend> { ["1.0.0"] = new(upstream.BaseUrl, "stub") })));

        using var http = new HttpClient { BaseAddress = server.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", AdminKey(server));
        const int requests = 300;
        var confirmed = 0;
        await Parallel.ForAsync(0, requests, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct }, async (i, token) =>
        {
            using var response = await http.PostAsync("/v1/chat/completions", new StringContent(
                $$"""{"model":"chat","messages":[{"role":"user","content":"hello {{i}}"}]}""", System.Text.Encoding.UTF8, "application/json"), token);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                Interlocked.Increment(ref confirmed);
            }
        });
        Assert.Equal(requests, confirmed);

        // A stream still in flight when the signal comes keeps the server shutting down (Kestrel lets it finish) for longer
        // than System.CommandLine's 2 s grace, after which it used to return from Main with the records still buffered.
        upstream.StallAfterBytes = 10;
        using var abandon = new CancellationTokenSource();
        using var stalled = await http.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent("""{"model":"chat","stream":true,"messages":[{"role":"user","content":"wait for it"}]}""",
                System.Text.Encoding.UTF8, "application/json"),
        }, HttpCompletionOption.ResponseHeadersRead, ct);
        server.Terminate();
        // The in-flight stream holds the shutdown for a while; then its client goes away, as clients of a stopping server do.
        await Task.WhenAny(server.WaitForExitAsync(ct), Task.Delay(TimeSpan.FromSeconds(5), ct));
        stalled.Dispose();
        await server.WaitForExitAsync(ct).WaitAsync(TimeSpan.FromSeconds(60), ct);

        Assert.Equal(0, server.ExitCode);
        await using var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(_data, "modelgate.db")};Pooling=False");
        await db.OpenAsync(ct);
        await using var count = db.CreateCommand();
        count.CommandText = "SELECT COUNT(*) FROM request_logs WHERE status = 200";
        // The abandoned stream may be logged too (its headers said 200).
        Assert.InRange(Convert.ToInt32(await count.ExecuteScalarAsync(ct), System.Globalization.CultureInfo.InvariantCulture), requests, requests + 1);
    }

    [Theory(Timeout = 180_000)]
    [InlineData("environment")]
    [InlineData("argument")]
    [InlineData("option")]
    public async Task Serve_TakesItsRole_FromTheEnvironment_AConfigurationArgument_OrTheOption(string how)
    {
        // `serve` once added --Server:Role=all whenever --role was not given, overriding Server__Role and --Server:Role=…:
        // a "gateway" started so ran every worker and the REST API.
        var environment = how == "environment" ? new Dictionary<string, string> { ["Server__Role"] = "control" } : [];
        string[] args = how switch { "argument" => ["--Server:Role=control"], "option" => ["--role", "control"], _ => [] };
        await using var server = await ServerProcess.StartAsync(_data, environment, args);
        var key = AdminKey(server)!;
        using var http = new HttpClient { BaseAddress = server.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        var cluster = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync("/api/v1/cluster", TestContext.Current.CancellationToken));
        Assert.Equal("control", cluster.RootElement.GetProperty("role").GetString());
    }

    [Fact(Timeout = 180_000)]
    public async Task Serve_PrintsAdminKeyOnce_OnEmptyDataDirectoryOnly()
    {
        string key;
        await using (var first = await ServerProcess.StartAsync(_data))
        {
            key = AdminKey(first)!;
            Assert.NotNull(key);
            var api = ModelGateClient.Create(first.BaseAddress, key);
            var keys = await api.ListKeysAsync(TestContext.Current.CancellationToken);
            Assert.Equal(["admin"], keys.Single().Roles);
            Assert.StartsWith(keys.Single().Prefix, key);
        }
        await using var second = await ServerProcess.StartAsync(_data);
        Assert.Null(AdminKey(second));
        Assert.DoesNotContain(second.Output, l => l.Contains(key, StringComparison.Ordinal));
        Assert.Single(await ModelGateClient.Create(second.BaseAddress, key).ListKeysAsync());
    }

    [Fact(Timeout = 180_000)]
    public async Task Serve_WritesNothingOutsideItsDataDirectory_NotEvenAKeyRingInHome()
    {
        // ASP.NET Core's AddAuthentication() brings data protection, whose hosted service wrote an XML key ring to
        // ~/.aspnet/DataProtection-Keys at every start (and loaded the XML stack for it) although nothing uses it.
        var home = Directory.CreateTempSubdirectory("modelgate-home-").FullName;
        try
        {
            await using (var server = await ServerProcess.StartAsync(_data, new Dictionary<string, string> { ["HOME"] = home }))
            {
                using var http = new HttpClient { BaseAddress = server.BaseAddress };
                using (var refused = await http.GetAsync("/api/v1/models", TestContext.Current.CancellationToken))
                {
                    Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
                }
                var models = await ModelGateClient.Create(server.BaseAddress, AdminKey(server)).ListModelsAsync(ct: TestContext.Current.CancellationToken);
                Assert.Empty(models.Items);
            }
            Assert.Empty(Directory.EnumerateFileSystemEntries(home, "*", SearchOption.AllDirectories));
            Assert.True(File.Exists(Path.Combine(_data, "modelgate.db")));
        }
        finally
        {
            Directory.Delete(home, recursive: true);
        }
    }

    [Fact(Timeout = 180_000)]
    public async Task AGatewayReplica_ServesTheStoresDeployments_FromTheMomentItListens()
    {
        var ct = TestContext.Current.CancellationToken;
        const string deployment = "late-replica";
        await using var control = await ServerProcess.StartAsync(_data, "--role", "control");
        var api = ModelGateClient.Create(control.BaseAddress, AdminKey(control));
        await api.CreateModelAsync(new CreateModelRequest("replicated", "o", "low", "classification"), ct);
        var onnx = Fixtures.ModelBytes("v1-logreg");
        var sha = Convert.ToHexStringLower(SHA256.HashData(onnx));
        await api.PushArtifactAsync(new MemoryStream(onnx), sha);
        await api.CreateVersionAsync("replicated", new CreateVersionRequest("1.0.0", [new ArtifactRef(sha, "v1-logreg.onnx")], Fixtures.Attestation()));
        await api.CreateDeploymentAsync(new CreateDeploymentRequest(deployment, "development", "replicated", new RoutingTable("1.0.0")));
        var token = (await api.CreateKeyAsync(new CreateKeyRequest("caller", ["viewer"], Deployments: [deployment]))).Key!;

        // Started after the deployment exists, and asked at once: before the fix the first requests of a fresh replica
        // were answered "no deployment named ..." until its first poll of the store, about a second later.
        await using var replica = await ServerProcess.StartAsync(_data, "--role", "gateway");
        using var http = new HttpClient { BaseAddress = replica.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        using var response = await http.PostAsync($"/v2/models/{deployment}/infer",
            new StringContent(AdultServing.Request(0, 1).ToJsonString(), System.Text.Encoding.UTF8, "application/json"), ct);
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync(ct));
        Assert.Equal("1.0.0", response.Headers.GetValues("x-modelgate-version").Single());
    }

    [Fact(Timeout = 180_000)]
    public async Task AGatewayReplica_OnAStoreNoControlProcessHasMigrated_WaitsThenExitsWithAClearMessage_AndChangesNothing()
    {
        var (exitCode, _, output) = await ServeUntilItExitsAsync(TestContext.Current.CancellationToken, "--urls", "http://127.0.0.1:0", "--role", "gateway", "--Database:SchemaWait=00:00:02");
        Assert.Equal(6, exitCode);
        Assert.Contains("a gateway replica does not migrate: start a control (or all-in-one) `modelgate serve` on the same store first", output);
        Assert.DoesNotContain("listening", output);
        Assert.DoesNotContain("Unhandled exception", output);
        Assert.DoesNotContain("admin key", output);

        // The replica created no tables: a control process then migrates the store from scratch and bootstraps its key.
        await using var control = await ServerProcess.StartAsync(_data, "--role", "control");
        Assert.NotNull(AdminKey(control));
        await using var replica = await ServerProcess.StartAsync(_data, "--role", "gateway", "--Database:SchemaWait=00:00:02");
        using var health = await new HttpClient { BaseAddress = replica.BaseAddress }.GetAsync("/v2/health/ready", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Fact(Timeout = 180_000)]
    public async Task Serve_WithBadConfiguration_FailsFastWithAClearMessage()
    {
        var (exitCode, _, output) = await ServeUntilItExitsAsync(TestContext.Current.CancellationToken, "--urls", "http://127.0.0.1:0", "--Database:Provider=oracle");
        Assert.Equal(2, exitCode);
        Assert.Contains("Database:Provider must be 'sqlite' or 'postgres'", output);
    }

    [Fact(Timeout = 180_000)]
    public async Task Serve_OnAnAddressInUse_ExitsWithAClearMessage_NotACrash()
    {
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var url = $"http://127.0.0.1:{((System.Net.IPEndPoint)taken.LocalEndpoint).Port}";
        var (exitCode, err, output) = await ServeUntilItExitsAsync(TestContext.Current.CancellationToken, "--urls", url);
        Assert.Equal(6, exitCode);
        Assert.Contains($"error: Failed to bind to address {url}: address already in use.", err);
        Assert.Contains("--urls", err);
        Assert.DoesNotContain("Unhandled exception", output);
        // Said once, in a sentence: not also by the host first, with the exception's stack trace.
        Assert.DoesNotContain("Hosting failed to start", output);
        Assert.DoesNotContain("   at ", output);
    }

    [Fact(Timeout = 180_000)]
    public async Task Serve_OnADatabaseItCannotReach_ExitsWithAClearMessage_NotACrash()
    {
        using var closed = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        closed.Start();
        var port = ((System.Net.IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop(); // a port nothing listens on: PostgreSQL is down
        var (exitCode, err, output) = await ServeUntilItExitsAsync(TestContext.Current.CancellationToken, "--urls", "http://127.0.0.1:0",
            "--Database:Provider=postgres", $"--Database:ConnectionString=Host=127.0.0.1;Port={port};Username=modelgate;Password=modelgate;Timeout=5");
        Assert.Equal(6, exitCode); // it was 134: an unhandled exception that aborted the runtime
        Assert.Contains($"error: the database cannot be used: Failed to connect to 127.0.0.1:{port}.", err);
        Assert.Contains("Database:ConnectionString", err);
        Assert.DoesNotContain("Unhandled exception", output);
        Assert.DoesNotContain("   at ", output);
        Assert.DoesNotContain("listening", output);
    }

    /// <summary>Yields <paramref name="stallAfter"/> bytes, signals, then never yields more.</summary>
    private sealed class StallingStream(byte[] content, int stallAfter, TaskCompletionSource halfway) : Stream
    {
        private int _position;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => content.Length;
        public override long Position { get => _position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_position >= stallAfter)
            {
                halfway.TrySetResult();
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            var n = Math.Min(buffer.Length, stallAfter - _position);
            content.AsMemory(_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>
    /// <c>serve</c> turns on inline socket completions before the first socket (Server:InlineIO): the runtime then starts one
    /// socket engine thread per core (".NET Sockets"), against one per 30 cores without it. Read from /proc, as the
    /// runtime's own threads of the real process.
    /// </summary>
    [Fact(Timeout = 120_000)]
    public async Task Serve_RunsSocketCompletionsInline_UnlessTurnedOff()
    {
        var ct = TestContext.Current.CancellationToken;
        static int SocketThreads(int pid) => Directory.EnumerateDirectories($"/proc/{pid}/task")
            .Count(task => File.ReadAllText(Path.Combine(task, "comm")).Trim() == ".NET Sockets");

        await using (var inline = await ServerProcess.StartAsync(_data))
        {
            // Something went over a socket, and the control plane still answers (it is moved off the socket threads).
            var api = ModelGateClient.Create(inline.BaseAddress, AdminKey(inline)!);
            await api.CreateModelAsync(new CreateModelRequest("inline", "o", "low", "other"), ct);
            Assert.Equal(Environment.ProcessorCount, SocketThreads(inline.Pid));
        }
        await using var off = await ServerProcess.StartAsync(_data, "--Server:InlineIO=false");
        using var http = new HttpClient { BaseAddress = off.BaseAddress };
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz", ct)).StatusCode);
        Assert.Equal(Math.Max(1, (int)Math.Round(Environment.ProcessorCount / 30.0)), SocketThreads(off.Pid));
    }
}
