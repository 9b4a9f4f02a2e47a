using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace ModelGate.Errors;

/// <summary>Stable problem codes that scripts may rely on; <c>type</c> is derived from the code.</summary>
public static class ProblemCodes
{
    public const string Validation = "validation_failed";
    public const string MalformedJson = "malformed_json";
    public const string InvalidJson = "invalid_json";
    public const string BadRequest = "bad_request";
    /// <summary>429 with <c>Redis:FailureMode=closed</c> while Redis, which counts the shared limits, fails.</summary>
    public const string LimitsUnavailable = "limits_unavailable";
    /// <summary>A string (or name, or body) holds NUL, another control character, a lone surrogate or invalid UTF-8.</summary>
    public const string InvalidText = "invalid_text";
    /// <summary>A number is NaN, infinite, out of range, or outside what the field means (a probability above 1).</summary>
    public const string InvalidNumber = "invalid_number";
    /// <summary>A string is longer than its field allows (<c>Limits:MaxStringLength</c>, or the field's own bound).</summary>
    public const string ValueTooLong = "value_too_long";
    public const string UnsupportedMediaType = "unsupported_media_type";
    public const string MethodNotAllowed = "method_not_allowed";
    public const string BodyTooLarge = "body_too_large";
    public const string Unauthenticated = "unauthenticated";
    public const string Forbidden = "forbidden";
    public const string NotFound = "not_found";
    public const string ModelNotFound = "model_not_found";
    public const string VersionNotFound = "version_not_found";
    public const string ArtifactNotFound = "artifact_not_found";
    /// <summary>A stored artifact whose bytes no longer hash to its digest: never sent, never loaded (503).</summary>
    public const string ArtifactCorrupt = "artifact_corrupt";
    public const string KeyNotFound = "key_not_found";
    public const string InvalidPromptVariables = "invalid_prompt_variables";
    public const string PrincipalNotFound = "principal_not_found";
    public const string RolesNotHeld = "roles_not_held";
    /// <summary>A principal with that identity (compared case-insensitively) exists (409).</summary>
    public const string PrincipalExists = "principal_exists";
    /// <summary>
    /// An approving role (ml-lead, product-owner, risk-committee) asked for a key without a principal, or for a service principal:
    /// only people approve; create a person principal and a key for it (422).
    /// </summary>
    public const string ApprovalRoleNeedsPerson = "approval_role_needs_person";
    /// <summary>An act that separation of duties forbids: approving what one trained, registered, evaluated or asked to promote,
    /// filling two approving roles, approving with a role granted by one of those, or granting oneself an approving role (403).</summary>
    public const string SeparationOfDuties = "separation_of_duties";
    public const string DeploymentNotFound = "deployment_not_found";
    /// <summary>A deployment asked in a protocol it does not serve (chat of an ONNX model, OIP v2 of an upstream one), or named as a judge while serving ONNX.</summary>
    public const string WrongProtocol = "wrong_protocol";
    public const string ModelExists = "model_exists";
    public const string VersionExists = "version_exists";
    public const string VersionNotGreater = "version_not_greater";
    public const string UnknownArtifact = "unknown_artifact";
    public const string DigestMismatch = "digest_mismatch";
    public const string InvalidDigest = "invalid_digest";
    public const string InvalidName = "invalid_name";
    public const string InvalidVersion = "invalid_version";
    public const string Internal = "internal_error";
    public const string EgressDenied = "egress_denied";
    public const string UpstreamKeyRequired = "upstream_key_required";
    public const string DeploymentExists = "deployment_exists";
    /// <summary>A rollback with nothing to roll back to: only the stable version is routed and no earlier version can serve.</summary>
    public const string NothingToRollBack = "nothing_to_roll_back";
    /// <summary>A rollout's candidate cannot be routed on its deployment (its stage, backend or upstream); <c>errors</c> or <c>field</c> say why.</summary>
    public const string CandidateNotRoutable = "candidate_not_routable";
    /// <summary>A rollout changed (the controller or another person acted on it) while a change to it was being made; nothing was changed.</summary>
    public const string RolloutChanged = "rollout_changed";
    public const string RolloutInProgress = "rollout_in_progress";
    /// <summary>A rollout action's routing change was refused (e.g. the stable version can no longer be served); nothing was changed.</summary>
    public const string RolloutRoutingRefused = "rollout_routing_refused";
    /// <summary>A rollout's pre-rollout hook did not agree (or could not be reached): the rollout did not start (409).</summary>
    public const string PreRolloutHookRefused = "pre_rollout_hook_refused";
    /// <summary>An action on a rollout that has ended (promoted, completed, rolled back, aborted) (409).</summary>
    public const string RolloutEnded = "rollout_ended";
    public const string RolloutNotFound = "rollout_not_found";
    /// <summary>A policy (or a model's risk tier) would drop below the risk tier's floor; <c>errors</c> names each weakened field, <c>change</c> the id the tier's authority approves (422).</summary>
    public const string PolicyBelowFloor = "policy_below_floor";
    /// <summary>The default policy must state every gate (400).</summary>
    public const string PolicyIncomplete = "policy_incomplete";
    /// <summary>A floor approval by someone who may not give it: not the tier's authority, or the requester of the change (403).</summary>
    public const string FloorApprovalRefused = "floor_approval_refused";
    /// <summary>No refused below-floor change with that id was requested for the model (404).</summary>
    public const string FloorChangeNotFound = "floor_change_not_found";
    /// <summary>A drift check of a version without a drift baseline.</summary>
    public const string DriftBaselineNotFound = "drift_baseline_not_found";
    /// <summary>A drift check over a window with too few sampled input rows to test.</summary>
    public const string NotEnoughSamples = "not_enough_samples";
}

