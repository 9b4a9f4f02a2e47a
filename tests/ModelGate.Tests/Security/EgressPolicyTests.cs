using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using ModelGate.Security;

namespace ModelGate.Tests.Security;

/// <summary>The egress policy's rule, on addresses and URLs, and its handler on real connections (issue 15, item 3).</summary>
public sealed class EgressPolicyTests
{
    private static EgressPolicy Policy(params string[] allowed) =>
        new(Options.Create(new SecurityOptions { AllowedEgress = [.. allowed] }), NullLogger<EgressPolicy>.Instance);

    [Theory]
    [InlineData("http://127.0.0.1/", "127.0.0.1")]
    [InlineData("http://2130706433/", "127.0.0.1")]
    [InlineData("http://0x7f000001/", "127.0.0.1")]
    [InlineData("http://0177.0.0.1/", "127.0.0.1")]
    [InlineData("http://127.1/", "127.0.0.1")]
    [InlineData("http://[::1]:8080/v1", "::1")]
    [InlineData("http://[::ffff:127.0.0.1]/", "127.0.0.1")]
    [InlineData("http://[::ffff:7f00:1]/", "127.0.0.1")]
    [InlineData("http://10.1.2.3/", "10.1.2.3")]
    [InlineData("http://172.20.0.1/", "172.20.0.1")]
    [InlineData("http://192.168.1.1/", "192.168.1.1")]
    [InlineData("http://100.64.0.1/", "100.64.0.1")]
    [InlineData("http://0.0.0.0/", "0.0.0.0")]
    [InlineData("http://[::]/", "::")]
    [InlineData("http://[fd12:3456::1]/", "fd12:3456::1")]
    public void CheckUrl_LoopbackOrPrivateLiteral_InAnyForm_IsRefusedUnlessAllowed(string url, string address)
    {
        var refused = Policy().CheckUrl(new Uri(url));
        Assert.NotNull(refused);
        Assert.Equal(address, refused.Address);
        Assert.Contains("Security:AllowedEgress", refused.Reason);

        Assert.Null(Policy("127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "0.0.0.0/8", "::/128", "fc00::/7")
            .CheckUrl(new Uri(url)));
    }

    [Theory]
    [InlineData("http://169.254.169.254/latest/meta-data/", "169.254.169.254")]
    [InlineData("http://2852039166/", "169.254.169.254")]
    [InlineData("http://0xa9fea9fe/", "169.254.169.254")]
    [InlineData("http://[::ffff:169.254.169.254]/", "169.254.169.254")]
    [InlineData("http://[64:ff9b::a9fe:a9fe]/", "169.254.169.254")]
    [InlineData("http://169.254.10.1/", "169.254.10.1")]
    [InlineData("http://[fe80::1]/", "fe80::1")]
    [InlineData("http://[fd00:ec2::254]/", "fd00:ec2::254")]
    [InlineData("http://metadata.google.internal/computeMetadata/v1/", "metadata.google.internal")]
    [InlineData("http://METADATA.google.internal./", "metadata.google.internal")]
    public void CheckUrl_LinkLocalOrMetadata_IsRefusedEvenWhenAllowed(string url, string address)
    {
        var refused = Policy("169.254.0.0/16", "fe80::/10", "fc00::/7", "metadata.google.internal").CheckUrl(new Uri(url));
        Assert.NotNull(refused);
        Assert.Equal(address, refused.Address, ignoreCase: true);
        Assert.Contains("never reachable", refused.Reason);
    }

    [Theory]
    [InlineData("https://api.openai.com/v1")]
    [InlineData("http://93.184.216.34/")]
    [InlineData("http://[2606:4700::6810:85e5]/")]
    [InlineData("http://localhost:8080/v1")] // a name: checked on the address it resolves to, when connecting
    [InlineData("http://upstream.internal.example/v1")]
    public void CheckUrl_PublicAddressOrHostName_IsAccepted(string url) => Assert.Null(Policy().CheckUrl(new Uri(url)));

    [Fact]
    public void Check_HostAllowance_AcceptsOnlyThatHostsAddresses()
    {
        var policy = Policy("localhost", "*.svc.cluster.local");
        Assert.Null(policy.Check(IPAddress.Loopback, "localhost"));
        Assert.Null(policy.Check(IPAddress.Parse("10.0.0.7"), "llm.default.svc.cluster.local"));
        Assert.NotNull(policy.Check(IPAddress.Loopback, "evil.example"));
        Assert.NotNull(policy.Check(IPAddress.Loopback, null));
        Assert.NotNull(policy.Check(IPAddress.Parse("169.254.169.254"), "localhost"));
    }

    [Theory]
    [InlineData("10.0.0.0/8", true)]
    [InlineData("::1/128", true)]
    [InlineData("127.0.0.1", true)]
    [InlineData("localhost", true)]
    [InlineData("*.internal.example", true)]
    [InlineData("10.0.0.0/33", false)]
    [InlineData("not a host", false)]
    [InlineData("", false)]
    public void TryParseAllowance_AcceptsCidrsAddressesAndHostNames(string entry, bool valid) =>
        Assert.Equal(valid, EgressPolicy.TryParseAllowance(entry, out _, out _));

    /// <summary>An HTTP server on loopback that answers every request with a redirect to <c>/elsewhere</c> (or 200 there).</summary>
    private static async Task<WebApplication> StartServerAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.MapGet("/elsewhere", () => "arrived");
        app.MapGet("/", () => Results.Redirect("/elsewhere"));
        await app.StartAsync(TestContext.Current.CancellationToken);
        return app;
    }

    [Fact]
    public async Task Handler_NameResolvingToLoopback_IsRefusedWhenConnecting()
    {
        await using var app = await StartServerAsync();
        var port = new Uri(app.Urls.First()).Port;
        var ct = TestContext.Current.CancellationToken;

        // localhost passes the check on the URL (a name) and resolves to loopback, which only an allowance lets through; an
        // allowance for another private range does not.
        foreach (var policy in new[] { Policy(), Policy("10.0.0.0/8", "192.168.0.0/16") })
        {
            using var http = new HttpClient(policy.CreateHandler());
            Assert.Null(policy.CheckUrl(new Uri($"http://localhost:{port}/")));
            var e = await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync($"http://localhost:{port}/elsewhere", ct));
            var denied = Assert.IsType<EgressDeniedException>(e.InnerException);
            Assert.Equal("localhost", denied.Refusal.Host);
            Assert.True(IPAddress.IsLoopback(IPAddress.Parse(denied.Refusal.Address)), denied.Refusal.Address);
        }
        foreach (var policy in new[] { Policy("localhost"), Policy("127.0.0.0/8", "::1/128") })
        {
            using var http = new HttpClient(policy.CreateHandler());
            Assert.Equal("arrived", await http.GetStringAsync($"http://localhost:{port}/elsewhere", ct));
        }
    }

    [Fact]
    public async Task Handler_Redirect_IsNotFollowed()
    {
        await using var app = await StartServerAsync();
        using var http = new HttpClient(Policy("127.0.0.0/8").CreateHandler());
        using var response = await http.GetAsync(app.Urls.First() + "/", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.EndsWith("/elsewhere", response.Headers.Location!.ToString());
    }
}
