using System.CommandLine;
using System.Security.Cryptography;
using System.Text.Json;
using ModelGate.Client;
using ModelGate.Registry;

namespace ModelGate.Cli;

internal static class RegistryCommands
{
    public static Command Model(CliContext context)
    {
        var model = new Command("model", "Create, list and show models");

        var name = new Argument<string>("name") { Description = "Model name (lower-case slug)" };
        var owner = new Option<string>("--owner") { Description = "Owning team or person", Required = true };
        var risk = new Option<string>("--risk-tier") { Description = "low, medium or high", Required = true };
        risk.AcceptOnlyFromAmong([.. RiskTiers.All]);
        var task = new Option<string>("--task") { Description = string.Join(", ", ModelTasks.All), Required = true };
        task.AcceptOnlyFromAmong([.. ModelTasks.All]);
        var license = new Option<string?>("--license") { Description = "Licence (SPDX id or text)" };
        var description = new Option<string?>("--description") { Description = "What the model is for" };
        var tags = new Option<string[]>("--tag") { Description = "A tag (repeatable)" };
        var create = new Command("create", "Create a model") { name, owner, risk, task, license, description, tags };
        create.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            var created = await client.CreateModelAsync(new CreateModelRequest(parse.GetValue(name)!, parse.GetValue(owner)!, parse.GetValue(risk)!,
                parse.GetValue(task)!, parse.GetValue(license), parse.GetValue(description), parse.GetValue(tags)), c);
            await WriteModel(context, parse, created);
            return ExitCodes.Ok;
        }, ct));
        model.Subcommands.Add(create);

        var (offset, limit) = PageOptions();
        var list = new Command("list", "List models") { offset, limit };
        list.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            var page = await client.ListModelsAsync(parse.GetValue(offset), parse.GetValue(limit), c);
            if (CliApp.Json(parse))
            {
                await CliApp.WriteJsonAsync(context, page);
            }
            else
            {
                CliApp.WriteTable(context.Out, ["NAME", "OWNER", "RISK", "TASK", "LATEST", "VERSIONS"],
                    page.Items.Select(m => new[] { m.Name, m.Owner, m.RiskTier, m.Task, m.LatestVersion ?? "-", m.VersionCount.ToString(System.Globalization.CultureInfo.InvariantCulture) }));
            }
            return ExitCodes.Ok;
        }, ct));
        model.Subcommands.Add(list);

        var showName = new Argument<string>("name") { Description = "Model name" };
        var show = new Command("show", "Show a model") { showName };
        show.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            await WriteModel(context, parse, await client.GetModelAsync(parse.GetValue(showName)!, c));
            return ExitCodes.Ok;
        }, ct));
        model.Subcommands.Add(show);
        model.Subcommands.Add(Update(context));
        model.Subcommands.Add(ApproveFloor(context));
        model.Subcommands.Add(Card(context));
        return model;
    }

    /// <summary><c>model update NAME [--owner O] [--risk-tier T]</c>: an audited model update; lowering the tier needs a floor approval.</summary>
    private static Command Update(CliContext context)
    {
        var name = new Argument<string>("name") { Description = "Model name" };
        var owner = new Option<string?>("--owner") { Description = "The new owning team or person" };
        var risk = new Option<string?>("--risk-tier") { Description = "low, medium or high (lowering it is refused until the tier's authority approves: model approve-floor)" };
        risk.AcceptOnlyFromAmong([.. RiskTiers.All]);
        var update = new Command("update", "Change a model's owner or risk tier (audited)") { name, owner, risk };
        update.SetAction((parse, ct) =>
        {
            if (parse.GetValue(owner) is null && parse.GetValue(risk) is null)
            {
                context.Err.WriteLine("error: give --owner, --risk-tier or both");
                return Task.FromResult(ExitCodes.Usage);
            }
            return CliApp.Call(context, parse, async (client, c) =>
            {
                await WriteModel(context, parse, await client.UpdateModelAsync(parse.GetValue(name)!, new UpdateModelRequest(parse.GetValue(owner), parse.GetValue(risk)), c));
                return ExitCodes.Ok;
            }, ct);
        });
        return update;
    }

    /// <summary><c>model approve-floor NAME --change ID --reason R</c>: the tier's authority approves one change that goes below its floor.</summary>
    private static Command ApproveFloor(CliContext context)
    {
        var name = new Argument<string>("name") { Description = "Model name" };
        var change = new Option<string>("--change") { Description = "The change id a refusal (policy_below_floor) named", Required = true };
        var reason = new Option<string>("--reason") { Description = "Why the weakening is acceptable (recorded in the audit chain)", Required = true };
        var approve = new Command("approve-floor", "Approve a policy change or tier change below the risk tier's floor (the tier's authority; not the requester)")
        {
            name, change, reason,
        };
        approve.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            var approval = await client.ApproveFloorChangeAsync(parse.GetValue(name)!, new FloorApprovalRequest(parse.GetValue(change)!, parse.GetValue(reason)!), c);
            if (CliApp.Json(parse))
            {
                await CliApp.WriteJsonAsync(context, approval);
            }
            else
            {
                await context.Out.WriteLineAsync(
                    $"approved {approval.Kind} of {approval.Model} below the floor ({string.Join(", ", approval.Fields)}), requested by {approval.RequestedBy}, approved by {approval.ApprovedBy} as {approval.Role}");
            }
            return ExitCodes.Ok;
        }, ct));
        return approve;
    }

    /// <summary><c>model card set NAME@VERSION FILE</c> (JSON or YAML, sent as JSON) and <c>model card show NAME@VERSION</c>.</summary>
    private static Command Card(CliContext context)
    {
        var setRef = new Argument<string>("ref") { Description = "NAME@VERSION" };
        var file = new Argument<FileInfo>("file") { Description = "The card, JSON or YAML (intendedUse, outOfScopeUse, limitations, trainingData, evaluation, ethicalConsiderations, markdown)" };
        var set = new Command("set", "Write a version's model card (replaces it)") { setRef, file };
        set.SetAction((parse, ct) =>
        {
            JsonElement card;
            try
            {
                card = JsonDocument.Parse(Evaluation.SuiteDocuments.ToJson(File.ReadAllText(parse.GetValue(file)!.FullName))).RootElement.Clone();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or YamlDotNet.Core.YamlException)
            {
                context.Err.WriteLine($"error: cannot read the card {parse.GetValue(file)!.Name}: {e.Message}");
                return Task.FromResult(ExitCodes.Usage);
            }
            return CliApp.WithRef(context, parse, setRef, async (client, model, version, c) =>
            {
                var written = await client.PutCardAsync(model, version, card, c);
                if (CliApp.Json(parse))
                {
                    await CliApp.WriteJsonAsync(context, written);
                }
                else
                {
                    await context.Out.WriteLineAsync($"card of {model}@{version} written");
                }
                return ExitCodes.Ok;
            }, ct);
        });
        var showRef = new Argument<string>("ref") { Description = "NAME@VERSION" };
        var format = new Option<string>("--format")
        {
            Description = "json (the card as stored, with its integrity), markdown (rendered, with the version's evaluations) or cyclonedx (a CycloneDX 1.6 ML-BOM)",
            DefaultValueFactory = _ => "json",
        };
        format.AcceptOnlyFromAmong("json", "markdown", "cyclonedx");
        var show = new Command("show",
            "Print a version's model card: JSON, rendered markdown or a CycloneDX ML-BOM; exits 7 when the card no longer verifies against its audit event")
        {
            showRef, format,
        };
        show.SetAction((parse, ct) => CliApp.WithRef(context, parse, showRef, async (client, model, version, c) =>
        {
            var card = await client.GetCardAsync(model, version, c);
            var tampered = card.TryGetProperty("integrity", out var integrity) && integrity.ValueKind == System.Text.Json.JsonValueKind.Object &&
                           integrity.TryGetProperty("verified", out var verified) && verified.ValueKind == System.Text.Json.JsonValueKind.False;
            if (parse.GetValue(format) is "json")
            {
                await CliApp.WriteJsonAsync(context, card);
            }
            else if (!tampered)
            {
                var text = await client.GetCardTextAsync(model, version, parse.GetValue(format)!, c);
                await context.Out.WriteAsync(text.EndsWith('\n') ? text : text + "\n");
            }
            if (tampered)
            {
                await context.Err.WriteLineAsync("error: the card does not verify against its audit event: " +
                    $"{integrity.GetProperty("failure").GetString()}: expected {integrity.GetProperty("expected").GetString()}; found {integrity.GetProperty("actual").GetString()}");
            }
            return tampered ? ExitCodes.VerificationFailed : ExitCodes.Ok;
        }, ct));
        return new Command("card", "A version's model card") { set, show };
    }

    public static Command Version(CliContext context)
    {
        var version = new Command("version", "Create, list and show model versions");

        var model = new Argument<string>("name") { Description = "Model name" };
        var number = new Argument<string>("version") { Description = "Semantic version, e.g. 1.0.0 or 1.0.0-q4" };
        var artifacts = new Option<string[]>("--artifact")
        {
            Description = "An artifact file (repeatable); uploaded unless already stored. A prompt-only version (an attestation with a promptTemplate) needs none: the server stores its template as its artifact",
            AllowMultipleArgumentsPerToken = true,
        };
        var attestation = new Option<FileInfo>("--attestation") { Description = "The training attestation (JSON file)", Required = true };
        var description = new Option<string?>("--description") { Description = "What changed in this version" };
        var create = new Command("create", "Register a version: uploads its artifacts (verified by SHA-256) and records its attestation")
        {
            model, number, artifacts, attestation, description,
        };
        create.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            if (!SemVersion.TryParse(parse.GetValue(number), out _, out var versionError))
            {
                await context.Err.WriteLineAsync($"error: {versionError}");
                return ExitCodes.Usage;
            }
            var attestationFile = parse.GetValue(attestation)!;
            if (!attestationFile.Exists)
            {
                await context.Err.WriteLineAsync($"error: attestation file '{attestationFile.FullName}' does not exist");
                return ExitCodes.Usage;
            }
            Attestation? att;
            try
            {
                await using var s = attestationFile.OpenRead();
                att = await JsonSerializer.DeserializeAsync<Attestation>(s, ModelGateJson.Options, c);
            }
            catch (JsonException e)
            {
                await context.Err.WriteLineAsync($"error: {attestationFile.Name} is not a valid attestation: {e.Message}");
                return ExitCodes.Usage;
            }
            var refs = new List<ArtifactRef>();
            foreach (var path in parse.GetValue(artifacts) ?? [])
            {
                var pushed = await PushFileAsync(context, client, path, c);
                if (pushed is null)
                {
                    return ExitCodes.Usage;
                }
                refs.Add(new ArtifactRef(pushed.Sha256, Path.GetFileName(path)));
            }
            var created = await client.CreateVersionAsync(parse.GetValue(model)!,
                new CreateVersionRequest(parse.GetValue(number)!, refs, att!, parse.GetValue(description)), c);
            await WriteVersion(context, parse, created);
            return ExitCodes.Ok;
        }, ct));
        version.Subcommands.Add(create);

        var listModel = new Argument<string>("name") { Description = "Model name" };
        var (offset, limit) = PageOptions();
        var list = new Command("list", "List a model's versions, newest first") { listModel, offset, limit };
        list.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            var page = await client.ListVersionsAsync(parse.GetValue(listModel)!, parse.GetValue(offset), parse.GetValue(limit), c);
            if (CliApp.Json(parse))
            {
                await CliApp.WriteJsonAsync(context, page);
            }
            else
            {
                CliApp.WriteTable(context.Out, ["VERSION", "STAGE", "CREATED", "TRAINER", "ARTIFACTS"],
                    page.Items.Select(v => new[] { v.Version, v.Stage, v.CreatedAt.ToString("u"), v.Attestation.Trainer, string.Join(",", v.Artifacts.Select(a => a.FileName)) }));
            }
            return ExitCodes.Ok;
        }, ct));
        version.Subcommands.Add(list);

        var reference = new Argument<string>("ref") { Description = "NAME@VERSION" };
        var show = new Command("show", "Show a version") { reference };
        show.SetAction((parse, ct) => CliApp.WithRef(context, parse, reference, async (client, m, v, c) =>
        {
            await WriteVersion(context, parse, await client.GetVersionAsync(m, v, c));
            return ExitCodes.Ok;
        }, ct));
        version.Subcommands.Add(show);

        var attRef = new Argument<string>("ref") { Description = "NAME@VERSION" };
        var format = new Option<string>("--format") { Description = "modelgate (as recorded) or in-toto (Statement v1, SLSA provenance v1)", DefaultValueFactory = _ => "modelgate" };
        format.AcceptOnlyFromAmong("modelgate", "in-toto");
        var att = new Command("attestation", "Print a version's attestation") { attRef, format };
        att.SetAction((parse, ct) => CliApp.WithRef(context, parse, attRef, async (client, m, v, c) =>
        {
            await CliApp.WriteJsonAsync(context, await client.GetAttestationAsync(m, v, parse.GetValue(format), c));
            return ExitCodes.Ok;
        }, ct));
        version.Subcommands.Add(att);

        var linRef = new Argument<string>("ref") { Description = "NAME@VERSION" };
        var lineage = new Command("lineage", "What produced a version: datasets, code, base model") { linRef };
        lineage.SetAction((parse, ct) => CliApp.WithRef(context, parse, linRef, async (client, m, v, c) =>
        {
            var l = await client.GetLineageAsync(m, v, c);
            if (CliApp.Json(parse))
            {
                await CliApp.WriteJsonAsync(context, l);
                return ExitCodes.Ok;
            }
            await context.Out.WriteLineAsync($"{l.Model}@{l.Version}  trainer: {l.Trainer}");
            await context.Out.WriteLineAsync($"  code: {(l.Code is null ? "-" : $"{l.Code.Repo}@{l.Code.Commit}")}");
            await context.Out.WriteLineAsync($"  base model: {l.BaseModel ?? "-"}");
            foreach (var d in l.Datasets)
            {
                await context.Out.WriteLineAsync($"  dataset: {d.Name} sha256:{d.Sha256} {d.Uri}");
            }
            foreach (var a in l.Artifacts)
            {
                await context.Out.WriteLineAsync($"  artifact: {a.FileName} sha256:{a.Sha256}");
            }
            return ExitCodes.Ok;
        }, ct));
        version.Subcommands.Add(lineage);
        version.Subcommands.Add(Diff(context));
        return version;
    }

    /// <summary><c>version diff NAME@A NAME@B</c> (or <c>NAME@A B</c>): the prompt text diff, the attestation diff and the bump they imply.</summary>
    private static Command Diff(CliContext context)
    {
        var from = new Argument<string>("from") { Description = "NAME@VERSION" };
        var to = new Argument<string>("to") { Description = "NAME@VERSION (or VERSION, of the same model)" };
        var command = new Command("diff", "What changed between two versions: the prompt as a line diff, the attestation, the artifacts, and the version bump it implies")
        {
            from, to,
        };
        command.SetAction((parse, ct) =>
        {
            var other = parse.GetValue(to)!;
            return CliApp.WithRef(context, parse, from, async (client, model, version, c) =>
            {
                if (CliApp.TrySplitRef(other, out var otherModel, out var otherVersion))
                {
                    if (otherModel != model)
                    {
                        await context.Err.WriteLineAsync($"error: both versions must be of one model ({model}, {otherModel})");
                        return ExitCodes.Usage;
                    }
                    other = otherVersion;
                }
                var diff = await client.DiffVersionsAsync(model, version, other, c);
                if (CliApp.Json(parse))
                {
                    await CliApp.WriteJsonAsync(context, diff);
                    return ExitCodes.Ok;
                }
                await WriteDiff(context.Out, diff);
                return ExitCodes.Ok;
            }, ct);
        });
        return command;
    }

    private static async Task WriteDiff(TextWriter output, VersionDiffDto diff)
    {
        await output.WriteLineAsync($"{diff.Model}@{diff.From} → {diff.Model}@{diff.To}");
        if (!diff.Prompt.Changed)
        {
            await output.WriteLineAsync("prompt: unchanged");
        }
        else
        {
            foreach (var (name, lines) in new[] { ("system prompt", diff.Prompt.System), ("template", diff.Prompt.Template) })
            {
                if (lines is null)
                {
                    continue;
                }
                await output.WriteLineAsync($"--- {name} ({diff.From})");
                await output.WriteLineAsync($"+++ {name} ({diff.To})");
                foreach (var line in lines)
                {
                    await output.WriteLineAsync(line);
                }
            }
            if (diff.Prompt.VariablesAdded.Count + diff.Prompt.VariablesRemoved.Count > 0)
            {
                await output.WriteLineAsync($"variables: +[{string.Join(", ", diff.Prompt.VariablesAdded)}] -[{string.Join(", ", diff.Prompt.VariablesRemoved)}]");
            }
        }
        await output.WriteLineAsync(diff.Attestation.Count == 0 ? "attestation: unchanged" : "attestation:");
        foreach (var change in diff.Attestation)
        {
            await output.WriteLineAsync($"  {change.Path}: {Show(change.From)} → {Show(change.To)}");
        }
        foreach (var a in diff.Artifacts.Removed)
        {
            await output.WriteLineAsync($"artifact removed: {a.FileName} sha256:{a.Sha256}");
        }
        foreach (var a in diff.Artifacts.Added)
        {
            await output.WriteLineAsync($"artifact added: {a.FileName} sha256:{a.Sha256}");
        }
        var v = diff.Versioning;
        await output.WriteLineAsync($"versioning: the changes need a {v.Required} bump; {diff.From} → {diff.To} is a {v.Actual} bump{(v.Enough ? "" : " (not enough)")}");
        foreach (var change in v.Changes)
        {
            await output.WriteLineAsync($"  {change.Message}{(change.Detail is null ? "" : $": {change.Detail}")}");
        }
        foreach (var conflict in v.Conflicts)
        {
            await output.WriteLineAsync($"  conflict: {conflict}");
        }

        static string Show(JsonElement? value) => value is { } v ? v.GetRawText() : "(absent)";
    }

    public static Command Lineage(CliContext context)
    {
        var dataset = new Option<string?>("--dataset") { Description = "A dataset's SHA-256" };
        var baseModel = new Option<string?>("--base-model") { Description = "A base model name" };
        var command = new Command("lineage", "Find the versions trained on a dataset digest or from a base model") { dataset, baseModel };
        command.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            if (parse.GetValue(dataset) is null && parse.GetValue(baseModel) is null)
            {
                await context.Err.WriteLineAsync("error: give --dataset or --base-model");
                return ExitCodes.Usage;
            }
            var found = await client.FindByLineageAsync(parse.GetValue(dataset), parse.GetValue(baseModel), c);
            if (CliApp.Json(parse))
            {
                await CliApp.WriteJsonAsync(context, found);
            }
            else
            {
                CliApp.WriteTable(context.Out, ["MODEL", "VERSION", "STAGE"], found.Select(f => new[] { f.Model, f.Version, f.Stage }));
            }
            return ExitCodes.Ok;
        }, ct));
        return command;
    }

    public static Command Artifact(CliContext context)
    {
        var artifact = new Command("artifact", "Upload and download content-addressed artifacts");

        var file = new Argument<string>("file") { Description = "File to upload" };
        var push = new Command("push", "Upload a file; prints its SHA-256") { file };
        push.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            var pushed = await PushFileAsync(context, client, parse.GetValue(file)!, c);
            if (pushed is null)
            {
                return ExitCodes.Usage;
            }
            if (CliApp.Json(parse))
            {
                await CliApp.WriteJsonAsync(context, pushed);
            }
            else
            {
                await context.Out.WriteLineAsync(pushed.Sha256);
            }
            return ExitCodes.Ok;
        }, ct));
        artifact.Subcommands.Add(push);

        var digest = new Argument<string>("sha256") { Description = "The artifact's SHA-256" };
        var output = new Option<string?>("--out") { Description = "File to write (default: the digest, in the current directory)" };
        var pull = new Command("pull", "Download an artifact and verify its SHA-256 (a mismatch exits 7 and keeps nothing)") { digest, output };
        pull.SetAction((parse, ct) => CliApp.Call(context, parse, async (client, c) =>
        {
            var sha = Digests.Normalize(parse.GetValue(digest));
            if (sha is null)
            {
                await context.Err.WriteLineAsync($"error: '{parse.GetValue(digest)}' is not a SHA-256 digest");
                return ExitCodes.Usage;
            }
            var target = Path.GetFullPath(parse.GetValue(output) ?? sha);
            var temp = target + ".partial";
            var bar = new ProgressBar(context.Err, "pull", null, context.Interactive);
            try
            {
                long size;
                await using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 128 * 1024, true))
                {
                    size = await client.PullArtifactAsync(sha, stream, (done, total) => bar.Report(done, total), c);
                }
                File.Move(temp, target, overwrite: true);
                bar.Complete();
                if (CliApp.Json(parse))
                {
                    await CliApp.WriteJsonAsync(context, new { sha256 = sha, size, path = target, verified = true });
                }
                else
                {
                    await context.Out.WriteLineAsync($"{target}  sha256:{sha}  {size} bytes  verified");
                }
                return ExitCodes.Ok;
            }
            finally
            {
                if (File.Exists(temp))
                {
                    File.Delete(temp);
                }
            }
        }, ct));
        artifact.Subcommands.Add(pull);
        return artifact;
    }

    /// <summary>Hashes a file, asks whether the server has it, and uploads it with a progress bar only if not.</summary>
    internal static async Task<ArtifactDto?> PushFileAsync(CliContext context, ModelGateClient client, string path, CancellationToken ct)
    {
        if (!File.Exists(path))
        {
            await context.Err.WriteLineAsync($"error: file '{path}' does not exist");
            return null;
        }
        var length = new FileInfo(path).Length;
        string sha;
        await using (var s = File.OpenRead(path))
        {
            var hashBar = new ProgressBar(context.Err, "hash  " + Path.GetFileName(path), length, context.Interactive && length > 8 << 20);
            sha = Convert.ToHexStringLower(await SHA256.HashDataAsync(new ProgressReadStream(s, hashBar), ct));
        }
        await using var upload = File.OpenRead(path);
        var bar = new ProgressBar(context.Err, "upload " + Path.GetFileName(path), length, context.Interactive);
        var result = await client.PushArtifactAsync(upload, sha, new Progress<long>(done => bar.Report(done)), ct);
        bar.Complete();
        return result;
    }

    private static (Option<int> Offset, Option<int> Limit) PageOptions() =>
        (new Option<int>("--offset") { Description = "Skip this many", DefaultValueFactory = _ => 0 },
         new Option<int>("--limit") { Description = "At most this many (1–1000)", DefaultValueFactory = _ => 100 });


    private static async Task WriteModel(CliContext context, ParseResult parse, ModelDto m)
    {
        if (CliApp.Json(parse))
        {
            await CliApp.WriteJsonAsync(context, m);
            return;
        }
        await context.Out.WriteLineAsync($"{m.Name}  owner: {m.Owner}  risk: {m.RiskTier}  task: {m.Task}");
        await context.Out.WriteLineAsync($"  licence: {m.License ?? "-"}  tags: {(m.Tags.Count == 0 ? "-" : string.Join(", ", m.Tags))}");
        await context.Out.WriteLineAsync($"  versions: {m.VersionCount}  latest: {m.LatestVersion ?? "-"}");
        if (m.Description is not null)
        {
            await context.Out.WriteLineAsync($"  {m.Description}");
        }
    }

    private static async Task WriteVersion(CliContext context, ParseResult parse, ModelVersionDto v)
    {
        if (CliApp.Json(parse))
        {
            await CliApp.WriteJsonAsync(context, v);
            return;
        }
        await context.Out.WriteLineAsync($"{v.Model}@{v.Version}  stage: {v.Stage}  created {v.CreatedAt:u} by {v.CreatedBy}");
        await context.Out.WriteLineAsync($"  trainer: {v.Attestation.Trainer}  attestation sha256:{v.AttestationSha256}");
        foreach (var a in v.Artifacts)
        {
            await context.Out.WriteLineAsync($"  artifact: {a.FileName}  sha256:{a.Sha256}  {a.Size} bytes  {a.MediaType}");
        }
    }

    private sealed class ProgressReadStream(Stream inner, ProgressBar bar) : Stream
    {
        private long _done;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => inner.Length;
        public override long Position { get => _done; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Track(inner.Read(buffer, offset, count));
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Track(await inner.ReadAsync(buffer, cancellationToken));
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        private int Track(int read)
        {
            _done += read;
            if (read == 0)
            {
                bar.Complete();
            }
            else
            {
                bar.Report(_done);
            }
            return read;
        }
    }
}
