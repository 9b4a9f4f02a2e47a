using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using ModelGate.Client;

namespace ModelGate.Cli;

/// <summary><c>metrics DEPLOYMENT</c>, <c>drift check DEPLOYMENT</c>, <c>alerts</c>.</summary>
internal static class MonitoringCommands
{
    public static IEnumerable<Command> Create(CliContext context) => [Metrics(context), Drift(context), Alerts(context)];

    private static Command Metrics(CliContext context)
    {
        var name = new Argument<string>("deployment");
        var window = new Option<string>("--window") { Description = "10s to 1h", DefaultValueFactory = _ => "5m" };
        var command = new Command("metrics", "Requests, errors, latency, tokens, cost and feedback per version and route") { name, window };
        command.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            var metrics = await client.GetDeploymentMetricsAsync(parse.GetValue(name)!, parse.GetValue(window), c);
            if (CliApp.Json(parse))
            {
                await CliApp.WriteJsonAsync(context, metrics);
                return ExitCodes.Ok;
            }
            static string F(double? v, string format = "0.###") => v?.ToString(format, CultureInfo.InvariantCulture) ?? "-";
            CliApp.WriteTable(context.Out, ["VERSION", "ROUTE", "REQUESTS", "REQ/S", "5XX RATE", "P50 MS", "P95 MS", "P99 MS", "TOKENS", "COST", "FEEDBACK"],
                metrics.Series.Select(s => new[]
                {
                    s.Version, s.Route, s.Requests.ToString(CultureInfo.InvariantCulture), F(s.RequestsPerSecond, "0.##"), F(s.ErrorRate, "0.####"), F(s.LatencyP50Ms),
                    F(s.LatencyP95Ms), F(s.LatencyP99Ms), (s.PromptTokens + s.CompletionTokens).ToString(CultureInfo.InvariantCulture), F(s.Cost, "0.####"),
                    s.FeedbackCount == 0 ? "-" : $"{F(s.FeedbackMean)} (n={s.FeedbackCount})",
                }));
            return ExitCodes.Ok;
        }, ct));
        return command;
    }

    private static Command Drift(CliContext context)
    {
        var name = new Argument<string>("deployment");
        var window = new Option<string>("--window") { Description = "The window of sampled inputs", DefaultValueFactory = _ => "1h" };
        var version = new Option<string?>("--version") { Description = "A routed version (default: the stable one)" };
        var check = new Command("check", "The current drift report against the version's baseline, per column") { name, window, version };
        check.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            var result = await client.GetDriftAsync(parse.GetValue(name)!, parse.GetValue(window), parse.GetValue(version), c);
            if (CliApp.Json(parse))
            {
                await CliApp.WriteJsonAsync(context, result);
                return ExitCodes.Ok;
            }
            var report = result.GetProperty("report");
            CliApp.WriteTable(context.Out, ["COLUMN", "TEST", "STATISTIC", "THRESHOLD", "DRIFT", "MISSING (REF → NOW)", "UNSEEN"],
                report.GetProperty("columns").EnumerateArray().Select(col => new[]
                {
                    col.GetProperty("column").GetString(), Text(col, "test"), Number(col, "statistic"), Number(col, "threshold"),
                    col.TryGetProperty("drifted", out var d) && d.ValueKind == JsonValueKind.True ? "DRIFT" : "-",
                    $"{Number(col, "referenceMissingRate")} → {Number(col, "windowMissingRate")}", Number(col, "unseenCount"),
                }));
            var flagged = report.GetProperty("flaggedColumns").EnumerateArray().Select(f => f.GetString()).ToList();
            await context.Out.WriteLineAsync($"{result.GetProperty("version").GetString()} over {result.GetProperty("window").GetString()}: " +
                $"{report.GetProperty("windowRows").GetInt32()} rows; " + (flagged.Count == 0 ? "no drift" : $"flagged: {string.Join(", ", flagged)}") +
                (report.GetProperty("datasetDrift").GetBoolean() ? " — DATASET DRIFT" : ""));
            return flagged.Count == 0 ? ExitCodes.Ok : ExitCodes.VerificationFailed;
        }, ct));
        var baselineRef = new Argument<string>("ref") { Description = "NAME@VERSION" };
        var dataset = new Option<string>("--dataset") { Description = "The reference CSV: a file (uploaded first) or the sha256 of a stored artifact", Required = true };
        var columns = new Option<string[]>("--column") { Description = "A column to watch (repeatable; default: every column)", AllowMultipleArgumentsPerToken = true };
        var set = new Command("set", "Set a version's drift baseline") { baselineRef, dataset, columns };
        set.SetAction((parse, ct) => CliApp.WithRef(context, parse, baselineRef, async (client, model, version, c) =>
        {
            var given = parse.GetValue(dataset)!;
            var sha = given;
            if (File.Exists(given))
            {
                if (await RegistryCommands.PushFileAsync(context, client, given, c) is not { } pushed)
                {
                    return ExitCodes.Usage;
                }
                sha = pushed.Sha256;
            }
            var baseline = await client.SetDriftBaselineAsync(model, version,
                new DriftBaselineRequest(sha, parse.GetValue(columns) is { Length: > 0 } cols ? cols : null), c);
            if (CliApp.Json(parse))
            {
                await CliApp.WriteJsonAsync(context, baseline);
            }
            else
            {
                await context.Out.WriteLineAsync($"drift baseline of {model}@{version}: {baseline.Rows} rows, columns {string.Join(", ", baseline.Columns)} (dataset {baseline.Dataset[..12]}…)");
            }
            return ExitCodes.Ok;
        }, ct));
        return new Command("drift", "Input drift against a version's baseline") { check, new Command("baseline", "A version's drift baseline") { set } };
    }

    private static Command Alerts(CliContext context)
    {
        var status = new Option<string?>("--status") { Description = "firing or resolved" };
        var group = new Option<string?>("--group") { Description = "A deployment or model" };
        var command = new Command("alerts", "Alerts, most recent first") { status, group };
        command.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            var alerts = await client.ListAlertsAsync(parse.GetValue(status), parse.GetValue(group), c);
            if (CliApp.Json(parse))
            {
                await CliApp.WriteJsonAsync(context, alerts);
                return ExitCodes.Ok;
            }
            CliApp.WriteTable(context.Out, ["SEVERITY", "STATUS", "FIRED", "KEY", "SUMMARY"], alerts.Select(a => new[]
            {
                a.Severity + (a.Silenced ? " (silenced)" : ""), a.Status, a.FiredAt.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture), a.Key, a.Summary,
            }));
            return ExitCodes.Ok;
        }, ct));
        return command;
    }

    private static string Text(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "-";

    private static string Number(JsonElement e, string name) => e.TryGetProperty(name, out var v) ? v.ValueKind switch
    {
        JsonValueKind.Number => v.GetDouble().ToString("0.####", CultureInfo.InvariantCulture),
        JsonValueKind.String => v.GetString()!,
        _ => "-",
    } : "-";
}
