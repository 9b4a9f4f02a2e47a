using System.Net;

namespace ModelGate.Client;

/// <summary>The server answered with an error; <see cref="Problem"/> holds its problem document when it sent one.</summary>
public sealed class ModelGateApiException(HttpStatusCode status, ProblemDto? problem, string message) : Exception(message)
{
    public HttpStatusCode Status { get; } = status;
    public ProblemDto? Problem { get; } = problem;
    public string? Code => Problem?.Code;
}

/// <summary>A downloaded artifact did not hash to the digest it was asked for.</summary>
public sealed class DigestMismatchException(string expected, string actual)
    : Exception($"digest mismatch: expected sha256 {expected}, got {actual}")
{
    public string Expected { get; } = expected;
    public string Actual { get; } = actual;
}
