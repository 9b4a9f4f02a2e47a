using System.Text;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using ModelGate.Gateway;

namespace ModelGate.Tests.Gateway;

public sealed class DataPlaneGuardTests
{
    private static readonly DataPlaneGuard Guard = new(new FakeTimeProvider(), null!,
        Options.Create(new GatewayOptions { DefaultCompletionReservation = 700 }));

    [Theory]
    [InlineData("""{"model":"m","messages":[]}""", 700)]
    [InlineData("""{"model":"m","max_tokens":50,"messages":[{"role":"user","content":"x"}]}""", 50)]
    [InlineData("""{"max_completion_tokens":30,"max_tokens":50}""", 30)]
    [InlineData("""{"max_tokens":50,"max_completion_tokens":30}""", 30)]
    [InlineData("""{"max_tokens":50,"n":3,"metadata":{"max_tokens":1,"n":100}}""", 150)]
    [InlineData("""{"max_tokens":"50"}""", 700)]
    [InlineData("""{"max_tokens":-5}""", 700)]
    [InlineData("""{"model":"m","input":"x","max_output_tokens":40}""", 40)]
    public void CompletionBound_ReadsTheRequestsMaximumTimesN_OrTheDefault(string body, long expected) =>
        Assert.Equal(expected, Guard.CompletionBound(Encoding.UTF8.GetBytes(body)));

    [Fact]
    public void PromptBound_IsTheBodysBytesPlusTheRenderedPromptsBytesAndFraming()
    {
        Assert.Equal(100, DataPlaneGuard.PromptBound(100, null, null));
        Assert.Equal(100 + "Tu es prêt.".Length + 1 + 10,
            DataPlaneGuard.PromptBound(100, ModelGate.Registry.PromptRenderer.For(new ModelGate.Client.PromptTemplate("Tu es prêt.")), null)); // ê is 2 bytes
        var template = ModelGate.Registry.PromptRenderer.For(new ModelGate.Client.PromptTemplate("Résume.", "Ticket : {{ticket}}", ["ticket"]));
        Assert.Equal(100 + ("Résume.".Length + 1 + 10) + ("Ticket : ".Length + "écran noir".Length + 1 + 10),
            DataPlaneGuard.PromptBound(100, template, new Dictionary<string, string> { ["ticket"] = "écran noir" }));
    }

    [Fact]
    public void TokenBucket_TakenConcurrently_NeverAdmitsPastWhatIsLeft()
    {
        var time = new FakeTimeProvider();
        var bucket = new DataPlaneGuard.TokenBucket(100, time);
        var admitted = 0;
        Parallel.For(0, 64, i =>
        {
            if (bucket.TryTake(30, out _))
            {
                Interlocked.Increment(ref admitted);
            }
        });
        Assert.Equal(4, admitted); // 100 → 70 → 40 → 10 → −20, then refused
        bucket.Adjust(-25); // one settled with 5 used of its 30: balance 5
        Assert.True(bucket.TryTake(10, out _)); // balance −5
        Assert.False(bucket.TryTake(1, out var retryAfter));
        Assert.Equal(TimeSpan.FromSeconds(3.6), retryAfter); // 6 tokens to one left, at 100 a minute
    }
}
