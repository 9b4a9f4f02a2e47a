using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;

namespace ModelGate.Client;

/// <summary>Typed client of the ModelGate REST API (<c>/api/v1</c>).</summary>
public sealed class ModelGateClient(HttpClient http)
{
    public const string DigestHeader = "x-modelgate-sha256";
    private static readonly JsonSerializerOptions Json = ModelGateJson.Options;

    public HttpClient Http { get; } = http;

    public static ModelGateClient Create(Uri baseAddress, string? token, HttpMessageHandler? handler = null)
    {
        var http = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler: false);
        http.BaseAddress = baseAddress;
        http.Timeout = Timeout.InfiniteTimeSpan; // uploads and downloads of large artifacts; callers cancel instead
        if (!string.IsNullOrEmpty(token))
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        return new ModelGateClient(http);
    }

    // Models
    public Task<ModelDto> CreateModelAsync(CreateModelRequest request, CancellationToken ct = default) =>
        SendAsync<ModelDto>(HttpMethod.Post, "api/v1/models", request, ct);

    public Task<PageDto<ModelDto>> ListModelsAsync(int offset = 0, int limit = 100, CancellationToken ct = default) =>
        SendAsync<PageDto<ModelDto>>(HttpMethod.Get, $"api/v1/models?offset={offset}&limit={limit}", null, ct);

    public Task<ModelDto> GetModelAsync(string model, CancellationToken ct = default) =>
        SendAsync<ModelDto>(HttpMethod.Get, $"api/v1/models/{Esc(model)}", null, ct);

    public Task<ModelDto> UpdateModelAsync(string model, UpdateModelRequest request, CancellationToken ct = default) =>
        SendAsync<ModelDto>(HttpMethod.Patch, $"api/v1/models/{Esc(model)}", request, ct);

    /// <summary>Approves a below-floor change (a policy or a lower risk tier) by the <c>change</c> id its refusal named.</summary>
    public Task<FloorApprovalDto> ApproveFloorChangeAsync(string model, FloorApprovalRequest request, CancellationToken ct = default) =>
        SendAsync<FloorApprovalDto>(HttpMethod.Post, $"api/v1/models/{Esc(model)}/floor-approvals", request, ct);

    // Versions
    public Task<ModelVersionDto> CreateVersionAsync(string model, CreateVersionRequest request, CancellationToken ct = default) =>
        SendAsync<ModelVersionDto>(HttpMethod.Post, $"api/v1/models/{Esc(model)}/versions", request, ct);

    public Task<PageDto<ModelVersionDto>> ListVersionsAsync(string model, int offset = 0, int limit = 100, CancellationToken ct = default) =>
        SendAsync<PageDto<ModelVersionDto>>(HttpMethod.Get, $"api/v1/models/{Esc(model)}/versions?offset={offset}&limit={limit}", null, ct);

    public Task<ModelVersionDto> GetVersionAsync(string model, string version, CancellationToken ct = default) =>
        SendAsync<ModelVersionDto>(HttpMethod.Get, $"api/v1/models/{Esc(model)}/versions/{Esc(version)}", null, ct);

    /// <summary>The attestation as recorded, or (<paramref name="format"/> = <c>in-toto</c>) as an in-toto Statement v1 with SLSA provenance v1.</summary>
    public Task<JsonElement> GetAttestationAsync(string model, string version, string? format = null, CancellationToken ct = default) =>
        SendAsync<JsonElement>(HttpMethod.Get, $"api/v1/models/{Esc(model)}/versions/{Esc(version)}/attestation" + (format is null ? "" : $"?format={Esc(format)}"), null, ct);

    /// <summary>What changed from <paramref name="version"/> to <paramref name="other"/> (prompt, attestation, artifacts, implied bump).</summary>
    public Task<VersionDiffDto> DiffVersionsAsync(string model, string version, string other, CancellationToken ct = default) =>
        SendAsync<VersionDiffDto>(HttpMethod.Get, $"api/v1/models/{Esc(model)}/versions/{Esc(version)}/diff/{Esc(other)}", null, ct);

    public Task<LineageDto> GetLineageAsync(string model, string version, CancellationToken ct = default) =>
        SendAsync<LineageDto>(HttpMethod.Get, $"api/v1/models/{Esc(model)}/versions/{Esc(version)}/lineage", null, ct);

    /// <summary>Versions whose attestation names the dataset digest or the base model.</summary>
    public Task<IReadOnlyList<VersionRefDto>> FindByLineageAsync(string? datasetSha256, string? baseModel, CancellationToken ct = default)
    {
        var query = new List<string>();
        if (datasetSha256 is not null) query.Add("dataset=" + Esc(datasetSha256));
        if (baseModel is not null) query.Add("baseModel=" + Esc(baseModel));
        return SendAsync<IReadOnlyList<VersionRefDto>>(HttpMethod.Get, "api/v1/lineage?" + string.Join('&', query), null, ct);
    }

    // Artifacts
    public async Task<ArtifactDto> PushArtifactAsync(Stream content, string sha256, IProgress<long>? progress = null, CancellationToken ct = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, $"api/v1/artifacts/{Esc(sha256)}")
        {
            Content = new ProgressStreamContent(content, progress),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        if (content.CanSeek)
        {
            request.Content.Headers.ContentLength = content.Length - content.Position;
        }
        using var response = await Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        return await ReadAsync<ArtifactDto>(response, ct).ConfigureAwait(false);
    }

    /// <summary>Streams an artifact into <paramref name="destination"/> and verifies its SHA-256; throws <see cref="DigestMismatchException"/> when it differs.</summary>
    public async Task<long> PullArtifactAsync(string sha256, Stream destination, Action<long, long?>? progress = null, CancellationToken ct = default)
    {
        using var response = await Http.GetAsync($"api/v1/artifacts/{Esc(sha256)}", HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        await EnsureSuccessAsync(response, ct).ConfigureAwait(false);
        var total = response.Content.Headers.ContentLength;
        await using var source = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[81920];
        long done = 0;
        int read;
        while ((read = await source.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
        {
            hash.AppendData(buffer, 0, read);
            await destination.WriteAsync(buffer.AsMemory(0, read), ct).ConfigureAwait(false);
            done += read;
            progress?.Invoke(done, total);
        }
        var actual = Convert.ToHexStringLower(hash.GetHashAndReset());
        if (!string.Equals(actual, sha256, StringComparison.OrdinalIgnoreCase))
        {
            throw new DigestMismatchException(sha256.ToLowerInvariant(), actual);
        }
        return done;
    }

    // Evaluations
    public Task<EvaluationDto> StartEvaluationAsync(string model, string version, StartEvaluationRequest request, CancellationToken ct = default) =>
        SendAsync<EvaluationDto>(HttpMethod.Post, $"api/v1/models/{Esc(model)}/versions/{Esc(version)}/evaluations", request, ct);

    public Task<IReadOnlyList<EvaluationDto>> ListEvaluationsAsync(string model, string version, CancellationToken ct = default) =>
        SendAsync<IReadOnlyList<EvaluationDto>>(HttpMethod.Get, $"api/v1/models/{Esc(model)}/versions/{Esc(version)}/evaluations", null, ct);

    public Task<EvaluationDto> GetEvaluationAsync(string model, string version, string id, CancellationToken ct = default) =>
        SendAsync<EvaluationDto>(HttpMethod.Get, $"api/v1/models/{Esc(model)}/versions/{Esc(version)}/evaluations/{Esc(id)}", null, ct);

    public Task<EvaluationDto> CancelEvaluationAsync(string model, string version, string id, CancellationToken ct = default) =>
        SendAsync<EvaluationDto>(HttpMethod.Post, $"api/v1/models/{Esc(model)}/versions/{Esc(version)}/evaluations/{Esc(id)}/cancel", null, ct);

    // Deployments and the data plane
    public Task<DeploymentDto> CreateDeploymentAsync(CreateDeploymentRequest request, CancellationToken ct = default) =>
        SendAsync<DeploymentDto>(HttpMethod.Post, "api/v1/deployments", request, ct);

    public Task<IReadOnlyList<DeploymentDto>> ListDeploymentsAsync(CancellationToken ct = default) =>
        SendAsync<IReadOnlyList<DeploymentDto>>(HttpMethod.Get, "api/v1/deployments", null, ct);

    public Task<DeploymentDto> GetDeploymentAsync(string name, CancellationToken ct = default) =>
        SendAsync<DeploymentDto>(HttpMethod.Get, $"api/v1/deployments/{Esc(name)}", null, ct);

    public Task<DeploymentDto> SetRoutingAsync(string name, RoutingTable routing, CancellationToken ct = default) =>
        SendAsync<DeploymentDto>(HttpMethod.Put, $"api/v1/deployments/{Esc(name)}/routing", routing, ct);

    /// <summary>The deployment's telemetry per version and route over the last <paramref name="window"/> (such as 5m; at most 1h).</summary>
    public Task<DeploymentMetricsDto> GetDeploymentMetricsAsync(string name, string? window = null, CancellationToken ct = default) =>
        SendAsync<DeploymentMetricsDto>(HttpMethod.Get, $"api/v1/deployments/{Esc(name)}/metrics" + (window is null ? "" : $"?window={Uri.EscapeDataString(window)}"), null, ct);

    /// <summary>Sends all of a deployment's traffic to its last-known-good version.</summary>
    public Task<DeploymentDto> RollbackAsync(string name, string? reason = null, CancellationToken ct = default) =>
        SendAsync<DeploymentDto>(HttpMethod.Post, $"api/v1/deployments/{Esc(name)}/rollback", new RollbackRequest(reason), ct);

    public Task<IReadOnlyList<AlertDto>> ListAlertsAsync(string? status = null, string? group = null, CancellationToken ct = default) =>
        SendAsync<IReadOnlyList<AlertDto>>(HttpMethod.Get, "api/v1/alerts" + Query(("status", status), ("group", group)), null, ct);

    public Task<SilenceDto> SilenceAsync(SilenceRequest request, CancellationToken ct = default) =>
        SendAsync<SilenceDto>(HttpMethod.Post, "api/v1/alerts/silences", request, ct);

    /// <summary>Active silences, soonest-ending first.</summary>
    public Task<IReadOnlyList<SilenceDto>> ListSilencesAsync(CancellationToken ct = default) =>
        SendAsync<IReadOnlyList<SilenceDto>>(HttpMethod.Get, "api/v1/alerts/silences", null, ct);

    /// <summary>Requests, errors, tokens, cost and mean latency from the request log; <paramref name="groupBy"/>: comma-separated key, deployment, version.</summary>
    public Task<UsageDto> GetUsageAsync(string? groupBy = null, string? deployment = null, string? key = null, DateTimeOffset? from = null,
        DateTimeOffset? to = null, CancellationToken ct = default) =>
        SendAsync<UsageDto>(HttpMethod.Get, "api/v1/usage" + Query(("groupBy", groupBy), ("deployment", deployment), ("key", key),
            ("from", from?.ToString("O", System.Globalization.CultureInfo.InvariantCulture)), ("to", to?.ToString("O", System.Globalization.CultureInfo.InvariantCulture))), null, ct);

    public Task<SloStatusDto> SetSloAsync(string deployment, SloSpec spec, CancellationToken ct = default) =>
        SendAsync<SloStatusDto>(HttpMethod.Put, $"api/v1/deployments/{Esc(deployment)}/slo", spec, ct);

    public Task<SloStatusDto> GetSloAsync(string deployment, CancellationToken ct = default) =>
        SendAsync<SloStatusDto>(HttpMethod.Get, $"api/v1/deployments/{Esc(deployment)}/slo", null, ct);

    /// <summary>Sets a version's drift baseline from a stored CSV artifact (push it first) and the columns to watch (default: all).</summary>
    public Task<DriftBaselineDto> SetDriftBaselineAsync(string model, string version, DriftBaselineRequest request, CancellationToken ct = default) =>
        SendAsync<DriftBaselineDto>(HttpMethod.Put, $"api/v1/models/{Esc(model)}/versions/{Esc(version)}/drift-baseline", request, ct);

    /// <summary>The current drift report of a deployment's version (default: its stable version), per column.</summary>
    public Task<JsonElement> GetDriftAsync(string deployment, string? window = null, string? version = null, CancellationToken ct = default) =>
        SendAsync<JsonElement>(HttpMethod.Get, $"api/v1/deployments/{Esc(deployment)}/drift" + Query(("window", window), ("version", version)), null, ct);

    public Task<RolloutDto> StartRolloutAsync(string deployment, StartRolloutRequest request, CancellationToken ct = default) =>
        SendAsync<RolloutDto>(HttpMethod.Post, $"api/v1/deployments/{Esc(deployment)}/rollouts", request, ct);

    public Task<IReadOnlyList<RolloutDto>> ListRolloutsAsync(string deployment, CancellationToken ct = default) =>
        SendAsync<IReadOnlyList<RolloutDto>>(HttpMethod.Get, $"api/v1/deployments/{Esc(deployment)}/rollouts", null, ct);

    public Task<RolloutDto> GetRolloutAsync(string deployment, string id, CancellationToken ct = default) =>
        SendAsync<RolloutDto>(HttpMethod.Get, $"api/v1/deployments/{Esc(deployment)}/rollouts/{Esc(id)}", null, ct);

    /// <summary><paramref name="action"/>: pause, resume, abort or promote.</summary>
    public Task<RolloutDto> RolloutActionAsync(string deployment, string id, string action, string? reason = null, CancellationToken ct = default) =>
        SendAsync<RolloutDto>(HttpMethod.Post, $"api/v1/deployments/{Esc(deployment)}/rollouts/{Esc(id)}/{Esc(action)}", new RolloutActionRequest(reason), ct);

    private static string Query(params (string Name, string? Value)[] parts)
    {
        var present = parts.Where(p => p.Value is not null).Select(p => $"{p.Name}={Uri.EscapeDataString(p.Value!)}").ToList();
        return present.Count == 0 ? "" : "?" + string.Join('&', present);
    }

    public Task<FeedbackDto> SendFeedbackAsync(FeedbackRequest request, CancellationToken ct = default) =>
        SendAsync<FeedbackDto>(HttpMethod.Post, "api/v1/feedback", request, ct);

    /// <summary>Open Inference Protocol v2 model metadata of a deployment: its versions, inputs and outputs.</summary>
    public Task<JsonElement> GetInferenceMetadataAsync(string deployment, CancellationToken ct = default) =>
        SendAsync<JsonElement>(HttpMethod.Get, $"v2/models/{Esc(deployment)}", null, ct);

    /// <summary>Open Inference Protocol v2 infer; returns the response body and the version and route that served it.</summary>
    public async Task<(JsonElement Body, string? Version, string? Route)> InferAsync(string deployment, JsonElement request, string? version = null,
        CancellationToken ct = default)
    {
        var path = version is null ? $"v2/models/{Esc(deployment)}/infer" : $"v2/models/{Esc(deployment)}/versions/{Esc(version)}/infer";
        using var message = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(request, options: Json) };
        using var response = await Http.SendAsync(message, ct).ConfigureAwait(false);
        var body = await ReadAsync<JsonElement>(response, ct).ConfigureAwait(false);
        return (body, Header(response, "x-modelgate-version"), Header(response, "x-modelgate-route"));
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;

    // Audit
    public Task<PageDto<AuditEventDto>> ListAuditAsync(string? subject = null, string? actor = null, DateTimeOffset? from = null, DateTimeOffset? to = null,
        int offset = 0, int limit = 100, CancellationToken ct = default)
    {
        var query = new List<string> { $"offset={offset}", $"limit={limit}" };
        if (subject is not null) query.Add("subject=" + Esc(subject));
        if (actor is not null) query.Add("actor=" + Esc(actor));
        if (from is not null) query.Add("from=" + Esc(from.Value.ToString("O")));
        if (to is not null) query.Add("to=" + Esc(to.Value.ToString("O")));
        return SendAsync<PageDto<AuditEventDto>>(HttpMethod.Get, "api/v1/audit?" + string.Join('&', query), null, ct);
    }

    public Task<AuditVerifyDto> VerifyAuditAsync(CancellationToken ct = default) =>
        SendAsync<AuditVerifyDto>(HttpMethod.Get, "api/v1/audit/verify", null, ct);

    /// <summary>Verifies the chain against the given checkpoint lines instead of the server's own checkpoint file.</summary>
    public Task<AuditVerifyDto> VerifyAuditAsync(AuditVerifyRequest request, CancellationToken ct = default) =>
        SendAsync<AuditVerifyDto>(HttpMethod.Post, "api/v1/audit/verify", request, ct);

    public Task<AuditCheckpointKeyDto> GetAuditCheckpointKeyAsync(CancellationToken ct = default) =>
        SendAsync<AuditCheckpointKeyDto>(HttpMethod.Get, "api/v1/audit/checkpoint-key", null, ct);

    // Keys
    public Task<ApiKeyDto> CreateKeyAsync(CreateKeyRequest request, CancellationToken ct = default) =>
        SendAsync<ApiKeyDto>(HttpMethod.Post, "api/v1/keys", request, ct);

    public Task<IReadOnlyList<ApiKeyDto>> ListKeysAsync(CancellationToken ct = default) =>
        SendAsync<IReadOnlyList<ApiKeyDto>>(HttpMethod.Get, "api/v1/keys", null, ct);

    public Task<ApiKeyDto> RevokeKeyAsync(string id, CancellationToken ct = default) =>
        SendAsync<ApiKeyDto>(HttpMethod.Delete, $"api/v1/keys/{Esc(id)}", null, ct);

    public Task<PrincipalDto> CreatePrincipalAsync(CreatePrincipalRequest request, CancellationToken ct = default) =>
        SendAsync<PrincipalDto>(HttpMethod.Post, "api/v1/principals", request, ct);

    public Task<IReadOnlyList<PrincipalDto>> ListPrincipalsAsync(CancellationToken ct = default) =>
        SendAsync<IReadOnlyList<PrincipalDto>>(HttpMethod.Get, "api/v1/principals", null, ct);

    /// <summary>A principal (by id or identity) with its keys.</summary>
    public Task<PrincipalDto> GetPrincipalAsync(string idOrIdentity, CancellationToken ct = default) =>
        SendAsync<PrincipalDto>(HttpMethod.Get, $"api/v1/principals/{Esc(idOrIdentity)}", null, ct);

    public Task<PrincipalDto> UpdatePrincipalAsync(string idOrIdentity, UpdatePrincipalRequest request, CancellationToken ct = default) =>
        SendAsync<PrincipalDto>(HttpMethod.Patch, $"api/v1/principals/{Esc(idOrIdentity)}", request, ct);
    /// <summary>Who the client's key or token acts as.</summary>
    public Task<MeDto> GetMeAsync(CancellationToken ct = default) => SendAsync<MeDto>(HttpMethod.Get, "api/v1/me", null, ct);

    private static string Esc(string value) => Uri.EscapeDataString(value);

    // Lifecycle
    /// <summary>Moves a version to another stage through its gate; with <paramref name="dryRun"/> only reports what the gate finds.</summary>
    public Task<TransitionDto> TransitionAsync(string model, string version, TransitionRequest request, CancellationToken ct = default) =>
        SendAsync<TransitionDto>(HttpMethod.Post, $"api/v1/models/{Esc(model)}/versions/{Esc(version)}/transitions", request, ct);

    public Task<GateReport> DryRunTransitionAsync(string model, string version, TransitionRequest request, CancellationToken ct = default) =>
        SendAsync<GateReport>(HttpMethod.Post, $"api/v1/models/{Esc(model)}/versions/{Esc(version)}/transitions?dryRun=true", request, ct);

    public Task<IReadOnlyList<TransitionDto>> ListTransitionsAsync(string model, string version, CancellationToken ct = default) =>
        SendAsync<IReadOnlyList<TransitionDto>>(HttpMethod.Get, $"api/v1/models/{Esc(model)}/versions/{Esc(version)}/transitions", null, ct);

    public Task<ApprovalDto> ApproveAsync(string model, string version, ApprovalRequest request, CancellationToken ct = default) =>
        SendAsync<ApprovalDto>(HttpMethod.Post, $"api/v1/models/{Esc(model)}/versions/{Esc(version)}/approvals", request, ct);

    public Task<IReadOnlyList<ApprovalDto>> ListApprovalsAsync(string model, string version, CancellationToken ct = default) =>
        SendAsync<IReadOnlyList<ApprovalDto>>(HttpMethod.Get, $"api/v1/models/{Esc(model)}/versions/{Esc(version)}/approvals", null, ct);

    public Task<JsonElement> PutCardAsync(string model, string version, object card, CancellationToken ct = default) =>
        SendAsync<JsonElement>(HttpMethod.Put, $"api/v1/models/{Esc(model)}/versions/{Esc(version)}/card", card, ct);

    public Task<JsonElement> GetCardAsync(string model, string version, CancellationToken ct = default) =>
        SendAsync<JsonElement>(HttpMethod.Get, $"api/v1/models/{Esc(model)}/versions/{Esc(version)}/card", null, ct);

    /// <summary>The card rendered as markdown (<paramref name="format"/> = <c>markdown</c>) or exported as a CycloneDX ML-BOM (<c>cyclonedx</c>).</summary>
    public async Task<string> GetCardTextAsync(string model, string version, string format, CancellationToken ct = default)
    {
        using var response = await Http.GetAsync($"api/v1/models/{Esc(model)}/versions/{Esc(version)}/card?format={Esc(format)}", ct).ConfigureAwait(false);
        await EnsureSuccessAsync(response, ct).ConfigureAwait(false);
        return await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
    }

    public Task<StagingVerificationDto> VerifyStagingAsync(string model, string version, StagingVerificationRequest? request = null, CancellationToken ct = default) =>
        SendAsync<StagingVerificationDto>(HttpMethod.Post, $"api/v1/models/{Esc(model)}/versions/{Esc(version)}/staging-verifications",
            request ?? new StagingVerificationRequest(), ct);

    public Task<IReadOnlyList<StagingVerificationDto>> ListStagingVerificationsAsync(string model, string version, CancellationToken ct = default) =>
        SendAsync<IReadOnlyList<StagingVerificationDto>>(HttpMethod.Get, $"api/v1/models/{Esc(model)}/versions/{Esc(version)}/staging-verifications", null, ct);

    public Task<PolicyDto> GetPolicyAsync(string scope, CancellationToken ct = default) =>
        SendAsync<PolicyDto>(HttpMethod.Get, $"api/v1/policies/{Esc(scope)}", null, ct);

    /// <summary>Writes a policy given as JSON or YAML text.</summary>
    public async Task<PolicyDto> PutPolicyAsync(string scope, string document, CancellationToken ct = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, $"api/v1/policies/{Esc(scope)}")
        {
            Content = new StringContent(document, System.Text.Encoding.UTF8, document.TrimStart().StartsWith('{') ? "application/json" : "application/yaml"),
        };
        using var response = await Http.SendAsync(request, ct).ConfigureAwait(false);
        return await ReadAsync<PolicyDto>(response, ct).ConfigureAwait(false);
    }

    public Task<IReadOnlyList<ReviewDueDto>> ReviewsDueAsync(CancellationToken ct = default) =>
        SendAsync<IReadOnlyList<ReviewDueDto>>(HttpMethod.Get, "api/v1/reviews/due", null, ct);

    private async Task<T> SendAsync<T>(HttpMethod method, string path, object? body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body, body.GetType(), options: Json);
        }
        using var response = await Http.SendAsync(request, ct).ConfigureAwait(false);
        return await ReadAsync<T>(response, ct).ConfigureAwait(false);
    }

    private static async Task<T> ReadAsync<T>(HttpResponseMessage response, CancellationToken ct)
    {
        await EnsureSuccessAsync(response, ct).ConfigureAwait(false);
        var value = await response.Content.ReadFromJsonAsync<T>(Json, ct).ConfigureAwait(false);
        return value ?? throw new ModelGateApiException(response.StatusCode, null, "the server sent an empty body");
    }

    /// <summary>Throws <see cref="ModelGateApiException"/> carrying the problem document when the response is not a success.</summary>
    public static async Task EnsureSuccessAsync(HttpResponseMessage response, CancellationToken ct)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }
        ProblemDto? problem = null;
        var text = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        try
        {
            problem = JsonSerializer.Deserialize<ProblemDto>(text, Json);
        }
        catch (JsonException)
        {
        }
        var message = problem is null
            ? $"{(int)response.StatusCode} {response.ReasonPhrase}: {text}"
            : $"{(int)response.StatusCode} {problem.Title}" + (problem.Detail is null ? "" : $": {problem.Detail}");
        throw new ModelGateApiException(response.StatusCode, problem, message);
    }

    private sealed class ProgressStreamContent(Stream source, IProgress<long>? progress) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            await SerializeToStreamAsync(stream, context, CancellationToken.None).ConfigureAwait(false);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            var buffer = new byte[81920];
            long done = 0;
            int read;
            while ((read = await source.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                await stream.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                done += read;
                progress?.Report(done);
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
