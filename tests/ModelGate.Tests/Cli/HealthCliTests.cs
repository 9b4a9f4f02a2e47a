using ModelGate.Cli;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Cli;

/// <summary><c>modelgate health</c>: the container image's HEALTHCHECK.</summary>
public sealed class HealthCliTests(SqliteServerFixture server) : IClassFixture<SqliteServerFixture>
{
    [Fact]
    public async Task Health_ServerAnswers_ExitsZero()
    {
        var (exit, output, error) = await server.CliAsync(["health"], token: null);
        Assert.True(exit == ExitCodes.Ok, error);
        Assert.Equal("healthz: 200", output.Trim());

        var ready = await server.CliAsync(["health", "--ready"], token: null);
        Assert.True(ready.Exit == ExitCodes.Ok, ready.Err);
        Assert.Equal("readyz: 200", ready.Out.Trim());
    }

    [Fact]
    public async Task Health_NothingListens_ExitsUnavailable()
    {
        // A port just released by the operating system: nothing listens there.
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        socket.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        var port = ((System.Net.IPEndPoint)socket.LocalEndPoint!).Port;
        socket.Close();
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = await CliApp.RunAsync(["health", "--url", $"http://127.0.0.1:{port}"], new CliContext(output, error, false, null, _ => null));
        Assert.Equal(ExitCodes.Unavailable, exit);
        Assert.Contains("no answer from", error.ToString());
    }
}
