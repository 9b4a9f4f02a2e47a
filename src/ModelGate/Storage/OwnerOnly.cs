namespace ModelGate.Storage;

/// <summary>
/// Files and directories that hold the store's secrets and data (the SQLite database, <c>secret.key</c>, the artifact tree) are
/// made readable by the server's user only: directories 0700, files 0600, set explicitly at creation so the process umask
/// does not decide. Windows keeps its inherited ACLs.
/// </summary>
public static class OwnerOnly
{
    public const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Creates <paramref name="path"/> and any missing parent, each new one 0700; existing ones are left as they are.</summary>
    public static void CreateDirectory(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
            return;
        }
        path = Path.GetFullPath(path);
        if (Directory.Exists(path))
        {
            return;
        }
        var parent = Path.GetDirectoryName(path);
        if (parent is not null)
        {
            CreateDirectory(parent);
        }
        // Directory.CreateDirectory(path, mode) applies the umask; set the mode again so it is exactly 0700.
        Directory.CreateDirectory(path, DirectoryMode);
        File.SetUnixFileMode(path, DirectoryMode);
    }

    /// <summary>Options for a new file created 0600 (umask-independent: the mode is set on the open handle before anything is written).</summary>
    public static FileStreamOptions NewFile(int bufferSize, FileOptions options = FileOptions.None)
    {
        var o = new FileStreamOptions
        {
            Mode = System.IO.FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, BufferSize = bufferSize, Options = options,
        };
        if (!OperatingSystem.IsWindows())
        {
            o.UnixCreateMode = FileMode;
        }
        return o;
    }

    /// <summary>Creates an empty file 0600 unless it exists (SQLite then uses it, and gives its -wal and -shm files the same mode).</summary>
    public static void CreateFileIfMissing(string path)
    {
        if (File.Exists(path))
        {
            return;
        }
        try
        {
            using var file = new FileStream(path, NewFile(1));
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(file.SafeFileHandle, FileMode);
            }
        }
        catch (IOException) when (File.Exists(path))
        {
            // Created by another process in the meantime: theirs stands.
        }
    }
}
