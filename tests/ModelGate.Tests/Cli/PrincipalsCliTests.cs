using System.Text.Json;
using ModelGate.Cli;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Cli;

/// <summary><c>modelgate principals …</c> and <c>key create --principal</c>, through the real host's REST API.</summary>
public sealed class PrincipalsCliTests(SqliteServerFixture server) : IClassFixture<SqliteServerFixture>
{
    private Task<(int Exit, string Out, string Err)> Run(params string[] args) => server.CliAsync(args);

    [Fact]
    public async Task Principals_CreateGrantKeyShowRevokeDisable_GoThroughTheApi()
    {
        var identity = $"{ServerFixture.UniqueName("pat")}@example.com";
        var created = await Run("principals", "create", "--identity", identity, "--display-name", "Pat", "--role", "trainer", "-o", "json");
        Assert.True(created.Exit == ExitCodes.Ok, created.Err + created.Out);
        var pat = JsonSerializer.Deserialize<PrincipalDto>(created.Out, ModelGateJson.Options)!;
        Assert.Equal((PrincipalKinds.Person, identity, "Pat"), (pat.Kind, pat.Identity, pat.DisplayName));

        var granted = await Run("principals", "grant", identity, "--role", "product-owner");
        Assert.True(granted.Exit == ExitCodes.Ok, granted.Err + granted.Out);
        Assert.Contains("product-owner", granted.Out);

        var key = await Run("key", "create", "--name", "pat-laptop", "--role", "product-owner", "--principal", identity, "-o", "json");
        Assert.True(key.Exit == ExitCodes.Ok, key.Err + key.Out);
        Assert.Equal(pat.Id, JsonSerializer.Deserialize<ApiKeyDto>(key.Out, ModelGateJson.Options)!.Principal);
        // Without a principal, an approving role is refused (422: exit 5).
        Assert.Equal(ExitCodes.Refused, (await Run("key", "create", "--name", "mine", "--role", "product-owner")).Exit);

        var shown = await Run("principals", "show", pat.Id);
        Assert.True(shown.Exit == ExitCodes.Ok, shown.Err + shown.Out);
        Assert.Contains("pat-laptop", shown.Out);
        Assert.Contains(identity, (await Run("principals", "list")).Out);

        Assert.Equal(ExitCodes.Ok, (await Run("principals", "revoke", identity, "--role", "product-owner")).Exit);
        Assert.DoesNotContain(Roles.ProductOwner, (await server.Api().GetPrincipalAsync(pat.Id)).Roles);
        Assert.Equal(ExitCodes.Ok, (await Run("principals", "disable", identity)).Exit);
        Assert.NotNull((await server.Api().GetPrincipalAsync(pat.Id)).DisabledAt);

        Assert.Equal(ExitCodes.NotFound, (await Run("principals", "show", "nobody@example.com")).Exit);
        Assert.Equal(ExitCodes.Refused, (await Run("principals", "create", "--identity", identity.ToUpperInvariant())).Exit);
        Assert.Equal(ExitCodes.Usage, (await Run("principals", "create", "--identity", "x", "--role", "emperor")).Exit);
    }
}
