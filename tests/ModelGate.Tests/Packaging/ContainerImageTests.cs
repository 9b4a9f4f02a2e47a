using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Serialization;

namespace ModelGate.Tests.Packaging;

/// <summary>
/// The Dockerfile and docker-compose.yml, read (there is no Docker engine on the test machines: the image is not built here).
/// </summary>
public sealed partial class ContainerImageTests
{
    private static string RepoFile(params string[] parts) => Path.Combine([Repository.Root, .. parts]);

    /// <summary>Instructions of each stage, continuation lines joined; comments dropped.</summary>
    private static List<List<(string Instruction, string Arguments)>> Stages()
    {
        var text = File.ReadAllText(RepoFile("Dockerfile")).Replace("\\\n", " ");
        var stages = new List<List<(string, string)>>();
        foreach (var line in text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')))
        {
            var space = line.IndexOf(' ');
            var instruction = (space < 0 ? line : line[..space]).ToUpperInvariant();
            var arguments = space < 0 ? "" : line[(space + 1)..].Trim();
            if (instruction == "FROM")
            {
                stages.Add([]);
            }
            Assert.True(stages.Count > 0 || instruction == "ARG", $"'{instruction}' before the first FROM");
            if (stages.Count > 0)
            {
                stages[^1].Add((instruction, arguments));
            }
        }
        return stages;
    }

    [Fact]
    public void Dockerfile_IsMultiStage_FinalStageRunsTheAspNetRuntimeAsANumericNonRootUser()
    {
        var stages = Stages();
        Assert.True(stages.Count >= 2, "the Dockerfile has one stage: the SDK would ship in the image");
        Assert.StartsWith("mcr.microsoft.com/dotnet/sdk:10.0", stages[0][0].Arguments.Split(' ').Last(a => a.Contains("mcr.")));
        var final = stages[^1];
        Assert.StartsWith("mcr.microsoft.com/dotnet/aspnet:10.0", final[0].Arguments);

        var user = Assert.Single(final, i => i.Instruction == "USER").Arguments;
        var match = NumericUser().Match(user);
        Assert.True(match.Success, $"USER '{user}' is not numeric (Kubernetes' runAsNonRoot can only check a numeric user)");
        Assert.NotEqual("0", match.Groups["uid"].Value);
        // What the manifests run as must be what the image's files are prepared for (/data is chowned to it).
        Assert.Contains($"chown {match.Groups["uid"].Value}:", string.Join('\n', final.Where(i => i.Instruction == "RUN").Select(i => i.Arguments)));

        var healthcheck = Assert.Single(final, i => i.Instruction == "HEALTHCHECK").Arguments;
        Assert.Contains("\"health\"", healthcheck); // modelgate health: the runtime image has no curl
        Assert.Equal("[\"/app/modelgate\", \"serve\"]", Assert.Single(final, i => i.Instruction == "ENTRYPOINT").Arguments);
        Assert.Equal("8080", Assert.Single(final, i => i.Instruction == "EXPOSE").Arguments);
        var env = string.Join(' ', final.Where(i => i.Instruction == "ENV").Select(i => i.Arguments));
        Assert.Contains("ASPNETCORE_URLS=http://+:8080", env);
        Assert.Contains("MODELGATE_DATA=/data", env);
        Assert.Contains("\"/tmp\"", Assert.Single(final, i => i.Instruction == "VOLUME").Arguments);
    }

    [Fact]
    public void Dockerfile_PublishesTheServerProject_FromFilesThatExist()
    {
        var build = Stages()[0];
        var publish = Assert.Single(build, i => i.Instruction == "RUN" && i.Arguments.Contains("dotnet publish")).Arguments;
        var project = PublishedProject().Match(publish).Groups["project"].Value;
        Assert.Equal("src/ModelGate/ModelGate.csproj", project);
        Assert.Contains("-c Release", publish);
        Assert.True(File.Exists(RepoFile(project.Split('/'))));
        // Every file the build stage copies from the context exists, and every project the server references is restored from a
        // copied project file (a missing one fails only at docker build).
        foreach (var copy in build.Where(i => i.Instruction == "COPY" && !i.Arguments.StartsWith("--from")))
        {
            var sources = copy.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries)[..^1];
            Assert.All(sources, s => Assert.True(File.Exists(RepoFile(s.Split('/'))) || Directory.Exists(RepoFile(s.TrimEnd('/').Split('/'))), $"COPY {s}: not in the repository"));
        }
        var copied = build.Where(i => i.Instruction == "COPY").SelectMany(i => i.Arguments.Split(' ')).Where(a => a.EndsWith(".csproj")).ToHashSet();
        foreach (var reference in ProjectReferences(RepoFile("src", "ModelGate", "ModelGate.csproj")))
        {
            Assert.Contains(Path.GetRelativePath(Repository.Root, reference).Replace('\\', '/'), copied);
        }
    }

