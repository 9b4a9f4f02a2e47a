using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Storage;
using ModelGate.Storage.Security;

namespace ModelGate.Security;

public static class KeysApi
{
    public static IEndpointRouteBuilder MapKeysApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/keys").WithTags("Keys").RequireAuthorization(Permissions.KeysManage);
        api.MapPost("/", CreateKey).WithName(nameof(CreateKey));
        api.MapGet("/", ListKeys).WithName(nameof(ListKeys));
        api.MapDelete("/{id}", RevokeKey).WithName(nameof(RevokeKey));
        return app;
    }

    public static async Task<Results<Created<ApiKeyDto>, ProblemHttpResult>> CreateKey(CreateKeyRequest request, ClaimsPrincipal user,
        AuditedWrite write, TimeProvider time, ApiKeyService keys, CancellationToken cancellationToken)
    {
        var outcome = await KeyCommands.CreateAsync(write, keys, time, request, user, cancellationToken);
        return outcome is { Key: { } entity, Secret: { } secret }
            ? TypedResults.Created($"/api/v1/keys/{entity.Id}", ToDto(entity) with { Key = secret })
            : Problem(outcome);
    }

    public static async Task<Ok<List<ApiKeyDto>>> ListKeys(ModelGateDbContext db, CancellationToken cancellationToken) =>
        TypedResults.Ok((await KeyCommands.ListAsync(db, cancellationToken)).Select(ToDto).ToList());

    public static async Task<Results<Ok<ApiKeyDto>, ProblemHttpResult>> RevokeKey(string id, ClaimsPrincipal user, AuditedWrite write,
        ApiKeyService keys, CancellationToken cancellationToken)
    {
        var outcome = await KeyCommands.RevokeAsync(write, keys, id, user, cancellationToken);
        return outcome.Key is { } entity ? TypedResults.Ok(ToDto(entity)) : Problem(outcome);
    }

    private static ProblemHttpResult Problem(KeyOutcome outcome) => outcome switch
    {
        { Invalid: { } errors } => errors.ToProblem(),
        { Status: StatusCodes.Status404NotFound } => Problems.NotFound(outcome.Code!, outcome.Detail!),
        _ => Problems.Unprocessable(outcome.Code!, outcome.Detail!),
    };

    internal static ApiKeyDto ToDto(ApiKeyEntity k) =>
        new(k.Id, k.Name, k.Prefix, k.Roles.Split(' ', StringSplitOptions.RemoveEmptyEntries), k.CreatedAt, k.CreatedBy, k.ExpiresAt, k.RevokedAt, null,
            k.Deployments?.Split(' ', StringSplitOptions.RemoveEmptyEntries), k.RequestsPerMinute, k.AllowPinning, k.TokensPerMinute, k.CostBudget, k.PrincipalId);
}
