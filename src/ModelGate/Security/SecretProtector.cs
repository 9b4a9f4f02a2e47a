using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using ModelGate.Storage;

namespace ModelGate.Security;

/// <summary>
/// Encrypts secrets (upstream API keys) at rest with AES-256-GCM. The key is <c>Security:SecretKey</c> (base64, 32 bytes)
/// or, by default, a random key created once in <c>{data}/secret.key</c> readable only by its owner.
/// </summary>
public sealed class SecretProtector
{
    private const string Prefix = "v1:";
    private readonly Lazy<byte[]> _key;

    public SecretProtector(IOptions<SecurityOptions> security, IOptions<DataOptions> data) =>
        _key = new Lazy<byte[]>(() => LoadKey(security.Value.SecretKey, Path.GetFullPath(data.Value.Directory)));

    public string Protect(string secret)
    {
        var plain = Encoding.UTF8.GetBytes(secret);
        var nonce = RandomNumberGenerator.GetBytes(12);
        var cipher = new byte[plain.Length];
        var tag = new byte[16];
        using (var aes = new AesGcm(_key.Value, 16))
        {
            aes.Encrypt(nonce, plain, cipher, tag);
        }
        return Prefix + Convert.ToBase64String([.. nonce, .. tag, .. cipher]);
    }

    public string Unprotect(string protectedSecret)
    {
        if (!protectedSecret.StartsWith(Prefix, StringComparison.Ordinal))
        {
            throw new CryptographicException("not a protected secret");
        }
        var bytes = Convert.FromBase64String(protectedSecret[Prefix.Length..]);
        var plain = new byte[bytes.Length - 28];
        using (var aes = new AesGcm(_key.Value, 16))
        {
            aes.Decrypt(bytes.AsSpan(0, 12), bytes.AsSpan(28), bytes.AsSpan(12, 16), plain);
        }
        return Encoding.UTF8.GetString(plain);
    }

    /// <summary>A 32-byte key for another purpose, derived from the secret key (HKDF-SHA256) under a label that names that purpose.</summary>
    public byte[] DeriveKey(string label) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, _key.Value, 32, salt: [], info: Encoding.UTF8.GetBytes(label));

    private static byte[] LoadKey(string? configured, string dataDirectory)
    {
        if (!string.IsNullOrEmpty(configured))
        {
            var key = Convert.FromBase64String(configured);
            return key.Length == 32 ? key : throw new InvalidOperationException("Security:SecretKey must be 32 bytes, base64-encoded");
        }
        var path = Path.Combine(dataDirectory, "secret.key");
        if (File.Exists(path))
        {
            return Convert.FromBase64String(File.ReadAllText(path).Trim());
        }
        OwnerOnly.CreateDirectory(dataDirectory);
        var created = RandomNumberGenerator.GetBytes(32);
        var temp = path + ".tmp";
        File.Delete(temp); // left by a process that died before its rename
        // 0600 from the moment it exists, not after the key is in it.
        using (var file = new FileStream(temp, OwnerOnly.NewFile(4096)))
        {
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(file.SafeFileHandle, OwnerOnly.FileMode);
            }
            file.Write(Encoding.ASCII.GetBytes(Convert.ToBase64String(created)));
            file.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: false);
        return created;
    }
}
