using ModelGate.Hosting;

namespace ModelGate.Tests.Hosting;

public sealed class NativeHeapTests
{
    private static bool Glibc => OperatingSystem.IsLinux() && (File.Exists("/lib/x86_64-linux-gnu/libc.so.6") || File.Exists("/lib/aarch64-linux-gnu/libc.so.6"));

    [Fact]
    public void OnLinuxWithGlibc_FixesTheMmapAndTrimThresholds()
    {
        Assert.SkipUnless(Glibc, "mallopt is glibc's (Linux)");
        Assert.Equal((64 * 1024, 128 * 1024), NativeHeap.Configure(_ => null));
    }

    [Theory]
    [InlineData("MALLOC_MMAP_THRESHOLD_", "1048576")]
    [InlineData("MALLOC_TRIM_THRESHOLD_", "0")]
    [InlineData("GLIBC_TUNABLES", "glibc.malloc.arena_max=2")]
    public void AnOperatorsOwnGlibcSettings_AreLeftAlone(string variable, string value) =>
        Assert.Null(NativeHeap.Configure(name => name == variable ? value : null));

    [Fact]
    public void GlibcTunablesForSomethingElse_DoNotStopIt()
    {
        Assert.SkipUnless(Glibc, "mallopt is glibc's (Linux)");
        Assert.NotNull(NativeHeap.Configure(name => name == "GLIBC_TUNABLES" ? "glibc.pthread.rseq=0" : null));
    }
}
