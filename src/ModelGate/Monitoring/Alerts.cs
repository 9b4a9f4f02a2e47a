using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using ModelGate.Client;
using ModelGate.Storage;
using ModelGate.Storage.Monitoring;

namespace ModelGate.Monitoring;

/// <summary>Section <c>Alerts</c>.</summary>
public sealed class AlertOptions
{
    public const string Section = "Alerts";

    /// <summary>Webhooks every alert is delivered to (JSON POST, signed with <see cref="WebhookSecret"/>).</summary>
    public List<string> Webhooks { get; set; } = [];

    /// <summary>Key of the <c>x-modelgate-signature: sha256=…</c> HMAC over the body; empty: unsigned.</summary>
    public string WebhookSecret { get; set; } = "";

    /// <summary>Called with the drift report when a drift alert fires (e.g. a retraining pipeline), signed like the alert webhooks.</summary>
    public List<string> RetrainWebhooks { get; set; } = [];

    /// <summary>The window of sampled inputs the drift monitor compares with each version's baseline.</summary>
    public TimeSpan DriftWindow { get; set; } = TimeSpan.FromHours(1);

    [Range(0, 20)]
    public int DeliveryRetries { get; set; } = 5;

    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How often the monitors (SLO burn, error spikes, reviews) are evaluated.</summary>
    public TimeSpan EvaluationInterval { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>Alert and retrain webhooks are http(s) URLs the egress policy accepts: checked at start-up, when they are set.</summary>
public sealed class AlertWebhooksValidation(Security.EgressPolicy egress) : IValidateOptions<AlertOptions>
{
    public ValidateOptionsResult Validate(string? name, AlertOptions options)
    {
        var failures = new List<string>();
        foreach (var (section, urls) in new[] { ("Webhooks", options.Webhooks), ("RetrainWebhooks", options.RetrainWebhooks) })
        {
            for (var i = 0; i < urls.Count; i++)
            {
                if (!Uri.TryCreate(urls[i], UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
                {
                    failures.Add($"{AlertOptions.Section}:{section}:{i} is not an http(s) URL");
                }
                else if (egress.CheckUrl(url) is { } refused)
                {
                    failures.Add($"{AlertOptions.Section}:{section}:{i}: egress denied: {refused}");
                }
            }
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>
/// Raises and resolves alerts, de-duplicated by key and grouped by deployment or model; silenced ones are recorded but
/// not delivered. Delivery to the webhooks runs in the background with retries, so raising never waits on a receiver.
/// </summary>
public sealed partial class AlertManager(IServiceScopeFactory scopes, TimeProvider time, IOptions<AlertOptions> options, IHttpClientFactory http,
    ILogger<AlertManager> logger, Hosting.ILeadership leadership) : Hosting.LeaderWorker(leadership)
{
    private readonly Channel<long> _deliveries = Channel.CreateUnbounded<long>();
    private readonly System.Collections.Concurrent.ConcurrentQueue<TaskCompletionSource> _flushes = new();

    /// <summary>A flush marker in the delivery queue (alert ids are positive).</summary>
    private const long FlushMarker = -1;

    /// <summary>Returns once every delivery queued before the call has ended (delivered or failed, its outcome stored).</summary>
    public async Task FlushDeliveriesAsync(CancellationToken cancellationToken)
    {
        var flushed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _flushes.Enqueue(flushed);
        if (!_deliveries.Writer.TryWrite(FlushMarker))
        {
            return;
        }
        await flushed.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Fires (or refreshes) the alert with this key; returns it.</summary>
    public async Task<AlertEntity> RaiseAsync(string key, string group, string kind, string severity, string summary, object details,
        CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ModelGateDbContext>();
        var now = time.GetUtcNow().UtcDateTime;
        var json = JsonSerializer.Serialize(details, ModelGateJson.Options);
        var firing = await db.Alerts.FirstOrDefaultAsync(a => a.Key == key && a.Status == "firing", cancellationToken);
        var silenced = await db.Silences.AnyAsync(s => s.Until > now && key.StartsWith(s.KeyPrefix), cancellationToken);
        if (firing is not null)
        {
            firing.LastSeenAt = now;
            firing.Occurrences++;
            firing.Details = json;
            firing.Summary = summary;
            // A silence made or ended while it fires: muted from then on, or (never sent) delivered now that it has ended.
            var unmuted = firing.Silenced && !silenced && firing.Delivery == "none" && Targets(kind, "firing").Count > 0;
            firing.Silenced = silenced;
            if (unmuted)
            {
                firing.Delivery = "pending";
            }
            await db.SaveChangesAsync(cancellationToken);
            if (unmuted)
            {
                _deliveries.Writer.TryWrite(firing.Id);
            }
            return firing;
        }
        var alert = new AlertEntity
        {
            Key = key, Group = group, Kind = kind, Severity = severity, Status = "firing", Summary = summary, Details = json, FiredAt = now, LastSeenAt = now,
            Occurrences = 1, Silenced = silenced, Delivery = silenced || Targets(kind, "firing").Count == 0 ? "none" : "pending",
        };
        db.Alerts.Add(alert);
        await db.SaveChangesAsync(cancellationToken);
        if (alert.Delivery == "pending")
        {
            _deliveries.Writer.TryWrite(alert.Id);
        }
        return alert;
    }

    /// <summary>Resolves the firing alert with this key, if there is one; the resolution is delivered too.</summary>
    public async Task ResolveAsync(string key, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ModelGateDbContext>();
        var firing = await db.Alerts.FirstOrDefaultAsync(a => a.Key == key && a.Status == "firing", cancellationToken);
        if (firing is null)
        {
            return;
        }
        firing.Status = "resolved";
        firing.ResolvedAt = time.GetUtcNow().UtcDateTime;
        if (!firing.Silenced && Targets(firing.Kind, firing.Status).Count > 0)
        {
            firing.Delivery = "pending";
        }
        await db.SaveChangesAsync(cancellationToken);
        if (firing.Delivery == "pending")
        {
            _deliveries.Writer.TryWrite(firing.Id);
        }
    }

    /// <summary>Where an alert goes: the alert webhooks, and for a firing drift alert the retrain webhooks too.</summary>
    private List<string> Targets(string kind, string status) =>
        kind == AlertKinds.Drift && status == "firing" ? [.. options.Value.Webhooks, .. options.Value.RetrainWebhooks] : options.Value.Webhooks;

    public static string Sign(string secret, byte[] body) => "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), body));

    protected override async Task LeadAsync(CancellationToken stoppingToken)
    {
        var sweeping = Task.CompletedTask;
        if (Hosting.LeaseFence.Token is not null)
        {
            await QueuePendingAsync(stoppingToken);
            sweeping = SweepPendingAsync(stoppingToken);
        }
        try
        {
            await foreach (var id in _deliveries.Reader.ReadAllAsync(stoppingToken))
            {
                if (id == FlushMarker)
                {
                    // The queue is first in, first out: every delivery queued before the oldest waiting flush has ended.
                    _flushes.TryDequeue(out var flushed);
                    flushed?.TrySetResult();
                    continue;
                }
                await DeliverAsync(id, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        await sweeping;
    }

    /// <summary>
    /// A term under the lease starts with the deliveries still pending in the store: those a previous leader did not end, and
    /// those raised by processes that do not lead (a standby control process, a gateway replica), whose queues nobody reads.
    /// </summary>
    private async Task QueuePendingAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ModelGateDbContext>();
        foreach (var id in await db.Alerts.AsNoTracking().Where(a => a.Delivery == "pending").OrderBy(a => a.Id).Select(a => a.Id).ToListAsync(cancellationToken))
        {
            _deliveries.Writer.TryWrite(id);
        }
    }

    /// <summary>Under the lease, every <see cref="AlertOptions.EvaluationInterval"/>: alerts raised since on processes that do not lead are delivered too.</summary>
    private async Task SweepPendingAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(options.Value.EvaluationInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                try
                {
                    await QueuePendingAsync(cancellationToken);
                }
                catch (Exception e) when (e is System.Data.Common.DbException or DbUpdateException or InvalidOperationException or TimeoutException)
                {
                    // Retried at the next tick.
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    protected override void OnStopped()
    {
        _deliveries.Writer.TryComplete();
        while (_flushes.TryDequeue(out var flushed))
        {
            flushed.TrySetResult();
        }
    }

    private async Task DeliverAsync(long id, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ModelGateDbContext>();
        var alert = await db.Alerts.FirstAsync(a => a.Id == id, cancellationToken);
        if (Hosting.LeaseFence.Token is not null && alert.Delivery != "pending")
        {
            return; // under the lease an alert may be queued twice (raised here, and found pending when the term began): delivered once
        }
        var body = JsonSerializer.SerializeToUtf8Bytes(ToDto(alert), ModelGateJson.Options);
        var client = http.CreateClient(nameof(AlertManager));
        var delivered = true;
        foreach (var url in Targets(alert.Kind, alert.Status))
        {
            var ok = false;
            for (var attempt = 0; attempt <= options.Value.DeliveryRetries && !ok; attempt++)
            {
                if (attempt > 0)
                {
                    await Task.Delay(options.Value.RetryDelay * Math.Pow(2, attempt - 1), time, cancellationToken);
                }
                alert.DeliveryAttempts++;
                try
                {
                    using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
                    request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
                    request.Headers.Add("x-modelgate-event", "alert." + alert.Status);
                    if (options.Value.WebhookSecret.Length > 0)
                    {
                        request.Headers.Add("x-modelgate-signature", Sign(options.Value.WebhookSecret, body));
                    }
                    using var response = await client.SendAsync(request, cancellationToken);
                    ok = response.IsSuccessStatusCode;
                }
                catch (HttpRequestException e)
                {
                    LogDeliveryFailed(logger, e, alert.Key, url);
                }
                catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested)
                {
                    LogDeliveryFailed(logger, e, alert.Key, url);
                }
            }
            delivered &= ok;
        }
        alert.Delivery = delivered ? "delivered" : "failed";
        await db.SaveChangesAsync(CancellationToken.None);
    }

    public static AlertDto ToDto(AlertEntity a) => new(a.Id, a.Key, a.Group, a.Kind, a.Severity, a.Status, a.Summary, JsonDocument.Parse(a.Details).RootElement.Clone(),
        a.FiredAt, a.LastSeenAt, a.ResolvedAt, a.Occurrences, a.Silenced, a.Delivery, a.DeliveryAttempts);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Delivering alert {Key} to {Url} failed")]
    private static partial void LogDeliveryFailed(ILogger logger, Exception exception, string key, string url);
}
