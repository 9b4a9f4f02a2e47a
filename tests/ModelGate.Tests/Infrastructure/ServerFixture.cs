using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using ModelGate.Client;
using ModelGate.Hosting;
using ModelGate.Storage;
using Npgsql;

namespace ModelGate.Tests.Infrastructure;

/// <summary>
/// One real ModelGate host (the same composition as <c>modelgate serve</c>) on a fresh database, reached in-process
/// through the ASP.NET test server, or on a loopback socket when <see cref="ListensOnSocket"/> (a browser needs one).
/// Derived fixtures choose the database provider.
/// </summary>
public abstract class ServerFixture : IAsyncLifetime
{
    public const string AdminKey = "mg_test-admin-key-0123456789abcdefghijklmnopqrstuv";
    public const long MaxRequestBodyBytes = 64 * 1024;
    public const long MaxArtifactBytes = 24 * 1024 * 1024;

    /// <summary>
    /// Lets the server reach loopback (the tests' stub upstreams and webhook receivers listen on 127.0.0.1), which the
    /// egress policy refuses by default.
    /// </summary>
    public static readonly string[] LoopbackEgress = ["--Security:AllowedEgress:0=127.0.0.0/8", "--Security:AllowedEgress:1=::1/128"];

    private WebApplication? _app;

    public abstract string Provider { get; }
    public string DataDirectory { get; init; } = Path.Combine(Path.GetTempPath(), "modelgate-tests", Guid.NewGuid().ToString("N"));
    public FakeTimeProvider Time { get; init; } = new(new DateTimeOffset(2026, 11, 1, 12, 0, 0, TimeSpan.Zero));
    public string? SkipReason { get; protected set; }

    public WebApplication App => _app ?? throw new InvalidOperationException(SkipReason ?? "the server did not start");

    /// <summary>
    /// Kestrel on an ephemeral 127.0.0.1 port instead of the in-memory test server: for clients outside this process
    /// (a browser). <see cref="Client"/>, <see cref="Api"/> and <see cref="CliAsync"/> then go through the socket.
    /// </summary>
    protected virtual bool ListensOnSocket => false;

    /// <summary>Where the server is reached: <c>http://localhost/</c> in memory, the bound address on a socket.</summary>
    public Uri BaseAddress { get; private set; } = new("http://localhost/");

    protected abstract Task<IEnumerable<string>?> DatabaseArgumentsAsync();

    /// <summary>The egress allowance: loopback, unless a fixture tests the egress policy's defaults.</summary>
    protected virtual IEnumerable<string> EgressArguments => LoopbackEgress;

    /// <summary>More configuration for a fixture that needs it (e.g. the webhook receivers it started).</summary>
    protected virtual Task<IEnumerable<string>> ExtraArgumentsAsync() => Task.FromResult<IEnumerable<string>>([]);

    public virtual async ValueTask InitializeAsync()
    {
        var databaseArgs = await DatabaseArgumentsAsync();
        if (databaseArgs is null)
        {
            return;
        }
        string[] args =
        [
            $"--Data:Directory={DataDirectory}",
            $"--Security:BootstrapAdminKey={AdminKey}",
            $"--Limits:MaxRequestBodyBytes={MaxRequestBodyBytes}",
            $"--Limits:MaxArtifactBytes={MaxArtifactBytes}",
            "--Logging:LogLevel:Default=Warning",
            "--Gateway:PayloadSampleRate=1",
            "--Gateway:ChatSampleRate=1",
            "--Alerts:RetryDelay=00:00:00",
            // Tests evaluate the monitors explicitly; a fake clock moved by days would otherwise queue thousands of runs.
            "--Alerts:EvaluationInterval=1.00:00:00",
            "--Rollouts:TickInterval=1.00:00:00",
            .. EgressArguments,
            .. databaseArgs,
            .. await ExtraArgumentsAsync(),
            .. (ListensOnSocket ? (string[])["--urls=http://127.0.0.1:0"] : []),
        ];
        _app = ModelGateHost.Build(args, builder =>
        {
            builder.Services.AddSingleton<TimeProvider>(Time);
            if (!ListensOnSocket)
            {
                builder.WebHost.UseTestServer();
                // ModelGate's calls to its own data plane (staging verification) go through the in-memory test server.
                builder.Services.AddSingleton(sp => new ModelGate.Lifecycle.LoopbackClient(sp.GetRequiredService<IServer>(),
                    () => ((TestServer)sp.GetRequiredService<IServer>()).CreateHandler()));
            }
        });
        await _app.StartAsync();
        if (ListensOnSocket)
        {
            var address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            BaseAddress = new Uri(address.TrimEnd('/') + "/");
        }
    }

