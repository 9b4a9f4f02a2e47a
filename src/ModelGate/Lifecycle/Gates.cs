using System.Globalization;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using ModelGate.Audit;
using ModelGate.Client;
using ModelGate.Evaluation;
using ModelGate.Storage;
using ModelGate.Storage.Evaluation;
using ModelGate.Storage.Gateway;
using ModelGate.Storage.Lifecycle;
using ModelGate.Storage.Registry;

namespace ModelGate.Lifecycle;

/// <summary>The stage machine: trained → evaluated → registered → staging → production → retired; rejected before production.</summary>
public static class StageMachine
{
    private static readonly Dictionary<string, string[]> Next = new(StringComparer.Ordinal)
    {
        [Stages.Trained] = [Stages.Evaluated, Stages.Rejected, Stages.Retired],
        [Stages.Evaluated] = [Stages.Registered, Stages.Rejected, Stages.Retired],
        [Stages.Registered] = [Stages.Staging, Stages.Rejected, Stages.Retired],
        [Stages.Staging] = [Stages.Production, Stages.Rejected, Stages.Retired],
        [Stages.Production] = [Stages.Retired],
        [Stages.Rejected] = [Stages.Retired],
        [Stages.Retired] = [],
    };

    public static readonly IReadOnlyList<string> All =
        [Stages.Trained, Stages.Evaluated, Stages.Registered, Stages.Staging, Stages.Production, Stages.Retired, Stages.Rejected];

    public static IReadOnlyList<string> From(string stage) => Next.GetValueOrDefault(stage) ?? [];

    public static bool Allows(string from, string to) => From(from).Contains(to);
}

/// <summary>Everything a gate looks at for one version, loaded once.</summary>
public sealed record GateInputs(
    ModelEntity Model,
    ModelVersionEntity Version,
    PolicyDocument Policy,
    string PolicySource,
    IReadOnlyList<EvaluationEntity> Evaluations,
    ModelVersionEntity? Production,
    JsonElement? Card,
    IReadOnlyList<DeploymentEntity> StagingDeployments,
    StagingVerificationEntity? LatestVerification,
    IReadOnlyList<ApprovalEntity> Approvals,
    IReadOnlyList<string> Requesters,
    string Actor,
    string ActorName,
    VersionParties? Parties = null)
{
    /// <summary>The stored card row behind <see cref="Card"/>: its evidence hash is re-verified by the registered gate.</summary>
    public ModelCardEntity? CardRecord { get; init; }

    /// <summary>Their re-verification (set by the caller, which holds the chain key); a record a gate reads without one fails its integrity check.</summary>
    public IReadOnlyList<EvidenceIntegrity> Integrity { get; init; } = [];

    /// <summary>Records of the kinds the gate reads that the version's audit events record but the store no longer holds (set by the caller).</summary>
    public IReadOnlyList<EvidenceIntegrity> Deleted { get; init; } = [];

    /// <summary>The stored policy revisions <see cref="Policy"/> was merged from.</summary>
    public PolicyInForce? InForce { get; init; }

    /// <summary>The policy and risk tier re-verified (set by the caller, which holds the chain key); a forward gate without it fails its policy checks.</summary>
    public PolicyStanding? Standing { get; init; }

    public static async Task<GateInputs> LoadAsync(ModelGateDbContext db, ModelEntity model, ModelVersionEntity version, string actor, string actorName,
        CancellationToken cancellationToken)
    {
        var inForce = await PoliciesApi.InForceAsync(db, model.Name, cancellationToken);
        var evaluations = await db.Evaluations.AsNoTracking().Where(e => e.VersionId == version.Id && e.Status == EvaluationStatuses.Succeeded)
            .OldestFirst().ToListAsync(cancellationToken);
        var production = await ProductionBaseline.FindAsync(db, model.Id, version.Id, cancellationToken);
        var card = await db.ModelCards.AsNoTracking().FirstOrDefaultAsync(c => c.VersionId == version.Id, cancellationToken);
        var deployments = await db.Deployments.AsNoTracking().Where(d => d.ModelId == model.Id && d.Environment == DeploymentEnvironments.Staging)
            .OrderBy(d => d.Name).ToListAsync(cancellationToken);
        var verification = await db.StagingVerifications.AsNoTracking().Where(s => s.VersionId == version.Id)
            .OrderByDescending(s => s.CreatedAt).FirstOrDefaultAsync(cancellationToken);
        var approvals = await db.Approvals.AsNoTracking().Where(a => a.VersionId == version.Id).OrderBy(a => a.Time).ToListAsync(cancellationToken);
        var requesters = await db.Transitions.AsNoTracking().Where(t => t.VersionId == version.Id).Select(t => t.Actor).Distinct().ToListAsync(cancellationToken);
        var parties = await VersionParties.LoadAsync(db, version, cancellationToken);
        return new GateInputs(model, version, inForce.Policy, inForce.Source, evaluations, production,
            card is null ? null : JsonDocument.Parse(card.Card).RootElement.Clone(), deployments, verification, approvals, requesters, actor, actorName, parties)
        {
            CardRecord = card,
            InForce = inForce,
        };
    }
}

