using System.Runtime.CompilerServices;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;

namespace ModelGate.Audit;

/// <summary>
/// Ed25519 signing and verification of checkpoints: the only code that touches BouncyCastle's types, so that its assembly
/// (and the types it loads) is mapped only when a checkpoint is signed or verified, not at start nor by every audited write.
/// Not inlined, so that compiling a caller does not load them either.
/// </summary>
internal static class Ed25519
{
    /// <summary>The 32-byte public key of the 32-byte private key (seed) <paramref name="seed"/>.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static byte[] PublicKey(byte[] seed) => new Ed25519PrivateKeyParameters(seed).GeneratePublicKey().GetEncoded();

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static byte[] Sign(byte[] seed, byte[] message)
    {
        var signer = new Ed25519Signer();
        signer.Init(true, new Ed25519PrivateKeyParameters(seed));
        signer.BlockUpdate(message, 0, message.Length);
        return signer.GenerateSignature();
    }

    /// <summary>Whether <paramref name="signature"/> is <paramref name="publicKey"/>'s over <paramref name="message"/>; throws <see cref="ArgumentException"/> for a key of the wrong length.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static bool Verify(byte[] publicKey, byte[] message, byte[] signature)
    {
        var verifier = new Ed25519Signer();
        verifier.Init(false, new Ed25519PublicKeyParameters(publicKey));
        verifier.BlockUpdate(message, 0, message.Length);
        return verifier.VerifySignature(signature);
    }
}
