using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using ModelGate.Client;

namespace ModelGate.Cli;

/// <summary>Everything a command needs from its surroundings; tests supply their own writers and HTTP handler.</summary>
public sealed class CliContext(TextWriter output, TextWriter error, bool interactive, HttpMessageHandler? handler, Func<string, string?> environment)
{
    public TextWriter Out { get; } = output;
    public TextWriter Err { get; } = error;
    public bool Interactive { get; } = interactive;
    public HttpMessageHandler? Handler { get; } = handler;
    public Func<string, string?> Environment { get; } = environment;
}

public static class CliApp
{
    internal static readonly Option<string?> UrlOption = new("--url")
    {
        Description = $"ModelGate server URL [env MODELGATE_URL, default {Hosting.ModelGateHost.DefaultUrl}]",
        Recursive = true,
    };

    internal static readonly Option<string?> TokenOption = new("--token")
    {
        Description = "API key [env MODELGATE_TOKEN]",
        Recursive = true,
    };

    /// <summary>
    /// A figure as the CLI prints it: in <paramref name="format"/> (four decimals by default), or with four significant
    /// digits when it is so small that four decimals would print it as 0 (a cost per request or per token); never "-0".
    /// </summary>
    internal static string Figure(double value, string format = "0.0000") =>
        value != 0 && Math.Abs(value) < 0.001
            ? value.ToString("0.###E+0", System.Globalization.CultureInfo.InvariantCulture)
            : (value == 0 ? 0 : value).ToString(format, System.Globalization.CultureInfo.InvariantCulture);

    internal static readonly Option<string> OutputOption = new("--output", "-o")
    {
        Description = "Output format: text or json",
        Recursive = true,
        DefaultValueFactory = _ => "text",
    };

    public static Task<int> RunAsync(string[] args, TextWriter output, TextWriter error) =>
        RunAsync(args, new CliContext(output, error, !Console.IsErrorRedirected, null, System.Environment.GetEnvironmentVariable));

