namespace ModelGate.Cli;

/// <summary>Exit codes scripts can rely on.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    public const int Error = 1;
    public const int Usage = 2;
    public const int NotFound = 3;
    public const int Unauthorized = 4;
    public const int Refused = 5;
    public const int Unavailable = 6;
    public const int VerificationFailed = 7;
}
