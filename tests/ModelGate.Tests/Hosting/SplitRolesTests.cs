using System.Net;
using System.Text;
using ModelGate.Client;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Hosting;

/// <summary>One server of a split deployment: a role, on a data directory shared with the others.</summary>
public sealed class RoleServerFixture : SqliteServerFixture
{
    private readonly string _role;

    public RoleServerFixture(string role, string dataDirectory)
    {
        _role = role;
        DataDirectory = dataDirectory;
    }

    protected override Task<IEnumerable<string>> ExtraArgumentsAsync() => Task.FromResult<IEnumerable<string>>([$"--Server:Role={_role}"]);
}

/// <summary>DESIGN.md's scale topology on one SQLite store: a control process (`--role control`) and a gateway replica (`--role gateway`).</summary>
public sealed class SplitRolesFixture : IAsyncLifetime
{
    public SplitRolesFixture()
    {
        var shared = Path.Combine(Path.GetTempPath(), "modelgate-tests", Guid.NewGuid().ToString("N"));
        Control = new RoleServerFixture("control", shared);
        Gateway = new RoleServerFixture("gateway", shared);
    }

    public RoleServerFixture Control { get; }

    public RoleServerFixture Gateway { get; }

    public async ValueTask InitializeAsync()
    {
        await Control.InitializeAsync(); // first: it creates the store
        await Gateway.InitializeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await Control.DisposeAsync();
    }
}

public sealed class SplitRolesTests(SplitRolesFixture split) : IClassFixture<SplitRolesFixture>
{
    [Fact]
    public async Task GatewayReplica_ServesTheDataPlane_ButNotTheRestApi()
    {
        using (var models = await split.Gateway.Client().GetAsync("/api/v1/models"))
        {
            Assert.Equal(HttpStatusCode.NotFound, models.StatusCode);
        }
        using (var health = await split.Gateway.Client(null).GetAsync("/healthz"))
        {
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        }
        using (var listed = await split.Gateway.Client().GetAsync("/v1/models"))
        {
            Assert.Equal(HttpStatusCode.OK, listed.StatusCode);
        }
        using var control = await split.Control.Client().GetAsync("/api/v1/models");
        Assert.Equal(HttpStatusCode.OK, control.StatusCode);
    }

    [Fact]
    public async Task GatewayReplica_FollowsRoutingChangesAndRevocations_MadeOnTheControlProcess()
    {
        var model = await AdultServing.RegisterAsync(split.Control);
        var deployment = await AdultServing.DeployAsync(split.Control, model, new { stable = "1.0.0" });
        var api = split.Control.Api();
        var key = await api.CreateKeyAsync(new CreateKeyRequest("replica-caller", ["viewer"], Deployments: [deployment]));

        async Task<HttpResponseMessage> Infer() => await split.Gateway.Client(key.Key).PostAsync($"/v2/models/{deployment}/infer",
            new StringContent(AdultServing.Request(0, 1).ToJsonString(), Encoding.UTF8, "application/json"));

        // The replica learns the new deployment by polling the shared store (about once a second).
        var version = await UntilAsync(async () =>
        {
            using var response = await Infer();
            return response.StatusCode == HttpStatusCode.OK ? response.Headers.GetValues("x-modelgate-version").Single() : null;
        }, v => v is not null);
        Assert.Equal("1.0.0", version);

        var routing = (await api.GetDeploymentAsync(deployment)).Routing;
        await api.SetRoutingAsync(deployment, routing with { Stable = "1.1.0", Candidates = [] });
        version = await UntilAsync(async () =>
        {
            using var response = await Infer();
            return response.Headers.GetValues("x-modelgate-version").Single();
        }, v => v == "1.1.0");
        Assert.Equal("1.1.0", version);

        // A revocation on the control process reaches the replica once its cached validation is older than the key cache's 10 s.
        await api.RevokeKeyAsync(key.Id);
        split.Gateway.Time.Advance(TimeSpan.FromSeconds(10));
        using var refused = await Infer();
        await ProblemAssert.IsProblem(refused, HttpStatusCode.Unauthorized, "unauthenticated");
    }

    private static async Task<T> UntilAsync<T>(Func<Task<T>> probe, Func<T, bool> done)
    {
        var value = await probe();
        for (var i = 0; i < 100 && !done(value); i++)
        {
            await Task.Delay(100);
            value = await probe();
        }
        return value;
    }
}