    public static async Task<int> RunAsync(string[] args, CliContext context, CancellationToken cancellationToken = default)
    {
        OutputOption.AcceptOnlyFromAmong("text", "json");
        var root = new RootCommand("ModelGate: model registry, lifecycle control plane and inference gateway in one binary.");
        root.Options.Add(UrlOption);
        root.Options.Add(TokenOption);
        root.Options.Add(OutputOption);
        root.Subcommands.Add(ServeCommand.Create(context));
        root.Subcommands.Add(HealthCommand.Create(context));
        root.Subcommands.Add(RegistryCommands.Model(context));
        root.Subcommands.Add(RegistryCommands.Version(context));
        root.Subcommands.Add(RegistryCommands.Artifact(context));
        root.Subcommands.Add(RegistryCommands.Lineage(context));
        root.Subcommands.Add(EvalCommands.Create(context));
        root.Subcommands.Add(DeploymentCommands.Deployment(context));
        root.Subcommands.Add(DeploymentCommands.Infer(context));
        root.Subcommands.Add(DeploymentCommands.Rollback(context));
        root.Subcommands.Add(RolloutCommands.Create(context));
        root.Subcommands.Add(ChatCommand.Create(context));
        root.Subcommands.Add(AdminCommands.Audit(context));
        root.Subcommands.Add(AdminCommands.Key(context));
        root.Subcommands.Add(AdminCommands.Principals(context));
        root.Subcommands.Add(AdminCommands.WhoAmI(context));
        foreach (var command in LifecycleCommands.Create(context).Concat(MonitoringCommands.Create(context)).Concat(OperationsCommands.Create(context)))
        {
            root.Subcommands.Add(command);
        }

        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors)
            {
                await context.Err.WriteLineAsync($"error: {e.Message}");
            }
            await context.Err.WriteLineAsync("Run 'modelgate --help' (or the command with --help) for usage.");
            return ExitCodes.Usage;
        }
        var invocation = new InvocationConfiguration { Output = context.Out, Error = context.Err, EnableDefaultExceptionHandler = false };
        if (parse.CommandResult.Command.Name == "serve")
        {
            // The host handles SIGTERM and Ctrl-C itself and stops in order (Kestrel drains in-flight requests, then the request log
            // writes what it holds, within HostOptions.ShutdownTimeout). System.CommandLine's handler would return from Main 2 s after
            // the signal whatever was still stopping, losing the buffered request-log records (exit 143).
            invocation.ProcessTerminationTimeout = null;
        }
        return await parse.InvokeAsync(invocation, cancellationToken);
    }

    /// <summary>Runs a client call and turns failures into a message and an exit code.</summary>
    internal static async Task<int> Call(CliContext context, ParseResult parse, Func<ModelGateClient, CancellationToken, Task<int>> action,
        CancellationToken cancellationToken)
    {
        var url = parse.GetValue(UrlOption) ?? context.Environment("MODELGATE_URL") ?? Hosting.ModelGateHost.DefaultUrl;
        var token = parse.GetValue(TokenOption) ?? context.Environment("MODELGATE_TOKEN");
        if (!Uri.TryCreate(url.EndsWith('/') ? url : url + "/", UriKind.Absolute, out var baseUri) || baseUri.Scheme is not ("http" or "https"))
        {
            await context.Err.WriteLineAsync($"error: '{url}' is not an http(s) URL");
            return ExitCodes.Usage;
        }
        var client = ModelGateClient.Create(baseUri, token, context.Handler);
        try
        {
            return await action(client, cancellationToken);
        }
        catch (ModelGateApiException e)
        {
            await context.Err.WriteLineAsync($"error: {e.Message}");
            if (parse.GetValue(OutputOption) == "json" && e.Problem is not null)
            {
                await context.Out.WriteLineAsync(JsonSerializer.Serialize(e.Problem, Indented));
            }
            return e.Status switch
            {
                HttpStatusCode.NotFound => ExitCodes.NotFound,
                HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => ExitCodes.Unauthorized,
                >= HttpStatusCode.InternalServerError => ExitCodes.Unavailable,
                _ => ExitCodes.Refused,
            };
        }
        catch (DigestMismatchException e)
        {
            await context.Err.WriteLineAsync($"error: {e.Message}");
            return ExitCodes.VerificationFailed;
        }
        catch (HttpRequestException e) when (e.InnerException is SocketException || e.HttpRequestError == HttpRequestError.ConnectionError)
        {
            await context.Err.WriteLineAsync($"error: cannot reach ModelGate at {baseUri}: {e.Message}. Is 'modelgate serve' running? Set --url or MODELGATE_URL.");
            return ExitCodes.Unavailable;
        }
        catch (IOException e)
        {
            await context.Err.WriteLineAsync($"error: {e.Message}");
            return ExitCodes.Error;
        }
        finally
        {
            client.Http.Dispose();
        }
    }

    /// <summary>Runs a client call for a <c>NAME@VERSION</c> argument; a malformed one is a usage error.</summary>
    internal static Task<int> WithRef(CliContext context, ParseResult parse, Argument<string> reference,
        Func<ModelGateClient, string, string, CancellationToken, Task<int>> action, CancellationToken ct)
    {
        if (!TrySplitRef(parse.GetValue(reference)!, out var m, out var v))
        {
            context.Err.WriteLine($"error: '{parse.GetValue(reference)}' is not NAME@VERSION");
            return Task.FromResult(ExitCodes.Usage);
        }
        return Call(context, parse, (client, c) => action(client, m, v, c), ct);
    }

    internal static readonly JsonSerializerOptions Indented = new(ModelGateJson.Options) { WriteIndented = true };

    internal static bool Json(ParseResult parse) => parse.GetValue(OutputOption) == "json";

    internal static Task WriteJsonAsync<T>(CliContext context, T value) =>
        context.Out.WriteLineAsync(JsonSerializer.Serialize(value, Indented));

    /// <summary>Splits <c>name@version</c>.</summary>
    internal static bool TrySplitRef(string value, out string model, out string version)
    {
        var at = value.IndexOf('@');
        model = at > 0 ? value[..at] : value;
        version = at > 0 ? value[(at + 1)..] : "";
        return at > 0 && version.Length > 0;
    }

    internal static void WriteTable(TextWriter writer, string[] headers, IEnumerable<string?[]> rows)
    {
        var all = new List<string?[]> { headers };
        all.AddRange(rows);
        var widths = headers.Select((_, i) => all.Max(r => (r[i] ?? "").Length)).ToArray();
        foreach (var row in all)
        {
            writer.WriteLine(string.Join("  ", row.Select((c, i) => (c ?? "").PadRight(widths[i]))).TrimEnd());
        }
    }
}
