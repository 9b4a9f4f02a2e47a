namespace ModelGate.Security;

/// <summary>Section <c>Security</c>.</summary>
public sealed class SecurityOptions
{
    public const string Section = "Security";

    /// <summary>
    /// The admin key to create on an empty store instead of a random one (for automation that must know it in advance).
    /// Ignored once any key exists.
    /// </summary>
    public string? BootstrapAdminKey { get; set; }

    /// <summary>How long a validated key is trusted before the database is asked again (revocations by another replica take this long).</summary>
    public TimeSpan KeyCacheDuration { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Base64 of the 32-byte key that encrypts secrets at rest; by default one is created in the data directory.</summary>
    public string? SecretKey { get; set; }
}
