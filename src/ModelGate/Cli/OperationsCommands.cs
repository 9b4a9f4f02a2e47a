using System.CommandLine;
using System.Globalization;
using ModelGate.Client;

namespace ModelGate.Cli;

/// <summary><c>slo set|show</c>, <c>feedback</c>, <c>usage</c>, <c>silence create|list</c>: thin wrappers over the REST endpoints.</summary>
internal static class OperationsCommands
{
    public static IEnumerable<Command> Create(CliContext context) => [Slo(context), Feedback(context), Usage(context), Silence(context)];

    private static Command Slo(CliContext context)
    {
        var defaults = new SloSpec();
        var name = new Argument<string>("deployment");
        var availability = new Option<double>("--availability") { Description = "Share of requests that must not fail (5xx), strictly between 0 and 1", DefaultValueFactory = _ => defaults.Availability };
        var latencyObjective = new Option<double?>("--latency-objective") { Description = "Share of requests that must be answered within --latency-threshold-ms (none: no latency objective)" };
        var latencyThreshold = new Option<double>("--latency-threshold-ms") { DefaultValueFactory = _ => defaults.LatencyThresholdMs };
        var period = new Option<int>("--period-days") { Description = "The SLO period", DefaultValueFactory = _ => defaults.PeriodDays };
        var set = new Command("set", "Set a deployment's service-level objectives (replaces them)") { name, availability, latencyObjective, latencyThreshold, period };
        set.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            await Write(context, parse, await client.SetSloAsync(parse.GetValue(name)!, new SloSpec(parse.GetValue(availability), parse.GetValue(latencyObjective),
                parse.GetValue(latencyThreshold), parse.GetValue(period)), c));
            return ExitCodes.Ok;
        }, ct));
        var showName = new Argument<string>("deployment");
        var show = new Command("show", "A deployment's objectives, burn rates and error budget left") { showName };
        show.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            await Write(context, parse, await client.GetSloAsync(parse.GetValue(showName)!, c));
            return ExitCodes.Ok;
        }, ct));
        return new Command("slo", "Service-level objectives of a deployment") { set, show };

        static async Task Write(CliContext context, ParseResult parse, SloStatusDto status)
        {
            if (CliApp.Json(parse))
            {
                await CliApp.WriteJsonAsync(context, status);
                return;
            }
            static string F(double? v) => v?.ToString("0.####", CultureInfo.InvariantCulture) ?? "-";
            await context.Out.WriteLineAsync($"{status.Deployment}: availability {F(status.Spec.Availability)}, latency {F(status.Spec.LatencyObjective)} " +
                $"within {F(status.Spec.LatencyThresholdMs)} ms, over {status.Spec.PeriodDays} days");
            CliApp.WriteTable(context.Out, ["OBJECTIVE", "TARGET", "COMPLIANCE", "BUDGET LEFT", "BURN RATES"], status.Objectives.Select(o => new[]
            {
                o.Objective, F(o.Target), F(o.Compliance), F(o.BudgetRemaining), string.Join(" ", o.BurnRates.Select(b => $"{b.Key}={F(b.Value)}")),
            }));
        }
    }

    private static Command Feedback(CliContext context)
    {
        var requestId = new Argument<string>("request-id") { Description = "The x-modelgate-request-id of the answered request" };
        var label = new Option<string?>("--label") { Description = "The true label (classification)" };
        var score = new Option<double?>("--score") { Description = "A quality score" };
        var comment = new Option<string?>("--comment");
        var metric = new Option<string?>("--metric") { Description = "A business metric's name (e.g. conversion), with --value" };
        var value = new Option<double?>("--value") { Description = "The business metric's value" };
        var command = new Command("feedback", "Send feedback on one served request: a label, score, comment or business metric") { requestId, label, score, comment, metric, value };
        command.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            var sent = await client.SendFeedbackAsync(new FeedbackRequest(parse.GetValue(requestId)!, parse.GetValue(label), parse.GetValue(score),
                parse.GetValue(comment), parse.GetValue(metric), parse.GetValue(value)), c);
            if (CliApp.Json(parse))
            {
                await CliApp.WriteJsonAsync(context, sent);
            }
            else
            {
                await context.Out.WriteLineAsync($"feedback {sent.Id} recorded for {sent.RequestId} ({sent.Deployment} {sent.Version ?? "-"})");
            }
            return ExitCodes.Ok;
        }, ct));
        return command;
    }

    private static Command Usage(CliContext context)
    {
        var groupBy = new Option<string?>("--group-by") { Description = "Comma-separated: key, deployment, version [default deployment,version]" };
        var deployment = new Option<string?>("--deployment");
        var key = new Option<string?>("--key") { Description = "A key id (key_…)" };
        var from = new Option<DateTimeOffset?>("--from") { Description = "ISO 8601, inclusive" };
        var to = new Option<DateTimeOffset?>("--to") { Description = "ISO 8601, exclusive" };
        var command = new Command("usage", "Requests, errors, tokens, cost and mean latency from the request log") { groupBy, deployment, key, from, to };
        command.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            var usage = await client.GetUsageAsync(parse.GetValue(groupBy), parse.GetValue(deployment), parse.GetValue(key), parse.GetValue(from), parse.GetValue(to), c);
            if (CliApp.Json(parse))
            {
                await CliApp.WriteJsonAsync(context, usage);
                return ExitCodes.Ok;
            }
            CliApp.WriteTable(context.Out, ["KEY", "DEPLOYMENT", "VERSION", "REQUESTS", "ERRORS", "PROMPT TOKENS", "COMPLETION TOKENS", "COST", "MEAN MS"], usage.Rows.Select(r => new[]
            {
                r.Key ?? "-", r.Deployment ?? "-", r.Version ?? "-", r.Requests.ToString(CultureInfo.InvariantCulture), r.Errors.ToString(CultureInfo.InvariantCulture),
                r.PromptTokens.ToString(CultureInfo.InvariantCulture), r.CompletionTokens.ToString(CultureInfo.InvariantCulture),
                r.Cost.ToString("0.####", CultureInfo.InvariantCulture), r.MeanLatencyMs.ToString("0.##", CultureInfo.InvariantCulture),
            }));
            if (usage.DroppedRecords > 0)
            {
                await context.Err.WriteLineAsync($"warning: the request log dropped {usage.DroppedRecords} record(s); usage undercounts");
            }
            return ExitCodes.Ok;
        }, ct));
        return command;
    }

    private static Command Silence(CliContext context)
    {
        var keyPrefix = new Option<string>("--key-prefix") { Description = "Silence alerts whose key starts with this", Required = true };
        var duration = new Option<string>("--for") { Description = "How long, e.g. 30m, 2h", Required = true };
        var reason = new Option<string>("--reason") { Required = true };
        var create = new Command("create", "Silence matching alerts for a while (they still fire and are recorded, but do not notify)") { keyPrefix, duration, reason };
        create.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            var silence = await client.SilenceAsync(new SilenceRequest(parse.GetValue(keyPrefix)!, parse.GetValue(duration)!, parse.GetValue(reason)!), c);
            if (CliApp.Json(parse))
            {
                await CliApp.WriteJsonAsync(context, silence);
            }
            else
            {
                await context.Out.WriteLineAsync($"silence {silence.Id}: {silence.KeyPrefix}* until {silence.Until:u}");
            }
            return ExitCodes.Ok;
        }, ct));
        var list = new Command("list", "Active silences");
        list.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            var silences = await client.ListSilencesAsync(c);
            if (CliApp.Json(parse))
            {
                await CliApp.WriteJsonAsync(context, silences);
                return ExitCodes.Ok;
            }
            CliApp.WriteTable(context.Out, ["ID", "KEY PREFIX", "UNTIL", "BY", "REASON"], silences.Select(s => new[]
            {
                s.Id.ToString(CultureInfo.InvariantCulture), s.KeyPrefix, s.Until.ToString("u", CultureInfo.InvariantCulture), s.CreatedBy, s.Reason,
            }));
            return ExitCodes.Ok;
        }, ct));
        return new Command("silence", "Alert silences") { create, list };
    }
}
