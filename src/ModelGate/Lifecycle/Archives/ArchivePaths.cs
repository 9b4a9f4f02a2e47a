namespace ModelGate.Lifecycle.Archives;

/// <summary>
/// The entry names an archive may hold: relative, '/'-separated, each segment of letters, digits and <c>._@+=-</c>
/// (never <c>.</c> or <c>..</c>), so that extracting one can only create files below the target directory, on any OS.
/// </summary>
public static class ArchivePaths
{
    public const int MaxLength = 255;
    public const int MaxSegmentLength = 100;
    public const int MaxDepth = 16;

    /// <summary>Why a path is not a safe entry name, or null when it is.</summary>
    public static string? Problem(string? path)
    {
        if (string.IsNullOrEmpty(path))
        {
            return "the path is empty";
        }
        if (path.Length > MaxLength)
        {
            return $"the path is longer than {MaxLength} characters";
        }
        if (path[0] == '/')
        {
            return "the path is absolute";
        }
        var segments = path.Split('/');
        if (segments.Length > MaxDepth)
        {
            return $"the path is more than {MaxDepth} levels deep";
        }
        foreach (var segment in segments)
        {
            if (segment.Length == 0)
            {
                return "the path has an empty segment ('//' or a trailing '/')";
            }
            if (segment is "." or "..")
            {
                return $"the path has a '{segment}' segment";
            }
            if (segment.Length > MaxSegmentLength)
            {
                return $"a segment is longer than {MaxSegmentLength} characters";
            }
            foreach (var c in segment)
            {
                if (!char.IsAsciiLetterOrDigit(c) && c is not ('.' or '_' or '@' or '+' or '=' or '-'))
                {
                    return c switch
                    {
                        '\\' => "the path has a backslash",
                        ':' => "the path has a ':' (a drive or stream name)",
                        _ when char.IsControl(c) => "the path has a control character",
                        _ => $"the path has '{c}' (allowed: letters, digits and . _ @ + = -)",
                    };
                }
            }
        }
        return null;
    }

    public static bool IsSafe(string? path) => Problem(path) is null;
}
