using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Hosting;

/// <summary><c>modelgate serve --urls https://…</c>, the real binary, with a self-signed certificate this test makes.</summary>
public sealed class TlsTests : IDisposable
{
    private const string Password = "pfx-pass";
    private readonly string _dir = Directory.CreateTempSubdirectory("modelgate-tls-").FullName;
    private readonly X509Certificate2 _certificate;

    public TlsTests()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=modelgate-test", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(7));
        _certificate = X509CertificateLoader.LoadCertificate(created.Export(X509ContentType.Cert));
        File.WriteAllText(Path.Combine(_dir, "cert.pem"), created.ExportCertificatePem());
        File.WriteAllText(Path.Combine(_dir, "key.pem"), key.ExportPkcs8PrivateKeyPem());
        File.WriteAllBytes(Path.Combine(_dir, "cert.pfx"), created.Export(X509ContentType.Pfx, Password));
    }

    public void Dispose()
    {
        _certificate.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    public static TheoryData<string> Formats => ["pem", "pfx"];

    [Theory(Timeout = 180_000)]
    [MemberData(nameof(Formats))]
    public async Task Serve_OverHttps_WithACertificateFromConfiguration_AnswersHealthAndAuthenticatedCalls(string format)
    {
        var ct = TestContext.Current.CancellationToken;
        string[] certificate = format == "pem"
            ? [$"--Kestrel:Certificates:Default:Path={Path.Combine(_dir, "cert.pem")}", $"--Kestrel:Certificates:Default:KeyPath={Path.Combine(_dir, "key.pem")}"]
            : [$"--Kestrel:Certificates:Default:Path={Path.Combine(_dir, "cert.pfx")}", $"--Kestrel:Certificates:Default:Password={Password}"];
        await using var server = await ServerProcess.StartAsync(Path.Combine(_dir, "data"), ["--urls", "https://127.0.0.1:0", .. certificate]);
        Assert.Equal("https", server.BaseAddress.Scheme);

        // Trusts this certificate only (as its own root), with the host name checked against it as usual.
        using var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                CertificateChainPolicy = new X509ChainPolicy
                {
                    TrustMode = X509ChainTrustMode.CustomRootTrust, CustomTrustStore = { _certificate }, RevocationMode = X509RevocationMode.NoCheck,
                },
            },
        };
        using var http = new HttpClient(handler, disposeHandler: false) { BaseAddress = server.BaseAddress };
        using (var health = await http.GetAsync("/healthz", ct))
        {
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        }
        using (var anonymous = await http.GetAsync("/api/v1/models", ct))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        }
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", server.AdminKey);
        using (var models = await http.GetAsync("/api/v1/models", ct))
        {
            Assert.Equal(HttpStatusCode.OK, models.StatusCode);
        }

        // A client that does not trust the certificate is refused the connection.
        using var untrusting = new HttpClient { BaseAddress = server.BaseAddress };
        await Assert.ThrowsAsync<HttpRequestException>(() => untrusting.GetAsync("/healthz", ct));
    }

    [Fact(Timeout = 180_000)]
    public async Task Serve_OverHttps_WithoutACertificate_ExitsWithAOneLineError()
    {
        var (exitCode, stderr) = await ServerProcess.RunUntilExitAsync(Path.Combine(_dir, "data"), TestContext.Current.CancellationToken,
            "--urls", "https://127.0.0.1:0");
        Assert.Equal(2, exitCode);
        Assert.Contains("Kestrel:Certificates:Default:Path", stderr);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.DoesNotContain("   at ", stderr);
    }

    [Fact(Timeout = 180_000)]
    public async Task Serve_OverHttps_WithAnUnreadableCertificate_ExitsWithAOneLineError()
    {
        var (exitCode, stderr) = await ServerProcess.RunUntilExitAsync(Path.Combine(_dir, "data"), TestContext.Current.CancellationToken,
            "--urls", "https://127.0.0.1:0", $"--Kestrel:Certificates:Default:Path={Path.Combine(_dir, "cert.pfx")}", "--Kestrel:Certificates:Default:Password=wrong");
        Assert.Equal(2, exitCode);
        Assert.StartsWith("error: ", stderr);
        Assert.Contains("certificate", stderr);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }
}
