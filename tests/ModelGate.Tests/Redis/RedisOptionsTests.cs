using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using ModelGate.Hosting;
using ModelGate.Redis;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Redis;

/// <summary>Without <c>Redis:Configuration</c> nothing of Redis runs; a bad Redis section stops the server at start.</summary>
public sealed class RedisOptionsTests(SqliteServerFixture server) : IClassFixture<SqliteServerFixture>
{
    [Fact]
    public async Task WithoutConfiguration_NoRedisServiceRuns_AndMetricsAreUnchanged()
    {
        Assert.Null(server.App.Services.GetService<RedisConnection>());
        Assert.Null(server.App.Services.GetService<SharedLimits>());
        Assert.DoesNotContain(server.App.Services.GetServices<IHostedService>(), s => s is ClusterSubscriber or RedisHealth);
        var metrics = await server.Client().GetStringAsync("/metrics");
        Assert.DoesNotContain("modelgate_redis", metrics, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--Redis:FailureMode=sometimes", "Redis:FailureMode")]
    [InlineData("--Redis:Timeout=00:00:00", "Redis:Timeout")]
    public async Task BadSection_FailsAtStart(string setting, string named)
    {
        var data = Path.Combine(Path.GetTempPath(), "modelgate-tests", Guid.NewGuid().ToString("N"));
        await using var app = ModelGateHost.Build([$"--Data:Directory={data}", "--Database:Provider=sqlite", setting],
            b => Microsoft.AspNetCore.TestHost.WebHostBuilderExtensions.UseTestServer(b.WebHost));
        var failure = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync(TestContext.Current.CancellationToken));
        Assert.Contains(named, failure.Message, StringComparison.Ordinal);
    }
}
