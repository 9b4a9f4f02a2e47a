using System.CommandLine;
using System.Globalization;
using ModelGate.Client;

namespace ModelGate.Cli;

/// <summary><c>rollout start|status|pause|resume|abort|promote</c>.</summary>
internal static class RolloutCommands
{
    public static Command Create(CliContext context)
    {
        var rollout = new Command("rollout", "Progressive delivery: canary, shadow or A/B with automated analysis");

        var deployment = new Argument<string>("deployment");
        var candidate = new Option<string>("--candidate") { Description = "The version to roll out", Required = true };
        var strategy = new Option<string>("--strategy") { Description = "canary, shadow or ab", DefaultValueFactory = _ => RolloutStrategies.Canary };
        strategy.AcceptOnlyFromAmong([.. RolloutStrategies.All]);
        var steps = new Option<double[]>("--steps") { Description = "Canary weights (default 5 10 25 50)", AllowMultipleArgumentsPerToken = true };
        var interval = new Option<int>("--interval") { Description = "Seconds between analyses (at least 30: three ten-second slots of data each side)", DefaultValueFactory = _ => 60 };
        var failed = new Option<int>("--failed-check-limit") { DefaultValueFactory = _ => 2 };
        var minimumRequests = new Option<int>("--minimum-requests")
        {
            Description = "Candidate requests an interval needs to be judged (fewer: no data, the step holds)", DefaultValueFactory = _ => 50,
        };
        var noDataLimit = new Option<int>("--no-data-limit") { Description = "No-data intervals in a row that roll the rollout back", DefaultValueFactory = _ => 3 };
        var metrics = new Option<string[]>("--metric")
        {
            Description = "A business metric from feedback, name[:increase|decrease|either][:critical] (repeatable), e.g. conversion:decrease:critical",
            AllowMultipleArgumentsPerToken = false,
        };
        var preRollout = new Option<string?>("--hook-pre-rollout") { Description = "Webhook called before the start; a non-2xx answer stops the start" };
        var confirmPromotion = new Option<string?>("--hook-confirm-promotion") { Description = "Webhook called before promotion; a non-2xx answer holds it" };
        var rollbackHook = new Option<string?>("--hook-rollback") { Description = "Webhook called when the rollout rolls back or is aborted" };
        var eventHook = new Option<string?>("--hook-event") { Description = "Webhook called on every rollout event" };
        var start = new Command("start", "Start a rollout")
        {
            deployment, candidate, strategy, steps, interval, failed, minimumRequests, noDataLimit, metrics, preRollout, confirmPromotion, rollbackHook, eventHook,
        };
        start.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            var given = parse.GetValue(steps);
            var business = parse.GetValue(metrics) is { Length: > 0 } m ? m.Select(ParseMetric).ToList() : null;
            var hooks = new RolloutHooks(parse.GetValue(preRollout), parse.GetValue(confirmPromotion), parse.GetValue(rollbackHook), parse.GetValue(eventHook));
            hooks = hooks == new RolloutHooks() ? null : hooks;
            var started = await client.StartRolloutAsync(parse.GetValue(deployment)!, new StartRolloutRequest(parse.GetValue(candidate)!, parse.GetValue(strategy)!,
                given is { Length: > 0 } ? given : null, parse.GetValue(interval), FailedCheckLimit: parse.GetValue(failed),
                Hooks: hooks, MinimumRequests: parse.GetValue(minimumRequests), NoDataLimit: parse.GetValue(noDataLimit), Metrics: business), c);
            await Write(context, parse, started);
            return ExitCodes.Ok;
        }, ct));
        rollout.Subcommands.Add(start);

        var statusDeployment = new Argument<string>("deployment");
        var all = new Option<bool>("--all") { Description = "Print every analysis of the latest rollout, not only the last one" };
        var status = new Command("status", "The deployment's rollouts, most recent first, and the latest rollout's analysis metric by metric") { statusDeployment, all };
        status.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            var list = await client.ListRolloutsAsync(parse.GetValue(statusDeployment)!, c);
            if (CliApp.Json(parse))
            {
                await CliApp.WriteJsonAsync(context, list);
                return ExitCodes.Ok;
            }
            CliApp.WriteTable(context.Out, ["ID", "STRATEGY", "STABLE", "CANDIDATE", "STATUS", "WEIGHT", "CHECKS", "FAILED", "REASON"], list.Select(r => new[]
            {
                r.Id, r.Strategy, r.Stable, r.Candidate, r.Status, r.Weight.ToString(CultureInfo.InvariantCulture), r.Checks.ToString(CultureInfo.InvariantCulture),
                r.FailedChecks.ToString(CultureInfo.InvariantCulture), r.Reason ?? "",
            }));
            // The latest rollout's analyses: the last one, or with --all every one, each metric on a row.
            if (list.FirstOrDefault() is { Analyses: { Count: > 0 } analyses } latest)
            {
                foreach (var analysis in parse.GetValue(all) ? analyses : analyses.TakeLast(1))
                {
                    await WriteAnalysisAsync(context.Out, latest.Id, analysis);
                }
            }
            return ExitCodes.Ok;
        }, ct));
        rollout.Subcommands.Add(status);

        foreach (var action in new[] { "pause", "resume", "abort", "promote" })
        {
            var name = new Argument<string>("deployment");
            var id = new Argument<string>("id") { Description = "The rollout id (rollout status lists them)" };
            var reason = new Option<string?>("--reason");
            var command = new Command(action, $"{char.ToUpperInvariant(action[0])}{action[1..]} a rollout") { name, id, reason };
            command.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
            {
                await Write(context, parse, await client.RolloutActionAsync(parse.GetValue(name)!, parse.GetValue(id)!, action, parse.GetValue(reason), c));
                return ExitCodes.Ok;
            }, ct));
            rollout.Subcommands.Add(command);
        }
        return rollout;
    }

    /// <summary>"conversion:decrease:critical" → the metric; direction defaults to decrease.</summary>
    private static RolloutMetricSpec ParseMetric(string text)
    {
        var parts = text.Split(':');
        var direction = parts.Skip(1).FirstOrDefault(p => MetricDirections.All.Contains(p)) ?? MetricDirections.Decrease;
        return new RolloutMetricSpec(parts[0], direction, Critical: parts.Skip(1).Contains("critical"));
    }

    /// <summary>One analysis as a table: metric, stable and candidate figures, samples, the interval for candidate − stable, result, critical.</summary>
    internal static async Task WriteAnalysisAsync(TextWriter writer, string id, RolloutAnalysisDto analysis)
    {
        await writer.WriteLineAsync();
        await writer.WriteLineAsync($"{id} analysis at {analysis.At:yyyy-MM-dd HH:mm:ss}Z, weight {Number(analysis.Weight)} %: {analysis.Outcome}, score {Number(analysis.Score)}, " +
                                    $"requests stable {analysis.StableRequests} / candidate {analysis.CandidateRequests}");
        await writer.WriteLineAsync($"  {analysis.Reason}");
        CliApp.WriteTable(writer, ["METRIC", "STABLE", "CANDIDATE", "SAMPLES", "INTERVAL", "RESULT", "CRITICAL"], analysis.Metrics.Select(m => new[]
        {
            m.Name, Number(m.Stable), Number(m.Candidate), $"{m.StableSamples}/{m.CandidateSamples}",
            m.Lower is { } lower && m.Upper is { } upper ? $"[{Number(lower)}, {Number(upper)}]" : m.Estimate is { } d ? $"D {Number(d)}" : "-",
            m.Classification, m.CriticalFailure ? "FAILED" : m.Critical ? "yes" : "no",
        }));
    }

    private static string Number(double? value) => value is { } v ? CliApp.Figure(v, "0.####") : "-";

    private static async Task Write(CliContext context, ParseResult parse, RolloutDto r)
    {
        if (CliApp.Json(parse))
        {
            await CliApp.WriteJsonAsync(context, r);
            return;
        }
        await context.Out.WriteLineAsync($"{r.Id} {r.Strategy} {r.Deployment}: {r.Stable} → {r.Candidate}, {r.Status} at {r.Weight.ToString(CultureInfo.InvariantCulture)} %" +
                                         (r.Reason is { } reason ? $" ({reason})" : ""));
    }
}
