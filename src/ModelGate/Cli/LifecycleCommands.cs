using System.CommandLine;
using System.Globalization;
using ModelGate.Client;
using ModelGate.Lifecycle;

namespace ModelGate.Cli;

/// <summary><c>promote</c>, <c>approve</c>, <c>approvals</c>, <c>staging verify|show</c>, <c>retire</c>, <c>archive verify</c>, <c>policy</c>, <c>reviews</c>.</summary>
internal static class LifecycleCommands
{
    public static IEnumerable<Command> Create(CliContext context) =>
        [Promote(context), Approve(context), Approvals(context), Staging(context), Retire(context), Archive(context), Policy(context), Reviews(context)];

    private static Argument<string> Ref() => new("ref") { Description = "NAME@VERSION" };

    private static Command Promote(CliContext context)
    {
        var reference = Ref();
        var to = new Option<string>("--to") { Description = "Target stage: evaluated, registered, staging, production or rejected", Required = true };
        var reason = new Option<string>("--reason") { Description = "Why (recorded with the transition)", DefaultValueFactory = _ => "promoted with the CLI" };
        var dryRun = new Option<bool>("--dry-run") { Description = "Print the gate report without changing anything" };
        var command = new Command("promote", "Move a version to another stage through its gate; a refusal lists every failed check") { reference, to, reason, dryRun };
        command.SetAction((parse, ct) => CliApp.WithRef(context, parse, reference, async (client, model, version, c) =>
        {
            var request = new TransitionRequest(parse.GetValue(to)!, parse.GetValue(reason)!);
            if (parse.GetValue(dryRun))
            {
                var report = await client.DryRunTransitionAsync(model, version, request, c);
                await WriteReport(context, parse, report.Checks, report.Passed ? $"{model}@{version} would move {report.From} → {report.To}" : null);
                return report.Passed ? ExitCodes.Ok : ExitCodes.Refused;
            }
            return await Transition(context, parse, client, model, version, request, c);
        }, ct));
        return command;
    }

    private static Command Retire(CliContext context)
    {
        var reference = Ref();
        var trigger = new Option<string>("--trigger") { Description = string.Join(", ", RetirementTriggers.All), Required = true };
        trigger.AcceptOnlyFromAmong([.. RetirementTriggers.All]);
        var replacement = new Option<string?>("--replacement") { Description = "The version that takes over traffic from deployments still routing this one" };
        var reason = new Option<string>("--reason") { Description = "Why", DefaultValueFactory = _ => "retired with the CLI" };
        var command = new Command("retire", "Retire a version: traffic moves to the replacement, it is unloaded and archived") { reference, trigger, replacement, reason };
        command.SetAction((parse, ct) => CliApp.WithRef(context, parse, reference, (client, model, version, c) =>
            Transition(context, parse, client, model, version,
                new TransitionRequest(Stages.Retired, parse.GetValue(reason)!, parse.GetValue(trigger), parse.GetValue(replacement)), c), ct));
        return command;
    }

    private static async Task<int> Transition(CliContext context, ParseResult parse, ModelGateClient client, string model, string version, TransitionRequest request,
        CancellationToken ct)
    {
        try
        {
            var done = await client.TransitionAsync(model, version, request, ct);
            if (CliApp.Json(parse))
            {
                await CliApp.WriteJsonAsync(context, done);
            }
            else
            {
                await context.Out.WriteLineAsync($"{model}@{version}: {done.From} → {done.To}" + (done.ArchiveSha256 is { } a ? $" (archive sha256 {a})" : ""));
            }
            return ExitCodes.Ok;
        }
        catch (ModelGateApiException e) when (e.Problem?.Checks is { } checks)
        {
            await context.Err.WriteLineAsync($"refused: {model}@{version} cannot move to {request.To}");
            await WriteReport(context, parse, checks, null);
            return ExitCodes.Refused;
        }
    }

    private static async Task WriteReport(CliContext context, ParseResult parse, IReadOnlyList<GateCheck> checks, string? passedLine)
    {
        if (CliApp.Json(parse))
        {
            await CliApp.WriteJsonAsync(context, checks);
            return;
        }
        CliApp.WriteTable(context.Out, ["CHECK", "EXPECTED", "ACTUAL", "RESULT"], checks.Select(c => new[] { c.Check, c.Expected, c.Actual, c.Passed ? "pass" : "FAIL" }));
        if (passedLine is not null)
        {
            await context.Out.WriteLineAsync(passedLine);
        }
    }

