using System.Globalization;
using Microsoft.AspNetCore.Authorization;
using ModelGate.Client;
using ModelGate.Monitoring;
using ModelGate.Security;
using ModelGate.Storage;
using ModelGate.Storage.Gateway;
using static ModelGate.WebConsole.Html;

namespace ModelGate.WebConsole;

/// <summary>
/// Setting a deployment's SLO from its page: the form (for keys that may deploy, within their scope) and its POST, which
/// calls <see cref="Slos.SetAsync"/> as the REST API's <c>PUT …/slo</c> does (same rules, same audit event).
/// </summary>
public static class SloForm
{
    /// <summary>The form, filled with the SLO in force (or the REST API's defaults).</summary>
    public static string Render(ConsoleSession session, DeploymentEntity deployment)
    {
        var spec = Monitors.Spec(deployment) ?? new SloSpec();
        string N(double? value) => value?.ToString("0.#####", CultureInfo.InvariantCulture) ?? "";
        return $"""
            <form id="slo-form" class="action" method="post" action="/console/deployments/{E(deployment.Name)}/slo">
            <h4>Set the SLO</h4>
            {Csrf(session)}
            <label for="slo-availability">Availability objective (0–1, e.g. 0.999)<input id="slo-availability" name="availability" inputmode="decimal" required value="{N(spec.Availability)}"></label>
            <label for="slo-latency">Latency objective (0–1, empty for none)<input id="slo-latency" name="latencyObjective" inputmode="decimal" value="{N(spec.LatencyObjective)}"></label>
            <label for="slo-threshold">Latency threshold (ms)<input id="slo-threshold" name="latencyThresholdMs" inputmode="decimal" required value="{N(spec.LatencyThresholdMs)}"></label>
            <label for="slo-period">Period (days, 1–90)<input id="slo-period" name="periodDays" inputmode="numeric" required value="{spec.PeriodDays}"></label>
            <button type="submit">Set SLO</button>
            </form>
            """;
    }

    public sealed record Services(ConsoleSessions Sessions, IAuthorizationService Authorization, AuditedWrite Write, Monitors Monitors);

    public static async Task<IResult> SetAsync(string name, HttpContext context, [AsParameters] Services services, CancellationToken ct)
    {
        var (session, form, refusal) = await ConsoleApi.PostedAsync(context, services.Sessions, services.Authorization, Permissions.Deploy,
            s => DeploymentScope.Allows(s.Key, name), "Your key's roles do not allow setting this deployment's SLO.", ct);
        if (refusal is not null || session is null || form is null)
        {
            return refusal!;
        }
        var unreadable = new List<string>();
        double? Number(string field, bool optional)
        {
            var text = form[field].ToString().Trim();
            if (optional && text.Length == 0)
            {
                return null;
            }
            if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value))
            {
                return value;
            }
            unreadable.Add(field);
            return null;
        }
        var availability = Number("availability", optional: false);
        var latency = Number("latencyObjective", optional: true);
        var threshold = Number("latencyThresholdMs", optional: false);
        var period = int.TryParse(form["periodDays"].ToString().Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var days) ? days : (int?)null;
        if (period is null)
        {
            unreadable.Add("periodDays");
        }
        if (unreadable.Count > 0)
        {
            return ConsoleApi.Refused(session, $"Not set: {string.Join(", ", unreadable)} must be a number.", StatusCodes.Status400BadRequest);
        }
        var change = await Slos.SetAsync(services.Write, services.Monitors, name,
            new SloSpec(availability!.Value, latency, threshold!.Value, period!.Value), session.User, ct);
        if (change.Invalid is { } invalid)
        {
            return ConsoleApi.Refused(session, "Not set: " + string.Join("; ", invalid.ToDictionary().Select(e => $"{e.Key}: {string.Join(" ", e.Value)}")),
                StatusCodes.Status400BadRequest);
        }
        return change.DeploymentMissing
            ? ConsoleApi.NotFound(session, $"There is no deployment named '{name}'.")
            : Results.Redirect($"/console/deployments/{Uri.EscapeDataString(name)}?done=slo-set");
    }
}
