using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;
using Npgsql;

namespace ModelGate.Tests.Hosting;

/// <summary>
/// The scale-out topology as real processes on this machine: control processes and gateway replicas of the built
/// <c>modelgate</c> binary on one fresh PostgreSQL database, one shared data directory (artifacts) and, optionally, one
/// Redis server of the test's own. Each process has a name (<c>Server:Replica</c>) the test can find it by.
/// </summary>
public sealed class ProcessCluster : IAsyncDisposable
{
    private readonly string _adminConnectionString = PostgresServerFixture.AdminConnectionString;
    private readonly string[] _extra;
    private readonly List<ServerProcess> _started = [];

    private ProcessCluster(string database, RedisServer? redis, string[] extra)
    {
        Database = database;
        Redis = redis;
        _extra = extra;
        ConnectionString = new NpgsqlConnectionStringBuilder(_adminConnectionString) { Database = database }.ConnectionString;
    }

    public string Database { get; }
    public string ConnectionString { get; }
    public RedisServer? Redis { get; }
    public string DataDirectory { get; } = Path.Combine(Path.GetTempPath(), "modelgate-tests", "cluster-" + Guid.NewGuid().ToString("N")[..10]);
    public Dictionary<string, ServerProcess> Processes { get; } = new(StringComparer.Ordinal);

    /// <summary>The gateway replicas started, by name.</summary>
    public IEnumerable<KeyValuePair<string, ServerProcess>> Gateways => Processes.Where(p => _gateways.Contains(p.Key));

    private readonly HashSet<string> _gateways = new(StringComparer.Ordinal);

    /// <summary>
    /// A fresh database and (when <paramref name="redis"/>) a Redis server; null, with <paramref name="skipReason"/>, when
    /// PostgreSQL or redis-server is not available outside CI.
    /// </summary>
    public static async Task<(ProcessCluster? Cluster, string? SkipReason)> CreateAsync(bool redis, params string[] extra)
    {
        var database = "mg_cluster_" + Guid.NewGuid().ToString("N")[..12];
        try
        {
            await using var connection = new NpgsqlConnection(PostgresServerFixture.AdminConnectionString);
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {database}", connection);
            await create.ExecuteNonQueryAsync();
        }
        catch (Exception e) when (e is NpgsqlException or System.Net.Sockets.SocketException or TimeoutException && !PostgresServerFixture.Required)
        {
            return (null, $"PostgreSQL is not reachable ({e.Message}); run .ci/run to include the multi-process tests");
        }
        RedisServer? server = null;
        if (redis)
        {
            server = new RedisServer();
            await server.InitializeAsync();
            if (server.SkipReason is { } reason)
            {
                return (null, reason);
            }
        }
        return (new ProcessCluster(database, server, extra), null);
    }

    /// <summary>Starts one process of <paramref name="role"/> named <paramref name="replica"/>.</summary>
    public async Task<ServerProcess> StartAsync(string role, string replica, params string[] extra)
    {
        string[] args =
        [
            $"--Server:Role={role}",
            $"--Server:Replica={replica}",
            "--Database:Provider=postgres",
            $"--Database:ConnectionString={ConnectionString}",
            $"--Security:BootstrapAdminKey={ServerFixture.AdminKey}",
            "--Rollouts:TickInterval=00:00:01",
            "--Gateway:PayloadSampleRate=0",
            .. Redis is null ? [] : (string[])[$"--Redis:Configuration={Redis.Configuration}"],
            .. _extra,
            .. extra,
        ];
        var process = await ServerProcess.StartAsync(DataDirectory, args);
        _started.Add(process);
        Processes[replica] = process;
        if (role == "gateway")
        {
            _gateways.Add(replica);
        }
        // The role is the one asked for: a gateway has no REST API.
        using var models = await Client(process).GetAsync("/api/v1/models");
        Assert.Equal(role == "gateway" ? System.Net.HttpStatusCode.NotFound : System.Net.HttpStatusCode.OK, models.StatusCode);
        return process;
    }

    public ServerProcess this[string replica] => Processes[replica];

