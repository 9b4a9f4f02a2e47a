using System.CommandLine;
using System.Net.Sockets;

namespace ModelGate.Cli;

/// <summary>
/// <c>modelgate health</c>: asks a server's <c>/healthz</c> (or <c>/readyz</c>) and exits 0 when it answers 200. The container
/// image's HEALTHCHECK runs it, since the runtime image has no curl or wget.
/// </summary>
internal static class HealthCommand
{
    public static Command Create(CliContext context)
    {
        var ready = new Option<bool>("--ready") { Description = "Ask /readyz (database reachable, artifacts intact) instead of /healthz (the process answers)" };
        var timeout = new Option<double>("--timeout") { Description = "Seconds to wait for the answer", DefaultValueFactory = _ => 3 };
        var command = new Command("health", "Check that a server answers /healthz (or /readyz with --ready); exits 0 if healthy, 6 if not") { ready, timeout };
        command.SetAction(async (parse, ct) =>
        {
            var url = parse.GetValue(CliApp.UrlOption) ?? context.Environment("MODELGATE_URL") ?? Hosting.ModelGateHost.DefaultUrl;
            if (!Uri.TryCreate(url.EndsWith('/') ? url : url + "/", UriKind.Absolute, out var baseUri) || baseUri.Scheme is not ("http" or "https"))
            {
                await context.Err.WriteLineAsync($"error: '{url}' is not an http(s) URL");
                return ExitCodes.Usage;
            }
            var path = parse.GetValue(ready) ? "readyz" : "healthz";
            using var http = context.Handler is null ? new HttpClient() : new HttpClient(context.Handler, disposeHandler: false);
            http.Timeout = TimeSpan.FromSeconds(Math.Max(0.1, parse.GetValue(timeout)));
            try
            {
                using var response = await http.GetAsync(new Uri(baseUri, path), ct);
                if (response.IsSuccessStatusCode)
                {
                    await context.Out.WriteLineAsync($"{path}: {(int)response.StatusCode}");
                    return ExitCodes.Ok;
                }
                await context.Err.WriteLineAsync($"error: {path} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(ct)}");
                return ExitCodes.Unavailable;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or SocketException && !ct.IsCancellationRequested)
            {
                await context.Err.WriteLineAsync($"error: no answer from {new Uri(baseUri, path)}: {e.Message}");
                return ExitCodes.Unavailable;
            }
        });
        return command;
    }
}
