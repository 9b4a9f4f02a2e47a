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
        var interval = new Option<int>("--interval") { Description = "Seconds between analyses", DefaultValueFactory = _ => 60 };
        var failed = new Option<int>("--failed-check-limit") { DefaultValueFactory = _ => 2 };
        var start = new Command("start", "Start a rollout") { deployment, candidate, strategy, steps, interval, failed };
        start.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            var given = parse.GetValue(steps);
            var started = await client.StartRolloutAsync(parse.GetValue(deployment)!, new StartRolloutRequest(parse.GetValue(candidate)!, parse.GetValue(strategy)!,
                given is { Length: > 0 } ? given : null, parse.GetValue(interval), FailedCheckLimit: parse.GetValue(failed)), c);
            await Write(context, parse, started);
            return ExitCodes.Ok;
        }, ct));
        rollout.Subcommands.Add(start);

        var statusDeployment = new Argument<string>("deployment");
        var status = new Command("status", "The deployment's rollouts, most recent first") { statusDeployment };
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
