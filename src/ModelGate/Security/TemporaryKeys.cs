using Microsoft.EntityFrameworkCore;
using ModelGate.Storage;
using ModelGate.Client;

namespace ModelGate.Security;

/// <summary>
/// Short-lived data-plane keys that ModelGate issues to itself, so that its own work reaches a deployment the way clients
/// do — keys, limits, routing, accounting and logs included (staging verification's traffic, an evaluation judged by a
/// deployment): a viewer key of the system principal, scoped to that one deployment, expiring on its own, and revoked as
/// soon as the work ends. Issuing and revoking are audited.
/// </summary>
public sealed class TemporaryKeys(IServiceScopeFactory scopes, ApiKeyService keys)
{
    /// <summary>A new key for <paramref name="deployment"/>, named after <paramref name="purpose"/>; its secret and id.</summary>
    public async Task<(string Secret, string Id)> IssueAsync(string deployment, string purpose, string actor, TimeSpan lifetime, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var write = scope.ServiceProvider.GetRequiredService<AuditedWrite>();
        await using var tx = await write.BeginAsync(cancellationToken);
        var secret = ApiKeyService.NewSecret();
        var system = await PrincipalDirectory.SystemAsync(tx.Db, tx.Now, cancellationToken);
        var entity = ApiKeyService.NewEntity(ApiKeyService.NewId(), system.Id, purpose, secret, [Roles.Viewer], tx.Now, actor,
            tx.Now.Add(lifetime), deployments: [deployment]);
        tx.Db.ApiKeys.Add(entity);
        await tx.AppendAsync(actor, "key.created", $"keys/{entity.Id}", new { entity.Name, roles = entity.Roles, deployments = entity.Deployments, entity.ExpiresAt },
            cancellationToken: cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return (secret, entity.Id);
    }

    /// <summary>Revokes a key issued here (whatever the caller's cancellation: a key is never left usable because work was cancelled).</summary>
    public async Task RevokeAsync(string id, string reason)
    {
        await using var scope = scopes.CreateAsyncScope();
        var write = scope.ServiceProvider.GetRequiredService<AuditedWrite>();
        await using var tx = await write.BeginAsync(CancellationToken.None);
        var entity = await tx.Db.ApiKeys.FirstAsync(k => k.Id == id, CancellationToken.None);
        if (entity.RevokedAt is not null)
        {
            return;
        }
        entity.RevokedAt = tx.Now;
        entity.RevokedBy = "modelgate";
        await tx.AppendAsync("modelgate", "key.revoked", $"keys/{id}", new { reason }, cancellationToken: CancellationToken.None);
        await tx.CommitAsync(CancellationToken.None);
        keys.Invalidate(id);
    }
}