/// <summary>
/// The gates: for a transition, every check the policy asks for, each with what was expected and what was found. A
/// transition happens only when all pass; a refused one answers with the whole list.
/// </summary>
public static class Gates
{
    /// <summary>Metrics where lower is better: a regression is a rise.</summary>
    private static readonly HashSet<string> LowerIsBetter = new(StringComparer.Ordinal)
    {
        "log_loss", "brier", "mae", "mse", "rmse", "leak_rate", "demographic_parity_difference", "equalized_odds_difference", "equal_opportunity_difference",
        "latency_p50", "latency_p95", "latency_p99", "prompt_tokens_mean", "completion_tokens_mean", "total_tokens_mean", "cost_per_request",
        "cost_per_1k_requests",
    };

    /// <summary>
    /// The gate's report for moving <paramref name="version"/> (loaded with its model) where <paramref name="request"/> says, as
    /// <paramref name="user"/> would: its inputs loaded, the evidence it reads re-verified, every check judged (and, for a
    /// retirement that passes, the replacement's). A forward gate also re-verifies the policy it applies and the risk tier it
    /// applies it for. What a transition, its dry run and the console's version page all show.
    /// </summary>
    public static async Task<(GateInputs Inputs, GateReport Report)> ReportAsync(ModelGateDbContext db, ModelVersionEntity version, TransitionRequest request,
        System.Security.Claims.ClaimsPrincipal user, GateVerifiers verifiers, Retirement retirement, CancellationToken cancellationToken)
    {
        var actor = Security.SecurityServiceCollectionExtensions.ActorId(user);
        var inputs = await GateInputs.LoadAsync(db, version.Model!, version, actor, user.Identity?.Name ?? actor, cancellationToken);
        var read = EvidenceRead(inputs, request.To);
        inputs = inputs with
        {
            Integrity = await verifiers.Evidence.VerifyAsync(db, read, cancellationToken),
            Deleted = await verifiers.Evidence.FindDeletedAsync(db, inputs.Model.Name, version, EvidenceKindsRead(request.To), read, cancellationToken),
            Standing = Forward(request.To) ? await verifiers.Policies.VerifyAsync(db, version.Model!, inputs.InForce!, cancellationToken) : null,
        };
        var report = Evaluate(inputs, request.To);
        if (request.To == Stages.Retired && report.Passed)
        {
            report = await retirement.CheckAsync(db, version, request.Replacement, report, cancellationToken);
        }
        return (inputs, report);
    }

    public static GateReport Evaluate(GateInputs inputs, string to)
    {
        var checks = new List<GateCheck>();
        var from = inputs.Version.Stage;
        checks.Add(new GateCheck("stage_transition", $"{from} → one of {string.Join(", ", StageMachine.From(from).DefaultIfEmpty("(none)"))}",
            $"{from} → {to}", StageMachine.Allows(from, to)));
        switch (to)
        {
            case Stages.Evaluated:
                EvaluatedChecks(inputs, checks);
                break;
            case Stages.Registered:
                RegisteredChecks(inputs, checks);
                break;
            case Stages.Staging:
                StagingChecks(inputs, checks);
                break;
            case Stages.Production:
                ProductionChecks(inputs, checks);
                break;
        }
        if (Forward(to))
        {
            PolicyChecks(inputs, checks);
        }
        EvidenceChecks(inputs, to, checks);
        return new GateReport(inputs.Model.Name, inputs.Version.Version, from, to, checks.All(c => c.Passed), checks, inputs.PolicySource);
    }

