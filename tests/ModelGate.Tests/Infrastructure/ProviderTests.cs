namespace ModelGate.Tests.Infrastructure;

/// <summary>A test class run once per database provider: each test skips (or, under CI, fails) when its server is unavailable.</summary>
public abstract class ProviderTests(ServerFixture fixture)
{
    protected ServerFixture Server
    {
        get
        {
            fixture.SkipIfUnavailable();
            return fixture;
        }
    }
}
