using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Security;

/// <summary>
/// Every route of the OpenAPI document (and of the REST API table) called without a key, with a revoked key, as each role
/// and with a key scoped to another deployment; the answer each caller should get comes from the role table in
/// docs/rest-api.md, parsed, not copied here.
/// </summary>
public abstract partial class AuthorizationMatrixTests(ServerFixture fixture) : ProviderTests(fixture)
{
    private enum Expected { Allowed, Unauthenticated, Forbidden, NotFound }

    /// <summary>A caller; <paramref name="Valid"/> is false for one whose key must be refused with 401 (revoked, expired, not a bearer token).</summary>
    private sealed record Caller(string Name, AuthenticationHeaderValue? Authorization, string? Role, bool Scoped, bool Valid = true);

    [Fact]
    public async Task RestApiTable_ListsEveryRouteOfTheOpenApiDocument()
    {
        var table = RestApiTable.Read();
        var missing = (await OpenApiRoutesAsync()).Where(r => !table.ContainsKey(r)).ToList();
        Assert.True(missing.Count == 0, $"docs/rest-api.md has no row for: {string.Join(", ", missing)}");
    }

    [Fact]
    public async Task EveryRoute_AnswersEachCaller_AsTheRestApiTableSays()
    {
        var table = RestApiTable.Read();
        var routes = (await OpenApiRoutesAsync()).Union(table.Keys).Where(table.ContainsKey).Order(StringComparer.Ordinal).ToList();
        var (values, callers) = await SetUpAsync();
        var failures = new List<string>();
        var calls = 0;
        using var client = Server.Client(token: null);
        foreach (var route in routes)
        {
            var rule = table[route];
            var method = route[..route.IndexOf(' ')];
            var path = ParameterPattern().Replace(route[(method.Length + 1)..], m => values.TryGetValue(m.Groups[1].Value, out var v)
                ? v : throw new InvalidOperationException($"{route}: no test value for {{{m.Groups[1].Value}}}; add one to SetUpAsync"));
            foreach (var caller in callers)
            {
                var expected = ExpectedFor(rule, caller, route);
                using var request = new HttpRequestMessage(new HttpMethod(method), path);
                request.Headers.Authorization = caller.Authorization;
                if (method is "POST" or "PUT" or "PATCH")
                {
                    request.Content = new StringContent("{}", Encoding.UTF8, "application/json");
                }
                using var response = await client.SendAsync(request);
                calls++;
                var status = (int)response.StatusCode;
                var body = await response.Content.ReadAsStringAsync();
                var problem = Describe(expected, method, status, response.Content.Headers.ContentType?.MediaType, body);
                if (problem is not null)
                {
                    failures.Add($"{route} as {caller.Name}: expected {expected}, got {status} {problem} {Shorten(body)}");
                }
            }
        }
        Assert.True(failures.Count == 0, $"{failures.Count} of {calls} calls answered otherwise than docs/rest-api.md says:\n{string.Join("\n", failures)}");
        Assert.True(calls >= routes.Count * callers.Count);
    }

    /// <summary>Null when the answer is what was expected; otherwise what is wrong with it.</summary>
    private static string? Describe(Expected expected, string method, int status, string? mediaType, string body)
    {
        if (status >= 500)
        {
            return "(a server error)";
        }
        if (expected == Expected.Allowed)
        {
            return status is 401 or 403 ? "(refused)" : null;
        }
        var (wantStatus, wantCode) = expected switch
        {
            Expected.Unauthenticated => (401, "unauthenticated"),
            Expected.NotFound => (404, "deployment_not_found"),
            _ => (403, "forbidden"),
        };
        if (status != wantStatus)
        {
            return "(wrong status)";
        }
        if (method == "HEAD")
        {
            return null;
        }
        if (mediaType != "application/problem+json")
        {
            return $"(not a problem: {mediaType})";
        }
        using var doc = JsonDocument.Parse(body);
        return doc.RootElement.TryGetProperty("code", out var code) && code.GetString() == wantCode ? null : "(wrong code)";
    }