    private static void EvaluatedChecks(GateInputs inputs, List<GateCheck> checks)
    {
        var gate = inputs.Policy.Evaluated ?? new EvaluatedGate();
        var evaluations = inputs.Evaluations.Select(e => new ScoredEvaluation(e)).ToList();
        if (evaluations.Count == 0)
        {
            checks.Add(new GateCheck("evaluation", "at least one succeeded evaluation", "none", false));
            return;
        }
        // For each suite, the latest succeeded run is the one that counts.
        var latest = evaluations.GroupBy(e => e.Entity.SuiteSha256).Select(g => g.Last()).ToList();
        foreach (var suite in gate.RequiredSuites ?? [])
        {
            var found = latest.FirstOrDefault(e => e.Matches(suite));
            checks.Add(new GateCheck($"required_suite:{suite}", "a succeeded evaluation", found is null ? "none" : found.Entity.Id, found is not null));
        }
        var counted = gate.RequiredSuites is { Count: > 0 } required ? latest.Where(e => required.Any(e.Matches)).ToList() : latest;
        foreach (var e in counted)
        {
            if (gate.RequirePlatformRun)
            {
                checks.Add(new GateCheck($"platform_run:{e.SuiteLabel}", "run by ModelGate", e.Entity.External ? "external result" : "run by ModelGate",
                    !e.Entity.External));
            }
            if (gate.RequireIndependent)
            {
                checks.Add(new GateCheck($"independent_evaluator:{e.SuiteLabel}", "evaluator is not the trainer",
                    e.Entity.Independent ? $"{e.Entity.Evaluator} (independent)" : $"{e.Entity.Evaluator} (trainer)", e.Entity.Independent));
            }
            if (e.SuitePassed is { } passed)
            {
                checks.Add(new GateCheck($"suite_thresholds:{e.SuiteLabel}", "the suite's own thresholds pass", passed ? "passed" : $"failed: {e.FailedThresholds}",
                    passed));
            }
        }
        foreach (var rule in gate.Thresholds ?? [])
        {
            var source = counted.Where(e => rule.Suite is null || e.Matches(rule.Suite)).LastOrDefault(e => e.Metric(rule.Metric) is not null);
            var actual = source?.Metric(rule.Metric);
            var expected = (rule.Min, rule.Max) switch
            {
                ({ } min, { } max) => $"{F(min)} ≤ {rule.Metric} ≤ {F(max)}",
                ({ } min, null) => $"{rule.Metric} ≥ {F(min)}",
                (null, { } max) => $"{rule.Metric} ≤ {F(max)}",
                _ => rule.Metric,
            };
            var ok = actual is { } a && double.IsFinite(a) && (rule.Min is null || a >= rule.Min) && (rule.Max is null || a <= rule.Max);
            checks.Add(new GateCheck($"metric:{rule.Metric}", expected, actual is null ? "not measured" : F(actual.Value), ok));
        }
        if (inputs.Production is { } production && gate.RegressionTolerance is { } tolerance)
        {
            var compared = counted.LastOrDefault(e => e.BaselineVersion == production.Version);
            if (compared is null)
            {
                checks.Add(new GateCheck("regression", $"an evaluation compared with production {production.Version}", "none", false));
                return;
            }
            // The policy names classification metrics; an LLM comparison is judged on every quality metric it measured as well.
            var metrics = (gate.RegressionMetrics ?? ["roc_auc", "accuracy"]).AsEnumerable();
            if (inputs.Model.Task == "llm-chat")
            {
                metrics = metrics.Concat(Evaluation.Text.TextScoring.ComparedMetrics.Order(StringComparer.Ordinal)).Distinct();
            }
            var judged = 0;
            foreach (var metric in metrics)
            {
                if (compared.Delta(metric) is not { } delta)
                {
                    continue;
                }
                judged++;
                var worse = LowerIsBetter.Contains(metric) ? delta : -delta;
                checks.Add(new GateCheck($"regression:{metric}", $"at most {F(tolerance)} worse than {production.Version}",
                    $"{(delta >= 0 ? "+" : "")}{F(delta)}", worse <= tolerance));
            }
            if (judged == 0)
            {
                // A comparison that measured none of the regression metrics shows nothing about a regression: it does not pass.
                checks.Add(new GateCheck("regression", $"a comparison with production {production.Version} measuring one of {string.Join(", ", metrics)}",
                    $"{compared.Entity.Id} measured none of them", false));
            }
        }
    }

