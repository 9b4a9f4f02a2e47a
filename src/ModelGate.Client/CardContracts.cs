namespace ModelGate.Client;

/// <summary>
/// The model card of a version: what it is for, what it must not be used for, what it cannot do, what it learnt from,
/// how it was evaluated and what it risks. Licence and owner come from the model. <see cref="Markdown"/> is free text
/// rendered after the structured sections.
/// </summary>
/// <param name="IntendedUse">The uses the model is built and evaluated for.</param>
/// <param name="OutOfScopeUse">Uses it must not be put to.</param>
/// <param name="Limitations">Known technical limitations, one per item.</param>
/// <param name="TrainingData">The data it was trained on, in words (the attestation names the datasets by digest).</param>
/// <param name="Evaluation">How it was evaluated, with references to ModelGate evaluations.</param>
/// <param name="EthicalConsiderations">Risks to people, each with how it is mitigated.</param>
/// <param name="Markdown">Anything else, as markdown.</param>
/// <param name="Integrity">
/// Output only: whether the stored card still verifies as evidence (<see cref="EvidenceIntegrityDto"/>); ignored on input and never stored.
/// </param>
public sealed record ModelCard(
    string? IntendedUse = null,
    string? OutOfScopeUse = null,
    IReadOnlyList<string>? Limitations = null,
    string? TrainingData = null,
    CardEvaluation? Evaluation = null,
    IReadOnlyList<EthicalConsideration>? EthicalConsiderations = null,
    string? Markdown = null,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    EvidenceIntegrityDto? Integrity = null);

/// <param name="Text">How the model was evaluated and what the results mean.</param>
/// <param name="EvaluationIds">ModelGate evaluations of this version the text refers to (<c>eval_…</c>).</param>
public sealed record CardEvaluation(string? Text = null, IReadOnlyList<string>? EvaluationIds = null);

/// <param name="Name">The risk, e.g. "lower recall for women".</param>
/// <param name="MitigationStrategy">How it is mitigated, if it is.</param>
public sealed record EthicalConsideration(string Name, string? MitigationStrategy = null);

/// <summary>Whether a card, with the model's licence and owner, is complete; <see cref="Missing"/> names what is not (card field names, <c>license</c>, <c>owner</c>).</summary>
public sealed record CardCompletenessDto(bool Complete, IReadOnlyList<string> Missing);
