using System.Text;
using ModelGate.Client;

namespace ModelGate.Tests.Infrastructure;

/// <summary>LLM models served by an upstream: registered with versions 1.0.0 and 1.1.0, each with its own serving config.</summary>
public static class UpstreamModels
{
    /// <summary>A new model named from <paramref name="prefix"/>; <paramref name="attestation"/> shapes each version's attestation.</summary>
    public static async Task<string> RegisterAsync(ServerFixture server, string prefix, Func<Attestation, Attestation>? attestation = null)
    {
        var api = server.Api();
        var model = ServerFixture.UniqueName(prefix);
        await api.CreateModelAsync(new CreateModelRequest(model, "assistants", "medium", "llm-chat"));
        foreach (var version in new[] { "1.0.0", "1.1.0" })
        {
            var config = await server.UploadAsync(Encoding.UTF8.GetBytes($"serving config {model} {version}"));
            var attested = Fixtures.Attestation() with { Architecture = "upstream" };
            await api.CreateVersionAsync(model, new CreateVersionRequest(version, [new ArtifactRef(config, "serving.json")],
                attestation is null ? attested : attestation(attested)));
        }
        return model;
    }
}
