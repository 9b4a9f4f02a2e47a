namespace ModelGate.Registry;

public static class Digests
{
    /// <summary>True for exactly 64 lower-case hex characters.</summary>
    public static bool IsSha256(string? value) =>
        value is { Length: 64 } && value.AsSpan().IndexOfAnyExcept("0123456789abcdef") < 0;

    /// <summary>Accepts upper- or lower-case hex and an optional <c>sha256:</c> prefix; returns the lower-case digest or null.</summary>
    public static string? Normalize(string? value)
    {
        if (value is null)
        {
            return null;
        }
        var v = value.StartsWith("sha256:", StringComparison.OrdinalIgnoreCase) ? value[7..] : value;
        v = v.ToLowerInvariant();
        return IsSha256(v) ? v : null;
    }
}