    public virtual async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
        GC.SuppressFinalize(this);
    }

    public void SkipIfUnavailable()
    {
        if (SkipReason is not null)
        {
            Assert.Skip(SkipReason);
        }
    }

    public HttpClient Client(string? token = AdminKey)
    {
        var client = ListensOnSocket ? new HttpClient(Handler()) { BaseAddress = BaseAddress } : App.GetTestClient();
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        return client;
    }

    public HttpMessageHandler Handler() => ListensOnSocket ? new SocketsHttpHandler() : App.GetTestServer().CreateHandler();

    /// <summary>Runs the <c>modelgate</c> CLI against this server, as the holder of <paramref name="token"/>.</summary>
    public async Task<(int Exit, string Out, string Err)> CliAsync(string?[] args, string? token = AdminKey,
        IReadOnlyDictionary<string, string?>? environment = null)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var env = new Dictionary<string, string?>(environment ?? new Dictionary<string, string?>()) { ["MODELGATE_URL"] = BaseAddress.ToString().TrimEnd('/'), ["MODELGATE_TOKEN"] = token };
        var exit = await ModelGate.Cli.CliApp.RunAsync(args!, new ModelGate.Cli.CliContext(output, error, false, Handler(), name => env.GetValueOrDefault(name)));
        return (exit, output.ToString(), error.ToString());
    }

    public ModelGateClient Api(string? token = AdminKey) => ModelGateClient.Create(BaseAddress, token, Handler());

    public async Task<string> CreateKeyAsync(params string[] roles)
    {
        var key = await CreateKeyAsync(new CreateKeyRequest($"test {string.Join('+', roles)}", roles));
        return key.Key!;
    }

    private ModelGateClient? _peopleAdmin;
    private readonly SemaphoreSlim _peopleAdminLock = new(1, 1);

    /// <summary>
    /// An administrator (its own service principal) that makes the test's people. An approving role granted by someone who
    /// registered a version or asked to promote it does not count for that version, and the bootstrap admin does both in
    /// most tests' set-ups: people are made by another principal.
    /// </summary>
    public async Task<ModelGateClient> PeopleAdminAsync()
    {
        await _peopleAdminLock.WaitAsync();
        try
        {
            return _peopleAdmin ??= Api((await Api().CreateKeyAsync(new CreateKeyRequest("people admin", [Roles.Admin]))).Key);
        }
        finally
        {
            _peopleAdminLock.Release();
        }
    }

    /// <summary>The roles that approve, which only person principals hold (ml-lead, product-owner, risk-committee).</summary>
    public static readonly IReadOnlyList<string> ApprovalRoles = [Roles.MlLead, Roles.ProductOwner, Roles.RiskCommittee];

    /// <summary>
    /// Creates a key as the admin. A key with an approving role is made for a fresh person principal (a unique identity
    /// named after the key) holding the key's roles, as approving roles are held by people only; any other key without a
    /// principal is its own service principal. <see cref="ApiKeyDto.Principal"/> is what the key's acts are recorded as.
    /// </summary>
    public async Task<ApiKeyDto> CreateKeyAsync(CreateKeyRequest request)
    {
        if (request.Principal is null && request.Roles.Any(ApprovalRoles.Contains))
        {
            var person = await (await PeopleAdminAsync()).CreatePrincipalAsync(new CreatePrincipalRequest(PrincipalKinds.Person,
                $"{UniqueName(new string(request.Name.Where(char.IsAsciiLetterOrDigit).ToArray()) is { Length: > 0 } n ? n : "person")}@example.com",
                request.Name, request.Roles));
            request = request with { Principal = person.Id };
        }
        return await Api().CreateKeyAsync(request);
    }

    public async Task<T> WithDbAsync<T>(Func<ModelGateDbContext, Task<T>> action)
    {
        await using var scope = App.Services.CreateAsyncScope();
        return await action(scope.ServiceProvider.GetRequiredService<ModelGateDbContext>());
    }

    /// <summary>Returns once every request answered so far (and every record added so far) is in the request log's table.</summary>
    /// <summary>
    /// Writes a model policy that drops below its risk tier's floor (set-ups that skip gates not under test): refused
    /// first, approved by the tier's authority with another key, then written.
    /// </summary>
    public async Task PutPolicyBelowFloorAsync(string model, string policyYaml)
    {
        using var response = await Client().PutAsync($"/api/v1/policies/{model}", new StringContent(policyYaml, System.Text.Encoding.UTF8, "application/yaml"));
        if (response.IsSuccessStatusCode)
        {
            return;
        }
        var change = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("change").GetString()!;
        var tier = (await Api().GetModelAsync(model)).RiskTier;
        var authority = Api((await CreateKeyAsync(new CreateKeyRequest(UniqueName("authority"), [ModelGate.Lifecycle.PolicyFloors.Authority(tier)]))).Key);
        await authority.ApproveFloorChangeAsync(model, new FloorApprovalRequest(change, "the gates this set-up skips are not under test"));
        await Api().PutPolicyAsync(model, policyYaml);
    }

    public Task FlushRequestLogAsync() =>
        App.Services.GetRequiredService<ModelGate.Gateway.RequestLog>().FlushAsync(TestContext.Current.CancellationToken);

    /// <summary>Returns once every alert delivery queued so far has ended (delivered or failed, its outcome stored).</summary>
    public Task FlushAlertDeliveriesAsync() =>
        App.Services.GetRequiredService<ModelGate.Monitoring.AlertManager>().FlushDeliveriesAsync(TestContext.Current.CancellationToken);

    /// <summary>Returns once the evaluation run has ended and its outcome is stored.</summary>
    public Task EvaluationFinishedAsync(string id) =>
        App.Services.GetRequiredService<ModelGate.Evaluation.EvaluationJobs>().WhenFinishedAsync(id, TestContext.Current.CancellationToken);

    public Task<long> AuditCountAsync() => WithDbAsync(db => Task.FromResult(db.AuditEvents.LongCount()));

    /// <summary>Uploads bytes and returns their digest.</summary>
    public async Task<string> UploadAsync(byte[] content)
    {
        var sha = Convert.ToHexStringLower(SHA256.HashData(content));
        await Api().PushArtifactAsync(new MemoryStream(content), sha);
        return sha;
    }

    public static string UniqueName(string prefix) => $"{prefix}-{Guid.NewGuid().ToString("N")[..10]}";
}

