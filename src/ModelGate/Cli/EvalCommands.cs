using System.CommandLine;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;
using ModelGate.Client;

namespace ModelGate.Cli;

internal static class EvalCommands
{
    public static Command Create(CliContext context)
    {
        var eval = new Command("eval", "Run, list and show evaluations");

        var target = new Argument<string>("ref") { Description = "NAME@VERSION" };
        var suite = new Option<string>("--suite") { Description = "Suite file (JSON); it is uploaded as an artifact so its digest is recorded", Required = true };
        var dataset = new Option<string?>("--dataset") { Description = "Dataset file to upload first (its digest must be the suite's dataset.sha256)" };
        var noWait = new Option<bool>("--no-wait") { Description = "Queue the run and return at once" };
        var external = new Option<string?>("--external") { Description = "Record results computed elsewhere: a JSON file of {metric: value}; marked external" };
        var baseline = new Option<string?>("--baseline") { Description = "Version to compare against on the same rows (default: the stable version of the model's production deployments, else its newest production version)" };
        var upstreamUrl = new Option<string?>("--upstream") { Description = "LLM and safety suites: the OpenAI-compatible API base URL (…/v1)" };
        var upstreamModel = new Option<string?>("--upstream-model") { Description = "LLM and safety suites: the upstream's model name" };
        var upstreamKeyEnv = new Option<string?>("--upstream-key-env") { Description = "Name of the environment variable holding the upstream API key (used for this run only, never stored)" };
        var inputPrice = new Option<double?>("--input-price") { Description = "LLM suites: the upstream's price per 1,000 prompt tokens (for cost requirements)" };
        var outputPrice = new Option<double?>("--output-price") { Description = "LLM suites: the upstream's price per 1,000 completion tokens" };
        var judgeKeyEnv = new Option<string?>("--judge-key-env") { Description = "Name of the environment variable holding the suite's judge API key (used for this run only, never stored)" };
        var run = new Command("run", "Evaluate a version with a suite; shows progress and waits for the result unless --no-wait")
        {
            target, suite, dataset, noWait, external, baseline, upstreamUrl, upstreamModel, upstreamKeyEnv, inputPrice, outputPrice, judgeKeyEnv,
        };
        run.SetAction((parse, ct) => CliApp.WithRef(context, parse, target, async (client, model, version, c) =>
        {
            if (parse.GetValue(dataset) is { } datasetFile && await RegistryCommands.PushFileAsync(context, client, datasetFile, c) is null)
            {
                return ExitCodes.Usage;
            }
            var pushed = await RegistryCommands.PushFileAsync(context, client, parse.GetValue(suite)!, c);
            if (pushed is null)
            {
                return ExitCodes.Usage;
            }
            IReadOnlyDictionary<string, double>? metrics = null;
            if (parse.GetValue(external) is { } externalFile)
            {
                metrics = JsonSerializer.Deserialize<Dictionary<string, double>>(await File.ReadAllTextAsync(externalFile, c), ModelGateJson.Options);
            }
            UpstreamTarget? upstream = null;
            if (parse.GetValue(upstreamUrl) is { } url)
            {
                if (await KeyFromEnvironmentAsync(context, parse.GetValue(upstreamKeyEnv)) is not { } key)
                {
                    return ExitCodes.Usage;
                }
                upstream = new UpstreamTarget(url, parse.GetValue(upstreamModel) ?? "", key.Value, parse.GetValue(inputPrice), parse.GetValue(outputPrice));
            }
            else if (parse.GetValue(inputPrice) is not null || parse.GetValue(outputPrice) is not null || parse.GetValue(upstreamKeyEnv) is not null)
            {
                await context.Err.WriteLineAsync("error: --input-price, --output-price and --upstream-key-env describe the run's upstream: give --upstream too");
                return ExitCodes.Usage;
            }
            if (await KeyFromEnvironmentAsync(context, parse.GetValue(judgeKeyEnv)) is not { } judgeKey)
            {
                return ExitCodes.Usage;
            }
            var started = await client.StartEvaluationAsync(model, version,
                new StartEvaluationRequest(pushed.Sha256, metrics is not null, metrics, parse.GetValue(baseline), upstream, JudgeApiKey: judgeKey.Value), c);
            if (parse.GetValue(noWait) || EvaluationStatuses.IsTerminal(started.Status))
            {
                await Write(context, parse, started);
                return ExitCode(started);
            }
            var bar = new ProgressBar(context.Err, $"eval {started.Id}", started.Progress.RowsTotal, context.Interactive) { Unit = "rows" };
            var current = started;
            try
            {
                while (!EvaluationStatuses.IsTerminal(current.Status))
                {
                    await Task.Delay(250, c);
                    current = await client.GetEvaluationAsync(model, version, started.Id, c);
                    bar.Report(current.Progress.RowsDone);
                }
            }
            catch (OperationCanceledException)
            {
                // Ctrl+C stops waiting and cancels the run on the server, so nothing partial poses as complete.
                current = await client.CancelEvaluationAsync(model, version, started.Id, CancellationToken.None);
                await context.Err.WriteLineAsync($"cancelling {started.Id}");
                return ExitCodes.Error;
            }
            bar.Complete();
            await Write(context, parse, current);
            return ExitCode(current);
        }, ct));
        eval.Subcommands.Add(run);

        var listRef = new Argument<string>("ref") { Description = "NAME@VERSION" };
        var list = new Command("list", "List a version's evaluations") { listRef };
        list.SetAction((parse, ct) => CliApp.WithRef(context, parse, listRef, async (client, model, version, c) =>
        {
            var items = await client.ListEvaluationsAsync(model, version, c);
            if (CliApp.Json(parse))
            {
                await CliApp.WriteJsonAsync(context, items);
            }
            else
            {
                CliApp.WriteTable(context.Out, ["ID", "STATUS", "ROWS", "FAILED", "EVALUATOR", "INDEPENDENT", "EXTERNAL", "CREATED"],
                    items.Select(e => new[] { e.Id, e.Status, $"{e.Progress.RowsDone}/{e.Progress.RowsTotal}", e.Progress.RowsFailed.ToString(CultureInfo.InvariantCulture),
                        e.Evaluator, e.Independent ? "yes" : "no", e.External ? "yes" : "no", e.CreatedAt.ToString("u") }));
            }
            return ExitCodes.Ok;
        }, ct));
        eval.Subcommands.Add(list);

        var showRef = new Argument<string>("ref") { Description = "NAME@VERSION" };
        var id = new Argument<string>("id") { Description = "Evaluation id (eval_…)" };
        var show = new Command("show", "Show one evaluation, its metrics and its integrity; exits 7 when the record no longer verifies against its audit event")
        {
            showRef, id,
        };
        show.SetAction((parse, ct) => CliApp.WithRef(context, parse, showRef, async (client, model, version, c) =>
        {
            var evaluation = await client.GetEvaluationAsync(model, version, parse.GetValue(id)!, c);
            await Write(context, parse, evaluation);
            return evaluation.Integrity is { Verified: false } ? ExitCodes.VerificationFailed : ExitCodes.Ok;
        }, ct));
        eval.Subcommands.Add(show);

        var refA = new Argument<string>("ref-a") { Description = "NAME@VERSION of the first evaluation" };
        var idA = new Argument<string>("id-a") { Description = "First evaluation id" };
        var refB = new Argument<string>("ref-b") { Description = "NAME@VERSION of the second evaluation" };
        var idB = new Argument<string>("id-b") { Description = "Second evaluation id" };
        var compare = new Command("compare", "Compare two evaluations' metrics (B − A); for paired intervals run one with --baseline") { refA, idA, refB, idB };
        compare.SetAction((parse, ct) => CliApp.WithRef(context, parse, refA, async (client, modelA, versionA, c) =>
        {
            if (!CliApp.TrySplitRef(parse.GetValue(refB)!, out var modelB, out var versionB))
            {
                await context.Err.WriteLineAsync($"error: '{parse.GetValue(refB)}' is not NAME@VERSION");
                return ExitCodes.Usage;
            }
            var a = await client.GetEvaluationAsync(modelA, versionA, parse.GetValue(idA)!, c);
            var b = await client.GetEvaluationAsync(modelB, versionB, parse.GetValue(idB)!, c);
            var rows = Compare(a, b);
            if (a.Suite != b.Suite)
            {
                await context.Err.WriteLineAsync($"warning: the evaluations used different suites ({a.Suite[..12]}… and {b.Suite[..12]}…)");
            }
            if (CliApp.Json(parse))
            {
                await CliApp.WriteJsonAsync(context, new { a = a.Id, b = b.Id, sameSuite = a.Suite == b.Suite, metrics = rows.ToDictionary(r => r.Metric, r => new { r.A, r.B, delta = r.B - r.A }) });
            }
            else
            {
                CliApp.WriteTable(context.Out, ["METRIC", $"A {a.Version}", $"B {b.Version}", "B − A"], rows.Select(r => new[]
                {
                    r.Metric, CliApp.Figure(r.A), CliApp.Figure(r.B),
                    (r.B - r.A).ToString("+0.0000;-0.0000;0.0000", CultureInfo.InvariantCulture),
                }));
            }
            return ExitCodes.Ok;
        }, ct));
        eval.Subcommands.Add(compare);

        var cancelRef = new Argument<string>("ref") { Description = "NAME@VERSION" };
        var cancelId = new Argument<string>("id") { Description = "Evaluation id (eval_…)" };
        var cancel = new Command("cancel", "Cancel a queued or running evaluation") { cancelRef, cancelId };
        cancel.SetAction((parse, ct) => CliApp.WithRef(context, parse, cancelRef, async (client, model, version, c) =>
        {
            await Write(context, parse, await client.CancelEvaluationAsync(model, version, parse.GetValue(cancelId)!, c));
            return ExitCodes.Ok;
        }, ct));
        eval.Subcommands.Add(cancel);
        return eval;
    }


