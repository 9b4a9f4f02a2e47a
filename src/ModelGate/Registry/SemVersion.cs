using System.Globalization;
using System.Text.RegularExpressions;

namespace ModelGate.Registry;

/// <summary>
/// A Semantic Versioning 2.0.0 version with an optional pre-release part (the model qualifier, as in <c>1.0.0-q4</c>).
/// Build metadata (<c>+…</c>) is refused: two versions that differ only in it have equal precedence, and a registry
/// needs every version to be strictly ordered.
/// </summary>
public sealed partial record SemVersion(int Major, int Minor, int Patch, string? Prerelease) : IComparable<SemVersion>
{
    [GeneratedRegex(@"^(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?$",
        RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();

    public static bool TryParse(string? text, out SemVersion? version, out string? error)
    {
        version = null;
        error = null;
        if (string.IsNullOrEmpty(text) || text.Length > 128)
        {
            error = "a version is required (at most 128 characters)";
            return false;
        }
        var m = Pattern().Match(text);
        if (!m.Success)
        {
            error = $"'{text}' is not a semantic version MAJOR.MINOR.PATCH[-QUALIFIER] (e.g. 1.0.0 or 1.0.0-q4)";
            return false;
        }
        if (m.Groups[5].Success)
        {
            error = $"'{text}' has build metadata ('{m.Groups[5].Value}'), which the registry does not accept: use a pre-release qualifier instead";
            return false;
        }
        version = new SemVersion(
            int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture),
            int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture),
            int.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture),
            m.Groups[4].Success ? m.Groups[4].Value : null);
        return true;
    }

    public static SemVersion Parse(string text) =>
        TryParse(text, out var v, out var error) ? v! : throw new FormatException(error);

    public SemVersion Core => this with { Prerelease = null };

    public bool IsPrerelease => Prerelease is not null;

    public override string ToString() =>
        Prerelease is null ? $"{Major}.{Minor}.{Patch}" : $"{Major}.{Minor}.{Patch}-{Prerelease}";

    /// <summary>SemVer 2.0.0 precedence (section 11).</summary>
    public int CompareTo(SemVersion? other)
    {
        if (other is null) return 1;
        var c = Major.CompareTo(other.Major);
        if (c != 0) return c;
        c = Minor.CompareTo(other.Minor);
        if (c != 0) return c;
        c = Patch.CompareTo(other.Patch);
        if (c != 0) return c;
        if (Prerelease is null) return other.Prerelease is null ? 0 : 1;
        if (other.Prerelease is null) return -1;
        var a = Prerelease.Split('.');
        var b = other.Prerelease.Split('.');
        for (var i = 0; i < Math.Min(a.Length, b.Length); i++)
        {
            var aNum = long.TryParse(a[i], NumberStyles.None, CultureInfo.InvariantCulture, out var an);
            var bNum = long.TryParse(b[i], NumberStyles.None, CultureInfo.InvariantCulture, out var bn);
            c = (aNum, bNum) switch
            {
                (true, true) => an.CompareTo(bn),
                (true, false) => -1,
                (false, true) => 1,
                _ => string.CompareOrdinal(a[i], b[i]),
            };
            if (c != 0) return c;
        }
        return a.Length.CompareTo(b.Length);
    }

    public static bool operator <(SemVersion l, SemVersion r) => l.CompareTo(r) < 0;
    public static bool operator >(SemVersion l, SemVersion r) => l.CompareTo(r) > 0;
    public static bool operator <=(SemVersion l, SemVersion r) => l.CompareTo(r) <= 0;
    public static bool operator >=(SemVersion l, SemVersion r) => l.CompareTo(r) >= 0;
}
