using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace ModelGate.Benchmarks;

/// <summary>
/// A process the gateway suite starts (a proxy, the upstream, Portkey via npx): its output is collected, a line can be
/// awaited, and disposing it kills it with everything it started.
/// </summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly List<(Regex Pattern, TaskCompletionSource<Match> Found)> _waiters = [];
    private readonly Lock _lock = new();

    private ChildProcess(string label, Process process)
    {
        Label = label;
        _process = process;
    }

    public string Label { get; }
    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;
    public IReadOnlyList<string> Output => [.. _lines];

    public static ChildProcess Start(string label, string fileName, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null,
        string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }
        var child = new ChildProcess(label, Process.Start(start) ?? throw new InvalidOperationException($"{label}: {fileName} did not start"));
        child._process.OutputDataReceived += (_, e) => child.OnLine(e.Data);
        child._process.ErrorDataReceived += (_, e) => child.OnLine(e.Data);
        child._process.BeginOutputReadLine();
        child._process.BeginErrorReadLine();
        return child;
    }

    /// <summary>This program again (the apphost, or dotnet with its dll), e.g. with <c>serve upstream</c>.</summary>
    public static ChildProcess StartSelf(string label, IEnumerable<string> args)
    {
        var path = Environment.ProcessPath ?? "dotnet";
        if (Path.GetFileNameWithoutExtension(path) == "dotnet")
        {
            return Start(label, path, [typeof(ChildProcess).Assembly.Location, .. args]);
        }
        return Start(label, path, args);
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }
        _lines.Enqueue(line);
        lock (_lock)
        {
            foreach (var (pattern, found) in _waiters)
            {
                if (!found.Task.IsCompleted && pattern.Match(line) is { Success: true } m)
                {
                    found.TrySetResult(m);
                }
            }
        }
    }

    /// <summary>The first output line that matches, waiting up to <paramref name="timeout"/>; throws with the output so far when none comes.</summary>
    public async Task<Match> WaitForAsync(Regex pattern, TimeSpan timeout)
    {
        var found = new TaskCompletionSource<Match>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            foreach (var line in _lines)
            {
                if (pattern.Match(line) is { Success: true } m)
                {
                    return m;
                }
            }
            _waiters.Add((pattern, found));
        }
        var done = await Task.WhenAny(found.Task, Task.Delay(timeout), _process.WaitForExitAsync());
        if (done == found.Task)
        {
            return await found.Task;
        }
        // The line may have arrived together with the exit.
        await Task.Delay(100);
        if (found.Task.IsCompleted)
        {
            return await found.Task;
        }
        var why = _process.HasExited ? $"exited with code {_process.ExitCode}" : $"printed no line matching /{pattern}/ within {timeout.TotalSeconds:F0} s";
        throw new InvalidOperationException($"{Label} {why}; its output:\n  " + string.Join("\n  ", _lines.TakeLast(40)));
    }

    /// <summary>SIGKILL to the process and all it started; the figures have been read by then.</summary>
    public void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
        }
    }

    public ValueTask DisposeAsync()
    {
        Kill();
        _process.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>What Linux says about processes: peak resident memory, CPU time, children, listening sockets.</summary>
internal static class ProcFs
{
    private const double UserHz = 100; // USER_HZ: /proc counts CPU time in 1/100 s

    /// <summary>VmHWM, the peak resident set size, in KiB; null when the process is gone.</summary>
    public static long? PeakRssKiB(int pid) => StatusKiB(pid, "VmHWM:");

    public static long? RssKiB(int pid) => StatusKiB(pid, "VmRSS:");

    private static long? StatusKiB(int pid, string field)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith(field, StringComparison.Ordinal))
                {
                    return long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return null;
    }

    /// <summary>utime + stime of one process in seconds (and, with <paramref name="children"/>, cutime + cstime: its reaped children).</summary>
    public static double? CpuSeconds(int pid, bool children = false)
    {
        var f = StatFields(pid);
        if (f is null)
        {
            return null;
        }
        // Fields after "pid (comm)": state=0 ppid=1 … utime=11 stime=12 cutime=13 cstime=14.
        var ticks = double.Parse(f[11], CultureInfo.InvariantCulture) + double.Parse(f[12], CultureInfo.InvariantCulture);
        if (children)
        {
            ticks += double.Parse(f[13], CultureInfo.InvariantCulture) + double.Parse(f[14], CultureInfo.InvariantCulture);
        }
        return ticks / UserHz;
    }

    private static string[]? StatFields(int pid)
    {
        try
        {
            var text = File.ReadAllText($"/proc/{pid}/stat");
            var close = text.LastIndexOf(')');
            return close < 0 ? null : text[(close + 2)..].Split(' ');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Every live descendant of <paramref name="root"/> (not itself).</summary>
    public static List<int> Descendants(int root)
    {
        var parents = new Dictionary<int, int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && StatFields(pid) is { } f)
            {
                parents[pid] = int.Parse(f[1], CultureInfo.InvariantCulture);
            }
        }
        var result = new List<int>();
        var queue = new Queue<int>([root]);
        while (queue.Count > 0)
        {
            var p = queue.Dequeue();
            foreach (var (child, parent) in parents)
            {
                if (parent == p)
                {
                    result.Add(child);
                    queue.Enqueue(child);
                }
            }
        }
        return result;
    }

    /// <summary>The local addresses of TCP sockets listening on <paramref name="port"/>, and their socket inodes ("127.0.0.1", "::", …).</summary>
    public static List<(string Address, string Inode)> Listeners(int port)
    {
        var result = new List<(string, string)>();
        foreach (var file in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            if (!File.Exists(file))
            {
                continue;
            }
            foreach (var line in File.ReadLines(file).Skip(1))
            {
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                // sl local_address rem_address st … inode (index 9); LISTEN is state 0A.
                if (f.Length < 10 || f[3] != "0A")
                {
                    continue;
                }
                var colon = f[1].LastIndexOf(':');
                if (int.Parse(f[1][(colon + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture) == port)
                {
                    result.Add((HexAddress(f[1][..colon]), f[9]));
                }
            }
        }
        return result;
    }

    /// <summary>The process among <paramref name="candidates"/> that holds socket <paramref name="inode"/>.</summary>
    public static int? OwnerOfSocket(string inode, IEnumerable<int> candidates)
    {
        var target = $"socket:[{inode}]";
        foreach (var pid in candidates)
        {
            try
            {
                foreach (var fd in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
                {
                    if (new FileInfo(fd).LinkTarget == target)
                    {
                        return pid;
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
        return null;
    }

    private static string HexAddress(string hex)
    {
        // /proc/net/tcp writes addresses as host-order 32-bit words.
        var bytes = Convert.FromHexString(hex);
        for (var i = 0; i + 4 <= bytes.Length; i += 4)
        {
            Array.Reverse(bytes, i, 4);
        }
        return new System.Net.IPAddress(bytes).ToString();
    }

    /// <summary>
    /// Busy CPU seconds of the whole machine: user + nice + system from /proc/stat. Interrupt and softirq time are left out:
    /// the kernel charges them to no process, and under load most of it is this benchmark's own loopback traffic (about
    /// 0.4 cores at 57,000 requests/s here), which would otherwise be counted as other processes' work.
    /// </summary>
    public static double? MachineBusySeconds()
    {
        try
        {
            var line = File.ReadLines("/proc/stat").FirstOrDefault(l => l.StartsWith("cpu ", StringComparison.Ordinal));
            var v = line?.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8).Select(x => double.Parse(x, CultureInfo.InvariantCulture)).ToArray();
            return v is null || v.Length < 8 ? null : (v[0] + v[1] + v[2]) / UserHz;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }
}

/// <summary>
/// CPU of the machine against CPU of this benchmark's own process tree, between two snapshots: how many cores other
/// processes kept busy during one measurement. wrk, started and reaped in between, is counted through this process's
/// cutime/cstime; the long-lived children (proxies, upstream) through their own counters.
/// </summary>
internal sealed class CpuSnapshot
{
    private readonly double? _machine;
    private readonly double _self;
    private readonly Dictionary<int, double> _children;
    private readonly long _timestamp;

    private CpuSnapshot(double? machine, double self, Dictionary<int, double> children, long timestamp)
    {
        _machine = machine;
        _self = self;
        _children = children;
        _timestamp = timestamp;
    }

    public static CpuSnapshot Take()
    {
        var self = Environment.ProcessId;
        var children = new Dictionary<int, double>();
        foreach (var pid in ProcFs.Descendants(self))
        {
            if (ProcFs.CpuSeconds(pid) is { } s)
            {
                children[pid] = s;
            }
        }
        return new CpuSnapshot(ProcFs.MachineBusySeconds(), ProcFs.CpuSeconds(self, children: true) ?? 0, children, Stopwatch.GetTimestamp());
    }

    /// <summary>Average cores busy outside this benchmark's process tree since <paramref name="before"/>; null off Linux.</summary>
    public double? OthersSince(CpuSnapshot before)
    {
        if (_machine is not { } after || before._machine is not { } start)
        {
            return null;
        }
        var ours = _self - before._self;
        foreach (var (pid, s) in _children)
        {
            ours += s - before._children.GetValueOrDefault(pid);
        }
        var seconds = Stopwatch.GetElapsedTime(before._timestamp, _timestamp).TotalSeconds;
        return seconds <= 0 ? null : Math.Max(0, after - start - ours) / seconds;
    }
}
