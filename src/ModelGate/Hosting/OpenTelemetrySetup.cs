using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using ModelGate.Gateway.Telemetry;

namespace ModelGate.Hosting;

/// <summary>Section <c>OpenTelemetry</c>: with an endpoint, traces and metrics go out over OTLP; without one, nothing is exported.</summary>
public sealed class OpenTelemetryOptions
{
    public const string Section = "OpenTelemetry";

    /// <summary>The OTLP endpoint (a collector), e.g. http://127.0.0.1:4318; empty: export off.</summary>
    public string? Endpoint { get; set; }

    /// <summary><c>http/protobuf</c> (default) or <c>grpc</c>.</summary>
    public string Protocol { get; set; } = "http/protobuf";

    public int ExportIntervalMilliseconds { get; set; } = 60_000;
}

public static class OpenTelemetrySetup
{
    public static IServiceCollection AddModelGateOpenTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        var options = configuration.GetSection(OpenTelemetryOptions.Section).Get<OpenTelemetryOptions>() ?? new OpenTelemetryOptions();
        if (string.IsNullOrWhiteSpace(options.Endpoint))
        {
            return services;
        }
        if (!Uri.TryCreate(options.Endpoint, UriKind.Absolute, out var endpoint) || options.Protocol is not ("http/protobuf" or "grpc"))
        {
            throw new InvalidOperationException($"OpenTelemetry: Endpoint must be an absolute URL and Protocol http/protobuf or grpc (got '{options.Endpoint}', '{options.Protocol}')");
        }
        services.Configure<MetricReaderOptions>(o => o.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = options.ExportIntervalMilliseconds);
        services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("modelgate"))
            .WithMetrics(m => m.AddMeter(GatewayTelemetry.MeterName).AddAspNetCoreInstrumentation())
            .WithTracing(t => t.AddAspNetCoreInstrumentation())
            .UseOtlpExporter(options.Protocol == "grpc" ? OtlpExportProtocol.Grpc : OtlpExportProtocol.HttpProtobuf, endpoint);
        return services;
    }
}