/// <summary>A domain service's refusal as the HTTP layer will answer it: status, stable code, title and detail.</summary>
public sealed record Refusal(int Status, string Code, string Title, string? Detail = null);

public static class Problems
{
    /// <summary>A domain refusal as problem+json.</summary>
    public static ProblemHttpResult From(Refusal refusal) => Result(refusal.Status, refusal.Code, refusal.Title, refusal.Detail);

    public const string TypeBase = "https://modelgate.dev/problems/";

    public static ProblemDetails Create(int status, string code, string title, string? detail = null,
        IDictionary<string, object?>? extensions = null)
    {
        var problem = new ProblemDetails
        {
            Type = TypeBase + code.Replace('_', '-'),
            Title = title,
            Status = status,
            Detail = detail,
        };
        problem.Extensions["code"] = code;
        if (extensions is not null)
        {
            foreach (var (k, v) in extensions)
            {
                problem.Extensions[k] = v;
            }
        }
        return problem;
    }

    /// <summary>Gives a problem written without a code (by ASP.NET Core itself) the code of its status.</summary>
    public static void EnsureCode(ProblemDetails problem)
    {
        if (problem.Extensions.ContainsKey("code"))
        {
            return;
        }
        var code = problem.Status switch
        {
            StatusCodes.Status415UnsupportedMediaType => ProblemCodes.UnsupportedMediaType,
            StatusCodes.Status413PayloadTooLarge => ProblemCodes.BodyTooLarge,
            StatusCodes.Status401Unauthorized => ProblemCodes.Unauthenticated,
            StatusCodes.Status403Forbidden => ProblemCodes.Forbidden,
            StatusCodes.Status404NotFound => ProblemCodes.NotFound,
            StatusCodes.Status405MethodNotAllowed => ProblemCodes.MethodNotAllowed,
            >= 500 => ProblemCodes.Internal,
            _ => ProblemCodes.BadRequest,
        };
        problem.Extensions["code"] = code;
        problem.Type = TypeBase + code.Replace('_', '-');
    }

    public static ProblemHttpResult Result(int status, string code, string title, string? detail = null,
        IDictionary<string, object?>? extensions = null) =>
        TypedResults.Problem(Create(status, code, title, detail, extensions));

    public static ProblemHttpResult Validation(IDictionary<string, string[]> errors) =>
        Result(StatusCodes.Status400BadRequest, ProblemCodes.Validation, "The request is not valid.",
            string.Join("; ", errors.Select(e => $"{e.Key}: {string.Join(" ", e.Value)}")),
            new Dictionary<string, object?> { ["errors"] = errors });

    public static ProblemHttpResult Validation(string field, string message) =>
        Validation(new Dictionary<string, string[]> { [field] = [message] });

    public static ProblemHttpResult NotFound(string code, string detail) =>
        Result(StatusCodes.Status404NotFound, code, "Not found.", detail);

    public static ProblemHttpResult Conflict(string code, string detail, IDictionary<string, object?>? extensions = null) =>
        Result(StatusCodes.Status409Conflict, code, "Conflict.", detail, extensions);

    public static ProblemHttpResult Unprocessable(string code, string detail, IDictionary<string, object?>? extensions = null) =>
        Result(StatusCodes.Status422UnprocessableEntity, code, "The request refers to something that cannot be used.", detail, extensions);

    public static ProblemHttpResult TooLarge(long limit) =>
        Result(StatusCodes.Status413PayloadTooLarge, ProblemCodes.BodyTooLarge, "The request body is too large.",
            $"the limit for this endpoint is {limit} bytes", new Dictionary<string, object?> { ["limit"] = limit });
}

/// <summary>Collects field errors for a validation problem.</summary>
public sealed class ValidationErrors
{
    private readonly Dictionary<string, List<string>> _errors = [];

    public bool Any => _errors.Count > 0;

    public void Add(string field, string message)
    {
        if (!_errors.TryGetValue(field, out var list))
        {
            _errors[field] = list = [];
        }
        list.Add(message);
    }

    public IReadOnlyDictionary<string, string[]> ToDictionary() => _errors.ToDictionary(e => e.Key, e => e.Value.ToArray());

    public ProblemHttpResult ToProblem() => Problems.Validation(_errors.ToDictionary(e => e.Key, e => e.Value.ToArray()));
}
