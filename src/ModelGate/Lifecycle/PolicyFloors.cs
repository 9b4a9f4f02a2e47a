using System.Globalization;
using ModelGate.Client;

namespace ModelGate.Lifecycle;

/// <summary>One way a policy falls below its tier's floor: the field, what the floor asks for, what the policy says.</summary>
public sealed record FloorBreach(string Field, string Floor, string Actual);

/// <summary>
/// The floor of each risk tier: the approvals, independent and platform-run evaluation, regression check and staging
/// verification of the built-in default policy (<see cref="PoliciesApi.Builtin"/>) as shipped. A model's policy may
/// tighten freely; below the floor only with the tier's <see cref="Authority"/> approving (<see cref="FloorApprovals"/>);
/// the default policy never.
/// </summary>
public static class PolicyFloors
{
    private static readonly EvaluatedGate Evaluated = PoliciesApi.Builtin.Evaluated!;
    private static readonly ProductionGate Production = PoliciesApi.Builtin.Production!;

    /// <summary>The roles whose approval a tier's production release needs at least.</summary>
    public static IReadOnlyList<string> Approvals(string tier) => Production.Approvals!.GetValueOrDefault(tier) ?? [];

    /// <summary>Who may approve going below a tier's floor (or lowering a model out of it): the risk committee, or for low-tier models a product owner.</summary>
    public static string Authority(string tier) => tier == RiskTiers.Low ? Roles.ProductOwner : Roles.RiskCommittee;

    /// <summary>Low &lt; medium &lt; high.</summary>
    public static int Rank(string tier) => RiskTiers.All.ToList().IndexOf(tier);

    /// <summary>Every way <paramref name="effective"/> (a model's policy merged over the default) is weaker than <paramref name="tier"/>'s floor.</summary>
    public static List<FloorBreach> Breaches(PolicyDocument effective, string tier)
    {
        var breaches = new List<FloorBreach>();
        // A gate left out is the gate with its defaults, as the gates read it.
        var evaluated = effective.Evaluated ?? new EvaluatedGate();
        if (Evaluated.RequireIndependent && !evaluated.RequireIndependent)
        {
            breaches.Add(new FloorBreach("evaluated.requireIndependent", "true: evaluated by someone other than the trainer", "false"));
        }
        if (Evaluated.RequirePlatformRun && !evaluated.RequirePlatformRun)
        {
            breaches.Add(new FloorBreach("evaluated.requirePlatformRun", "true: evaluated by ModelGate, not reported from elsewhere", "false"));
        }
        if (Evaluated.RegressionTolerance is { } tolerance)
        {
            if (evaluated.RegressionTolerance is not { } actual || actual > tolerance)
            {
                breaches.Add(new FloorBreach("evaluated.regressionTolerance", $"a regression check, tolerance ≤ {F(tolerance)}",
                    evaluated.RegressionTolerance is { } a ? F(a) : "none (no regression check)"));
            }
            var metrics = evaluated.RegressionMetrics ?? Evaluated.RegressionMetrics ?? [];
            var missing = (Evaluated.RegressionMetrics ?? []).Where(m => !metrics.Contains(m)).ToList();
            if (missing.Count > 0)
            {
                breaches.Add(new FloorBreach("evaluated.regressionMetrics", $"includes {string.Join(", ", Evaluated.RegressionMetrics!)}",
                    $"lacks {string.Join(", ", missing)}"));
            }
        }
        var production = effective.Production ?? new ProductionGate();
        if (Production.RequireStagingVerification && !production.RequireStagingVerification)
        {
            breaches.Add(new FloorBreach("production.requireStagingVerification", "true: a passed staging verification", "false"));
        }
        var roles = (production.Approvals ?? Production.Approvals!).GetValueOrDefault(tier) ?? [];
        var lacking = Approvals(tier).Where(r => !roles.Contains(r)).ToList();
        if (lacking.Count > 0)
        {
            breaches.Add(new FloorBreach($"production.approvals.{tier}", $"includes {string.Join(", ", Approvals(tier))}",
                roles.Count == 0 ? "no approvals" : $"lacks {string.Join(", ", lacking)}"));
        }
        return breaches;
    }

    /// <summary>The default policy against every tier's floor (each breach once).</summary>
    public static List<FloorBreach> DefaultBreaches(PolicyDocument policy) =>
        RiskTiers.All.SelectMany(tier => Breaches(policy, tier)).DistinctBy(b => b.Field).ToList();

    private static string F(double value) => value.ToString("0.####", CultureInfo.InvariantCulture);
}
