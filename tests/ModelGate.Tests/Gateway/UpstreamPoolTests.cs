using System.Text;
using Microsoft.Extensions.Time.Testing;
using ModelGate.Gateway;

namespace ModelGate.Tests.Gateway;

/// <summary>The choice of a version's endpoint (issue 18, item 9): the weighted rotation, skipping tried endpoints and open circuits.</summary>
public sealed class UpstreamPoolTests
{
    private static UpstreamRoute Route(string host, string model = "m") =>
        new(new Uri($"http://{host}/v1/"), model, null, TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(60), 1);

    [Theory]
    [InlineData(new[] { 3.0, 1.0 }, 4)]
    [InlineData(new[] { 30.0, 10.0 }, 4)]
    [InlineData(new[] { 1.0, 1.0, 1.0 }, 3)]
    [InlineData(new[] { 0.7, 0.3 }, 1000)]
    [InlineData(new[] { 2.5, 1.0, 6.5 }, 1000)]
    public void Rotation_GivesEachEndpointItsShare_WithinOne_AtEveryPoint(double[] weights, int cycle)
    {
        var rotation = UpstreamPool.Rotation(weights);
        Assert.Equal(cycle, rotation.Length);
        var total = weights.Sum();
        var counts = new int[weights.Length];
        for (var step = 0; step < rotation.Length; step++)
        {
            counts[rotation[step]]++;
            for (var i = 0; i < weights.Length; i++)
            {
                // Smooth: at every point of the cycle, no endpoint is more than one request off its share.
                Assert.InRange(counts[i], (step + 1) * weights[i] / total - 1, (step + 1) * weights[i] / total + 1);
            }
        }
    }

    [Fact]
    public void Choose_SkipsTriedEndpointsAndOpenCircuits_ThenNone()
    {
        var time = new FakeTimeProvider();
        var breakers = new CircuitBreakers(time);
        var (a, b, c) = (Route("a"), Route("b"), Route("c"));
        var pool = new UpstreamPool([(a, 1), (b, 1), (c, 1)], []);

        var tried = 0;
        var chosen = new[] { pool.Choose(ref tried, breakers), pool.Choose(ref tried, breakers), pool.Choose(ref tried, breakers) };
        Assert.Equal(3, chosen.Distinct().Count()); // retries go to another endpoint while there is one
        Assert.NotNull(pool.Choose(ref tried, breakers)); // then to any endpoint that is up

        for (var i = 0; i < CircuitBreakers.FailureThreshold; i++)
        {
            breakers.Failed(b.BreakerKey);
        }
        for (var i = 0; i < 30; i++)
        {
            tried = 0;
            Assert.NotSame(b, pool.Choose(ref tried, breakers));
        }
        foreach (var open in new[] { a, c })
        {
            for (var i = 0; i < CircuitBreakers.FailureThreshold; i++)
            {
                breakers.Failed(open.BreakerKey);
            }
        }
        tried = 0;
        Assert.Null(pool.Choose(ref tried, breakers)); // every circuit open: straight to the fallbacks
        time.Advance(CircuitBreakers.OpenFor + TimeSpan.FromSeconds(1));
        Assert.NotNull(pool.Choose(ref tried, breakers));
    }

    [Fact]
    public void WithModel_ReplacesOnlyTheTopLevelModel()
    {
        var body = Encoding.UTF8.GetBytes("""{"messages":[{"role":"user","content":"model"}],"metadata":{"model":"x"},"model":"m","stream":false}""");
        var changed = OpenAiApi.WithModel(body, Encoding.UTF8.GetBytes("\"other\""));
        Assert.Equal("""{"messages":[{"role":"user","content":"model"}],"metadata":{"model":"x"},"model":"other","stream":false}""",
            Encoding.UTF8.GetString(changed));
    }
}
