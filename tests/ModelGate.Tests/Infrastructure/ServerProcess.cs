using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;

namespace ModelGate.Tests.Infrastructure;

/// <summary>The built <c>modelgate</c> binary running <c>serve</c> as its own process on a loopback port.</summary>
public sealed partial class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly TaskCompletionSource<Uri> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ServerProcess(Process process) => _process = process;

    public Uri BaseAddress { get; private set; } = null!;
    public IReadOnlyList<string> Output => [.. _lines];
    public bool HasExited => _process.HasExited;
    public int Pid => _process.Id;

    /// <summary>The admin key printed on an empty data directory (null when none was printed).</summary>
    public string? AdminKey => Output.Select(l => AdminKeyLine().Match(l)).FirstOrDefault(m => m.Success)?.Groups[1].Value;

    [GeneratedRegex(@"^admin key: (mg_\S+)$")]
    private static partial Regex AdminKeyLine();

    [GeneratedRegex(@"ModelGate listening on (https?://[^\s,]+)")]
    private static partial Regex ListeningLine();

    public static Task<ServerProcess> StartAsync(string dataDirectory, params string[] extraArgs) =>
        StartAsync(dataDirectory, new Dictionary<string, string>(), extraArgs);

    /// <summary>Starts the server with <paramref name="environment"/> added to (or replacing in) the test's environment.</summary>
    public static async Task<ServerProcess> StartAsync(string dataDirectory, IReadOnlyDictionary<string, string> environment, params string[] extraArgs)
    {
        var binary = Path.Combine(AppContext.BaseDirectory, "modelgate.dll");
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }
        // A test that gives its own --urls (https, say) replaces the default.
        string[] urls = extraArgs.Contains("--urls") ? [] : ["--urls", "http://127.0.0.1:0"];
        foreach (var a in (string[])[binary, "serve", "--data", dataDirectory, .. urls, .. ServerFixture.LoopbackEgress, .. extraArgs])
        {
            start.ArgumentList.Add(a);
        }
        var server = new ServerProcess(Process.Start(start)!);
        server._process.OutputDataReceived += (_, e) => server.OnLine(e.Data);
        server._process.ErrorDataReceived += (_, e) => server.OnLine(e.Data);
        server._process.BeginOutputReadLine();
        server._process.BeginErrorReadLine();
        var started = await Task.WhenAny(server._listening.Task, Task.Delay(TimeSpan.FromSeconds(60)), server._process.WaitForExitAsync());
        if (started != server._listening.Task)
        {
            server.Kill();
            throw new InvalidOperationException("modelgate serve did not start:\n" + string.Join('\n', server.Output));
        }
        server.BaseAddress = await server._listening.Task;
        return server;
    }

    /// <summary><c>modelgate serve --data</c> with <paramref name="args"/>, for a start that is expected to fail: its exit code and stderr.</summary>
    public static async Task<(int ExitCode, string Stderr)> RunUntilExitAsync(string dataDirectory, CancellationToken cancellationToken, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string[])[Path.Combine(AppContext.BaseDirectory, "modelgate.dll"), "serve", "--data", dataDirectory, .. args])
        {
            start.ArgumentList.Add(a);
        }
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken).WaitAsync(TimeSpan.FromSeconds(60), cancellationToken);
        await stdout;
        return (process.ExitCode, await stderr);
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }
        _lines.Enqueue(line);
        LineWritten?.Invoke(line);
        var m = ListeningLine().Match(line);
        if (m.Success)
        {
            _listening.TrySetResult(new Uri(m.Groups[1].Value.TrimEnd('/') + "/"));
        }
    }

    public int ExitCode => _process.ExitCode;

    /// <summary>Every line the server writes from now on (standard output and error), as it arrives.</summary>
    public event Action<string>? LineWritten;

    /// <summary>SIGTERM, as a service manager or container runtime stops a server; returns at once.</summary>
    public void Terminate()
    {
        using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) } })!;
        kill.WaitForExit();
    }

    public Task WaitForExitAsync(CancellationToken cancellationToken) => _process.WaitForExitAsync(cancellationToken);

    /// <summary>SIGKILL: no shutdown handlers, no flushing, exactly like a crash.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Kill();
        await Task.CompletedTask;
        _process.Dispose();
    }
}
