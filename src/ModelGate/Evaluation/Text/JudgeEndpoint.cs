using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Gateway;
using ModelGate.Storage;

namespace ModelGate.Evaluation.Text;

/// <summary>
/// Where a run's judge is asked. An upstream named by URL and model is called with the run's key through the egress-checked
/// client. A deployment of this ModelGate (<see cref="JudgeSpec.Deployment"/>) is called through this process's own data
/// plane (<see cref="Via"/>) with a temporary key scoped to it: the judge's requests are routed, limited, accounted and
/// logged like any client's, and the deployment's upstream key never leaves the server.
/// </summary>
public sealed class JudgeEndpoint(UpstreamTarget target, HttpClient? via = null, string? temporaryKeyId = null) : IDisposable
{
    public UpstreamTarget Target { get; } = target;

    /// <summary>The loopback client for a deployment judge; null for an upstream judge.</summary>
    public HttpClient? Via { get; } = via;

    /// <summary>The temporary key a deployment judge calls with, revoked when the run ends.</summary>
    public string? TemporaryKeyId { get; } = temporaryKeyId;

    /// <summary>The deployment's versions that answered the judge's requests (a routing change during the run shows here).</summary>
    public ConcurrentDictionary<string, byte> ServedBy { get; } = new(StringComparer.Ordinal);

    public void Dispose() => Via?.Dispose();
}

/// <summary>What a suite's judge that names a deployment needs: the deployment exists and serves an upstream (chat) model.</summary>
public sealed class DeploymentJudges(Security.TemporaryKeys keys, Lifecycle.LoopbackClient loopback)
{
    /// <summary>A temporary key lives this long at most: a run that outlives it gets judge errors, not a key left usable.</summary>
    public static readonly TimeSpan KeyLifetime = TimeSpan.FromHours(24);

    /// <summary>Null when <paramref name="deployment"/> can judge; otherwise why not (status, code, detail).</summary>
    public static async Task<(int Status, string Code, string Detail)?> CheckAsync(ModelGateDbContext db, string deployment, CancellationToken cancellationToken)
    {
        var entity = await db.Deployments.AsNoTracking().FirstOrDefaultAsync(d => d.Name == deployment, cancellationToken);
        if (entity is null)
        {
            return (StatusCodes.Status422UnprocessableEntity, ProblemCodes.DeploymentNotFound,
                $"suite.judge.deployment: there is no deployment named '{ClientText.Echo(deployment)}'");
        }
        if (DeploymentRouting.Read(entity).Backend != "upstream")
        {
            return (StatusCodes.Status422UnprocessableEntity, ProblemCodes.WrongProtocol,
                $"suite.judge.deployment: '{deployment}' serves an ONNX model; a judge is a chat model (a deployment with backend upstream)");
        }
        return null;
    }

    /// <summary>Issues the run's temporary key for <paramref name="deployment"/> and the judge endpoint that calls with it.</summary>
    public async Task<JudgeEndpoint> OpenAsync(string deployment, string evaluationId, string actor, CancellationToken cancellationToken)
    {
        var (secret, id) = await keys.IssueAsync(deployment, $"judge of evaluation {evaluationId}", actor, KeyLifetime, cancellationToken);
        var client = loopback.Create(secret);
        return new JudgeEndpoint(new UpstreamTarget(new Uri(client.BaseAddress!, "v1").ToString(), deployment, secret), client, id);
    }

    /// <summary>Ends a deployment judge: its temporary key is revoked (an upstream judge has none) and its client released.</summary>
    public async Task RevokeAsync(JudgeEndpoint endpoint, string reason)
    {
        if (endpoint.TemporaryKeyId is { } id)
        {
            await keys.RevokeAsync(id, reason);
        }
        endpoint.Dispose();
    }
}