    private static Command Approve(CliContext context)
    {
        var reference = Ref();
        var role = new Option<string>("--role") { Description = "The approving role you act in", Required = true };
        role.AcceptOnlyFromAmong([.. ApprovalRoles.All]);
        var reject = new Option<bool>("--reject") { Description = "Record a rejection instead of an approval" };
        var evidence = new Option<string[]>("--evidence") { Description = "Evaluation and staging-verification ids reviewed", Required = true, AllowMultipleArgumentsPerToken = true };
        var risks = new Option<string>("--risks") { Description = "The risks accepted", Required = true };
        var monitoring = new Option<string>("--monitoring-plan") { Required = true };
        var rollback = new Option<string>("--rollback-plan") { Required = true };
        var review = new Option<string>("--next-review") { Description = "Next review date (yyyy-MM-dd)", Required = true };
        var comment = new Option<string?>("--comment");
        var command = new Command("approve", "Record your approval (or rejection) of a version's production release")
        {
            reference, role, reject, evidence, risks, monitoring, rollback, review, comment,
        };
        command.SetAction((parse, ct) =>
        {
            if (!DateTime.TryParseExact(parse.GetValue(review), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal,
                    out var next))
            {
                context.Err.WriteLine("error: --next-review is a date, yyyy-MM-dd");
                return Task.FromResult(ExitCodes.Usage);
            }
            return CliApp.WithRef(context, parse, reference, async (client, model, version, c) =>
            {
                var approval = await client.ApproveAsync(model, version, new ApprovalRequest(
                    parse.GetValue(reject) ? ApprovalDecisions.Reject : ApprovalDecisions.Approve, parse.GetValue(role)!, parse.GetValue(evidence)!,
                    parse.GetValue(risks)!, parse.GetValue(monitoring)!, parse.GetValue(rollback)!, next, parse.GetValue(comment)), c);
                if (CliApp.Json(parse))
                {
                    await CliApp.WriteJsonAsync(context, approval);
                }
                else
                {
                    await context.Out.WriteLineAsync($"{approval.Decision} recorded as {approval.Role}: {approval.Id}");
                }
                return ExitCodes.Ok;
            }, ct);
        });
        return command;
    }

    /// <summary><c>approvals NAME@VERSION</c>: the version's approvals with their integrity; exits 7 when one no longer verifies.</summary>
    private static Command Approvals(CliContext context)
    {
        var reference = Ref();
        var command = new Command("approvals", "Show a version's approvals and whether each still verifies against its audit event; exits 7 if one does not")
        {
            reference,
        };
        command.SetAction((parse, ct) => CliApp.WithRef(context, parse, reference, async (client, model, version, c) =>
        {
            var approvals = await client.ListApprovalsAsync(model, version, c);
            if (CliApp.Json(parse))
            {
                await CliApp.WriteJsonAsync(context, approvals);
            }
            else
            {
                CliApp.WriteTable(context.Out, ["ID", "DECISION", "ROLE", "APPROVER", "TIME", "INTEGRITY"], approvals.Select(a => new[]
                {
                    a.Id, a.Decision, a.Role, a.Approver, a.Time.ToString("u", CultureInfo.InvariantCulture), IntegrityCell(a.Integrity),
                }));
                await WriteIntegrityFailuresAsync(context, approvals.Select(a => a.Integrity));
            }
            return approvals.Any(a => a.Integrity is { Verified: false }) ? ExitCodes.VerificationFailed : ExitCodes.Ok;
        }, ct));
        return command;
    }

    private static string IntegrityCell(EvidenceIntegrityDto? integrity) =>
        integrity is null ? "-" : integrity.Verified ? "verified" : "NOT VERIFIED";

    private static async Task WriteIntegrityFailuresAsync(CliContext context, IEnumerable<EvidenceIntegrityDto?> integrity)
    {
        foreach (var i in integrity.Where(i => i is { Verified: false }))
        {
            await context.Out.WriteLineAsync($"{i!.Id}: {EvalCommands.Integrity(i)}");
        }
    }

    private static Command Staging(CliContext context)
    {
        var reference = Ref();
        var deployment = new Option<string?>("--deployment") { Description = "The staging deployment (default: the one routing the version)" };
        var requests = new Option<int>("--requests") { Description = "Requests in the short load", DefaultValueFactory = _ => 200 };
        var smokeRows = new Option<int>("--smoke-rows") { Description = "Smoke requests (the first rows of the smoke set)", DefaultValueFactory = _ => 20 };
        var smokeSet = new Option<string?>("--smoke-set")
        {
            Description = "LLM versions: a JSONL smoke set (a file, uploaded first, or the digest of one); default: the version's smoke.jsonl, else its latest llm-chat evaluation's dataset",
        };
        var verify = new Command("verify", "Check a staging version through the data plane: load, smoke, latency, logging, telemetry, rollback drill")
        {
            reference, deployment, requests, smokeRows, smokeSet,
        };
        verify.SetAction((parse, ct) => CliApp.WithRef(context, parse, reference, async (client, model, version, c) =>
        {
            var smoke = parse.GetValue(smokeSet);
            if (smoke is not null && File.Exists(smoke))
            {
                if (await RegistryCommands.PushFileAsync(context, client, smoke, c) is not { } pushed)
                {
                    return ExitCodes.Usage;
                }
                smoke = pushed.Sha256;
            }
            await context.Err.WriteLineAsync($"verifying {model}@{version} on staging…");
            var result = await client.VerifyStagingAsync(model, version, new StagingVerificationRequest(parse.GetValue(deployment), parse.GetValue(smokeRows),
                parse.GetValue(requests), SmokeDataset: smoke), c);
            if (CliApp.Json(parse))
            {
                await CliApp.WriteJsonAsync(context, result);
            }
            else
            {
                CliApp.WriteTable(context.Out, ["CHECK", "RESULT", "DETAIL"], result.Checks.Select(k => new[] { k.Check, k.Passed ? "pass" : "FAIL", k.Detail }));
                await context.Out.WriteLineAsync($"{result.Id}: {(result.Passed ? "passed" : "failed")} on {result.Deployment}");
            }
            return result.Passed ? ExitCodes.Ok : ExitCodes.VerificationFailed;
        }, ct));
        var showRef = Ref();
        var show = new Command("show", "Show a version's staging verifications and whether each still verifies against its audit event; exits 7 if one does not")
        {
            showRef,
        };
        show.SetAction((parse, ct) => CliApp.WithRef(context, parse, showRef, async (client, model, version, c) =>
        {
            var verifications = await client.ListStagingVerificationsAsync(model, version, c);
            if (CliApp.Json(parse))
            {
                await CliApp.WriteJsonAsync(context, verifications);
            }
            else
            {
                CliApp.WriteTable(context.Out, ["ID", "RESULT", "DEPLOYMENT", "CREATED", "INTEGRITY"], verifications.Select(v => new[]
                {
                    v.Id, v.Passed ? "passed" : "failed", v.Deployment, v.CreatedAt.ToString("u", CultureInfo.InvariantCulture), IntegrityCell(v.Integrity),
                }));
                await WriteIntegrityFailuresAsync(context, verifications.Select(v => v.Integrity));
            }
            return verifications.Any(v => v.Integrity is { Verified: false }) ? ExitCodes.VerificationFailed : ExitCodes.Ok;
        }, ct));
        return new Command("staging", "Staging checks") { verify, show };
    }

