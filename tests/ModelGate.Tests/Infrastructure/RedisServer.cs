using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ModelGate.Tests.Infrastructure;

/// <summary>
/// A <c>redis-server</c> of the test's own, on a free loopback port, without persistence (<c>--save '' --appendonly no</c>):
/// <see cref="StopAsync"/> kills it (an outage), <see cref="StartAsync"/> starts it again on the same port (empty). Use it
/// as a class fixture (<c>IClassFixture&lt;RedisServer&gt;</c>) or as a plain object (<c>await using var redis = new
/// RedisServer(); await redis.InitializeAsync();</c>). Without <c>redis-server</c> (/usr/bin or PATH) the tests that need it
/// are skipped with <see cref="SkipReason"/>, except under CI (<c>CI=true</c> or <c>MODELGATE_REQUIRE_REDIS=1</c>), where
/// that is a failure.
/// </summary>
public sealed class RedisServer : IAsyncLifetime
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(20);
    private readonly StringBuilder _output = new();
    private Process? _process;

    public static bool Required =>
        string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase) ||
        Environment.GetEnvironmentVariable("MODELGATE_REQUIRE_REDIS") == "1";

    /// <summary>The redis-server executable: /usr/bin/redis-server, or the first on PATH; null when there is none.</summary>
    public static string? Executable { get; } = Find();

    public string? SkipReason { get; private set; }

    public int Port { get; private set; }

    /// <summary>The StackExchange.Redis connection string (<c>Redis:Configuration</c>).</summary>
    public string Configuration => $"127.0.0.1:{Port}";

    public bool Running => _process is { HasExited: false };

    public async ValueTask InitializeAsync()
    {
        if (Executable is null)
        {
            if (Required)
            {
                throw new InvalidOperationException("redis-server is not installed (apt-get install redis-server) and CI requires the Redis tests");
            }
            SkipReason = "redis-server is not installed (/usr/bin/redis-server or on PATH); install it, or run .ci/run, to include these tests";
            return;
        }
        Port = FreePort();
        await StartAsync();
    }

    public void SkipIfUnavailable()
    {
        if (SkipReason is not null)
        {
            Assert.Skip(SkipReason);
        }
    }

    /// <summary>Starts the server (again, on the same port, with no data) and returns once it answers PING.</summary>
    public async Task StartAsync()
    {
        if (Executable is null || Running)
        {
            return;
        }
        var info = new ProcessStartInfo(Executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        foreach (var arg in (string[])["--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1",
                     "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes", "--loglevel", "warning"])
        {
            info.ArgumentList.Add(arg);
        }
        var process = Process.Start(info) ?? throw new InvalidOperationException("redis-server did not start");
        process.OutputDataReceived += (_, e) => Note(e.Data);
        process.ErrorDataReceived += (_, e) => Note(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        var until = DateTime.UtcNow + StartTimeout;
        while (!await PingAsync())
        {
            if (process.HasExited || DateTime.UtcNow > until)
            {
                throw new InvalidOperationException($"redis-server on port {Port} did not answer PING: {Output}");
            }
            await Task.Delay(20);
        }
    }

    /// <summary>Kills the server (kill -9: an outage, not a goodbye) and waits until it is gone.</summary>
    public async Task StopAsync()
    {
        if (_process is not { } process)
        {
            return;
        }
        _process = null;
        if (!process.HasExited)
        {
            process.Kill();
        }
        await process.WaitForExitAsync();
        process.Dispose();
    }

    /// <summary>True when the server answers PING now.</summary>
    public async Task<bool> PingAsync()
    {
        try
        {
            using var client = new TcpClient();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await client.ConnectAsync(IPAddress.Loopback, Port, cts.Token);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray(), cts.Token);
            var buffer = new byte[16];
            var read = await stream.ReadAsync(buffer, cts.Token);
            return Encoding.ASCII.GetString(buffer, 0, read).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>What the server printed (warnings and errors), for failure messages.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    private void Note(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_output)
        {
            if (_output.Length < 64 * 1024)
            {
                _output.AppendLine(line);
            }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string? Find()
    {
        if (File.Exists("/usr/bin/redis-server"))
        {
            return "/usr/bin/redis-server";
        }
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, "redis-server");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }
}
