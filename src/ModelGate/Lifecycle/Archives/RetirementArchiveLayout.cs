namespace ModelGate.Lifecycle.Archives;

/// <summary>Where a retirement archive keeps each kind of record (ids are the records' own, e.g. <c>evaluations/eval_….json</c>).</summary>
public static class RetirementArchiveLayout
{
    public const string CardJson = "card/model-card.json";
    public const string CardMarkdown = "card/model-card.md";
    public const string CardCycloneDx = "card/model-card.cdx.json";
    public const string Attestation = "attestation.json";
    public const string PromptTemplate = "prompt-template.json";
    public const string RequestLogs = "request-logs.jsonl";
    public const string AuditEvents = "audit-events.jsonl";

    public static string Evaluation(string id) => $"evaluations/{id}.json";
    public static string Approval(string id) => $"approvals/{id}.json";
    public static string StagingCheck(string id) => $"staging-checks/{id}.json";
}
