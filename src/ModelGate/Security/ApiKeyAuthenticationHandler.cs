using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using ModelGate.Errors;

namespace ModelGate.Security;

public sealed class ApiKeyAuthenticationHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger,
    UrlEncoder encoder, ApiKeyService keys) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    private const string FailureKey = "modelgate.auth.failure";
    private const string Missing = "an API key is required: send 'Authorization: Bearer <api key>'";
    private const string NotAKey = "this is not an API key (API keys start with 'mg_'): the data plane (/v1, /v2) takes API keys only; " +
        "OpenID Connect tokens are taken on the control plane (/api/v1) when single sign-on is configured";

    /// <summary>
    /// The one place a request's key is checked: the key, or why there is none (null when no key was sent). On success the
    /// key is in <c>HttpContext.Items</c>, where the data plane reads its scope and limits.
    /// </summary>
    public static async ValueTask<(AuthenticatedKey? Key, string? Failure)> AuthenticateAsync(HttpContext context, ApiKeyService keys)
    {
        string? header = context.Request.Headers.Authorization;
        if (string.IsNullOrEmpty(header))
        {
            return (null, null);
        }
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return (null, "the Authorization header must be 'Bearer <api key>'");
        }
        var secret = header["Bearer ".Length..].Trim();
        var key = await keys.ValidateAsync(secret, context.RequestAborted);
        if (key is null)
        {
            keys.NoteRefused(context.Connection.RemoteIpAddress);
            return (null, secret.StartsWith(ApiKeyService.KeyPrefix, StringComparison.Ordinal) ? "the API key is not valid: unknown, revoked or expired" : NotAKey);
        }
        context.Items[typeof(AuthenticatedKey)] = key;
        return (key, null);
    }

    /// <summary>401 with <c>WWW-Authenticate: Bearer</c> and a problem saying why.</summary>
    public static Task ChallengeAsync(HttpContext context, string? reason)
    {
        context.Response.Headers.WWWAuthenticate = "Bearer";
        return Problems.Result(StatusCodes.Status401Unauthorized, ProblemCodes.Unauthenticated, "Authentication required.", reason ?? Missing)
            .ExecuteAsync(context);
    }

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var (key, failure) = await AuthenticateAsync(Context, keys);
        if (key is not null)
        {
            return AuthenticateResult.Success(new AuthenticationTicket(key.Principal, SchemeName));
        }
        if (failure is null)
        {
            return AuthenticateResult.NoResult();
        }
        Context.Items[FailureKey] = failure;
        return AuthenticateResult.Fail(failure);
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties) => ChallengeAsync(Context, Context.Items[FailureKey] as string
        ?? (Context.RequestServices.GetRequiredService<IOptions<OidcOptions>>().Value.Enabled ? OidcAuthentication.Describe(null, null) : null));
}
