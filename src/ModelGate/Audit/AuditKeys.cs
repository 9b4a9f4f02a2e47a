using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using ModelGate.Security;
using ModelGate.Storage;

namespace ModelGate.Audit;

/// <summary>
/// The audit chain's two keys, both kept outside the database: the HMAC key that links events (so that a database
/// writer without it cannot recompute a rewritten chain) and the Ed25519 key that signs checkpoints of the chain's head.
/// </summary>
public sealed class AuditKeys
{
    public const string ChainKeyLabel = "modelgate/audit-chain/v1";

    private readonly Lazy<byte[]> _chainKey;
    private readonly Lazy<byte[]> _signingKey;
    private readonly Lazy<string> _publicKey;

    public AuditKeys(IOptions<AuditOptions> options, IOptions<DataOptions> data, SecretProtector secrets)
    {
        var o = options.Value;
        _chainKey = new Lazy<byte[]>(() => string.IsNullOrEmpty(o.ChainKey)
            ? secrets.DeriveKey(ChainKeyLabel)
            : Decode32(o.ChainKey, "Audit:ChainKey"));
        _signingKey = new Lazy<byte[]>(() => string.IsNullOrEmpty(o.SigningKey)
            ? LoadOrCreate(o.SigningKeyFile ?? Path.Combine(Path.GetFullPath(data.Value.Directory), "audit-signing.key"))
            : Decode32(o.SigningKey, "Audit:SigningKey"));
        _publicKey = new Lazy<string>(() => Convert.ToBase64String(Ed25519.PublicKey(_signingKey.Value)));
    }

    public byte[] ChainKey => _chainKey.Value;

    /// <summary>Whether <paramref name="e"/> verifies under the chain key: ModelGate wrote it as it stands (a database writer without the key cannot).</summary>
    public bool Verifies(ModelGate.Storage.Audit.AuditEventEntity e) => AuditChain.ComputeKeyedHash(ChainKey, e) == e.Hash;

    /// <summary>The 32-byte Ed25519 private key (seed) that signs checkpoints (<see cref="Ed25519"/>).</summary>
    internal byte[] SigningKey => _signingKey.Value;

    /// <summary>Base64 of the 32-byte Ed25519 public key that verifies checkpoints.</summary>
    public string PublicKey => _publicKey.Value;

    private static byte[] Decode32(string base64, string name)
    {
        byte[] key;
        try
        {
            key = Convert.FromBase64String(base64);
        }
        catch (FormatException)
        {
            throw new InvalidOperationException($"{name} must be 32 bytes, base64-encoded");
        }
        return key.Length == 32 ? key : throw new InvalidOperationException($"{name} must be 32 bytes, base64-encoded");
    }

    private static byte[] LoadOrCreate(string path)
    {
        if (File.Exists(path))
        {
            return Decode32(File.ReadAllText(path).Trim(), path);
        }
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var created = RandomNumberGenerator.GetBytes(32);
        var temp = path + ".tmp";
        var fileOptions = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            fileOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite; // created 0600, never readable by others even briefly
        }
        using (var stream = new FileStream(temp, fileOptions))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(Convert.ToBase64String(created));
        }
        try
        {
            File.Move(temp, path, overwrite: false);
        }
        catch (IOException) when (File.Exists(path))
        {
            // Another process created it first: its key wins.
            File.Delete(temp);
            return Decode32(File.ReadAllText(path).Trim(), path);
        }
        return created;
    }
}
