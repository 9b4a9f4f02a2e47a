using Microsoft.AspNetCore.Http;
using ModelGate.Hosting;

namespace ModelGate.Tests.Hosting;

public sealed class InlineIOTests
{
    [Theory]
    [InlineData("/v1/chat/completions", true)]
    [InlineData("/v1/models", true)]
    [InlineData("/V1/Embeddings", true)]
    [InlineData("/v2/models/adult/infer", true)]
    [InlineData("/v2/health/ready", true)]
    [InlineData("/healthz", true)]
    [InlineData("/metrics", true)]
    // Everything that may wait on the database leaves the socket threads.
    [InlineData("/readyz", false)]
    [InlineData("/api/v1/models", false)]
    [InlineData("/api/v1/deployments/chat/metrics", false)]
    [InlineData("/v1x/chat/completions", false)]
    [InlineData("/openapi/v1.json", false)]
    [InlineData("/", false)]
    public void OnlyTheDataPlane_StaysOnTheSocketThreads(string path, bool dataPlane) =>
        Assert.Equal(dataPlane, InlineIO.IsDataPlane(new PathString(path)));
}
