using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelGate.Client;
using ModelGate.Evaluation.Datasets;

namespace ModelGate.Cli;

internal static class DeploymentCommands
{
    public static Command Deployment(CliContext context)
    {
        var deployment = new Command("deployment", "Create, list, show deployments and change their routing");

        var name = new Argument<string>("name") { Description = "Deployment name (lower-case slug)" };
        var environment = new Option<string>("--environment") { Description = "development, staging or production", DefaultValueFactory = _ => "development" };
        environment.AcceptOnlyFromAmong([.. DeploymentEnvironments.All]);
        var model = new Option<string>("--model") { Description = "The model whose versions it serves", Required = true };
        var (stable, candidates, sticky) = RoutingOptions();
        var backend = new Option<string>("--backend")
        {
            Description = "onnx (each version's ONNX artifact, in-process) or upstream (an OpenAI-compatible API per version; give the stable version's with --upstream-url and --upstream-model, a candidate's with set-upstream before routing to it)",
            DefaultValueFactory = _ => "onnx",
        };
        backend.AcceptOnlyFromAmong("onnx", "upstream");
        var upstream = new UpstreamOptions(required: false);
        var create = new Command("create", "Create a deployment") { name, environment, model, stable, candidates, sticky, backend };
        upstream.AddTo(create);
        create.SetAction((parse, ct) =>
        {
            var routing = Routing(parse, stable, candidates, sticky);
            if (routing is null)
            {
                context.Err.WriteLine("error: --candidate is VERSION=WEIGHT, e.g. 1.1.0=10");
                return Task.FromResult(ExitCodes.Usage);
            }
            if (parse.GetValue(backend) == "upstream")
            {
                if (!upstream.TryRead(context, parse, out var stableUpstream, out var failure))
                {
                    context.Err.WriteLine(failure);
                    return Task.FromResult(ExitCodes.Usage);
                }
                if (stableUpstream is null)
                {
                    context.Err.WriteLine("error: an upstream deployment needs the stable version's upstream: --upstream-model and --upstream-url (or --upstream-endpoint)");
                    return Task.FromResult(ExitCodes.Usage);
                }
                routing = routing with { Backend = "upstream", Upstreams = new Dictionary<string, UpstreamBackend> { [routing.Stable] = stableUpstream } };
            }
            else if (upstream.Given(parse))
            {
                context.Err.WriteLine("error: --upstream-* options are for --backend upstream");
                return Task.FromResult(ExitCodes.Usage);
            }
            return CliApp.Call(context, parse, async (client, c) =>
            {
                await Write(context, parse, await client.CreateDeploymentAsync(
                    new CreateDeploymentRequest(parse.GetValue(name)!, parse.GetValue(environment)!, parse.GetValue(model)!, routing), c));
                return ExitCodes.Ok;
            }, ct);
        });
        deployment.Subcommands.Add(create);

        var list = new Command("list", "List deployments");
        list.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            var items = await client.ListDeploymentsAsync(c);
            if (CliApp.Json(parse))
            {
                await CliApp.WriteJsonAsync(context, items);
            }
            else
            {
                CliApp.WriteTable(context.Out, ["NAME", "ENVIRONMENT", "MODEL", "STABLE", "CANDIDATES", "REVISION"], items.Select(d => new[]
                {
                    d.Name, d.Environment, d.Model, d.Routing.Stable, Candidates(d.Routing), d.Revision.ToString(CultureInfo.InvariantCulture),
                }));
            }
            return ExitCodes.Ok;
        }, ct));
        deployment.Subcommands.Add(list);

        var showName = new Argument<string>("name") { Description = "Deployment name" };
        var show = new Command("show", "Show a deployment and its routing table") { showName };
        show.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            await Write(context, parse, await client.GetDeploymentAsync(parse.GetValue(showName)!, c));
            return ExitCodes.Ok;
        }, ct));
        deployment.Subcommands.Add(show);

        var routeName = new Argument<string>("name") { Description = "Deployment name" };
        var (routeStable, routeCandidates, routeSticky) = RoutingOptions();
        var setRoute = new Command("set-route", "Replace the traffic split (stable, candidates, stickiness; the backend and upstreams stay); takes effect atomically, within a second everywhere")
        {
            routeName, routeStable, routeCandidates, routeSticky,
        };
        setRoute.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            var routing = Routing(parse, routeStable, routeCandidates, routeSticky);
            if (routing is null)
            {
                await context.Err.WriteLineAsync("error: --candidate is VERSION=WEIGHT, e.g. 1.1.0=10");
                return ExitCodes.Usage;
            }
            // The table's traffic is replaced; how versions are reached is the deployment's: its backend and every version's
            // upstream are kept (sent back without keys, so each stored key stays bound to its URL).
            var current = (await client.GetDeploymentAsync(parse.GetValue(routeName)!, c)).Routing;
            if (RedactedUpstream(current, null) is { } hidden)
            {
                await context.Err.WriteLineAsync(hidden);
                return ExitCodes.Refused;
            }
            routing = routing with { Backend = current.Backend, Upstreams = current.Upstreams };
            await Write(context, parse, await client.SetRoutingAsync(parse.GetValue(routeName)!, routing, c));
            return ExitCodes.Ok;
        }, ct));
        deployment.Subcommands.Add(setRoute);
        deployment.Subcommands.Add(SetUpstream(context));
        return deployment;
    }

    /// <summary>
    /// <c>deployment set-upstream NAME VERSION --upstream-url --upstream-model …</c>: reads the routing table, replaces the one
    /// version's upstream entry (URL, model, key, timeouts, retries, prices) and writes the table back; other entries keep their
    /// stored keys.
    /// </summary>
    private static Command SetUpstream(CliContext context)
    {
        var name = new Argument<string>("name") { Description = "Deployment name (an upstream deployment)" };
        var version = new Argument<string>("version") { Description = "The version this upstream serves" };
        var upstream = new UpstreamOptions(required: true);
        var command = new Command("set-upstream", "Set the upstream (URL, model, key, prices, timeouts) that serves one version of an upstream deployment")
        {
            name, version,
        };
        upstream.AddTo(command);
        command.SetAction((parse, ct) =>
        {
            if (!upstream.TryRead(context, parse, out var backend, out var failure))
            {
                context.Err.WriteLine(failure);
                return Task.FromResult(ExitCodes.Usage);
            }
            return CliApp.Call(context, parse, async (client, c) =>
            {
                var current = await client.GetDeploymentAsync(parse.GetValue(name)!, c);
                if (RedactedUpstream(current.Routing, parse.GetValue(version)!) is { } hidden)
                {
                    await context.Err.WriteLineAsync(hidden);
                    return ExitCodes.Refused;
                }
                var upstreams = new Dictionary<string, UpstreamBackend>(current.Routing.Upstreams ?? new Dictionary<string, UpstreamBackend>(), StringComparer.Ordinal)
                {
                    [parse.GetValue(version)!] = backend!,
                };
                await Write(context, parse, await client.SetRoutingAsync(current.Name, current.Routing with { Upstreams = upstreams }, c));
                return ExitCodes.Ok;
            }, ct);
        });
        return command;
    }

    /// <summary>
    /// The options that describe one version's upstream, shared by <c>deployment create --backend upstream</c> (the stable
    /// version's) and <c>deployment set-upstream</c>. Without <c>--api-key-env</c> or <c>--drop-api-key</c> the stored key is
    /// kept while the URL stays the same (the server refuses a moved URL without a key decision).
    /// </summary>
    private sealed class UpstreamOptions(bool required)
    {
        // set-upstream (where the upstream is all there is) also answers to --url and --model; create has a --model of its own.
        private readonly Option<string?> _url = required
            ? new("--upstream-url", "--url") { Description = "The OpenAI-compatible API base (…/v1); or give --upstream-endpoint (repeatable) instead" }
            : new("--upstream-url") { Description = "The stable version's OpenAI-compatible API base (…/v1); or give --upstream-endpoint (repeatable) instead" };
        private readonly Option<string?> _model = required
            ? new("--upstream-model", "--model") { Description = "The upstream's model name (the default of endpoints that name none)", Required = true }
            : new("--upstream-model") { Description = "The stable version's model name at the upstream (the default of endpoints that name none)" };
        private readonly Option<string[]> _endpoints = new("--upstream-endpoint")
        {
            Description = "URL[,weight=W][,model=M][,api-key-env=VAR|,no-api-key]: one of several endpoints sharing the load by weight (default 1; repeatable, instead of --upstream-url)",
        };
        private readonly Option<string[]> _fallbacks = new("--upstream-fallback")
        {
            Description = "URL[,model=M][,api-key-env=VAR|,no-api-key]: an endpoint tried when no primary endpoint answered (repeatable; tried in the order given)",
        };
        private readonly Option<string?> _keyEnv = new("--api-key-env") { Description = "Name of the environment variable holding the upstream's API key (stored encrypted, never shown)" };
        private readonly Option<bool> _dropKey = new("--drop-api-key") { Description = "Send no API key to this upstream any more (the stored one is deleted)" };
        private readonly Option<double?> _inputPrice = new("--input-price") { Description = "Price per 1,000 prompt tokens" };
        private readonly Option<double?> _outputPrice = new("--output-price") { Description = "Price per 1,000 completion tokens" };
        private readonly Option<double?> _firstByte = new("--first-byte-timeout") { Description = "Seconds to wait for the first byte [default 60]" };
        private readonly Option<double?> _idle = new("--idle-timeout") { Description = "Seconds of silence in a stream before it is cut [default 60]" };
        private readonly Option<int?> _retries = new("--retries") { Description = "Retries of a failed attempt (on another endpoint when there is one) [default 1]" };

        public void AddTo(Command command)
        {
            foreach (var option in new Option[] { _url, _model, _endpoints, _fallbacks, _keyEnv, _dropKey, _inputPrice, _outputPrice, _firstByte, _idle, _retries })
            {
                command.Options.Add(option);
            }
        }

        public bool Given(ParseResult parse) =>
            parse.GetValue(_url) is not null || parse.GetValue(_model) is not null || parse.GetValue(_keyEnv) is not null || parse.GetValue(_dropKey)
            || parse.GetValue(_inputPrice) is not null || parse.GetValue(_outputPrice) is not null || parse.GetValue(_firstByte) is not null
            || parse.GetValue(_idle) is not null || parse.GetValue(_retries) is not null
            || parse.GetValue(_endpoints) is { Length: > 0 } || parse.GetValue(_fallbacks) is { Length: > 0 };

        /// <summary>The upstream given (null when nothing of it was), or why the options do not make one.</summary>
        public bool TryRead(CliContext context, ParseResult parse, out UpstreamBackend? backend, out string? failure)
        {
            backend = null;
            failure = null;
            var (url, model) = (parse.GetValue(_url), parse.GetValue(_model));
            var (endpointSpecs, fallbackSpecs) = (parse.GetValue(_endpoints) ?? [], parse.GetValue(_fallbacks) ?? []);
            if (!Given(parse))
            {
                return true;
            }
            if (url is not null && endpointSpecs.Length > 0)
            {
                failure = "error: give either --upstream-url (one endpoint) or --upstream-endpoint (several), not both";
                return false;
            }
            if (url is null && endpointSpecs.Length == 0 || model is null)
            {
                failure = "error: an upstream needs --upstream-model and either --upstream-url or --upstream-endpoint";
                return false;
            }
            if (endpointSpecs.Length > 0 && (parse.GetValue(_keyEnv) is not null || parse.GetValue(_dropKey)))
            {
                failure = "error: with --upstream-endpoint, each endpoint carries its key: URL,api-key-env=VAR (or URL,no-api-key)";
                return false;
            }
            if (parse.GetValue(_dropKey) && parse.GetValue(_keyEnv) is not null)
            {
                failure = "error: --api-key-env and --drop-api-key contradict each other";
                return false;
            }
            string? key = null;
            if (parse.GetValue(_keyEnv) is { } env && (key = context.Environment(env)) is null)
            {
                failure = $"error: the environment variable {env} is not set";
                return false;
            }
            var endpoints = new List<UpstreamEndpoint>();
            var fallbacks = new List<UpstreamEndpoint>();
            foreach (var (specs, list, weighted) in new[] { (endpointSpecs, endpoints, true), (fallbackSpecs, fallbacks, false) })
            {
                foreach (var spec in specs)
                {
                    if (!TryEndpoint(context, spec, weighted, out var endpoint, out failure))
                    {
                        return false;
                    }
                    list.Add(endpoint!);
                }
            }
            var defaults = new UpstreamBackend("", "");
            backend = new UpstreamBackend(url, model, null, false,
                parse.GetValue(_firstByte) ?? defaults.FirstByteTimeoutSeconds, parse.GetValue(_idle) ?? defaults.IdleTimeoutSeconds,
                parse.GetValue(_retries) ?? defaults.Retries, parse.GetValue(_inputPrice), parse.GetValue(_outputPrice),
                endpoints.Count > 0 ? endpoints : null, fallbacks.Count > 0 ? fallbacks : null);
            backend = key is not null ? backend with { ApiKey = key }
                : parse.GetValue(_dropKey) ? backend with { ApiKey = null }
                : backend;
            return true;
        }

        /// <summary>
        /// <c>URL[,weight=W][,model=M][,api-key-env=VAR|,no-api-key]</c>: an endpoint (its key read from the environment;
        /// without either key option, the stored key is kept while the URL stays).
        /// </summary>
        private static bool TryEndpoint(CliContext context, string spec, bool weighted, out UpstreamEndpoint? endpoint, out string? failure)
        {
            endpoint = null;
            failure = null;
            var parts = spec.Split(',');
            var result = new UpstreamEndpoint(parts[0].Trim());
            foreach (var part in parts.Skip(1))
            {
                var (name, value) = part.IndexOf('=') is var eq and >= 0 ? (part[..eq].Trim(), part[(eq + 1)..].Trim()) : (part.Trim(), null);
                switch (name)
                {
                    case "weight" when weighted && double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var weight):
                        result = result with { Weight = weight };
                        break;
                    case "model" when value is { Length: > 0 }:
                        result = result with { Model = value };
                        break;
                    case "api-key-env" when value is { Length: > 0 }:
                        if (context.Environment(value) is not { } key)
                        {
                            failure = $"error: the environment variable {value} is not set";
                            return false;
                        }
                        result = result with { ApiKey = key };
                        break;
                    case "no-api-key" when value is null:
                        result = result with { ApiKey = null };
                        break;
                    default:
                        failure = $"error: '{part}' in '{spec}': an endpoint is URL[{(weighted ? ",weight=W" : "")}][,model=M][,api-key-env=VAR|,no-api-key]";
                        return false;
                }
            }
            if (result.ApiKey is not null && parts.Any(p => p.Trim() == "no-api-key"))
            {
                failure = $"error: '{spec}': api-key-env and no-api-key contradict each other";
                return false;
            }
            endpoint = result;
            return true;
        }
    }

    public static Command Rollback(CliContext context)
    {
        var name = new Argument<string>("deployment") { Description = "The deployment to roll back" };
        var reason = new Option<string?>("--reason") { Description = "Why (recorded in the audit log)" };
        var command = new Command("rollback", "Send all of a deployment's traffic to its last-known-good version, now") { name, reason };
        command.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            var done = await client.RollbackAsync(parse.GetValue(name)!, parse.GetValue(reason), c);
            if (CliApp.Json(parse))
            {
                await CliApp.WriteJsonAsync(context, done);
            }
            else
            {
                await context.Out.WriteLineAsync($"{done.Name}: all traffic to {done.Routing.Stable} (revision {done.Revision})");
            }
            return ExitCodes.Ok;
        }, ct));
        return command;
    }

    public static Command Infer(CliContext context)
    {
        var deployment = new Argument<string>("deployment") { Description = "Deployment name, or DEPLOYMENT@VERSION to pin a version" };
        var csv = new Option<FileInfo>("--csv") { Description = "CSV file whose rows are sent (header names the inputs)", Required = true };
        var rows = new Option<int>("--rows") { Description = "Send the first N rows (default: all)", DefaultValueFactory = _ => 0 };
        var command = new Command("infer", "Send CSV rows to a deployment through Open Inference Protocol v2 and print the outputs") { deployment, csv, rows };
        command.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            var target = parse.GetValue(deployment)!;
            string? version = null;
            if (CliApp.TrySplitRef(target, out var d, out var v))
            {
                (target, version) = (d, v);
            }
            var file = parse.GetValue(csv)!;
            if (!file.Exists)
            {
                await context.Err.WriteLineAsync($"error: '{file.FullName}' does not exist");
                return ExitCodes.Usage;
            }
            CsvTable table;
            try
            {
                await using var stream = file.OpenRead();
                table = await CsvTable.ReadAsync(stream, c);
            }
            catch (FormatException e)
            {
                await context.Err.WriteLineAsync($"error: {file.Name}: {e.Message}");
                return ExitCodes.Usage;
            }
            var metadata = JsonNode.Parse((await client.GetInferenceMetadataAsync(target, c)).GetRawText())!.AsObject();
            var count = parse.GetValue(rows) is > 0 and var n ? Math.Min(n, table.RowCount) : table.RowCount;
            var request = BuildRequest(metadata, table, count);
            var (body, served, route) = await client.InferAsync(target, JsonSerializer.SerializeToElement(request), version, c);
            if (CliApp.Json(parse))
            {
                await CliApp.WriteJsonAsync(context, body);
                return ExitCodes.Ok;
            }
            await context.Out.WriteLineAsync($"{target}: version {served} ({route}), {count} row(s)");
            foreach (var output in body.GetProperty("outputs").EnumerateArray())
            {
                var values = output.GetProperty("data").EnumerateArray().Select(e => e.ToString()).ToList();
                var width = output.GetProperty("shape").GetArrayLength() == 2 ? output.GetProperty("shape")[1].GetInt32() : 1;
                await context.Out.WriteLineAsync($"  {output.GetProperty("name").GetString()} ({output.GetProperty("datatype").GetString()}):");
                for (var r = 0; r < Math.Min(count, 20); r++)
                {
                    await context.Out.WriteLineAsync("    " + string.Join(", ", values.Skip(r * width).Take(width)));
                }
            }
            return ExitCodes.Ok;
        }, ct));
        return command;
    }

    private static JsonObject BuildRequest(JsonObject metadata, CsvTable table, int count)
    {
        var inputs = new JsonArray();
        foreach (var input in metadata["inputs"]!.AsArray())
        {
            var name = (string)input!["name"]!;
            var datatype = (string)input["datatype"]!;
            if (!table.HasColumn(name))
            {
                throw new IOException($"the CSV has no column '{name}', which the model needs");
            }
            var values = table.Strings(name).Take(count);
            var data = datatype == "BYTES"
                ? new JsonArray(values.Select(s => (JsonNode)JsonValue.Create(s)).ToArray())
                : new JsonArray(values.Select(s => (JsonNode)JsonValue.Create(double.Parse(s, CultureInfo.InvariantCulture))).ToArray());
            var rank = input["shape"]!.AsArray().Count;
            inputs.Add(new JsonObject
            {
                ["name"] = name,
                ["datatype"] = datatype,
                ["shape"] = rank == 1 ? new JsonArray(count) : new JsonArray(count, 1),
                ["data"] = data,
            });
        }
        return new JsonObject { ["inputs"] = inputs };
    }

    private static (Option<string> Stable, Option<string[]> Candidates, Option<string?> Sticky) RoutingOptions() =>
        (new Option<string>("--stable") { Description = "The stable version", Required = true },
         new Option<string[]>("--candidate") { Description = "VERSION=WEIGHT: a candidate and its percentage of traffic (repeatable)" },
         new Option<string?>("--sticky-header") { Description = "Route requests with the same value of this header to the same version" });

    private static RoutingTable? Routing(ParseResult parse, Option<string> stable, Option<string[]> candidates, Option<string?> sticky)
    {
        var list = new List<CandidateRoute>();
        foreach (var c in parse.GetValue(candidates) ?? [])
        {
            var parts = c.Split('=', 2);
            if (parts.Length != 2 || !double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var weight))
            {
                return null;
            }
            list.Add(new CandidateRoute(parts[0], weight));
        }
        return new RoutingTable(parse.GetValue(stable)!, list, parse.GetValue(sticky) is { } h ? new StickinessSpec(h) : null);
    }

    private static string Candidates(RoutingTable r) =>
        r.Candidates is { Count: > 0 } c ? string.Join(", ", c.Select(x => string.Create(CultureInfo.InvariantCulture, $"{x.Version}={x.Weight}%"))) : "-";

    private static async Task Write(CliContext context, ParseResult parse, DeploymentDto d)
    {
        if (CliApp.Json(parse))
        {
            await CliApp.WriteJsonAsync(context, d);
            return;
        }
        await context.Out.WriteLineAsync($"{d.Name}  {d.Environment}  model {d.Model}  revision {d.Revision}");
        await context.Out.WriteLineAsync($"  stable {d.Routing.Stable}  candidates {Candidates(d.Routing)}  backend {d.Routing.Backend}" +
                                         (d.Routing.Stickiness?.Header is { } h ? $"  sticky by {h}" : ""));
    }

    /// <summary>
    /// The server shows upstream URLs with credential-looking query values as <c>redacted</c> to callers other than admins;
    /// writing such a table back would store the redacted URL. Says which version's URL it is (other than
    /// <paramref name="replaced"/>, which the command sets anew), or null when the table can be written back as read.
    /// </summary>
    private static string? RedactedUpstream(RoutingTable routing, string? replaced) =>
        routing.Upstreams?.FirstOrDefault(u => u.Key != replaced && new[] { u.Value.Url }.Concat((u.Value.Endpoints ?? []).Concat(u.Value.Fallbacks ?? []).Select(e => e.Url))
            .Any(url => url?.Contains("=redacted", StringComparison.Ordinal) == true)) is { Key: { } version }
            ? $"error: the upstream URL of {version} is shown redacted to this key (a credential in its query), so the table cannot be written back from the CLI: use an admin key, or PUT the whole routing table"
            : null;
}
