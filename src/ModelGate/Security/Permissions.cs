using ModelGate.Client;

namespace ModelGate.Security;

/// <summary>
/// Which roles may do what: the single table every endpoint's authorization policy comes from. What a key scoped to
/// deployments may do besides is decided by <see cref="DeploymentScope"/>.
/// </summary>
public static class Permissions
{
    public const string Read = "read";
    public const string RegistryWrite = "registry.write";
    public const string ArtifactWrite = "artifact.write";
    public const string KeysManage = "keys.manage";
    public const string EvaluationRun = "evaluation.run";
    public const string Deploy = "deploy";
    public const string Infer = "infer";
    public const string PolicyManage = "policy.manage";
    public const string Transition = "lifecycle.transition";
    public const string Approve = "lifecycle.approve";
    public const string CardWrite = "card.write";
    public const string StagingVerify = "staging.verify";
    public const string AlertsManage = "alerts.manage";

    public static readonly IReadOnlyDictionary<string, string[]> Policies = new Dictionary<string, string[]>
    {
        [Read] = [.. Roles.All],
        [RegistryWrite] = [Roles.Trainer, Roles.MlLead, Roles.Admin],
        [ArtifactWrite] = [Roles.Trainer, Roles.Evaluator, Roles.MlLead, Roles.Admin],
        [KeysManage] = [Roles.Admin],
        // Trainers may run evaluations, but their runs are recorded as not independent.
        [EvaluationRun] = [Roles.Evaluator, Roles.Trainer, Roles.MlLead, Roles.Admin],
        [Deploy] = [Roles.Deployer, Roles.Admin],
        [PolicyManage] = [Roles.MlLead, Roles.RiskCommittee, Roles.Admin],
        // Who may ask for a stage change; the gates decide whether it happens.
        [Transition] = [Roles.Trainer, Roles.MlLead, Roles.Deployer, Roles.Admin],
        // An approval is recorded in one of the approver's own approving roles; admin alone does not approve.
        [Approve] = [Roles.MlLead, Roles.ProductOwner, Roles.RiskCommittee],
        [CardWrite] = [Roles.Trainer, Roles.MlLead, Roles.ProductOwner, Roles.Admin],
        [StagingVerify] = [Roles.Deployer, Roles.MlLead, Roles.Admin],
        [AlertsManage] = [Roles.Deployer, Roles.MlLead, Roles.Admin],
        // Any valid key may call the data plane; a key scoped to deployments only its own (DeploymentScope).
        [Infer] = [.. Roles.All],
    };
}