    private static void RegisteredChecks(GateInputs inputs, List<GateCheck> checks)
    {
        var gate = inputs.Policy.Registered ?? new RegisteredGate();
        var card = inputs.Card is { ValueKind: JsonValueKind.Object } c ? c.Deserialize<ModelCard>(ModelGateJson.Options) : null;
        var completeness = Cards.ModelCardRules.Check(card, inputs.Model.License, inputs.Model.Owner);
        foreach (var field in gate.CardFields ?? ModelCardFields.Required)
        {
            var present = !completeness.Missing.Contains(field);
            checks.Add(new GateCheck($"card:{field}", $"{Cards.ModelCardRules.Label(field)} filled in", present ? "present" : "missing", present));
        }
        if (gate.RequireLicense)
        {
            checks.Add(new GateCheck("licence", "the model names its licence", string.IsNullOrWhiteSpace(inputs.Model.License) ? "missing" : inputs.Model.License!,
                !string.IsNullOrWhiteSpace(inputs.Model.License)));
        }
        if (gate.RequireOwner)
        {
            checks.Add(new GateCheck("owner", "the model names its owner", string.IsNullOrWhiteSpace(inputs.Model.Owner) ? "missing" : inputs.Model.Owner,
                !string.IsNullOrWhiteSpace(inputs.Model.Owner)));
        }
    }

