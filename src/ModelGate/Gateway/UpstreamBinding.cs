using ModelGate.Client;
using ModelGate.Errors;
using ModelGate.Security;

namespace ModelGate.Gateway;

/// <summary>What became of one upstream in a routing change: the entry to store (its key encrypted), or why it was refused.</summary>
/// <param name="Status">400 for a malformed URL, 422 for a URL the egress policy refuses or a moved URL without a key decision.</param>
public readonly record struct UpstreamBound(UpstreamBackend? Stored, int Status = 0, string? Code = null, string? Field = null, string? Detail = null);

/// <summary>
/// The one rule for an upstream and its secrets, wherever a deployment's upstreams are created or changed (deployment
/// creation, routing changes, rollouts): every URL (the upstream's, or each of its endpoints' and fallbacks') is an
/// http(s) URL without user-info that the egress policy accepts, and each stored API key stays with the URL it was given
/// for. A change of scheme, host, port or path must carry a new key or drop it (<c>"apiKey": null</c>); otherwise the
/// change is refused, so that a key is never sent to a host its owner did not give it for.
/// </summary>
/// <remarks>
/// An endpoint given without <c>apiKey</c> keeps the stored key of the stored endpoint at the same target (wherever it was
/// listed); with none there, it is refused if the stored endpoint in its place (same list, same position; a single
/// <c>url</c> is the first primary endpoint) had a key — it moved — and has no key otherwise.
/// </remarks>
public sealed class UpstreamBinding(SecretProtector secrets, EgressPolicy egress)
{
    /// <summary>The most endpoints in each of an upstream's lists (<c>endpoints</c>, <c>fallbacks</c>).</summary>
    public const int MaxEndpoints = 8;

    /// <summary>The largest weight of an endpoint (weights are relative: 1 and 3 split the load 25/75).</summary>
    public const double MaxWeight = 1000;

    /// <summary>The names of an upstream's two lists of endpoints, as its fields and telemetry name them.</summary>
    public const string Primary = "endpoints", Fallback = "fallbacks";

