using System.Security.Cryptography;
using System.Text;
using ModelGate.Audit;

namespace ModelGate.Tests.Audit;

public sealed class AuditChainTests
{
    private static readonly DateTime Time = new(2026, 11, 23, 10, 30, 15, 123, DateTimeKind.Utc);

    [Fact]
    public void ComputeHash_IsSha256OfTheDocumentedCanonicalArray()
    {
        // Written out by hand from the documented canonical form, not produced by the code under test.
        const string canonical = "[7,\"2026-11-23T10:30:15.123Z\",\"key_1\",\"model.created\",\"models/adult\",\"{\\u0022owner\\u0022:\\u0022o\\u0022}\",\"success\",\"" +
                                 "0000000000000000000000000000000000000000000000000000000000000000\"]";
        var expected = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));
        var actual = AuditChain.ComputeHash(7, Time, "key_1", "model.created", "models/adult", "{\"owner\":\"o\"}", "success", AuditChain.GenesisHash);
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void ComputeHash_ChangesWhenAnyFieldChanges()
    {
        var baseline = AuditChain.ComputeHash(1, Time, "a", "b", "c", "{}", "success", AuditChain.GenesisHash);
        string[] variants =
        [
            AuditChain.ComputeHash(2, Time, "a", "b", "c", "{}", "success", AuditChain.GenesisHash),
            AuditChain.ComputeHash(1, Time.AddMilliseconds(1), "a", "b", "c", "{}", "success", AuditChain.GenesisHash),
            AuditChain.ComputeHash(1, Time, "A", "b", "c", "{}", "success", AuditChain.GenesisHash),
            AuditChain.ComputeHash(1, Time, "a", "B", "c", "{}", "success", AuditChain.GenesisHash),
            AuditChain.ComputeHash(1, Time, "a", "b", "C", "{}", "success", AuditChain.GenesisHash),
            AuditChain.ComputeHash(1, Time, "a", "b", "c", "{ }", "success", AuditChain.GenesisHash),
            AuditChain.ComputeHash(1, Time, "a", "b", "c", "{}", "refused", AuditChain.GenesisHash),
            AuditChain.ComputeHash(1, Time, "a", "b", "c", "{}", "success", new string('1', 64)),
            // Field boundaries matter: moving a character between fields must not collide.
            AuditChain.ComputeHash(1, Time, "ab", "", "c", "{}", "success", AuditChain.GenesisHash),
        ];
        Assert.All(variants, v => Assert.NotEqual(baseline, v));
        Assert.Equal(variants.Length, variants.Distinct().Count());
    }

    [Fact]
    public void Truncate_KeepsMillisecondsOnly()
    {
        var precise = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddTicks(1_234_5678);
        var truncated = AuditChain.Truncate(precise);
        Assert.Equal(0, truncated.Ticks % TimeSpan.TicksPerMillisecond);
        Assert.True(precise - truncated < TimeSpan.FromMilliseconds(1));
        Assert.Equal(DateTimeKind.Utc, truncated.Kind);
    }

    [Fact]
    public void ComputeKeyedHash_IsHmacSha256OfTheSameCanonicalArray_AndDiffersWithAnotherKey()
    {
        const string canonical = "[7,\"2026-11-23T10:30:15.123Z\",\"key_1\",\"model.created\",\"models/adult\",\"{}\",\"success\",\"" +
                                 "0000000000000000000000000000000000000000000000000000000000000000\"]";
        var key = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
        var expected = Convert.ToHexStringLower(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(canonical)));
        Assert.Equal(expected, AuditChain.ComputeKeyedHash(key, 7, Time, "key_1", "model.created", "models/adult", "{}", "success", AuditChain.GenesisHash));
        Assert.NotEqual(expected, AuditChain.ComputeKeyedHash(new byte[32], 7, Time, "key_1", "model.created", "models/adult", "{}", "success", AuditChain.GenesisHash));
        Assert.NotEqual(expected, AuditChain.ComputeHash(7, Time, "key_1", "model.created", "models/adult", "{}", "success", AuditChain.GenesisHash));
    }
}