    public static HttpClient Client(ServerProcess process, string? key = ServerFixture.AdminKey)
    {
        var client = new HttpClient { BaseAddress = process.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        if (key is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }
        return client;
    }

    public static ModelGateClient Api(ServerProcess process, string key = ServerFixture.AdminKey) =>
        ModelGateClient.Create(process.BaseAddress, key, new SocketsHttpHandler());

    /// <summary>
    /// A model with versions of the real Adult models (<paramref name="versions"/>: version → ONNX file name), registered on
    /// <paramref name="control"/>. Each version also carries a one-line note naming it, so that two versions may serve the
    /// same ONNX model (identical artifacts would be a duplicate version).
    /// </summary>
    public static async Task<string> RegisterAsync(ServerProcess control, params (string Version, string Onnx)[] versions)
    {
        var api = Api(control);
        var model = ServerFixture.UniqueName("scale");
        await api.CreateModelAsync(new CreateModelRequest(model, "o", "low", "classification"));
        foreach (var (version, onnx) in versions)
        {
            var onnxSha = await PushAsync(api, Fixtures.ModelBytes(onnx));
            var noteSha = await PushAsync(api, Encoding.UTF8.GetBytes($"{model} {version}\n"));
            await api.CreateVersionAsync(model, new CreateVersionRequest(version,
                [new ArtifactRef(onnxSha, onnx + ".onnx"), new ArtifactRef(noteSha, "NOTES.txt")], Fixtures.Attestation()));
        }
        return model;
    }

    private static async Task<string> PushAsync(ModelGateClient api, byte[] bytes)
    {
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        await api.PushArtifactAsync(new MemoryStream(bytes), sha);
        return sha;
    }

    /// <summary>A measured figure: to the test's output and to <c>TestResults/scale-out.txt</c> (the figures the README quotes).</summary>
    public static void Report(ITestOutputHelper output, string line)
    {
        output.WriteLine(line);
        var directory = Path.Combine(AppContext.BaseDirectory, "TestResults");
        Directory.CreateDirectory(directory);
        File.AppendAllText(Path.Combine(directory, "scale-out.txt"), $"{DateTime.UtcNow:O} {line}\n");
    }

    /// <summary>One OIP v2 request of one row; the answer's status and the request id the gateway gave it.</summary>
    public static async Task<(int Status, string? RequestId)> InferAsync(HttpClient client, string deployment, int row)
    {
        using var content = new StringContent(AdultServing.Request(row % 1000, 1).ToJsonString(), Encoding.UTF8, "application/json");
        using var response = await client.PostAsync($"/v2/models/{deployment}/infer", content);
        return ((int)response.StatusCode,
            response.Headers.TryGetValues("x-modelgate-request-id", out var ids) ? ids.FirstOrDefault() : null);
    }

    public async Task<T> QueryAsync<T>(string sql, Func<NpgsqlDataReader, T> read, params (string Name, object Value)[] parameters)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }
        await using var reader = await command.ExecuteReaderAsync();
        return read(reader);
    }

    public Task<long> CountAsync(string sql, params (string Name, object Value)[] parameters) =>
        QueryAsync(sql, r => r.Read() ? Convert.ToInt64(r.GetValue(0), System.Globalization.CultureInfo.InvariantCulture) : 0, parameters);

    /// <summary>Waits for <paramref name="condition"/> (a fact), polling; fails with <paramref name="what"/> after <paramref name="timeout"/>.</summary>
    public static async Task WaitForAsync(Func<Task<bool>> condition, TimeSpan timeout, string what, Func<string>? detail = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out after {timeout.TotalSeconds} s waiting for {what}{(detail is null ? "" : "\n" + detail())}");
            await Task.Delay(50);
        }
    }

    public static JsonNode? Json(string text) => JsonNode.Parse(text);

    public async ValueTask DisposeAsync()
    {
        foreach (var process in _started)
        {
            await process.DisposeAsync();
        }
        if (Redis is not null)
        {
            await Redis.DisposeAsync();
        }
        NpgsqlConnection.ClearAllPools();
        try
        {
            await using var connection = new NpgsqlConnection(_adminConnectionString);
            await connection.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {Database} WITH (FORCE)", connection);
            await drop.ExecuteNonQueryAsync();
        }
        catch (NpgsqlException)
        {
            // Dropped with the server's next cleanup; the test's result does not depend on it.
        }
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }
}
