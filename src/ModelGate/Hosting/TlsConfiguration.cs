using Microsoft.Extensions.Options;

namespace ModelGate.Hosting;

/// <summary>
/// HTTPS: Kestrel's own configuration (<c>Kestrel:Certificates:Default:Path</c>, with <c>KeyPath</c> for a PEM key or
/// <c>Password</c> for a PFX or an encrypted key; or <c>Kestrel:Endpoints:{name}:Certificate</c>) serves every https address in
/// <c>--urls</c>. An https address without a configured certificate is refused before anything starts, rather than falling
/// back to a developer certificate a server has no business using.
/// </summary>
public static class TlsConfiguration
{
    public const string DefaultCertificate = "Kestrel:Certificates:Default";

    public static void EnableHttps(WebApplicationBuilder builder)
    {
        // The slim builder's Kestrel (UseKestrelCore) leaves out the HTTPS configuration loader: without this an https address
        // is an unhandled InvalidOperationException at start.
        builder.WebHost.UseKestrelHttpsConfiguration();
        var urls = builder.Configuration["urls"] ?? builder.Configuration["ASPNETCORE_URLS"] ?? "";
        var https = urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .FirstOrDefault(u => u.StartsWith("https://", StringComparison.OrdinalIgnoreCase));
        var configured = builder.Configuration.GetSection(DefaultCertificate);
        if (https is not null && string.IsNullOrEmpty(configured["Path"]) && string.IsNullOrEmpty(configured["Subject"]))
        {
            throw new OptionsValidationException(DefaultCertificate, typeof(TlsConfiguration),
            [
                $"{https} is https but no certificate is configured: set {DefaultCertificate}:Path to a PEM certificate (and :KeyPath to its key) " +
                $"or a PFX file (and :Password)",
            ]);
        }
    }

    /// <summary>Whether a start-up failure is a configured certificate that cannot be loaded (missing file, wrong password, bad key).</summary>
    public static bool IsCertificateFailure(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            // Kestrel's certificate loaders throw what the file APIs and key importers throw (not found, denied, not a key).
            if (e is System.Security.Cryptography.CryptographicException
                || e.StackTrace?.Contains("Kestrel.Core.Internal.Certificates.CertificateConfigLoader", StringComparison.Ordinal) == true)
            {
                return true;
            }
        }
        return false;
    }
}
