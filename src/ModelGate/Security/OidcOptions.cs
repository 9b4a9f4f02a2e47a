using System.Net;

namespace ModelGate.Security;

/// <summary>
/// Section <c>Oidc</c>: single sign-on with OpenID Connect bearer tokens on the control plane, off unless
/// <see cref="Issuer"/> is set. The identity provider's signing keys come from <see cref="JwksUri"/> (or from the discovery
/// document of <see cref="Authority"/>); that address is configured explicitly, so it is reached whatever the egress policy says.
/// </summary>
public sealed class OidcOptions
{
    public const string Section = "Oidc";

    /// <summary>The <c>iss</c> every token must carry, exactly. Unset: single sign-on is off and only API keys are accepted.</summary>
    public string? Issuer { get; set; }

    /// <summary>The <c>aud</c> a token must name (ModelGate's client id at the identity provider).</summary>
    public string? Audience { get; set; }

    /// <summary>Where the signing keys (a JSON Web Key Set) are read; https, or http to a loopback address only.</summary>
    public string? JwksUri { get; set; }

    /// <summary>
    /// Instead of <see cref="JwksUri"/>: the provider's base address, whose <c>/.well-known/openid-configuration</c> names the
    /// key set. <see cref="JwksUri"/> wins when both are set.
    /// </summary>
    public string? Authority { get; set; }

    /// <summary>The claim that names the person: their principal's identity (matched case-insensitively).</summary>
    public string PrincipalClaim { get; set; } = "email";

    /// <summary>
    /// The claim used when <see cref="PrincipalClaim"/> is absent from a token (<c>sub</c>: the provider's subject id);
    /// empty: such a token is refused.
    /// </summary>
    public string? FallbackPrincipalClaim { get; set; } = "sub";

    /// <summary>The claim whose values (a string or an array of strings) are looked up in <see cref="RoleMappings"/>.</summary>
    public string RolesClaim { get; set; } = "groups";

