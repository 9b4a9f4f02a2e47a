using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Registry;

/// <summary>The registry's REST contract, run once per database provider.</summary>
public abstract class RegistryApiTests(ServerFixture fixture) : ProviderTests(fixture)
{
    private async Task<string> CreateModelAsync(string? name = null, string riskTier = "medium")
    {
        name ??= ServerFixture.UniqueName("adult");
        await Server.Api().CreateModelAsync(new CreateModelRequest(name, "risk-team", riskTier, "classification", "CC-BY-4.0", "census income", ["census"]));
        return name;
    }

    private async Task<ModelVersionDto> CreateVersionAsync(string model, string version, string? sha = null, Attestation? attestation = null)
    {
        sha ??= await Server.UploadAsync(Encoding.UTF8.GetBytes($"weights of {model}@{version} {Guid.NewGuid()}"));
        return await Server.Api().CreateVersionAsync(model, new CreateVersionRequest(version, [new ArtifactRef(sha, "model.onnx")], attestation ?? Fixtures.Attestation()));
    }

    [Fact]
    public async Task WalkThrough_RegisterV1Logreg_PullsBackReferenceDigest()
    {
        var api = Server.Api();
        var model = await CreateModelAsync();
        var bytes = Fixtures.ModelBytes("v1-logreg");
        var upload = await api.PushArtifactAsync(new MemoryStream(bytes), Fixtures.ReferenceSha256("v1-logreg"));
        Assert.Equal(bytes.Length, upload.Size);

        var created = await api.CreateVersionAsync(model, new CreateVersionRequest("1.0.0",
            [new ArtifactRef(upload.Sha256, "v1-logreg.onnx")], Fixtures.Attestation()));
        Assert.Equal("trained", created.Stage);
        Assert.Equal("application/onnx", created.Artifacts.Single().MediaType);
        Assert.Equal(bytes.Length, created.Artifacts.Single().Size);

        var fetched = await api.GetVersionAsync(model, "1.0.0");
        Assert.Equal(created.AttestationSha256, fetched.AttestationSha256);
        Assert.Equal("alice", fetched.Attestation.Trainer);
        Assert.Equal(Fixtures.TrainCsvSha256, fetched.Attestation.Datasets!.Single().Sha256);

        var pulled = new MemoryStream();
        await api.PullArtifactAsync(fetched.Artifacts.Single().Sha256, pulled);
        Assert.Equal(Fixtures.ReferenceSha256("v1-logreg"), Convert.ToHexStringLower(SHA256.HashData(pulled.ToArray())));
        Assert.Equal(bytes, pulled.ToArray());

        var shown = await api.GetModelAsync(model);
        Assert.Equal("1.0.0", shown.LatestVersion);
        Assert.Equal(1, shown.VersionCount);
    }

    [Fact]
    public async Task GetArtifact_SendsDigestHeader_AndHeadReportsSize()
    {
        var bytes = Encoding.UTF8.GetBytes("digest header " + Guid.NewGuid());
        var sha = await Server.UploadAsync(bytes);
        var client = Server.Client();
        using var get = await client.GetAsync($"/api/v1/artifacts/{sha}");
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal(sha, get.Headers.GetValues(ModelGateClient.DigestHeader).Single());
        Assert.Equal(bytes, await get.Content.ReadAsByteArrayAsync());

        using var head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/api/v1/artifacts/{sha}"));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(bytes.Length, head.Content.Headers.ContentLength);

        using var missing = await client.GetAsync($"/api/v1/artifacts/{new string('a', 64)}");
        await ProblemAssert.IsProblem(missing, HttpStatusCode.NotFound, "artifact_not_found");
    }

