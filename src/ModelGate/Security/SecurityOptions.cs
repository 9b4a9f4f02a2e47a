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

    /// <summary>
    /// How long a key the database does not know is refused without asking it again (a key created on another replica
    /// works here after at most this long; on the replica that created it, at once).
    /// </summary>
    public TimeSpan UnknownKeyCacheDuration { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Slots of the table of refused keys (by hash; a new refusal takes its slot from an older one): its memory is fixed.</summary>
    [System.ComponentModel.DataAnnotations.Range(16, 16_777_216)]
    public int UnknownKeyCacheSize { get; set; } = 65_536;

    /// <summary>Refused keys are logged at most once per this interval, as a count with the client address that sent the most.</summary>
    public TimeSpan RefusedKeyLogInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Base64 of the 32-byte key that encrypts secrets at rest; by default one is created in the data directory.</summary>
    public string? SecretKey { get; set; }

    /// <summary>
    /// Non-public destinations outbound calls may reach (see <see cref="EgressPolicy"/>): CIDRs (<c>10.0.0.0/8</c>,
    /// <c>::1/128</c>), addresses, or host names (<c>*.internal.example</c>) whose resolved addresses are then accepted.
    /// Link-local and cloud metadata addresses stay refused. Empty by default: only public addresses are reached.
    /// </summary>
    public List<string> AllowedEgress { get; set; } = [];
}
