using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using ModelGate.Client;
using ModelGate.Storage;

namespace ModelGate.Security;

/// <summary>On an empty store, creates the first admin key and prints it once; it is never shown again.</summary>
internal sealed class AdminKeyBootstrapper(IServiceProvider services, IOptions<SecurityOptions> options) : IHostedService
{
    public const string SystemActor = "system";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await using var scope = services.CreateAsyncScope();
        var write = scope.ServiceProvider.GetRequiredService<AuditedWrite>();
        await using var tx = await write.BeginAsync(cancellationToken);
        if (await tx.Db.ApiKeys.AnyAsync(cancellationToken))
        {
            return;
        }
        var secret = options.Value.BootstrapAdminKey ?? ApiKeyService.NewSecret();
        var id = ApiKeyService.NewId();
        tx.Db.Principals.Add(PrincipalDirectory.NewEntity(id, PrincipalKinds.Service, $"key:{id}", "admin", [Roles.Admin], PrincipalSources.Bootstrap,
            tx.Now, SystemActor));
        var entity = ApiKeyService.NewEntity(id, id, "admin", secret, [Roles.Admin], tx.Now, SystemActor, null);
        tx.Db.ApiKeys.Add(entity);
        await tx.AppendAsync(SystemActor, "key.created", $"keys/{entity.Id}",
            new { entity.Name, roles = new[] { Roles.Admin }, entity.Prefix, bootstrap = true }, cancellationToken: cancellationToken);
        await tx.CommitAsync(cancellationToken);
        services.GetRequiredService<ApiKeyService>().Created(entity.KeyHash);
        if (options.Value.BootstrapAdminKey is null)
        {
            // Printed, not logged: it must reach the person who started the server, once, whatever the log settings.
            Console.Out.WriteLine($"admin key: {secret}");
            Console.Out.WriteLine("  (shown once; it is stored only as a hash. Use it as MODELGATE_TOKEN.)");
            Console.Out.Flush();
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
