using System.Diagnostics;
using System.Globalization;

namespace ModelGate.Benchmarks;

/// <summary>
/// How busy the machine was apart from this process: CPU time of all processes (from /proc/stat) minus this process's
/// own, between two snapshots, as an average number of busy cores. Linux only; elsewhere it reports nothing.
/// </summary>
internal sealed class MachineActivity
{
    private const double UserHz = 100; // USER_HZ: /proc/stat counts in 1/100 s on Linux

    private readonly double? _allBusySeconds;
    private readonly TimeSpan _ownCpu;
    private readonly long _timestamp;

    private MachineActivity(double? allBusySeconds, TimeSpan ownCpu, long timestamp)
    {
        _allBusySeconds = allBusySeconds;
        _ownCpu = ownCpu;
        _timestamp = timestamp;
    }

    public static MachineActivity Start() => new(AllBusySeconds(), Process.GetCurrentProcess().TotalProcessorTime, Stopwatch.GetTimestamp());

    /// <summary>"other processes kept 0.05 cores busy on average (this one 1.12) over 48 s", or null off Linux.</summary>
    public string? Describe()
    {
        var now = AllBusySeconds();
        if (_allBusySeconds is not { } before || now is not { } after)
        {
            return null;
        }
        var seconds = Stopwatch.GetElapsedTime(_timestamp).TotalSeconds;
        var own = (Process.GetCurrentProcess().TotalProcessorTime - _ownCpu).TotalSeconds;
        var others = Math.Max(0, after - before - own);
        return string.Create(CultureInfo.InvariantCulture,
            $"other processes kept {others / seconds:F2} cores busy on average (this process {own / seconds:F2}) over {seconds:F0} s");
    }

    /// <summary>The load average from /proc/loadavg ("1.02 / 0.98 / 0.70"), or "n/a" where there is none.</summary>
    public static string LoadAverage()
    {
        try
        {
            var parts = File.ReadAllText("/proc/loadavg").Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return parts.Length >= 3 ? $"{parts[0]} / {parts[1]} / {parts[2]}" : "n/a";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "n/a";
        }
    }

    // First line of /proc/stat: "cpu user nice system idle iowait irq softirq steal guest guest_nice". Busy = user + nice + system +
    // irq + softirq: not idle or iowait, nor steal (time the hypervisor gave to other guests); guest time is already in user.
    private static double? AllBusySeconds()
    {
        try
        {
            var line = File.ReadLines("/proc/stat").FirstOrDefault(l => l.StartsWith("cpu ", StringComparison.Ordinal));
            if (line is null)
            {
                return null;
            }
            var v = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8)
                .Select(x => double.Parse(x, CultureInfo.InvariantCulture)).ToArray();
            return v.Length < 8 ? null : (v[0] + v[1] + v[2] + v[5] + v[6]) / UserHz;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }
}