    private static IEnumerable<string> ProjectReferences(string project)
    {
        var xml = System.Xml.Linq.XDocument.Load(project);
        foreach (var include in xml.Descendants("ProjectReference").Select(e => e.Attribute("Include")!.Value))
        {
            var path = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(project)!, include.Replace('\\', '/')));
            yield return path;
            foreach (var transitive in ProjectReferences(path))
            {
                yield return transitive;
            }
        }
    }

    [Fact]
    public void Compose_RunsPostgresRedisControlTwoGatewaysAndPrometheus_FromTheDockerfile()
    {
        using var reader = new StreamReader(RepoFile("docker-compose.yml"));
        // Compose's "<<: *anchor" merge keys are resolved as Compose resolves them.
        var compose = new DeserializerBuilder().Build().Deserialize<Dictionary<string, object>>(new MergingParser(new Parser(reader)));
        var services = ((Dictionary<object, object>)compose["services"]).ToDictionary(s => (string)s.Key, s => (Dictionary<object, object>)s.Value);
        Assert.Equal(["control", "gateway-1", "gateway-2", "postgres", "prometheus", "redis"], services.Keys.Order());
        Assert.StartsWith("postgres:15", (string)services["postgres"]["image"]);
        Assert.StartsWith("redis:7", (string)services["redis"]["image"]);

        var modelgate = services.Where(s => s.Key is "control" or "gateway-1" or "gateway-2").ToList();
        foreach (var (name, service) in modelgate)
        {
            var build = (Dictionary<object, object>)service["build"];
            Assert.Equal(".", build["context"]);
            Assert.Equal("Dockerfile", build["dockerfile"]);
            Assert.Equal("modelgate:local", service["image"]);
            var command = ((List<object>)service["command"]).Cast<string>().ToList();
            Assert.Equal(["--role", name == "control" ? "control" : "gateway"], command);
            Assert.Equal("true", service["read_only"].ToString());
            Assert.Contains("/tmp", ((List<object>)service["tmpfs"]).Cast<string>());
            Assert.Contains(((List<object>)service["volumes"]).Cast<string>(), v => v.EndsWith(":/data"));
            var environment = ((Dictionary<object, object>)service["environment"]).ToDictionary(e => (string)e.Key, e => e.Value.ToString());
            Assert.Equal("postgres", environment["Database__Provider"]);
            Assert.Contains("Host=postgres;", environment["Database__ConnectionString"]);
            Assert.StartsWith("redis:6379", environment["Redis__Configuration"]);
            Assert.Equal(32, Convert.FromBase64String(environment["Security__SecretKey"]!).Length);
            Assert.Equal(32, Convert.FromBase64String(environment["Audit__SigningKey"]!).Length);
            var dependsOn = ((Dictionary<object, object>)service["depends_on"]).Keys.Cast<string>().ToList();
            Assert.Contains(name == "control" ? "postgres" : "control", dependsOn);
        }
        // One secret key for all three: each would otherwise encrypt upstream keys the others cannot read.
        Assert.Single(modelgate.Select(s => ((Dictionary<object, object>)s.Value["environment"])["Security__SecretKey"]).Distinct());
    }

    [Fact]
    public void ComposePrometheus_ScrapesControlAndBothGateways_WithTheBootstrapKey()
    {
        using var composeReader = new StreamReader(RepoFile("docker-compose.yml"));
        var compose = new DeserializerBuilder().Build().Deserialize<Dictionary<string, object>>(new MergingParser(new Parser(composeReader)));
        var services = (Dictionary<object, object>)compose["services"];
        var prometheus = (Dictionary<object, object>)services["prometheus"];
        var mount = ((List<object>)prometheus["volumes"]).Cast<string>().Single(v => v.Contains("prometheus.yml"));
        var hostPath = mount.Split(':')[0];
        Assert.Equal("./deploy/prometheus/prometheus.yml", hostPath);

        var config = new DeserializerBuilder().Build().Deserialize<Dictionary<string, object>>(File.ReadAllText(RepoFile("deploy", "prometheus", "prometheus.yml")));
        var job = (Dictionary<object, object>)Assert.Single((List<object>)config["scrape_configs"]);
        Assert.Equal("/metrics", job["metrics_path"]);
        var targets = ((List<object>)job["static_configs"]).Cast<Dictionary<object, object>>()
            .SelectMany(c => ((List<object>)c["targets"]).Cast<string>()).Order().ToList();
        Assert.Equal(["control:8080", "gateway-1:8080", "gateway-2:8080"], targets);
        var bootstrap = ((Dictionary<object, object>)((Dictionary<object, object>)services["control"])["environment"])["Security__BootstrapAdminKey"];
        Assert.Equal(bootstrap, ((Dictionary<object, object>)job["authorization"])["credentials"]);
    }

    [GeneratedRegex(@"^(?<uid>\d+)(:\d+)?$")]
    private static partial Regex NumericUser();

    [GeneratedRegex(@"dotnet publish (?<project>\S+\.csproj)")]
    private static partial Regex PublishedProject();
}