    /// <summary>
    /// A finished run whose suite thresholds did not pass is refused (5), so CI can gate on the exit code; a run that
    /// failed or was cancelled is an error (1); queued or running (--no-wait) and passed are 0.
    /// </summary>
    internal static int ExitCode(EvaluationDto e) => e.Status switch
    {
        EvaluationStatuses.Succeeded => e.Result is { ValueKind: JsonValueKind.Object } r && r.TryGetProperty("passed", out var passed)
            && passed.ValueKind == JsonValueKind.False ? ExitCodes.Refused : ExitCodes.Ok,
        _ when EvaluationStatuses.IsTerminal(e.Status) => ExitCodes.Error,
        _ => ExitCodes.Ok,
    };

    /// <summary>One line: verified, or what did not match.</summary>
    internal static string Integrity(EvidenceIntegrityDto i) =>
        i.Verified ? "verified (matches its audit event)" : $"NOT VERIFIED ({i.Failure}): expected {i.Expected}; found {i.Actual}";

    private static async Task Write(CliContext context, ParseResult parse, EvaluationDto e)
    {
        if (CliApp.Json(parse))
        {
            await CliApp.WriteJsonAsync(context, e);
            return;
        }
        await context.Out.WriteLineAsync($"{e.Id}  {e.Model}@{e.Version}  {e.Status}  rows {e.Progress.RowsDone}/{e.Progress.RowsTotal} (failed {e.Progress.RowsFailed})");
        await context.Out.WriteLineAsync($"  evaluator {e.Evaluator}  independent: {(e.Independent ? "yes" : "no")}  external: {(e.External ? "yes" : "no")}  suite sha256:{e.Suite}");
        if (e.Integrity is { } integrity)
        {
            await context.Out.WriteLineAsync($"  integrity: {Integrity(integrity)}");
        }
        if (e.Error is not null)
        {
            await context.Out.WriteLineAsync($"  {e.Error}");
        }
        if (e.Result is { } result && result.TryGetProperty("metrics", out var metrics))
        {
            foreach (var m in metrics.EnumerateObject())
            {
                var text = m.Value.ValueKind == JsonValueKind.Object && m.Value.TryGetProperty("value", out var v) ? Format(v, m.Value) : m.Value.ToString();
                await context.Out.WriteLineAsync($"  {m.Name,-32} {text}");
            }
            if (result.TryGetProperty("fairness", out var fairness) && fairness.ValueKind == JsonValueKind.Object)
            {
                var groups = string.Join(", ", fairness.GetProperty("selectionRateByGroup").EnumerateObject()
                    .Select(g => string.Create(CultureInfo.InvariantCulture, $"{g.Name} {g.Value.GetDouble():0.0000}")));
                await context.Out.WriteLineAsync($"  fairness by {fairness.GetProperty("sensitive").GetString()}: selection rate {groups}");
                foreach (var name in new[] { "demographicParityDifference", "demographicParityRatio", "equalizedOddsDifference", "equalOpportunityDifference" })
                {
                    await context.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"    {name,-30} {fairness.GetProperty(name).GetDouble():0.0000}"));
                }
            }
            if (result.TryGetProperty("thresholds", out var checks) && checks.GetArrayLength() > 0)
            {
                foreach (var c in checks.EnumerateArray())
                {
                    var bound = (c.GetProperty("min").ValueKind == JsonValueKind.Number ? $"≥ {c.GetProperty("min").GetDouble()}" : "") +
                                (c.GetProperty("max").ValueKind == JsonValueKind.Number ? $"≤ {c.GetProperty("max").GetDouble()}" : "");
                    var actual = c.GetProperty("actual").ValueKind == JsonValueKind.Number ? CliApp.Figure(c.GetProperty("actual").GetDouble()) : "n/a";
                    await context.Out.WriteLineAsync($"  check {c.GetProperty("metric").GetString()} {bound}: {actual} {(c.GetProperty("passed").GetBoolean() ? "pass" : "FAIL")}");
                }
                await context.Out.WriteLineAsync($"  suite thresholds: {(result.GetProperty("passed").GetBoolean() ? "passed" : "NOT passed")}");
            }
        }
    }

    internal static List<(string Metric, double A, double B)> Compare(EvaluationDto a, EvaluationDto b)
    {
        static Dictionary<string, double> Values(EvaluationDto e)
        {
            var result = new Dictionary<string, double>(StringComparer.Ordinal);
            if (e.Result is { } r && r.TryGetProperty("metrics", out var metrics))
            {
                foreach (var m in metrics.EnumerateObject())
                {
                    if (m.Value.ValueKind == JsonValueKind.Number)
                    {
                        result[m.Name] = m.Value.GetDouble();
                    }
                    else if (m.Value.ValueKind == JsonValueKind.Object && m.Value.TryGetProperty("value", out var v) && v.ValueKind == JsonValueKind.Number)
                    {
                        result[m.Name] = v.GetDouble();
                    }
                }
            }
            return result;
        }
        var va = Values(a);
        var vb = Values(b);
        return va.Keys.Intersect(vb.Keys).Order(StringComparer.Ordinal).Select(k => (k, va[k], vb[k])).ToList();
    }

    private static string Format(JsonElement value, JsonElement metric)
    {
        var s = value.ValueKind == JsonValueKind.Number ? CliApp.Figure(value.GetDouble()) : value.ToString();
        if (metric.TryGetProperty("ci", out var ci) && ci.ValueKind == JsonValueKind.Array && ci.GetArrayLength() == 2)
        {
            s += $"  [{CliApp.Figure(ci[0].GetDouble())}, {CliApp.Figure(ci[1].GetDouble())}]";
        }
        return s;
    }

    /// <summary>
    /// The secret held by the environment variable named by an option (<c>--upstream-key-env</c>, <c>--judge-key-env</c>): none
    /// when the option is not given; null (after saying why) when the variable is unset or empty.
    /// </summary>
    private static async Task<StrongBox<string?>?> KeyFromEnvironmentAsync(CliContext context, string? variable)
    {
        if (variable is null)
        {
            return new StrongBox<string?>(null);
        }
        if (context.Environment(variable) is { Length: > 0 } value)
        {
            return new StrongBox<string?>(value);
        }
        await context.Err.WriteLineAsync($"error: the environment variable {variable} is not set");
        return null;
    }
}
