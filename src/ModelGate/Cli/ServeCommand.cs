using System.CommandLine;
using ModelGate.Hosting;

namespace ModelGate.Cli;

internal static class ServeCommand
{
    public static Command Create(CliContext context)
    {
        var data = new Option<string?>("--data") { Description = "Data directory (SQLite file and artifacts) [env MODELGATE_DATA, default ./data]" };
        var urls = new Option<string?>("--urls") { Description = $"URL(s) to listen on, ';'-separated [default {ModelGateHost.DefaultUrl}]; an https:// URL needs --Kestrel:Certificates:Default:Path (PEM or PFX)" };
        var role = new Option<string?>("--role") { Description = "all (default, or Server:Role from configuration); gateway: the data plane only, for replicas sharing the store (they leave migrations to a control process and wait for them, Database:SchemaWait); control: the REST API and, while it holds the workers' lease, the workers (it serves the data plane too, for staging verification)" };
        role.AcceptOnlyFromAmong("all", "control", "gateway");
        var command = new Command("serve", "Run the ModelGate server. Further --Section:Key=value arguments set configuration (e.g. --Database:Provider=postgres).")
        {
            data, urls, role,
        };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(async (parse, ct) =>
        {
            var hostArgs = new List<string>(parse.UnmatchedTokens);
            var dataDir = parse.GetValue(data) ?? context.Environment("MODELGATE_DATA");
            if (dataDir is not null)
            {
                hostArgs.Add($"--Data:Directory={dataDir}");
            }
            if (parse.GetValue(urls) is { } u)
            {
                hostArgs.Add($"--urls={u}");
            }
            // Only when given: a default here would override Server:Role set as --Server:Role=… or by the environment (Server__Role).
            if (parse.GetValue(role) is { } r)
            {
                hostArgs.Add($"--Server:Role={r}");
            }
            // Before anything opens a socket: the runtime reads this once.
            InlineIO.Configure(new ConfigurationBuilder().AddEnvironmentVariables().AddCommandLine([.. hostArgs]).Build());
            NativeHeap.Configure(context.Environment);
            var state = new StartState();
            try
            {
                var app = ModelGateHost.Build([.. hostArgs], builder =>
                    // A start-up failure is reported once, below, not first by the host too, with the exception's stack trace. Only
                    // the host's errors before the server has started are held back; its critical messages (a worker that stops
                    // the host) and everything once started still show.
                    builder.Logging.AddFilter(HostCategory, level => level >= LogLevel.Information && (level > LogLevel.Error || state.Started)));
                app.Lifetime.ApplicationStarted.Register(() => state.Started = true);
                ModelGateHost.AnnounceOnStart(app);
                await app.RunAsync(ct);
                return ExitCodes.Ok;
            }
            catch (Microsoft.Extensions.Options.OptionsValidationException e)
            {
                await context.Err.WriteLineAsync($"error: invalid configuration: {string.Join("; ", e.Failures)}");
                return ExitCodes.Usage;
            }
            catch (Storage.SchemaNotReadyException e)
            {
                await context.Err.WriteLineAsync($"error: {e.Message}");
                return ExitCodes.Unavailable;
            }
            catch (IOException e) when (e.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException)
            {
                // Kestrel's message names the address; the server stops before it accepts anything.
                await context.Err.WriteLineAsync($"error: {e.Message} Another server is listening there: stop it, or choose another address with --urls.");
                return ExitCodes.Unavailable;
            }
            catch (System.Data.Common.DbException e) when (!state.Started)
            {
                // Typically PostgreSQL down or unreachable, or a SQLite file that cannot be created.
                await context.Err.WriteLineAsync($"error: the database cannot be used: {e.Message.TrimEnd('.')}. Check Database:Provider and " +
                    "Database:ConnectionString (or --data for SQLite), and that the database server is running.");
                return ExitCodes.Unavailable;
            }
            catch (Exception e) when (!state.Started && TlsConfiguration.IsCertificateFailure(e))
            {
                await context.Err.WriteLineAsync($"error: the TLS certificate ({TlsConfiguration.DefaultCertificate}) cannot be loaded: " +
                    $"{e.Message.ReplaceLineEndings(" ").TrimEnd('.')}. Check its Path, KeyPath and Password.");
                return ExitCodes.Usage;
            }
            catch (Exception e) when (!state.Started && e is not OperationCanceledException)
            {
                // Unforeseen: the whole exception, since the host's own report of it was held back.
                await context.Err.WriteLineAsync($"error: the server failed to start: {e}");
                return ExitCodes.Error;
            }
        });
        return command;
    }

    private const string HostCategory = "Microsoft.Extensions.Hosting.Internal.Host";

    /// <summary>Read after the host is disposed too, which its lifetime service cannot be.</summary>
    private sealed class StartState
    {
        public volatile bool Started;
    }
}
