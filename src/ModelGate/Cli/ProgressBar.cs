using System.Diagnostics;
using System.Globalization;

namespace ModelGate.Cli;

/// <summary>A one-line progress bar on the error stream, redrawn at most ten times a second; silent when not interactive.</summary>
public sealed class ProgressBar(TextWriter writer, string label, long? total, bool enabled)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long _lastDraw = -1000;
    private long _done;
    private bool _completed;

    /// <summary>What is counted: <c>bytes</c> (the default) or any other unit, shown as plain numbers.</summary>
    public string Unit { get; init; } = "bytes";

    public void Report(long done, long? totalOverride = null)
    {
        _done = done;
        if (!enabled || _clock.ElapsedMilliseconds - _lastDraw < 100)
        {
            return;
        }
        _lastDraw = _clock.ElapsedMilliseconds;
        Draw(totalOverride ?? total);
    }

    public void Complete()
    {
        if (!enabled || _completed)
        {
            return;
        }
        _completed = true;
        Draw(total ?? _done);
        writer.WriteLine();
        writer.Flush();
    }

    private void Draw(long? of)
    {
        var seconds = Math.Max(_clock.Elapsed.TotalSeconds, 0.001);
        Func<double, string> format = Unit == "bytes" ? Bytes : n => string.Create(CultureInfo.InvariantCulture, $"{n:0} {Unit}");
        var rate = $"{format(_done / seconds)}/s";
        string line;
        if (of is > 0)
        {
            var fraction = Math.Clamp((double)_done / of.Value, 0, 1);
            var filled = (int)(fraction * 30);
            var eta = fraction > 0 ? TimeSpan.FromSeconds(seconds / fraction - seconds) : TimeSpan.Zero;
            line = string.Create(CultureInfo.InvariantCulture,
                $"{label} [{new string('#', filled)}{new string('-', 30 - filled)}] {fraction * 100,5:0.0}% {format(_done)}/{format(of.Value)} {rate} ETA {eta:mm\\:ss}");
        }
        else
        {
            line = $"{label} {format(_done)} {rate}";
        }
        writer.Write("\r" + line.PadRight(100));
        writer.Flush();
    }

    public static string Bytes(double n) => n switch
    {
        >= 1L << 30 => string.Create(CultureInfo.InvariantCulture, $"{n / (1L << 30):0.0} GiB"),
        >= 1L << 20 => string.Create(CultureInfo.InvariantCulture, $"{n / (1L << 20):0.0} MiB"),
        >= 1L << 10 => string.Create(CultureInfo.InvariantCulture, $"{n / (1L << 10):0.0} KiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{n:0} B"),
    };
}