public class SqliteServerFixture : ServerFixture
{
    public override string Provider => "sqlite";

    protected override Task<IEnumerable<string>?> DatabaseArgumentsAsync() =>
        Task.FromResult<IEnumerable<string>?>(["--Database:Provider=sqlite"]);
}

/// <summary>
/// A fresh database on a real PostgreSQL server, named by MODELGATE_TEST_POSTGRES (default: modelgate/modelgate on
/// 127.0.0.1:5432). Without a reachable server the tests are skipped, except under CI, where that is a failure.
/// </summary>
public class PostgresServerFixture : ServerFixture
{
    public const string DefaultConnectionString = "Host=127.0.0.1;Port=5432;Username=modelgate;Password=modelgate;Database=postgres;Timeout=5";
    private string? _adminConnectionString;
    private string? _database;

    public override string Provider => "postgres";

    public static string AdminConnectionString =>
        Environment.GetEnvironmentVariable("MODELGATE_TEST_POSTGRES") is { Length: > 0 } cs ? cs : DefaultConnectionString;

    public static bool Required =>
        string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase) ||
        Environment.GetEnvironmentVariable("MODELGATE_REQUIRE_POSTGRES") == "1";

    protected override async Task<IEnumerable<string>?> DatabaseArgumentsAsync()
    {
        _adminConnectionString = AdminConnectionString;
        _database = "mg_test_" + Guid.NewGuid().ToString("N")[..12];
        try
        {
            await using var connection = new NpgsqlConnection(_adminConnectionString);
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {_database}", connection);
            await create.ExecuteNonQueryAsync();
        }
        catch (Exception e) when (e is NpgsqlException or System.Net.Sockets.SocketException or TimeoutException && !Required)
        {
            SkipReason = $"PostgreSQL is not reachable at '{Redacted(_adminConnectionString)}' ({e.Message}); set MODELGATE_TEST_POSTGRES, or run .ci/run, to include these tests";
            _database = null;
            return null;
        }
        var builder = new NpgsqlConnectionStringBuilder(_adminConnectionString) { Database = _database };
        return ["--Database:Provider=postgres", $"--Database:ConnectionString={builder.ConnectionString}"];
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        if (_database is not null && _adminConnectionString is not null)
        {
            NpgsqlConnection.ClearAllPools();
            await using var connection = new NpgsqlConnection(_adminConnectionString);
            await connection.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {_database} WITH (FORCE)", connection);
            await drop.ExecuteNonQueryAsync();
        }
    }

    private static string Redacted(string cs)
    {
        var b = new NpgsqlConnectionStringBuilder(cs);
        if (!string.IsNullOrEmpty(b.Password))
        {
            b.Password = "***";
        }
        return b.ConnectionString;
    }
}
