using System.Runtime.InteropServices;

namespace ModelGate.Hosting;

/// <summary>
/// glibc's malloc settings for the long-running server. By default glibc raises its mmap threshold every time a large
/// block is freed, so later large blocks (the JIT's arenas while it compiles hot methods at tier 1, SQLite's buffers) come
/// from its heaps, where freed memory stays resident: under gateway load 10-20 MB of it sat free but unreturned. A fixed
/// 64 KiB threshold gives such blocks their own mappings, returned when freed, and a 128 KiB trim threshold returns the
/// top of a heap sooner (bench/README.md, runs 14-16).
/// </summary>
internal static class NativeHeap
{
    private const int TrimThreshold = -1; // M_TRIM_THRESHOLD
    private const int MmapThreshold = -3; // M_MMAP_THRESHOLD

    /// <summary>The values applied, or null where nothing was (not Linux, not glibc, or the operator chose their own).</summary>
    public static (int MmapThreshold, int TrimThreshold)? Configure(Func<string, string?> environment)
    {
        // An operator's own glibc settings win: MALLOC_*_ variables and GLIBC_TUNABLES are read by glibc at start.
        if (!OperatingSystem.IsLinux() || environment("MALLOC_MMAP_THRESHOLD_") is not null || environment("MALLOC_TRIM_THRESHOLD_") is not null
            || environment("GLIBC_TUNABLES") is { } tunables && tunables.Contains("glibc.malloc.", StringComparison.Ordinal))
        {
            return null;
        }
        try
        {
            const int mmap = 64 * 1024, trim = 128 * 1024;
            return Mallopt(MmapThreshold, mmap) == 1 && Mallopt(TrimThreshold, trim) == 1 ? (mmap, trim) : null;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return null; // another C library (musl): its allocator has no such settings
        }
    }

    [DllImport("libc", EntryPoint = "mallopt", ExactSpelling = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Mallopt(int parameter, int value);
}
