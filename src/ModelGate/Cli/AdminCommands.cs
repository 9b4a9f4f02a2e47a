using System.CommandLine;
using System.Globalization;
using ModelGate.Client;

namespace ModelGate.Cli;

internal static class AdminCommands
{
    public static Command Audit(CliContext context)
    {
        var audit = new Command("audit", "Read and verify the hash-chained audit log");

        var subject = new Option<string?>("--subject") { Description = "Exact subject, or a prefix ending in * (e.g. 'models/adult-income*')" };
        var actor = new Option<string?>("--actor") { Description = "Key id of the actor" };
        var from = new Option<DateTimeOffset?>("--from") { Description = "Events at or after this time (ISO 8601)" };
        var to = new Option<DateTimeOffset?>("--to") { Description = "Events before this time (ISO 8601)" };
        var offset = new Option<int>("--offset") { DefaultValueFactory = _ => 0, Description = "Skip this many" };
        var limit = new Option<int>("--limit") { DefaultValueFactory = _ => 100, Description = "At most this many (1–1000)" };
        var log = new Command("log", "List audit events in sequence order") { subject, actor, from, to, offset, limit };
        log.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            var page = await client.ListAuditAsync(parse.GetValue(subject), parse.GetValue(actor), parse.GetValue(from), parse.GetValue(to),
                parse.GetValue(offset), parse.GetValue(limit), c);
            if (CliApp.Json(parse))
            {
                await CliApp.WriteJsonAsync(context, page);
            }
            else
            {
                CliApp.WriteTable(context.Out, ["SEQ", "TIME", "ACTOR", "ACTION", "SUBJECT", "OUTCOME"],
                    page.Items.Select(e => new[] { e.Sequence.ToString(CultureInfo.InvariantCulture), e.Time.ToString("u"), e.Actor, e.Action, e.Subject, e.Outcome }));
                await context.Out.WriteLineAsync($"({page.Items.Count} of {page.Total})");
            }
            return ExitCodes.Ok;
        }, ct));
        audit.Subcommands.Add(log);

        var checkpointsFile = new Option<FileInfo?>("--checkpoints")
        {
            Description = "A copy of the checkpoint sink (JSON lines): every line's signature is checked here, and the store must still hold the events they sign",
        };
        var publicKey = new Option<string?>("--public-key")
        {
            Description = "Base64 Ed25519 key to check checkpoint signatures with (default: the server's, from /api/v1/audit/checkpoint-key)",
        };
        var verify = new Command("verify", "Recompute the keyed hash chain, check it against signed checkpoints and re-verify every evidence record; exits 7 and names the first broken event or the tampered records")
        {
            checkpointsFile, publicKey,
        };
        verify.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            AuditVerifyDto result;
            AuditCheckpointReportDto? local = null;
            if (parse.GetValue(checkpointsFile) is { } file)
            {
                var lines = await File.ReadAllLinesAsync(file.FullName, c);
                var key = parse.GetValue(publicKey) ?? (await client.GetAuditCheckpointKeyAsync(c)).PublicKey;
                local = ModelGate.Audit.AuditCheckpoints.Check(file.FullName, lines, key, out _);
                // The server compares the newest lines with the events they sign; every line's signature was checked here.
                var newest = lines.Where(l => !string.IsNullOrWhiteSpace(l)).TakeLast(ModelGate.Audit.AuditApi.MaxCheckpointLines).ToList();
                result = await client.VerifyAuditAsync(new AuditVerifyRequest(newest), c);
                result = result with { Checkpoints = local };
                if (result.Valid && local.BadLines.Count > 0)
                {
                    result = result with
                    {
                        Valid = false,
                        Reason = $"checkpoint line(s) {string.Join(", ", local.BadLines.Take(10))} of {file.Name} do not verify under the checkpoint key: forged or altered",
                    };
                }
            }
            else
            {
                result = await client.VerifyAuditAsync(c);
            }
            if (CliApp.Json(parse))
            {
                await CliApp.WriteJsonAsync(context, result);
            }
            else
            {
                if (result.Valid)
                {
                    await context.Out.WriteLineAsync($"audit chain intact: {result.Checked} events, head {result.HeadHash}");
                }
                else if (result.FirstBrokenSequence is { } broken)
                {
                    await context.Out.WriteLineAsync($"audit chain BROKEN at sequence {broken}: {result.Reason} ({result.Checked} events before it verified)");
                }
                else
                {
                    await context.Out.WriteLineAsync($"audit verification FAILED: {result.Reason}");
                }
                if (result.Checkpoints is { } cp)
                {
                    await context.Out.WriteLineAsync($"checkpoints ({cp.Source}): {cp.Count} lines, {cp.ValidSignatures} with a valid signature" +
                        (cp.BadLines.Count > 0 ? $", {cp.BadLines.Count} INVALID (lines {string.Join(", ", cp.BadLines.Take(10))})" : "") +
                        (cp.Last is { } last ? $"; newest signed head: event {last.Sequence} at {last.Time:u}" : ""));
                }
                if (result.Evidence is { } evidence)
                {
                    await context.Out.WriteLineAsync($"evidence records: {evidence.Checked} checked, {evidence.Failed} do not verify");
                    foreach (var r in evidence.Records)
                    {
                        await context.Out.WriteLineAsync($"  TAMPERED {r.Kind} {r.Id}: {r.Failure}: expected {r.Expected}; found {r.Actual}");
                    }
                }
                if (result.CheckpointPublicKey is { } k)
                {
                    await context.Out.WriteLineAsync($"checkpoint key (ed25519): {k}");
                }
            }
            return result.Valid ? ExitCodes.Ok : ExitCodes.VerificationFailed;
        }, ct));
        audit.Subcommands.Add(verify);
        return audit;
    }

    /// <summary><c>modelgate whoami</c>: the principal the configured key or token acts as.</summary>
    public static Command WhoAmI(CliContext context)
    {
        var whoami = new Command("whoami", "Show who the key or token (MODELGATE_TOKEN, --token) acts as: principal, roles, how authenticated");
        whoami.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            var me = await client.GetMeAsync(c);
            if (CliApp.Json(parse))
            {
                await CliApp.WriteJsonAsync(context, me);
                return ExitCodes.Ok;
            }
            await context.Out.WriteLineAsync($"{me.Identity}{(me.DisplayName is { } n ? $" ({n})" : "")}: {me.Kind} principal {me.Principal}");
            await context.Out.WriteLineAsync($"roles: {(me.Roles.Count == 0 ? "none" : string.Join(", ", me.Roles))}");
            await context.Out.WriteLineAsync(me.AuthenticatedBy == MeDto.ByOidc ? $"authenticated by: OpenID Connect token from {me.Issuer}"
                : $"authenticated by: API key {me.KeyId} ({me.KeyName})");
            return ExitCodes.Ok;
        }, ct));
        return whoami;
    }

    public static Command Key(CliContext context)
    {
        var key = new Command("key", "Create, list and revoke API keys (admin)");

        var name = new Option<string>("--name") { Description = "What the key is for", Required = true };
        var roles = new Option<string[]>("--role") { Description = $"A role (repeatable): {string.Join(", ", Roles.All)}", Required = true, AllowMultipleArgumentsPerToken = true };
        roles.AcceptOnlyFromAmong([.. Roles.All]);
        var expires = new Option<DateTimeOffset?>("--expires") { Description = "Expiry time (ISO 8601)" };
        var deployments = new Option<string[]?>("--deployments")
        {
            Description = "Scope the key to these deployments (repeatable or space-separated); default: all", AllowMultipleArgumentsPerToken = true,
        };
        var rpm = new Option<int?>("--rpm") { Description = "Requests per minute the key may send" };
        var tpm = new Option<int?>("--tpm") { Description = "Tokens per minute the key may use" };
        var budget = new Option<double?>("--budget") { Description = "Cost budget of the key (in the prices' currency)" };
        var noPinning = new Option<bool>("--no-pinning") { Description = "The key may not pin a version (x-modelgate-version)" };
        var principal = new Option<string?>("--principal")
        {
            Description = "The principal (id or identity, e.g. alice@example.com) the key acts for; it must hold every --role. Left out: the key is its own " +
                          "service principal, which cannot hold the approving roles (ml-lead, product-owner, risk-committee)",
        };
        var create = new Command("create", "Create a key; the key is printed once") { name, roles, expires, deployments, rpm, tpm, budget, noPinning, principal };
        create.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            var scope = parse.GetValue(deployments) is { Length: > 0 } d ? d : null;
            var created = await client.CreateKeyAsync(new CreateKeyRequest(parse.GetValue(name)!, parse.GetValue(roles)!, parse.GetValue(expires), scope,
                parse.GetValue(rpm), !parse.GetValue(noPinning), parse.GetValue(tpm), parse.GetValue(budget), parse.GetValue(principal)), c);
            if (CliApp.Json(parse))
            {
                await CliApp.WriteJsonAsync(context, created);
            }
            else
            {
                await context.Out.WriteLineAsync($"key: {created.Key}");
                await context.Out.WriteLineAsync($"  id {created.Id}, principal {created.Principal}, roles {string.Join(", ", created.Roles)} (the key is shown only now)");
            }
            return ExitCodes.Ok;
        }, ct));
        key.Subcommands.Add(create);

        var list = new Command("list", "List keys (prefixes only)");
        list.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            var keys = await client.ListKeysAsync(c);
            if (CliApp.Json(parse))
            {
                await CliApp.WriteJsonAsync(context, keys);
            }
            else
            {
                CliApp.WriteTable(context.Out, ["ID", "NAME", "PREFIX", "ROLES", "EXPIRES", "REVOKED"],
                    keys.Select(k => new[] { k.Id, k.Name, k.Prefix + "…", string.Join(",", k.Roles), k.ExpiresAt?.ToString("u") ?? "-", k.RevokedAt?.ToString("u") ?? "-" }));
            }
            return ExitCodes.Ok;
        }, ct));
        key.Subcommands.Add(list);

        var id = new Argument<string>("id") { Description = "Key id (key_…)" };
        var revoke = new Command("revoke", "Revoke a key") { id };
        revoke.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            var revoked = await client.RevokeKeyAsync(parse.GetValue(id)!, c);
            if (CliApp.Json(parse))
            {
                await CliApp.WriteJsonAsync(context, revoked);
            }
            else
            {
                await context.Out.WriteLineAsync($"revoked {revoked.Id} ({revoked.Name}) at {revoked.RevokedAt:u}");
            }
            return ExitCodes.Ok;
        }, ct));
        key.Subcommands.Add(revoke);
        return key;
    }

    public static Command Principals(CliContext context)
    {
        var principals = new Command("principals", "People and services that keys act for; only people hold the approving roles (admin)");

        var kind = new Option<string>("--kind") { Description = "person or service", DefaultValueFactory = _ => PrincipalKinds.Person };
        kind.AcceptOnlyFromAmong(PrincipalKinds.Person, PrincipalKinds.Service);
        var identity = new Option<string>("--identity") { Description = "E-mail or subject (1–320 characters, unique case-insensitively)", Required = true };
        var displayName = new Option<string?>("--display-name") { Description = "A name to show" };
        var roles = new Option<string[]>("--role") { Description = $"A role (repeatable): {string.Join(", ", Roles.All)}", AllowMultipleArgumentsPerToken = true };
        roles.AcceptOnlyFromAmong([.. Roles.All]);
        var create = new Command("create", "Create a principal (granting an approving role is audited; nobody grants one to themselves)") { kind, identity, displayName, roles };
        create.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            var created = await client.CreatePrincipalAsync(new CreatePrincipalRequest(parse.GetValue(kind)!, parse.GetValue(identity)!, parse.GetValue(displayName),
                parse.GetValue(roles) ?? []), c);
            await WritePrincipalAsync(context, parse, created, "created");
            return ExitCodes.Ok;
        }, ct));
        principals.Subcommands.Add(create);

        var list = new Command("list", "List principals");
        list.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            var all = await client.ListPrincipalsAsync(c);
            if (CliApp.Json(parse))
            {
                await CliApp.WriteJsonAsync(context, all);
            }
            else
            {
                CliApp.WriteTable(context.Out, ["ID", "KIND", "IDENTITY", "NAME", "ROLES", "SOURCE", "DISABLED"],
                    all.Select(p => new[] { p.Id, p.Kind, p.Identity, p.DisplayName ?? "-", string.Join(",", p.Roles), p.Source, p.DisabledAt?.ToString("u") ?? "-" }));
            }
            return ExitCodes.Ok;
        }, ct));
        principals.Subcommands.Add(list);

        Argument<string> Who() => new("principal") { Description = "Principal id (prn_…) or identity" };

        var showWho = Who();
        var show = new Command("show", "Show a principal and its keys") { showWho };
        show.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            var found = await client.GetPrincipalAsync(parse.GetValue(showWho)!, c);
            await WritePrincipalAsync(context, parse, found, null);
            return ExitCodes.Ok;
        }, ct));
        principals.Subcommands.Add(show);

        Command Change(string verb, string description, Func<string[], UpdatePrincipalRequest> request, bool takesRoles)
        {
            var who = Who();
            var changeRoles = new Option<string[]>("--role") { Description = $"A role (repeatable): {string.Join(", ", Roles.All)}", Required = true, AllowMultipleArgumentsPerToken = true };
            changeRoles.AcceptOnlyFromAmong([.. Roles.All]);
            var command = new Command(verb, description) { who };
            if (takesRoles)
            {
                command.Options.Add(changeRoles);
            }
            command.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
            {
                var updated = await client.UpdatePrincipalAsync(parse.GetValue(who)!, request(takesRoles ? parse.GetValue(changeRoles)! : []), c);
                await WritePrincipalAsync(context, parse, updated, verb == "disable" ? "disabled" : "updated");
                return ExitCodes.Ok;
            }, ct));
            return command;
        }

        principals.Subcommands.Add(Change("grant", "Grant roles (audited; an approving role goes to a person, never to yourself)", r => new UpdatePrincipalRequest(Grant: r), true));
        principals.Subcommands.Add(Change("revoke", "Remove roles; every key of the principal loses them at once", r => new UpdatePrincipalRequest(Revoke: r), true));
        principals.Subcommands.Add(Change("disable", "Disable the principal; its keys stop working at once (it stays disabled)", _ => new UpdatePrincipalRequest(Disabled: true), false));
        return principals;
    }

    private static async Task WritePrincipalAsync(CliContext context, System.CommandLine.ParseResult parse, PrincipalDto p, string? verb)
    {
        if (CliApp.Json(parse))
        {
            await CliApp.WriteJsonAsync(context, p);
            return;
        }
        await context.Out.WriteLineAsync($"{(verb is null ? "" : verb + " ")}{p.Id}: {p.Kind} {p.Identity}{(p.DisplayName is null ? "" : $" ({p.DisplayName})")}");
        await context.Out.WriteLineAsync($"  roles {(p.Roles.Count == 0 ? "(none)" : string.Join(", ", p.Roles))}; source {p.Source}; created {p.CreatedAt:u} by {p.CreatedBy}" +
                                         (p.DisabledAt is { } d ? $"; DISABLED {d:u} by {p.DisabledBy}" : ""));
        if (p.Keys is { } keys)
        {
            CliApp.WriteTable(context.Out, ["KEY", "NAME", "PREFIX", "ROLES", "EXPIRES", "REVOKED"],
                keys.Select(k => new[] { k.Id, k.Name, k.Prefix + "…", string.Join(",", k.Roles), k.ExpiresAt?.ToString("u") ?? "-", k.RevokedAt?.ToString("u") ?? "-" }));
        }
    }
}
