namespace ModelGate.Client;

public static class DeploymentEnvironments
{
    public const string Development = "development";
    public const string Staging = "staging";
    public const string Production = "production";
    public static readonly IReadOnlyList<string> All = [Development, Staging, Production];
}

public static class RouteKinds
{
    public const string Stable = "stable";
    public const string Canary = "canary";
    public const string Pinned = "pinned";
    public const string Fallback = "fallback";
}

/// <summary>A candidate version and the percentage of traffic (0–100) it receives; the stable version gets the rest.</summary>
public sealed record CandidateRoute(string Version, double Weight);

/// <summary>Sticky routing: the same header value (or OpenAI <c>user</c>) always reaches the same version.</summary>
public sealed record StickinessSpec(string? Header = null, bool User = false);

/// <summary>
/// A deployment's routing table. Every version is served by its backend; <c>onnx</c> (the version's ONNX artifact,
/// in-process) is the one this server runs today.
/// </summary>
public sealed record RoutingTable(string Stable, IReadOnlyList<CandidateRoute>? Candidates = null, StickinessSpec? Stickiness = null, string Backend = "onnx");

public sealed record CreateDeploymentRequest(string Name, string Environment, string Model, RoutingTable Routing);

public sealed record DeploymentDto(string Name, string Environment, string Model, RoutingTable Routing, int Revision,
    DateTime CreatedAt, string CreatedBy, DateTime UpdatedAt, string UpdatedBy);