    private static void StagingChecks(GateInputs inputs, List<GateCheck> checks)
    {
        var gate = inputs.Policy.Staging ?? new StagingGate();
        var onnx = inputs.Version.Artifacts.Any(a => a.FileName.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase));
        var upstream = inputs.StagingDeployments.Any(d => Routing(d)?.Upstreams?.ContainsKey(inputs.Version.Version) == true);
        checks.Add(new GateCheck("backend", "an ONNX artifact, or an upstream backend on the staging deployment",
            onnx ? "onnx" : upstream ? "upstream" : "none", onnx || upstream));
        if (gate.RequireDeployment)
        {
            var serving = inputs.StagingDeployments.Where(d => Routing(d) is { } r &&
                                                             (r.Stable == inputs.Version.Version || r.Candidates?.Any(c => c.Version == inputs.Version.Version) == true))
                .Select(d => d.Name).ToList();
            checks.Add(new GateCheck("staging_deployment", $"a staging deployment of {inputs.Model.Name} that routes {inputs.Version.Version}",
                serving.Count > 0 ? string.Join(", ", serving)
                : inputs.StagingDeployments.Count == 0 ? "no staging deployment"
                : $"{string.Join(", ", inputs.StagingDeployments.Select(d => d.Name))} do not route it",
                serving.Count > 0));
        }
    }

    private static void ProductionChecks(GateInputs inputs, List<GateCheck> checks)
    {
        var gate = inputs.Policy.Production ?? new ProductionGate();
        if (gate.RequireStagingVerification)
        {
            var v = inputs.LatestVerification;
            checks.Add(new GateCheck("staging_verification", "a passed staging verification",
                v is null ? "none" : $"{v.Id} {(v.Passed ? "passed" : "failed")}", v?.Passed == true));
        }
        var tiers = gate.Approvals ?? PoliciesApi.Builtin.Production!.Approvals!;
        var roles = tiers.GetValueOrDefault(inputs.Model.RiskTier) ?? [];
        var approvals = inputs.Approvals;
        var rejection = approvals.FirstOrDefault(a => a.Decision == ApprovalDecisions.Reject);
        checks.Add(new GateCheck("no_rejection", "no approver rejected this version",
            rejection is null ? "none" : $"rejected by {rejection.Approver} ({rejection.Role}) {rejection.Id}", rejection is null));
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var role in roles)
        {
            // Each role needs its own approver: one principal's approval fills at most one role (SeparationOfDuties decides who counts).
            var approval = approvals.FirstOrDefault(a => a.Decision == ApprovalDecisions.Approve && a.Role == role &&
                                                         SeparationOfDuties.Counts(inputs.Parties, a.Approver, inputs.Actor, used));
            if (approval is not null)
            {
                used.Add(approval.Approver);
            }
            var seen = approvals.Where(a => a.Decision == ApprovalDecisions.Approve && a.Role == role).ToList();
            var actual = approval is not null ? $"{approval.Approver} ({approval.Id})"
                : seen.Count == 0 ? "none"
                : seen.All(a => a.Approver == inputs.Actor) ? $"only by the requester {inputs.Actor}"
                : seen.All(a => !SeparationOfDuties.Counts(inputs.Parties, a.Approver, inputs.Actor, new HashSet<string>()))
                    ? "only by someone who trained, registered, evaluated or asked to promote this version"
                : "only by an approver who already fills another role";
            checks.Add(new GateCheck($"approval:{role}", $"an approval by a {role} (risk tier {inputs.Model.RiskTier})", actual, approval is not null));
        }
    }

    /// <summary>The gates on the way to production, which apply the policy (retiring and rejecting are always open to the stage machine).</summary>
    public static bool Forward(string to) => to is Stages.Evaluated or Stages.Registered or Stages.Staging or Stages.Production;

    /// <summary>
    /// The policy the gate applies, re-verified (<see cref="PolicyVerifier"/>), and its tier's floor: a policy below the floor
    /// counts only when the latest write of the policy or of the risk tier was approved by the tier's authority
    /// (<see cref="FloorApprovals"/>) — so a weakening written around the API, or stored before floors existed, refuses.
    /// </summary>
    private static void PolicyChecks(GateInputs inputs, List<GateCheck> checks)
    {
        if (inputs.Standing is not { } standing)
        {
            checks.Add(new GateCheck("policy_floor", "the policy and risk tier re-verified against their audit events", "not re-verified", false));
            return;
        }
        foreach (var record in standing.Records)
        {
            checks.Add(new GateCheck($"policy_integrity:{record.Scope}", record.Expected,
                record.Verified ? record.Actual : $"{record.Failure}: {record.Actual}", record.Verified));
        }
        checks.Add(new GateCheck("risk_tier_integrity", standing.TierExpected,
            standing.TierFailure is null ? standing.TierActual : $"{standing.TierFailure}: {standing.TierActual}", standing.TierFailure is null));
        var breaches = PolicyFloors.Breaches(inputs.Policy, standing.Tier);
        var expected = $"the {standing.Tier} tier's floor, or a weakening approved by {PolicyFloors.Authority(standing.Tier)}";
        if (breaches.Count == 0)
        {
            checks.Add(new GateCheck("policy_floor", expected, "meets it", true));
            return;
        }
        var below = string.Join("; ", breaches.Select(b => $"{b.Field}: {b.Actual} (floor: {b.Floor})"));
        checks.Add(standing.FloorApproval is { } approval
            ? new GateCheck("policy_floor", expected, $"below it, approved (floor approval at audit event {approval}): {below}", true)
            : new GateCheck("policy_floor", expected, $"below it without an approval: {below}", false));
    }

    /// <summary>The evidence records the gate to <paramref name="to"/> reads (and so re-verifies): only those are hashed and checked.</summary>
    public static IReadOnlyList<EvidenceRecord> EvidenceRead(GateInputs inputs, string to) => to switch
    {
        Stages.Evaluated => inputs.Evaluations.Select(EvidenceRecord.Of).ToList(),
        Stages.Registered when inputs.CardRecord is { } card => [EvidenceRecord.Of(card)],
        Stages.Production => [.. inputs.LatestVerification is { } v ? [EvidenceRecord.Of(v)] : Array.Empty<EvidenceRecord>(),
            .. inputs.Approvals.Select(EvidenceRecord.Of)],
        _ => [],
    };

    /// <summary>The kinds of evidence record the gate to <paramref name="to"/> reads: the version's records of those kinds must all still exist.</summary>
    public static IReadOnlyList<string> EvidenceKindsRead(string to) => to switch
    {
        Stages.Evaluated => [EvidenceKinds.Evaluation],
        Stages.Registered => [EvidenceKinds.Card],
        Stages.Production => [EvidenceKinds.StagingVerification, EvidenceKinds.Approval],
        _ => [],
    };

    /// <summary>
    /// Every evidence record the gate read: one check each, failing when the record does not re-verify against its audit event; and
    /// one failing check for each record of the kinds it reads that the version's audit events record but the store no longer holds.
    /// </summary>
    private static void EvidenceChecks(GateInputs inputs, string to, List<GateCheck> checks)
    {
        switch (to)
        {
            case Stages.Evaluated:
                foreach (var e in inputs.Evaluations)
                {
                    checks.Add(EvidenceCheck(inputs, EvidenceKinds.Evaluation, e.Id, e.Id));
                }
                break;
            case Stages.Registered when inputs.CardRecord is not null:
                checks.Add(EvidenceCheck(inputs, EvidenceKinds.Card, EvidenceHashes.CardId(inputs.Version.Id), $"{inputs.Model.Name}@{inputs.Version.Version}"));
                break;
            case Stages.Production:
                if (inputs.LatestVerification is { } v)
                {
                    checks.Add(EvidenceCheck(inputs, EvidenceKinds.StagingVerification, v.Id, v.Id));
                }
                foreach (var a in inputs.Approvals)
                {
                    checks.Add(EvidenceCheck(inputs, EvidenceKinds.Approval, a.Id, a.Id));
                }
                break;
        }
        foreach (var deleted in inputs.Deleted)
        {
            var label = deleted.Kind == EvidenceKinds.Card ? $"{inputs.Model.Name}@{inputs.Version.Version}" : deleted.Id;
            checks.Add(new GateCheck($"evidence_integrity:{deleted.Kind}:{label}", deleted.Expected ?? "", $"{deleted.Failure}: {deleted.Actual}", false));
        }
    }

    private static GateCheck EvidenceCheck(GateInputs inputs, string kind, string id, string label)
    {
        var name = $"evidence_integrity:{kind}:{label}";
        var result = inputs.Integrity.FirstOrDefault(i => i.Kind == kind && i.Id == id);
        return result switch
        {
            null => new GateCheck(name, "the record re-verified against its audit event", "not re-verified", false),
            { Verified: true } => new GateCheck(name, "the record re-verified against its audit event", "verified", true),
            { Accepted: true } => new GateCheck(name, "the record re-verified against its audit event",
                "unverifiable: written before evidence hashing (accepted by Audit:AcceptUnhashedEvidence)", true),
            _ => new GateCheck(name, result.Expected ?? "", $"{result.Failure}: {result.Actual}", false),
        };
    }

    public static DeploymentRoutingView? Routing(DeploymentEntity d)
    {
        try
        {
            return JsonSerializer.Deserialize<DeploymentRoutingView>(d.Routing, ModelGateJson.Options);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string F(double value) => value.ToString("0.####", CultureInfo.InvariantCulture);

    /// <summary>An evaluation's stored result, read (by <see cref="StoredEvaluationResult"/>) for the figures gates look at.</summary>
    private sealed class ScoredEvaluation(EvaluationEntity entity)
    {
        private readonly StoredEvaluationResult? _result = StoredEvaluationResult.Read(entity.Result);

        public EvaluationEntity Entity { get; } = entity;
        public string? SuiteName => _result?.Suite;
        public string SuiteLabel => SuiteName ?? Entity.SuiteSha256[..12];
        public string? BaselineVersion => Entity.BaselineVersion;

        public bool Matches(string suite) => suite == SuiteName || string.Equals(suite, Entity.SuiteSha256, StringComparison.OrdinalIgnoreCase);

        /// <summary>The suite's verdict, when it had thresholds to judge.</summary>
        public bool? SuitePassed => _result is { Passed: { } passed, Thresholds.Count: > 0 } ? passed : null;

        public string FailedThresholds => string.Join(", ", _result?.Thresholds.Where(t => !t.Passed).Select(t => t.Metric) ?? []);

        public double? Metric(string name) => _result?.Metric(name);

        public double? Delta(string name) => _result?.Delta(name)?.Value;
    }
}

/// <summary>What a gate re-verifies its inputs with: the evidence records it reads, and the policy it applies.</summary>
public sealed record GateVerifiers(EvidenceVerifier Evidence, PolicyVerifier Policies);

/// <summary>The part of a stored routing table the gates read.</summary>
public sealed record DeploymentRoutingView(string Stable, IReadOnlyList<CandidateRoute>? Candidates = null, ShadowRoute? Shadow = null,
    IReadOnlyDictionary<string, JsonElement>? Upstreams = null);
