using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Storage;
using ModelGate.Storage.Security;

namespace ModelGate.Security;

/// <summary>
/// People and services, the principals keys act for, over HTTP: the rules (approving roles held by people only, granted as
/// an audited act nobody performs on themselves) live in <see cref="PrincipalCommands"/>; this maps their outcomes to
/// problem+json.
/// </summary>
public static class PrincipalsApi
{
    public static IEndpointRouteBuilder MapPrincipalsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/principals").WithTags("Principals").RequireAuthorization(Permissions.KeysManage);
        api.MapPost("/", CreatePrincipal).WithName(nameof(CreatePrincipal));
        api.MapGet("/", ListPrincipals).WithName(nameof(ListPrincipals));
        api.MapGet("/{id}", GetPrincipal).WithName(nameof(GetPrincipal));
        api.MapPatch("/{id}", UpdatePrincipal).WithName(nameof(UpdatePrincipal));
        return app;
    }

    public static async Task<Results<Created<PrincipalDto>, ProblemHttpResult>> CreatePrincipal(CreatePrincipalRequest request, ClaimsPrincipal user,
        AuditedWrite write, CancellationToken cancellationToken)
    {
        var outcome = await PrincipalCommands.CreateAsync(write, request, user, cancellationToken);
        return outcome.Principal is { } entity ? TypedResults.Created($"/api/v1/principals/{entity.Id}", ToDto(entity)) : Problem(outcome);
    }

    public static async Task<Ok<List<PrincipalDto>>> ListPrincipals(ModelGateDbContext db, CancellationToken cancellationToken) =>
        TypedResults.Ok((await PrincipalCommands.ListAsync(db, cancellationToken)).Select(p => ToDto(p)).ToList());

    /// <summary>A principal, by id or identity, with its keys.</summary>
    public static async Task<Results<Ok<PrincipalDto>, ProblemHttpResult>> GetPrincipal(string id, ModelGateDbContext db, CancellationToken cancellationToken) =>
        await PrincipalCommands.FindAsync(db, id, cancellationToken) is { } found
            ? TypedResults.Ok(ToDto(found.Principal, found.Keys))
            : Problem(PrincipalCommands.NotFound(id));

    /// <summary>
    /// Changes the display name, grants and removes roles, disables. An approving role goes to a person only, never from
    /// the principal to itself (403, audited as refused). Each change is one audit event.
    /// </summary>
    public static async Task<Results<Ok<PrincipalDto>, ProblemHttpResult>> UpdatePrincipal(string id, UpdatePrincipalRequest request, ClaimsPrincipal user,
        AuditedWrite write, ApiKeyService keys, CancellationToken cancellationToken)
    {
        var outcome = await PrincipalCommands.UpdateAsync(write, keys, id, request, user, cancellationToken);
        return outcome.Principal is { } entity ? TypedResults.Ok(ToDto(entity)) : Problem(outcome);
    }

    private static ProblemHttpResult Problem(PrincipalOutcome outcome) => outcome switch
    {
        { Invalid: { } errors } => errors.ToProblem(),
        { Status: StatusCodes.Status403Forbidden } => Problems.Result(StatusCodes.Status403Forbidden, outcome.Code!, "This grant is not allowed.", outcome.Detail),
        { Status: StatusCodes.Status404NotFound } => Problems.NotFound(outcome.Code!, outcome.Detail!),
        { Status: StatusCodes.Status409Conflict } => Problems.Conflict(outcome.Code!, outcome.Detail!),
        _ => Problems.Unprocessable(outcome.Code!, outcome.Detail!),
    };

    internal static PrincipalDto ToDto(PrincipalEntity p, IEnumerable<ApiKeyEntity>? keys = null) =>
        new(p.Id, p.Kind, p.Identity, p.DisplayName, PrincipalDirectory.RolesOf(p), p.Source, p.CreatedAt, p.CreatedBy, p.DisabledAt, p.DisabledBy,
            keys?.Select(KeysApi.ToDto).ToList());
}
