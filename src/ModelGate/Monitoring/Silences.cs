using System.Security.Claims;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Security;
using ModelGate.Storage;
using ModelGate.Storage.Monitoring;

namespace ModelGate.Monitoring;

/// <summary>A silence made, or the fields that were not valid (400).</summary>
public sealed record SilenceOutcome(SilenceEntity? Created = null, ValidationErrors? Invalid = null);

/// <summary>
/// Silences: alerts with a key that starts with the prefix of one in force are recorded but not delivered — those firing when
/// it is made and those that fire while it lasts (<see cref="AlertManager.RaiseAsync"/>); when it ends, an alert still firing
/// is delivered at its next evaluation. One place for the REST API and the console; each is audited (<c>alert.silenced</c>).
/// </summary>
public static class Silences
{
    public const int MaxKeyPrefixLength = 200;
    public const int MaxReasonLength = 2000;
    public static readonly TimeSpan MaxDuration = TimeSpan.FromDays(30);
    public const string SilencedAction = "alert.silenced";

    public static async Task<SilenceOutcome> CreateAsync(AuditedWrite write, SilenceRequest request, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        if (string.IsNullOrWhiteSpace(request.KeyPrefix) || request.KeyPrefix.Length > MaxKeyPrefixLength)
        {
            errors.Add("keyPrefix", $"the start of the alert keys to mute (1–{MaxKeyPrefixLength} characters), e.g. slo:checkout");
        }
        if (!Durations.TryParse(request.Duration, out var duration) || duration > MaxDuration)
        {
            errors.Add("duration", "how long, up to 30d (e.g. 2h)");
        }
        if (string.IsNullOrWhiteSpace(request.Reason) || request.Reason.Length > MaxReasonLength)
        {
            errors.Add("reason", $"required (1–{MaxReasonLength} characters)");
        }
        if (errors.Any)
        {
            return new SilenceOutcome(Invalid: errors);
        }
        await using var tx = await write.BeginAsync(cancellationToken);
        var silence = new SilenceEntity { KeyPrefix = request.KeyPrefix, Until = tx.Now + duration, Reason = request.Reason, CreatedAt = tx.Now, CreatedBy = user.ActorId() };
        tx.Db.Silences.Add(silence);
        // Alerts already firing under the prefix are muted now, as those that fire later will be: their resolution is not sent.
        await tx.Db.Alerts.Where(a => a.Status == "firing" && !a.Silenced && a.Key.StartsWith(request.KeyPrefix))
            .ExecuteUpdateAsync(u => u.SetProperty(a => a.Silenced, true), cancellationToken);
        await tx.AppendAsync(user.ActorId(), SilencedAction, $"alerts/{request.KeyPrefix}", new { request.KeyPrefix, silence.Until, request.Reason },
            cancellationToken: cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return new SilenceOutcome(silence);
    }

    /// <summary>The silences in force at <paramref name="now"/>, the soonest to end first.</summary>
    public static Task<List<SilenceEntity>> InForceAsync(ModelGateDbContext db, DateTime now, CancellationToken cancellationToken) =>
        db.Silences.AsNoTracking().Where(s => s.Until > now).OrderBy(s => s.Until).ToListAsync(cancellationToken);
}
