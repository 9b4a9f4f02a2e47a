using Microsoft.Extensions.Options;

namespace ModelGate.Audit;

public static class AuditServiceCollectionExtensions
{
    /// <summary>The keyed chain and its checkpoints. Call right after AddModelGateStorage: the re-anchor must run before anything writes.</summary>
    public static IServiceCollection AddModelGateAudit(this IServiceCollection services)
    {
        services.AddOptions<AuditOptions>().BindConfiguration(AuditOptions.Section)
            .Validate(o => o.CheckpointEvery >= 0, "Audit:CheckpointEvery must not be negative")
            .Validate(o => o.CheckpointInterval >= TimeSpan.Zero, "Audit:CheckpointInterval must not be negative")
            .Validate(o => o.CheckpointWebhook is null || (o.CheckpointWebhook.IsAbsoluteUri && o.CheckpointWebhook.Scheme is "http" or "https"),
                "Audit:CheckpointWebhook must be an absolute http(s) URL")
            .ValidateOnStart();
        services.AddSingleton<AuditKeys>();
        services.AddSingleton<AuditCheckpoints>();
        services.AddScoped<AuditVerifier>();
        services.AddSingleton<EvidenceVerifier>();
        services.AddSingleton<IValidateOptions<AuditOptions>, AuditWebhookValidation>();
        services.AddHttpClient(nameof(AuditCheckpoints), c => c.Timeout = TimeSpan.FromSeconds(10))
            .ConfigurePrimaryHttpMessageHandler(sp => sp.GetRequiredService<Security.EgressPolicy>().CreateHandler());
        services.AddHostedService<AuditChainAnchor>();
        services.AddHostedService<AuditCheckpointWorker>();
        return services;
    }
}

/// <summary>The checkpoint webhook passes the egress policy: checked at start-up, and again on every connection.</summary>
internal sealed class AuditWebhookValidation(Security.EgressPolicy egress) : IValidateOptions<AuditOptions>
{
    public ValidateOptionsResult Validate(string? name, AuditOptions options) =>
        options.CheckpointWebhook is { IsAbsoluteUri: true } url && egress.CheckUrl(url) is { } refused
            ? ValidateOptionsResult.Fail($"{AuditOptions.Section}:CheckpointWebhook: egress denied: {refused}")
            : ValidateOptionsResult.Success;
}
