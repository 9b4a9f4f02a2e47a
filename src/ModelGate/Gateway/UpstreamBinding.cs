using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Security;

namespace ModelGate.Gateway;

/// <summary>What became of one upstream in a routing change: the entry to store (its key encrypted), or why it was refused.</summary>
/// <param name="Status">400 for a malformed URL, 422 for a URL the egress policy refuses or a moved URL without a key decision.</param>
public readonly record struct UpstreamBound(UpstreamBackend? Stored, int Status = 0, string? Code = null, string? Field = null, string? Detail = null);

/// <summary>
/// The one rule for an upstream and its secret, wherever a deployment's upstreams are created or changed (deployment
/// creation, routing changes, rollouts): the URL is an http(s) URL without user-info that the egress policy accepts, and
/// the stored API key stays with the URL it was given for. A change of scheme, host, port or path must carry a new key
/// or drop it (<c>"apiKey": null</c>); otherwise the change is refused, so that a key is never sent to a host its owner
/// did not give it for.
/// </summary>
public sealed class UpstreamBinding(SecretProtector secrets, EgressPolicy egress)
{
    public UpstreamBound Bind(string field, UpstreamBackend given, UpstreamBackend? stored)
    {
        if (!Uri.TryCreate(given.Url, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
        {
            return new(null, StatusCodes.Status400BadRequest, ProblemCodes.Validation, field + ".url", $"'{Shown(given.Url)}' is not an http(s) URL");
        }
        if (url.UserInfo.Length > 0)
        {
            return new(null, StatusCodes.Status400BadRequest, ProblemCodes.Validation, field + ".url",
                $"credentials in the URL (user:password@) are not accepted; give the key as apiKey");
        }
        if (egress.CheckUrl(url) is { } refused)
        {
            return new(null, StatusCodes.Status422UnprocessableEntity, ProblemCodes.EgressDenied, field + ".url", $"{field}.url: {refused}");
        }
        string? key;
        if (given.ApiKey is { Length: > 0 } plain)
        {
            key = secrets.Protect(plain);
        }
        else if (given.ApiKeyGiven && given.ApiKey is null)
        {
            key = null; // dropped on purpose
        }
        else if (stored?.ApiKey is not { } kept)
        {
            key = null;
        }
        else if (SameTarget(stored.Url, url))
        {
            key = kept;
        }
        else
        {
            return new(null, StatusCodes.Status422UnprocessableEntity, ProblemCodes.UpstreamKeyRequired, field,
                $"{field}: the URL moved from {Shown(stored.Url)} to {Shown(given.Url)}, and the stored API key stays with the URL it was given for: " +
                "give the new upstream's key as apiKey, or \"apiKey\": null to send none");
        }
        return new(given with { ApiKey = key, HasApiKey = key is not null });
    }

    /// <summary>The same scheme, host, port and path (a trailing slash aside): where a stored key may still be sent.</summary>
    public static bool SameTarget(string storedUrl, Uri url) =>
        Uri.TryCreate(storedUrl, UriKind.Absolute, out var was) &&
        string.Equals(was.Scheme, url.Scheme, StringComparison.OrdinalIgnoreCase) &&
        string.Equals(was.IdnHost, url.IdnHost, StringComparison.OrdinalIgnoreCase) &&
        was.Port == url.Port &&
        string.Equals(was.AbsolutePath.TrimEnd('/'), url.AbsolutePath.TrimEnd('/'), StringComparison.Ordinal);

    /// <summary>A URL as it may be shown (in answers, errors and the audit log): never its user-info.</summary>
    public static string Shown(string url, bool hideQuerySecrets = false)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri))
        {
            return url.Length > 200 ? url[..200] + "…" : url;
        }
        if (uri.UserInfo.Length == 0 && (!hideQuerySecrets || uri.Query.Length == 0))
        {
            return url;
        }
        var builder = new UriBuilder(uri) { UserName = "", Password = "" };
        if (hideQuerySecrets && uri.Query.Length > 1)
        {
            builder.Query = string.Join('&', uri.Query[1..].Split('&').Select(p =>
            {
                var eq = p.IndexOf('=');
                var name = eq < 0 ? p : p[..eq];
                return eq >= 0 && LooksSecret(Uri.UnescapeDataString(name)) ? name + "=redacted" : p;
            }));
        }
        return builder.Uri.ToString();
    }

    private static readonly string[] SecretWords = ["key", "token", "secret", "password", "passwd", "pwd", "auth", "sig", "signature", "credential", "session"];

    private static bool LooksSecret(string name) => SecretWords.Any(w => name.Contains(w, StringComparison.OrdinalIgnoreCase));
}