    private static Expected ExpectedFor(TableRow rule, Caller caller, string route)
    {
        if (rule.Anonymous)
        {
            return Expected.Allowed;
        }
        if (caller.Authorization is null || !caller.Valid)
        {
            return Expected.Unauthenticated;
        }
        if (caller.Role is not null && !rule.AnyKey && !rule.Roles.Contains(caller.Role))
        {
            return Expected.Forbidden;
        }
        if (!caller.Scoped)
        {
            return Expected.Allowed;
        }
        return rule.Scoped switch
        {
            "yes" or "filtered" => Expected.Allowed,
            "no" => Expected.Forbidden,
            // The caller's scope is another deployment: invisible to a read, forbidden to an act.
            "own" when route.Contains("{name}", StringComparison.Ordinal) => route.StartsWith("GET ", StringComparison.Ordinal) || route.StartsWith("HEAD ", StringComparison.Ordinal)
                ? Expected.NotFound : Expected.Forbidden,
            _ => throw new InvalidOperationException($"{route}: scoped keys '{rule.Scoped}' is not one of own (with {{name}}), filtered, yes, no"),
        };
    }

    /// <summary>
    /// A model with a version, two deployments, an artifact, and 13 callers: no key, a revoked key, an expired key, a Basic
    /// header, each role, and a key with every role scoped to the deployment the calls do not name.
    /// </summary>
    private async Task<(Dictionary<string, string> Values, List<Caller> Callers)> SetUpAsync()
    {
        var api = Server.Api();
        var model = ServerFixture.UniqueName("authz");
        await api.CreateModelAsync(new CreateModelRequest(model, "o", "low", "llm-chat"));
        var sha = await Server.UploadAsync(Encoding.UTF8.GetBytes($"serving config {model}"));
        await api.CreateVersionAsync(model, new CreateVersionRequest("1.0.0", [new ArtifactRef(sha, "serving.json")],
            Fixtures.Attestation() with { Architecture = "upstream" }));
        var deployments = new[] { ServerFixture.UniqueName("authz-own"), ServerFixture.UniqueName("authz-other") };
        foreach (var name in deployments)
        {
            await api.CreateDeploymentAsync(new CreateDeploymentRequest(name, "development", model, new RoutingTable("1.0.0", Backend: "upstream",
                Upstreams: new Dictionary<string, UpstreamBackend> { ["1.0.0"] = new("http://127.0.0.1:9/v1", "stub", "sk-authz") })));
        }
        static AuthenticationHeaderValue Bearer(string? key) => new("Bearer", key);
        var callers = new List<Caller> { new("no key", null, null, false) };
        var revoked = await api.CreateKeyAsync(new CreateKeyRequest("authz revoked", [Roles.Admin]));
        await api.RevokeKeyAsync(revoked.Id);
        callers.Add(new("revoked key", Bearer(revoked.Key), Roles.Admin, false, Valid: false));
        var expiring = await api.CreateKeyAsync(new CreateKeyRequest("authz expired", [Roles.Admin], Server.Time.GetUtcNow().AddMinutes(1)));
        callers.Add(new("expired key", Bearer(expiring.Key), Roles.Admin, false, Valid: false));
        callers.Add(new("not a bearer token", new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("admin:admin"))), Roles.Admin,
            false, Valid: false));
        foreach (var role in Roles.All)
        {
            callers.Add(new(role, Bearer((await Server.CreateKeyAsync(new CreateKeyRequest($"authz {role}", [role]))).Key), role, false));
        }
        // Every role, so that only the scope can refuse it.
        var scoped = await Server.CreateKeyAsync(new CreateKeyRequest("authz scoped", Roles.All, Deployments: [deployments[0]]));
        callers.Add(new("key scoped to another deployment", Bearer(scoped.Key), null, true));
        Server.Time.Advance(TimeSpan.FromMinutes(2)); // the expiring key is now expired
        var values = new Dictionary<string, string>
        {
            ["model"] = model, ["version"] = "1.0.0", ["other"] = "1.0.0", ["name"] = deployments[1], ["sha256"] = sha, ["scope"] = "default", ["id"] = "000000000000",
        };
        return (values, callers);
    }

    private async Task<List<string>> OpenApiRoutesAsync()
    {
        using var doc = JsonDocument.Parse(await Server.Client(token: null).GetStringAsync("/openapi/v1.json"));
        var routes = new List<string>();
        foreach (var path in doc.RootElement.GetProperty("paths").EnumerateObject())
        {
            foreach (var operation in path.Value.EnumerateObject().Where(o => o.Name is "get" or "put" or "post" or "delete" or "head" or "patch"))
            {
                routes.Add($"{operation.Name.ToUpperInvariant()} {path.Name}");
            }
        }
        Assert.NotEmpty(routes);
        return routes;
    }

    private static string Shorten(string body) => body.Length <= 300 ? body : body[..300] + "…";

    [GeneratedRegex(@"\{([A-Za-z0-9_]+)\}")]
    private static partial Regex ParameterPattern();

    private sealed record TableRow(IReadOnlySet<string> Roles, bool AnyKey, bool Anonymous, string Scoped);

    /// <summary>The "Who may call what" table of docs/rest-api.md: one entry per <c>METHOD /path</c>.</summary>
    private static partial class RestApiTable
    {
        private const string Header = "| endpoints | roles | scoped keys | what |";

        public static Dictionary<string, TableRow> Read()
        {
            var lines = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "docs", "rest-api.md"));
            var start = Array.FindIndex(lines, l => l.Trim() == Header);
            Assert.True(start >= 0, $"docs/rest-api.md has no table headed '{Header}'");
            var rows = new Dictionary<string, TableRow>(StringComparer.Ordinal);
            foreach (var line in lines.Skip(start + 2).TakeWhile(l => l.StartsWith('|')))
            {
                var cells = CellSeparator().Split(line.Trim().Trim('|')).Select(c => c.Trim()).ToArray();
                Assert.True(cells.Length == 4, $"a row of the REST API table has {cells.Length} cells, not 4: {line}");
                var roles = cells[1] switch
                {
                    "any key" or "none" => (IReadOnlySet<string>)new HashSet<string>(),
                    var list => list.Split(',', StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal),
                };
                Assert.True(roles.All(Roles.All.Contains), $"unknown role in '{cells[1]}'");
                Assert.Contains(cells[2], new[] { "own", "filtered", "yes", "no" });
                var row = new TableRow(roles, cells[1] == "any key", cells[1] == "none", cells[2]);
                var endpoints = Endpoint().Matches(cells[0]);
                Assert.True(endpoints.Count > 0, $"no `METHOD /path` in '{cells[0]}'");
                foreach (Match endpoint in endpoints)
                {
                    Assert.True(rows.TryAdd(endpoint.Groups[1].Value + " " + endpoint.Groups[2].Value, row), $"{endpoint.Value} is in two rows");
                }
            }
            return rows;
        }

        [GeneratedRegex(@"(?<!\\)\|")]
        private static partial Regex CellSeparator();

        [GeneratedRegex(@"`(GET|PUT|POST|DELETE|HEAD|PATCH) (/[^`\s]*)`")]
        private static partial Regex Endpoint();
    }
}

public sealed class AuthorizationMatrixTests_Sqlite(SqliteServerFixture fixture) : AuthorizationMatrixTests(fixture), IClassFixture<SqliteServerFixture>;

public sealed class AuthorizationMatrixTests_Postgres(PostgresServerFixture fixture) : AuthorizationMatrixTests(fixture), IClassFixture<PostgresServerFixture>;
