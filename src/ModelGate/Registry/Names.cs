using System.Text.RegularExpressions;

namespace ModelGate.Registry;

public static partial class Names
{
    public const int MaxLength = 64;

    /// <summary>A lower-case slug: letters, digits and single hyphens inside, 1–64 characters.</summary>
    [GeneratedRegex("^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){0,63}$", RegexOptions.CultureInvariant)]
    private static partial Regex SlugRegex();

    public static bool IsValidModelName(string? name) => name is not null && name.Length <= MaxLength && SlugRegex().IsMatch(name);

    public static string ModelNameRule =>
        "a model name is 1–64 characters of lower-case letters, digits and single hyphens, starting and ending with a letter or digit";

    /// <summary>An artifact's file name: a plain name, no directory parts, no control characters.</summary>
    public static bool IsValidFileName(string? name) =>
        !string.IsNullOrWhiteSpace(name) && name.Length <= 255 && name != "." && name != ".." &&
        name.IndexOfAny(['/', '\\', '\0']) < 0 && !name.Any(char.IsControl) && name.Trim() == name;
}