    public UpstreamBound Bind(string field, UpstreamBackend given, UpstreamBackend? stored)
    {
        if (Malformed(field, given) is { } malformed)
        {
            return malformed;
        }
        var targets = new List<(string Field, Uri Url)>();
        foreach (var (list, index, endpoint) in Listed(given))
        {
            var at = EndpointField(field, given, list, index);
            if (!Uri.TryCreate(endpoint.Url, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
            {
                return new(null, StatusCodes.Status400BadRequest, ProblemCodes.Validation, at + ".url", $"'{Shown(endpoint.Url ?? "")}' is not an http(s) URL");
            }
            if (url.UserInfo.Length > 0)
            {
                return new(null, StatusCodes.Status400BadRequest, ProblemCodes.Validation, at + ".url",
                    $"credentials in the URL (user:password@) are not accepted; give the key as apiKey");
            }
            if (targets.FirstOrDefault(t => SameTarget(t.Url.OriginalString, url)) is { Field: { } first })
            {
                return new(null, StatusCodes.Status400BadRequest, ProblemCodes.Validation, at + ".url",
                    $"'{Shown(endpoint.Url!)}' is listed twice (as {first}.url too): each endpoint has a URL of its own");
            }
            targets.Add((at, url));
        }
        var keys = new string?[targets.Count];
        var i = 0;
        foreach (var (list, index, endpoint) in Listed(given))
        {
            var (at, url) = targets[i];
            if (egress.CheckUrl(url) is { } refused)
            {
                return new(null, StatusCodes.Status422UnprocessableEntity, ProblemCodes.EgressDenied, at + ".url", $"{at}.url: {refused}");
            }
            string? key;
            if (endpoint.ApiKey is { Length: > 0 } plain)
            {
                key = secrets.Protect(plain);
            }
            else if (endpoint.ApiKeyGiven && endpoint.ApiKey is null)
            {
                key = null; // dropped on purpose
            }
            else if (stored is null)
            {
                key = null;
            }
            else if (Listed(stored).FirstOrDefault(s => SameTarget(s.Endpoint.Url ?? "", url)) is { Endpoint: { } same })
            {
                key = same.ApiKey;
            }
            else if (Listed(stored).FirstOrDefault(s => s.List == list && s.Index == index) is { Endpoint: { ApiKey: not null } moved })
            {
                return new(null, StatusCodes.Status422UnprocessableEntity, ProblemCodes.UpstreamKeyRequired, at,
                    $"{at}: the URL moved from {Shown(moved.Url!)} to {Shown(endpoint.Url!)}, and the stored API key stays with the URL it was given for: " +
                    "give the new upstream's key as apiKey, or \"apiKey\": null to send none");
            }
            else
            {
                key = null;
            }
            keys[i++] = key;
        }
        if (given.Endpoints is null)
        {
            return new(given with
            {
                ApiKey = keys[0],
                HasApiKey = keys[0] is not null,
                Fallbacks = Bound(given.Fallbacks, keys, 1),
            });
        }
        return new(given with
        {
            Endpoints = Bound(given.Endpoints, keys, 0),
            Fallbacks = Bound(given.Fallbacks, keys, given.Endpoints.Count),
            HasApiKey = false,
        });
    }

    /// <summary>
    /// An upstream's endpoints as the data plane tries them: the primary ones (its one <c>url</c>, or its <c>endpoints</c>),
    /// then its fallbacks, each with the list it is in and its position there.
    /// </summary>
    public static IEnumerable<(string List, int Index, UpstreamEndpoint Endpoint)> Listed(UpstreamBackend upstream)
    {
        if (upstream.Endpoints is null)
        {
            yield return (Primary, 0, new UpstreamEndpoint(upstream.Url!, upstream.Model, upstream.ApiKey, upstream.HasApiKey) { ApiKeyGiven = upstream.ApiKeyGiven });
        }
        else
        {
            for (var i = 0; i < upstream.Endpoints.Count; i++)
            {
                yield return (Primary, i, upstream.Endpoints[i]);
            }
        }
        for (var i = 0; i < (upstream.Fallbacks?.Count ?? 0); i++)
        {
            yield return (Fallback, i, upstream.Fallbacks![i]);
        }
    }

    private static IReadOnlyList<UpstreamEndpoint>? Bound(IReadOnlyList<UpstreamEndpoint>? given, string?[] keys, int offset) =>
        given is null or { Count: 0 } ? null : given.Select((e, i) => e with { ApiKey = keys[offset + i], HasApiKey = keys[offset + i] is not null }).ToList();

    private static string EndpointField(string field, UpstreamBackend upstream, string list, int index) =>
        list == Primary && upstream.Endpoints is null ? field : $"{field}.{list}[{index}]";

    /// <summary>The shape of the upstream: one URL or endpoints, list sizes, weights, model names.</summary>
    private static UpstreamBound? Malformed(string field, UpstreamBackend given)
    {
        static UpstreamBound Bad(string field, string detail) => new(null, StatusCodes.Status400BadRequest, ProblemCodes.Validation, field, detail);
        if (given.Endpoints is { } endpoints)
        {
            if (given.Url is not null)
            {
                return Bad(field + ".url", "give either url (one endpoint) or endpoints (several), not both");
            }
            if (given.ApiKey is not null)
            {
                return Bad(field + ".apiKey", "with endpoints, each endpoint carries its own apiKey");
            }
            if (endpoints.Count == 0)
            {
                return Bad(field + ".endpoints", "at least one endpoint (or a url instead)");
            }
        }
        else if (given.Url is null)
        {
            return Bad(field + ".url", "an upstream needs a url (or endpoints)");
        }
        foreach (var (list, items) in new[] { (Primary, given.Endpoints), (Fallback, given.Fallbacks) })
        {
            if (items is null)
            {
                continue;
            }
            if (items.Count > MaxEndpoints)
            {
                return Bad($"{field}.{list}", $"{items.Count} endpoints; at most {MaxEndpoints}");
            }
            for (var i = 0; i < items.Count; i++)
            {
                var at = $"{field}.{list}[{i}]";
                if (items[i] is not { } endpoint)
                {
                    return Bad(at, "an endpoint is {url, model?, apiKey?, weight?}");
                }
                if (endpoint.Url is null)
                {
                    return Bad(at + ".url", "an endpoint needs a url");
                }
                if (endpoint.Model is { } model && string.IsNullOrWhiteSpace(model))
                {
                    return Bad(at + ".model", "a model name, or leave it out for the upstream's");
                }
                if (list == Fallback && endpoint.Weight is not null)
                {
                    return Bad(at + ".weight", "fallbacks are tried in order and take no weight");
                }
                if (endpoint.Weight is { } weight && !(weight > 0 && weight <= MaxWeight))
                {
                    return Bad(at + ".weight", $"a weight is a number above 0 and at most {MaxWeight} (relative to the other endpoints')");
                }
            }
        }
        return null;
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