    [Fact]
    public async Task PutArtifact_SameBytesTwice_IsIdempotent()
    {
        var bytes = Encoding.UTF8.GetBytes("idempotent " + Guid.NewGuid());
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        var client = Server.Client();
        using var first = await client.PutAsync($"/api/v1/artifacts/{sha}", new ByteArrayContent(bytes));
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        var auditAfterFirst = await Server.AuditCountAsync();
        using var second = await client.PutAsync($"/api/v1/artifacts/{sha.ToUpperInvariant()}", new ByteArrayContent(bytes));
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        var dto = await second.Content.ReadFromJsonAsync<ArtifactDto>(ModelGateJson.Options);
        Assert.False(dto!.Created);
        Assert.Equal(auditAfterFirst, await Server.AuditCountAsync());
        Assert.Equal(1, await Server.WithDbAsync(db => db.Artifacts.CountAsync(a => a.Sha256 == sha)));
    }

    [Fact]
    public async Task PutArtifact_DigestMismatch_Refused_NothingKept()
    {
        var bytes = Encoding.UTF8.GetBytes("these bytes " + Guid.NewGuid());
        var claimed = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("other bytes")));
        var before = await Server.AuditCountAsync();
        using var response = await Server.Client().PutAsync($"/api/v1/artifacts/{claimed}", new ByteArrayContent(bytes));
        var problem = await ProblemAssert.IsProblem(response, HttpStatusCode.BadRequest, "digest_mismatch");
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), problem.GetProperty("actual").GetString());
        using var get = await Server.Client().GetAsync($"/api/v1/artifacts/{claimed}");
        Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
        Assert.Equal(before, await Server.AuditCountAsync());
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(Server.DataDirectory, "artifacts", "incoming")));
    }

    [Fact]
    public async Task PutArtifact_OverArtifactLimit_Answers413_NothingKept()
    {
        var bytes = new byte[ServerFixture.MaxArtifactBytes + 1];
        Random.Shared.NextBytes(bytes);
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        using var response = await Server.Client().PutAsync($"/api/v1/artifacts/{sha}", new ByteArrayContent(bytes));
        await ProblemAssert.IsProblem(response, HttpStatusCode.RequestEntityTooLarge, "body_too_large");
        using var get = await Server.Client().GetAsync($"/api/v1/artifacts/{sha}");
        Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
    }

    [Fact]
    public async Task PutArtifact_ChunkedOverLimit_Answers413_NothingKept()
    {
        var bytes = new byte[ServerFixture.MaxArtifactBytes + 4096];
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        var content = new StreamContent(new MemoryStream(bytes));
        content.Headers.ContentLength = null; // sent without a length: the server must count
        using var request = new HttpRequestMessage(HttpMethod.Put, $"/api/v1/artifacts/{sha}") { Content = content };
        request.Headers.TransferEncodingChunked = true;
        using var response = await Server.Client().SendAsync(request);
        await ProblemAssert.IsProblem(response, HttpStatusCode.RequestEntityTooLarge, "body_too_large");
        Assert.Null(await Server.WithDbAsync(db => db.Artifacts.FirstOrDefaultAsync(a => a.Sha256 == sha)));
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(Server.DataDirectory, "artifacts", "incoming")));
    }

    public static TheoryData<string, string, string> BadModelBodies => new()
    {
        { "{\"name\": \"x\", ", "malformed_json", "malformed JSON" },
        { "{\"name\": 5, \"owner\": \"o\", \"riskTier\": \"low\", \"task\": \"other\"}", "invalid_json", "wrong type" },
        { "{\"name\": \"ok-name\", \"owner\": \"o\", \"riskTier\": \"low\", \"task\": \"other\", \"colour\": \"red\"}", "invalid_json", "unknown field" },
        { "{\"name\": \"../etc\", \"owner\": \"o\", \"riskTier\": \"low\", \"task\": \"other\"}", "validation_failed", "path trick" },
        { "{\"name\": \"Adult\", \"owner\": \"o\", \"riskTier\": \"low\", \"task\": \"other\"}", "validation_failed", "upper case" },
        { "{\"name\": \"a--b\", \"owner\": \"o\", \"riskTier\": \"low\", \"task\": \"other\"}", "validation_failed", "double hyphen" },
        { "{\"name\": \"ok-name\", \"owner\": \"o\", \"riskTier\": \"extreme\", \"task\": \"other\"}", "validation_failed", "unknown risk tier" },
        { "{\"name\": \"ok-name\", \"riskTier\": \"low\", \"task\": \"other\"}", "validation_failed", "missing owner" },
        { "[]", "invalid_json", "array instead of object" },
    };

    [Theory]
    [MemberData(nameof(BadModelBodies))]
    public async Task CreateModel_BadInput_Answers400Problem_NothingStored(string body, string code, string because)
    {
        var before = await Server.AuditCountAsync();
        var modelsBefore = await Server.WithDbAsync(db => db.Models.CountAsync());
        using var response = await Server.Client().PostAsync("/api/v1/models", new StringContent(body, Encoding.UTF8, "application/json"));
        var problem = await ProblemAssert.IsProblem(response, HttpStatusCode.BadRequest, code);
        Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("detail").GetString()), because);
        Assert.Equal(before, await Server.AuditCountAsync());
        Assert.Equal(modelsBefore, await Server.WithDbAsync(db => db.Models.CountAsync()));
    }

    [Fact]
    public async Task CreateModel_ValidationProblem_NamesEveryBadField()
    {
        using var response = await Server.Client().PostAsJsonAsync("/api/v1/models",
            new { name = "Bad Name", owner = "", riskTier = "x", task = "y" });
        var problem = await ProblemAssert.IsProblem(response, HttpStatusCode.BadRequest, "validation_failed");
        var fields = problem.GetProperty("errors").EnumerateObject().Select(p => p.Name).ToHashSet();
        Assert.Equal(new HashSet<string> { "name", "owner", "riskTier", "task" }, fields);
    }

    [Fact]
    public async Task CreateModel_BodyOverRequestLimit_Answers413()
    {
        var body = JsonSerializer.Serialize(new { name = "big", owner = "o", riskTier = "low", task = "other", description = new string('x', (int)ServerFixture.MaxRequestBodyBytes) });
        var before = await Server.AuditCountAsync();
        using var response = await Server.Client().PostAsync("/api/v1/models", new StringContent(body, Encoding.UTF8, "application/json"));
        await ProblemAssert.IsProblem(response, HttpStatusCode.RequestEntityTooLarge, "body_too_large");
        Assert.Equal(before, await Server.AuditCountAsync());
    }

    [Fact]
    public async Task CreateModel_Twice_Answers409()
    {
        var name = await CreateModelAsync();
        using var response = await Server.Client().PostAsJsonAsync("/api/v1/models", new { name, owner = "o", riskTier = "low", task = "other" });
        await ProblemAssert.IsProblem(response, HttpStatusCode.Conflict, "model_exists");
    }

    [Fact]
    public async Task CreateModel_WithoutKey_Answers401_WithViewerKey_Answers403()
    {
        var before = await Server.AuditCountAsync();
        using var anonymous = await Server.Client(token: null).PostAsJsonAsync("/api/v1/models", new { name = "anon", owner = "o", riskTier = "low", task = "other" });
        await ProblemAssert.IsProblem(anonymous, HttpStatusCode.Unauthorized, "unauthenticated");

        using var wrong = await Server.Client("mg_this-key-does-not-exist-0123456789abcdef").GetAsync("/api/v1/models");
        await ProblemAssert.IsProblem(wrong, HttpStatusCode.Unauthorized, "unauthenticated");

        var viewer = await Server.CreateKeyAsync("viewer");
        var afterKey = await Server.AuditCountAsync();
        Assert.Equal(before + 1, afterKey);
        using var forbidden = await Server.Client(viewer).PostAsJsonAsync("/api/v1/models", new { name = "by-viewer", owner = "o", riskTier = "low", task = "other" });
        var problem = await ProblemAssert.IsProblem(forbidden, HttpStatusCode.Forbidden, "forbidden");
        Assert.Contains("trainer", problem.GetProperty("requiredRoles").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(afterKey, await Server.AuditCountAsync());
        Assert.False(await Server.WithDbAsync(db => db.Models.AnyAsync(m => m.Name == "by-viewer")));

        using var read = await Server.Client(viewer).GetAsync("/api/v1/models");
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
    }

    [Fact]
    public async Task EveryApiEndpoint_WithoutKey_Answers401()
    {
        var client = Server.Client(token: null);
        string[] paths = ["/api/v1/models", "/api/v1/models/x", "/api/v1/models/x/versions", "/api/v1/models/x/versions/1.0.0",
            "/api/v1/models/x/versions/1.0.0/attestation", "/api/v1/models/x/versions/1.0.0/lineage", "/api/v1/lineage?dataset=x",
            $"/api/v1/artifacts/{new string('a', 64)}", "/api/v1/audit", "/api/v1/audit/verify", "/api/v1/keys"];
        foreach (var path in paths)
        {
            using var response = await client.GetAsync(path);
            await ProblemAssert.IsProblem(response, HttpStatusCode.Unauthorized, "unauthenticated");
        }
        using var health = await client.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        using var ready = await client.GetAsync("/readyz");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
    }

    [Fact]
    public async Task CreateVersion_BadInput_Refused_NothingStored()
    {
        var model = await CreateModelAsync();
        await CreateVersionAsync(model, "1.2.0");
        var sha = await Server.UploadAsync(Encoding.UTF8.GetBytes("v " + Guid.NewGuid()));
        var before = await Server.AuditCountAsync();
        var client = Server.Client();
        var attestation = Fixtures.Attestation();

        async Task Refused(object body, HttpStatusCode status, string code)
        {
            using var response = await client.PostAsJsonAsync($"/api/v1/models/{model}/versions", body, ModelGateJson.Options);
            await ProblemAssert.IsProblem(response, status, code);
        }

        await Refused(new { version = "1.0", artifacts = new[] { new ArtifactRef(sha, "m.onnx") }, attestation }, HttpStatusCode.BadRequest, "validation_failed");
        await Refused(new { version = "1.3.0+build.5", artifacts = new[] { new ArtifactRef(sha, "m.onnx") }, attestation }, HttpStatusCode.BadRequest, "validation_failed");
        await Refused(new { version = "1.1.9", artifacts = new[] { new ArtifactRef(sha, "m.onnx") }, attestation }, HttpStatusCode.Conflict, "version_not_greater");
        await Refused(new { version = "1.2.0", artifacts = new[] { new ArtifactRef(sha, "m.onnx") }, attestation }, HttpStatusCode.Conflict, "version_exists");
        await Refused(new { version = "1.3.0", artifacts = new[] { new ArtifactRef(new string('b', 64), "m.onnx") }, attestation }, HttpStatusCode.UnprocessableEntity, "unknown_artifact");
        await Refused(new { version = "1.3.0", artifacts = new[] { new ArtifactRef("abc", "m.onnx") }, attestation }, HttpStatusCode.BadRequest, "validation_failed");
        await Refused(new { version = "1.3.0", artifacts = new[] { new ArtifactRef(sha, "../../etc/passwd") }, attestation }, HttpStatusCode.BadRequest, "validation_failed");
        await Refused(new { version = "1.3.0", artifacts = Array.Empty<ArtifactRef>(), attestation }, HttpStatusCode.BadRequest, "validation_failed");
        await Refused(new { version = "1.3.0", artifacts = new[] { new ArtifactRef(sha, "m.onnx") } }, HttpStatusCode.BadRequest, "validation_failed");
        await Refused(new { version = "1.3.0", artifacts = new[] { new ArtifactRef(sha, "m.onnx") }, attestation = attestation with { Trainer = null } }, HttpStatusCode.BadRequest, "validation_failed");
        await Refused(new { version = "1.3.0", artifacts = new[] { new ArtifactRef(sha, "m.onnx") }, attestation = attestation with { Datasets = [new DatasetRef("d", null, "not-a-digest")] } },
            HttpStatusCode.BadRequest, "validation_failed");
        await Refused(new { version = 130, artifacts = new[] { new ArtifactRef(sha, "m.onnx") }, attestation }, HttpStatusCode.BadRequest, "invalid_json");

        using var unknownModel = await client.PostAsJsonAsync($"/api/v1/models/no-such-model/versions",
            new { version = "1.0.0", artifacts = new[] { new ArtifactRef(sha, "m.onnx") }, attestation }, ModelGateJson.Options);
        await ProblemAssert.IsProblem(unknownModel, HttpStatusCode.NotFound, "model_not_found");
        using var badModel = await client.PostAsJsonAsync($"/api/v1/models/UPPER/versions",
            new { version = "1.0.0", artifacts = new[] { new ArtifactRef(sha, "m.onnx") }, attestation }, ModelGateJson.Options);
        await ProblemAssert.IsProblem(badModel, HttpStatusCode.BadRequest, "invalid_name");

        Assert.Equal(before, await Server.AuditCountAsync());
        var versions = await Server.Api().ListVersionsAsync(model);
        Assert.Equal(["1.2.0"], versions.Items.Select(v => v.Version));
    }

    [Fact]
    public async Task CreateVersion_ByViewer_Answers403()
    {
        var model = await CreateModelAsync();
        var sha = await Server.UploadAsync(Encoding.UTF8.GetBytes("viewer " + Guid.NewGuid()));
        var viewer = await Server.CreateKeyAsync("viewer");
        using var response = await Server.Client(viewer).PostAsJsonAsync($"/api/v1/models/{model}/versions",
            new CreateVersionRequest("1.0.0", [new ArtifactRef(sha, "m.onnx")], Fixtures.Attestation()), ModelGateJson.Options);
        await ProblemAssert.IsProblem(response, HttpStatusCode.Forbidden, "forbidden");
        Assert.Equal(0, (await Server.Api().ListVersionsAsync(model)).Total);
    }

    [Fact]
    public async Task CreateVersion_ByTrainer_Succeeds_AndIsAttributedToTheKey()
    {
        var model = await CreateModelAsync();
        var trainer = await Server.CreateKeyAsync("trainer");
        var sha = await Server.UploadAsync(Encoding.UTF8.GetBytes("trainer " + Guid.NewGuid()));
        var created = await Server.Api(trainer).CreateVersionAsync(model, new CreateVersionRequest("0.1.0", [new ArtifactRef(sha, "m.onnx")], Fixtures.Attestation()));
        var keys = await Server.Api().ListKeysAsync();
        var trainerKey = keys.Single(k => k.Roles.SequenceEqual(["trainer"]) && k.Id == created.CreatedBy);
        var events = await Server.Api().ListAuditAsync(subject: $"models/{model}/versions/0.1.0");
        Assert.Equal(trainerKey.Id, events.Items.Single().Actor);
    }

    [Fact]
    public async Task Versions_AreOrderedBySemVerPrecedence_AndQualifierOfExistingReleaseIsAccepted()
    {
        var model = await CreateModelAsync();
        foreach (var v in new[] { "0.9.0", "1.0.0", "1.9.0", "1.10.0" })
        {
            await CreateVersionAsync(model, v);
        }
        // A quantised build of an existing release, declared as such (the versioning rules accept a qualifier only for a derivation).
        var quantised = Fixtures.Attestation() with { Derivation = new Derivation(DerivationKinds.Quantization, "1.0.0", "q4") };
        await CreateVersionAsync(model, "1.0.0-q4", attestation: quantised);
        var refused = await Assert.ThrowsAsync<ModelGateApiException>(() => CreateVersionAsync(model, "1.5.0-q4", attestation: quantised));
        Assert.Equal("version_not_greater", refused.Code);

        var page = await Server.Api().ListVersionsAsync(model);
        Assert.Equal(["1.10.0", "1.9.0", "1.0.0", "1.0.0-q4", "0.9.0"], page.Items.Select(v => v.Version));
        var second = await Server.Api().ListVersionsAsync(model, offset: 1, limit: 2);
        Assert.Equal(["1.9.0", "1.0.0"], second.Items.Select(v => v.Version));
        Assert.Equal(5, second.Total);
        Assert.Equal("1.10.0", (await Server.Api().GetModelAsync(model)).LatestVersion);
    }

    [Fact]
    public async Task GetVersion_UnknownOrInvalid_AnswersProblem()
    {
        var model = await CreateModelAsync();
        var client = Server.Client();
        await ProblemAssert.IsProblem(await client.GetAsync($"/api/v1/models/{model}/versions/9.9.9"), HttpStatusCode.NotFound, "version_not_found");
        await ProblemAssert.IsProblem(await client.GetAsync($"/api/v1/models/{model}/versions/1.0"), HttpStatusCode.BadRequest, "invalid_version");
        await ProblemAssert.IsProblem(await client.GetAsync("/api/v1/models/nobody-here/versions/1.0.0"), HttpStatusCode.NotFound, "model_not_found");
        await ProblemAssert.IsProblem(await client.GetAsync("/api/v1/models/..%2F..%2Fetc"), HttpStatusCode.BadRequest, "invalid_name");
        await ProblemAssert.IsProblem(await client.GetAsync("/api/v1/models/nobody-here"), HttpStatusCode.NotFound, "model_not_found");
        await ProblemAssert.IsProblem(await client.GetAsync("/api/v1/artifacts/not-a-digest"), HttpStatusCode.BadRequest, "invalid_digest");
    }

    [Fact]
    public async Task Attestation_ExportsInTotoStatementWithSlsaProvenance()
    {
        var model = await CreateModelAsync();
        var sha = await Server.UploadAsync(Fixtures.ModelBytes("v2-mlp"));
        await Server.Api().CreateVersionAsync(model, new CreateVersionRequest("2.0.0", [new ArtifactRef(sha, "v2-mlp.onnx")], Fixtures.Attestation(baseModel: "none")));

        var statement = await Server.Api().GetAttestationAsync(model, "2.0.0", "in-toto");
        Assert.Equal("https://in-toto.io/Statement/v1", statement.GetProperty("_type").GetString());
        Assert.Equal("https://slsa.dev/provenance/v1", statement.GetProperty("predicateType").GetString());
        var subject = statement.GetProperty("subject").EnumerateArray().Single();
        Assert.Equal("v2-mlp.onnx", subject.GetProperty("name").GetString());
        Assert.Equal(Fixtures.ReferenceSha256("v2-mlp"), subject.GetProperty("digest").GetProperty("sha256").GetString());
        var build = statement.GetProperty("predicate").GetProperty("buildDefinition");
        Assert.False(string.IsNullOrEmpty(build.GetProperty("buildType").GetString()));
        var deps = build.GetProperty("resolvedDependencies").EnumerateArray().ToList();
        Assert.Contains(deps, d => d.TryGetProperty("digest", out var dg) && dg.TryGetProperty("sha256", out var s) && s.GetString() == Fixtures.TrainCsvSha256);
        Assert.Contains(deps, d => d.GetProperty("digest").TryGetProperty("gitCommit", out var c) && c.GetString() == "9f1c2d3");
        Assert.Equal("trainer:alice", statement.GetProperty("predicate").GetProperty("runDetails").GetProperty("builder").GetProperty("id").GetString());

        var plain = await Server.Api().GetAttestationAsync(model, "2.0.0");
        Assert.Equal("alice", plain.GetProperty("trainer").GetString());

        // A quantised build of 2.0.0 with its serving configuration: both are build parameters, and 2.0.0 is one of its inputs.
        var quantised = Fixtures.Attestation(baseModel: "none") with
        {
            Derivation = new Derivation(DerivationKinds.Quantization, "2.0.0", "int8"),
            ServingConfig = new Dictionary<string, System.Text.Json.JsonElement> { ["threshold"] = System.Text.Json.JsonSerializer.SerializeToElement(0.4) },
        };
        await Server.Api().CreateVersionAsync(model, new CreateVersionRequest("2.0.0-int8", [new ArtifactRef(sha, "v2-mlp.onnx")], quantised));
        var derived = (await Server.Api().GetAttestationAsync(model, "2.0.0-int8", "in-toto")).GetProperty("predicate").GetProperty("buildDefinition");
        var parameters = derived.GetProperty("externalParameters");
        Assert.Equal(0.4, parameters.GetProperty("servingConfig").GetProperty("threshold").GetDouble());
        Assert.Equal("2.0.0", parameters.GetProperty("derivation").GetProperty("from").GetString());
        var source = derived.GetProperty("resolvedDependencies").EnumerateArray()
            .Single(d => d.TryGetProperty("annotations", out var an) && an.GetProperty("kind").GetString() == "derived-from");
        Assert.Equal($"{model}@2.0.0", source.GetProperty("name").GetString());
        Assert.EndsWith($"/api/v1/models/{model}/versions/2.0.0", source.GetProperty("uri").GetString());
        Assert.Equal("quantization", source.GetProperty("annotations").GetProperty("derivation").GetString());
    }

    [Fact]
    public async Task Lineage_FindsVersionsByDatasetDigestAndBaseModel()
    {
        var datasetSha = Convert.ToHexStringLower(SHA256.HashData(Guid.NewGuid().ToByteArray()));
        var baseModel = ServerFixture.UniqueName("base");
        var a = await CreateModelAsync();
        var b = await CreateModelAsync();
        await CreateVersionAsync(a, "1.0.0", attestation: Fixtures.Attestation(datasetSha: datasetSha, baseModel: baseModel));
        await CreateVersionAsync(a, "1.1.0");
        await CreateVersionAsync(b, "3.0.0", attestation: Fixtures.Attestation(datasetSha: datasetSha.ToUpperInvariant()));

        var byDataset = await Server.Api().FindByLineageAsync(datasetSha, null);
        Assert.Equal(new[] { (a, "1.0.0"), (b, "3.0.0") }.OrderBy(x => x.Item1, StringComparer.Ordinal), byDataset.Select(v => (v.Model, v.Version)));
        var byBase = await Server.Api().FindByLineageAsync(null, baseModel);
        Assert.Equal([(a, "1.0.0")], byBase.Select(v => (v.Model, v.Version)));

        var lineage = await Server.Api().GetLineageAsync(a, "1.0.0");
        Assert.Equal(datasetSha, lineage.Datasets.Single().Sha256);
        Assert.Equal(baseModel, lineage.BaseModel);
        Assert.Equal("9f1c2d3", lineage.Code!.Commit);
    }

    [Fact]
    public async Task ConcurrentWrites_KeepTheAuditChainContiguousAndValid()
    {
        var names = Enumerable.Range(0, 20).Select(_ => ServerFixture.UniqueName("conc")).ToList();
        await Task.WhenAll(names.Select(n => Task.Run(() => CreateModelAsync(n))));
        var verify = await Server.Api().VerifyAuditAsync();
        Assert.True(verify.Valid, verify.Reason);
        foreach (var n in names)
        {
            var events = await Server.Api().ListAuditAsync(subject: $"models/{n}");
            Assert.Equal("model.created", events.Items.Single().Action);
        }
        var sequences = await Server.WithDbAsync(db => db.AuditEvents.OrderBy(e => e.Sequence).Select(e => e.Sequence).ToListAsync());
        Assert.Equal(Enumerable.Range(1, sequences.Count).Select(i => (long)i), sequences);
    }
}

public sealed class RegistryApiTests_Sqlite(SqliteServerFixture fixture) : RegistryApiTests(fixture), IClassFixture<SqliteServerFixture>;

public sealed class RegistryApiTests_Postgres(PostgresServerFixture fixture) : RegistryApiTests(fixture), IClassFixture<PostgresServerFixture>;
