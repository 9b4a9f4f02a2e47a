using System.ComponentModel.DataAnnotations;

namespace ModelGate.Storage;

/// <summary>Section <c>Data</c>: where the embedded default keeps everything.</summary>
public sealed class DataOptions
{
    public const string Section = "Data";

    /// <summary>The data directory: the SQLite file and the artifact store live under it unless configured elsewhere.</summary>
    [Required]
    public string Directory { get; set; } = "data";
}

/// <summary>Section <c>Database</c>.</summary>
public sealed class DatabaseOptions : IValidatableObject
{
    public const string Section = "Database";

    /// <summary><c>sqlite</c> (default) or <c>postgres</c>.</summary>
    public string Provider { get; set; } = "sqlite";

    /// <summary>Required for <c>postgres</c>; for <c>sqlite</c> defaults to <c>modelgate.db</c> in the data directory.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>
    /// How long a gateway replica waits at start for the schema to be brought up to date. A replica never migrates: the
    /// control (or all-in-one) process does, so that replicas starting together never race to change the schema.
    /// </summary>
    public TimeSpan SchemaWait { get; set; } = TimeSpan.FromMinutes(1);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Provider is not ("sqlite" or "postgres"))
        {
            yield return new ValidationResult($"Database:Provider must be 'sqlite' or 'postgres', not '{Provider}'.", [nameof(Provider)]);
        }
        if (Provider == "postgres" && string.IsNullOrWhiteSpace(ConnectionString))
        {
            yield return new ValidationResult("Database:ConnectionString is required when Database:Provider is 'postgres'.", [nameof(ConnectionString)]);
        }
        if (SchemaWait < TimeSpan.Zero)
        {
            yield return new ValidationResult("Database:SchemaWait must not be negative.", [nameof(SchemaWait)]);
        }
    }
}

/// <summary>Section <c>Artifacts</c>.</summary>
public sealed class ArtifactStoreOptions
{
    public const string Section = "Artifacts";

    /// <summary>Directory of the filesystem store; defaults to <c>artifacts</c> in the data directory.</summary>
    public string? Path { get; set; }

    /// <summary>
    /// A download of an artifact not yet found intact is hashed in full before its first byte is sent when it is at most this
    /// large; a larger one is hashed while it streams and the response is aborted before its last bytes if it does not match.
    /// </summary>
    [System.ComponentModel.DataAnnotations.Range(0, long.MaxValue)]
    public long VerifyBeforeSendingBytes { get; set; } = 64L * 1024 * 1024;
}

/// <summary>Section <c>Limits</c>: request size limits, answered with 413 past them.</summary>
public sealed class LimitsOptions
{
    public const string Section = "Limits";

    [Range(1024, long.MaxValue)]
    public long MaxRequestBodyBytes { get; set; } = 1024 * 1024;

    [Range(1024, long.MaxValue)]
    public long MaxArtifactBytes { get; set; } = 10L * 1024 * 1024 * 1024;

    /// <summary>The longest string (value or property name) a control-plane JSON body may hold, in characters; 400 <c>value_too_long</c> past it.</summary>
    [Range(64, int.MaxValue)]
    public int MaxStringLength { get; set; } = Errors.ClientJson.DefaultMaxStringLength;
}