    /// <summary>
    /// Claim value → ModelGate roles, separated by spaces or commas (<c>"ml-leads": "ml-lead viewer"</c>); values are matched
    /// case-insensitively. A value not listed gives no role; the roles are the union over the token's values.
    /// </summary>
    public Dictionary<string, string> RoleMappings { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>How far a token's <c>exp</c> and <c>nbf</c> may be off the server's clock.</summary>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The signing algorithms accepted (asymmetric only: a shared secret would let anyone holding it mint tokens).</summary>
    public List<string> Algorithms { get; set; } = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"];

    /// <summary>How often the key set is read again; a token signed with a key id the set does not hold also makes it be read again (at most once per 5 minutes).</summary>
    public TimeSpan JwksRefreshInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How long a person's principal (id, roles, enabled) is trusted before the database is asked again.</summary>
    public TimeSpan PrincipalCacheDuration { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// When false, a token whose identity names no principal is refused (the bearer scheme: 401; the console: 403) instead of
    /// making a person principal for it: people must be created through the principals API first.
    /// </summary>
    public bool CreatePrincipals { get; set; } = true;

    // The console's sign-in (the authorization code flow with PKCE), on when an authorization and a token endpoint are known.

    /// <summary>ModelGate's client id at the provider, sent in the sign-in and expected as the id_token's audience; unset: <see cref="Audience"/>.</summary>
    public string? ClientId { get; set; }

    /// <summary>The client secret for the token endpoint (HTTP Basic); unset: a public client (PKCE alone).</summary>
    public string? ClientSecret { get; set; }

    /// <summary>Where the browser is sent to sign in; unset: from the discovery document of <see cref="Authority"/>.</summary>
    public string? AuthorizationEndpoint { get; set; }

    /// <summary>Where the code is exchanged for tokens; unset: from the discovery document of <see cref="Authority"/>.</summary>
    public string? TokenEndpoint { get; set; }

    /// <summary>Scopes asked for besides <c>openid email profile</c> (e.g. <c>groups</c>, for providers that release groups only on request).</summary>
    public List<string> ExtraScopes { get; set; } = [];

    /// <summary>
    /// The console's address as browsers reach it (<c>https://ml.example.com</c>, with a path prefix if a reverse proxy adds one):
    /// the redirect URI is this plus <c>/console/oidc/callback</c>. Unset: the request's scheme and host.
    /// </summary>
    public string? RedirectBaseUrl { get; set; }

    /// <summary>How long a started sign-in may take at the provider (the lifetime of its state cookie).</summary>
    public TimeSpan SignInTimeout { get; set; } = TimeSpan.FromMinutes(10);

    public bool Enabled => !string.IsNullOrWhiteSpace(Issuer);

    /// <summary>Whether the console offers single sign-on: configured, with both endpoints given or discoverable.</summary>
    public bool ConsoleSignIn => Enabled && (!string.IsNullOrWhiteSpace(Authority)
        || !string.IsNullOrWhiteSpace(AuthorizationEndpoint) && !string.IsNullOrWhiteSpace(TokenEndpoint));

    /// <summary>The client id the console signs in as (and the id_token's audience).</summary>
    public string EffectiveClientId => string.IsNullOrWhiteSpace(ClientId) ? Audience! : ClientId;

    /// <summary>The address the signing keys are read from, and whether it is a key set (else a discovery document).</summary>
    public (string Address, bool IsKeySet) KeySource => !string.IsNullOrWhiteSpace(JwksUri) ? (JwksUri!, true)
        : (Authority!.TrimEnd('/') + "/.well-known/openid-configuration", false);

    /// <summary>The roles the claim values map to, sorted, without duplicates.</summary>
    public string[] MapRoles(IEnumerable<string> claimValues)
    {
        var roles = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var value in claimValues)
        {
            // A scan, not a lookup: the binder may fill a dictionary of its own, whose comparer is case-sensitive.
            foreach (var (name, mapped) in RoleMappings)
            {
                if (string.Equals(name, value, StringComparison.OrdinalIgnoreCase))
                {
                    roles.UnionWith(SplitRoles(mapped));
                }
            }
        }
        return [.. roles];
    }

    public static string[] SplitRoles(string roles) => roles.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>Why the section is not usable, or null.</summary>
    public string? Problem()
    {
        if (!Enabled)
        {
            return null;
        }
        if (string.IsNullOrWhiteSpace(Audience))
        {
            return "Oidc:Audience is required when Oidc:Issuer is set";
        }
        if (string.IsNullOrWhiteSpace(JwksUri) && string.IsNullOrWhiteSpace(Authority))
        {
            return "Oidc:JwksUri (or Oidc:Authority, to discover it) is required when Oidc:Issuer is set";
        }
        foreach (var (name, value) in new[] { ("JwksUri", JwksUri), ("Authority", Authority), ("AuthorizationEndpoint", AuthorizationEndpoint), ("TokenEndpoint", TokenEndpoint) })
        {
            if (!string.IsNullOrWhiteSpace(value) && !IsAllowedAddress(value))
            {
                return $"Oidc:{name} must be an absolute https URL (http only to a loopback address): '{value}'";
            }
        }
        if (string.IsNullOrWhiteSpace(Authority) && string.IsNullOrWhiteSpace(AuthorizationEndpoint) != string.IsNullOrWhiteSpace(TokenEndpoint))
        {
            return "Oidc:AuthorizationEndpoint and Oidc:TokenEndpoint go together (or set Oidc:Authority to discover the missing one)";
        }
        if (!string.IsNullOrWhiteSpace(RedirectBaseUrl) && !(Uri.TryCreate(RedirectBaseUrl, UriKind.Absolute, out var redirect)
            && (redirect.Scheme == Uri.UriSchemeHttps || redirect.Scheme == Uri.UriSchemeHttp) && string.IsNullOrEmpty(redirect.Query) && string.IsNullOrEmpty(redirect.Fragment)))
        {
            return $"Oidc:RedirectBaseUrl must be an absolute http(s) URL without query or fragment: '{RedirectBaseUrl}'";
        }
        if (ExtraScopes.FirstOrDefault(s => string.IsNullOrWhiteSpace(s) || s.Any(c => char.IsWhiteSpace(c) || c is '"' or '\\' || char.IsControl(c))) is { } scope)
        {
            return $"Oidc:ExtraScopes holds '{scope}', which is not a scope (one word each)";
        }
        if (SignInTimeout < TimeSpan.FromMinutes(1) || SignInTimeout > TimeSpan.FromHours(1))
        {
            return "Oidc:SignInTimeout must be between 1 minute and 1 hour";
        }
        if (string.IsNullOrWhiteSpace(PrincipalClaim) || string.IsNullOrWhiteSpace(RolesClaim))
        {
            return "Oidc:PrincipalClaim and Oidc:RolesClaim must not be empty";
        }
        foreach (var (value, roles) in RoleMappings)
        {
            if (SplitRoles(roles).FirstOrDefault(r => !Client.Roles.All.Contains(r)) is { } unknown)
            {
                return $"Oidc:RoleMappings:{value} names '{unknown}', which is not a role ({string.Join(", ", Client.Roles.All)})";
            }
        }
        if (ClockSkew < TimeSpan.Zero || ClockSkew > TimeSpan.FromMinutes(5))
        {
            return "Oidc:ClockSkew must be between 0 and 5 minutes";
        }
        if (Algorithms.Count == 0 || Algorithms.Any(a => a.StartsWith("HS", StringComparison.OrdinalIgnoreCase) || a.Equals("none", StringComparison.OrdinalIgnoreCase)))
        {
            return "Oidc:Algorithms must list asymmetric algorithms only (RS*, PS*, ES*)";
        }
        if (JwksRefreshInterval < TimeSpan.FromMinutes(5) || PrincipalCacheDuration < TimeSpan.Zero)
        {
            return "Oidc:JwksRefreshInterval must be at least 5 minutes and Oidc:PrincipalCacheDuration must not be negative";
        }
        return null;
    }

    /// <summary>https anywhere; http only to a loopback address (a provider on the same host, or the tests' stand-in).</summary>
    public static bool IsAllowedAddress(string address) =>
        Uri.TryCreate(address, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttps
            || uri.Scheme == Uri.UriSchemeHttp && (uri.IsLoopback || IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip)));

    public static bool IsLoopback(string address) => Uri.TryCreate(address, UriKind.Absolute, out var uri) && uri.IsLoopback;
}