    private static Command Archive(CliContext context)
    {
        var file = new Argument<string>("archive") { Description = "A retirement archive (.tar.gz), or its sha256 to fetch from the server" };
        var verify = new Command("verify", "Check every entry of a retirement archive against its SHA-256 manifest") { file };
        verify.SetAction(async (parse, ct) =>
        {
            var target = parse.GetValue(file)!;
            if (File.Exists(target))
            {
                await using var stream = File.OpenRead(target);
                return await Report(stream);
            }
            if (target.Length != 64 || !target.All(Uri.IsHexDigit))
            {
                await context.Err.WriteLineAsync($"error: '{target}' is neither a file nor a sha256");
                return ExitCodes.Usage;
            }
            return await CliApp.Call(context, parse, async (client, c) =>
            {
                using var buffer = new MemoryStream();
                await client.PullArtifactAsync(target, buffer, ct: c);
                buffer.Position = 0;
                return await Report(buffer);
            }, ct);
        });
        return new Command("archive", "Retirement archives") { verify };

        async Task<int> Report(Stream stream)
        {
            var problems = await RetirementArchive.VerifyAsync(stream, CancellationToken.None);
            foreach (var problem in problems)
            {
                await context.Err.WriteLineAsync($"mismatch: {problem}");
            }
            await context.Out.WriteLineAsync(problems.Count == 0 ? "archive verified: every entry matches the manifest" : $"archive NOT verified: {problems.Count} problem(s)");
            return problems.Count == 0 ? ExitCodes.Ok : ExitCodes.VerificationFailed;
        }
    }

    private static Command Policy(CliContext context)
    {
        var scope = new Argument<string>("scope") { Description = "default, or a model name" };
        var show = new Command("show", "Show the policy in force") { scope };
        show.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            await CliApp.WriteJsonAsync(context, await client.GetPolicyAsync(parse.GetValue(scope)!, c));
            return ExitCodes.Ok;
        }, ct));
        var setScope = new Argument<string>("scope") { Description = "default, or a model name" };
        var file = new Argument<FileInfo>("file") { Description = "The policy, JSON or YAML" };
        var set = new Command("set", "Write a new revision of a policy") { setScope, file };
        set.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            var written = await client.PutPolicyAsync(parse.GetValue(setScope)!, await File.ReadAllTextAsync(parse.GetValue(file)!.FullName, c), c);
            await context.Out.WriteLineAsync($"policy {written.Scope} revision {written.Revision} ({written.DocumentSha256[..12]})");
            return ExitCodes.Ok;
        }, ct));
        return new Command("policy", "Gate policies") { show, set };
    }

    private static Command Reviews(CliContext context)
    {
        var due = new Command("due", "Production versions whose review date has passed");
        due.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            var items = await client.ReviewsDueAsync(c);
            if (CliApp.Json(parse))
            {
                await CliApp.WriteJsonAsync(context, items);
            }
            else
            {
                CliApp.WriteTable(context.Out, ["MODEL", "VERSION", "DUE", "DAYS OVERDUE", "OWNER"], items.Select(r => new[]
                {
                    r.Model, r.Version, r.NextReviewAt.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), r.DaysOverdue.ToString("0.#", CultureInfo.InvariantCulture), r.Owner,
                }));
            }
            return ExitCodes.Ok;
        }, ct));
        return new Command("reviews", "Periodic reviews of production versions") { due };
    }
}
