using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using ModelGate.Gateway;
using ModelGate.Gateway.Telemetry;
using ModelGate.Storage.Gateway;

namespace ModelGate.Tests.Gateway;

public sealed class RequestLogTests
{
    [Fact]
    public void Add_WhenTheBufferIsFull_DropsAndCountsInsteadOfBlocking()
    {
        var options = Options.Create(new GatewayOptions { RequestLogCapacity = 2 });
        var routes = new RoutingSnapshots(null!, null!, null!, new EndpointTelemetry(), null!, NullLogger<RoutingSnapshots>.Instance);
        var log = new RequestLog(options, null!, new GatewayTelemetry(TimeProvider.System, routes, options), NullLogger<RequestLog>.Instance);
        for (var i = 0; i < 5; i++)
        {
            log.Add(new RequestLogEntity { RequestId = $"r{i}", Deployment = "d", Protocol = "oip-v2" });
        }
        Assert.Equal(3, log.Dropped);
    }

    [Fact]
    public void ABufferedRecord_KeepsEveryColumn_ForTheBatchThatWritesIt()
    {
        // Every settable property gets a distinct non-default value, so a column the buffer forgets to copy (one added to
        // the entity later, say) comes back default and fails here.
        var record = new RequestLogEntity { RequestId = "r", Deployment = "d", Protocol = "p" };
        var properties = typeof(RequestLogEntity).GetProperties().Where(p => p.CanWrite && p.Name != nameof(RequestLogEntity.Id)).ToList();
        var n = 0;
        foreach (var property in properties)
        {
            n++;
            var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            property.SetValue(record, type == typeof(string) ? $"{property.Name}-{n}"
                : type == typeof(DateTime) ? new DateTime(2026, 11, 24, 5, n, 0, DateTimeKind.Utc)
                : Convert.ChangeType(n * 7, type, System.Globalization.CultureInfo.InvariantCulture));
        }

        var copy = new RequestLog.Buffered(record).ToEntity();

        Assert.NotSame(record, copy);
        Assert.Equal(16, properties.Count);
        Assert.All(properties, p => Assert.Equal(p.GetValue(record), p.GetValue(copy)));
    }

    [Theory]
    [InlineData("mail me at jane.doe+ml@example.co.uk today", "mail me at [EMAIL] today")]
    [InlineData("card 4111 1111 1111 1111 exp 12/29", "card [CARD] exp 12/29")]
    [InlineData("card 5500-0000-0000-0004", "card [CARD]")]
    [InlineData("call +1 (555) 123-4567 or +44 20 7946 0958", "call [PHONE] or [PHONE]")]
    [InlineData("ssn 123-45-6789", "ssn [SSN]")]
    [InlineData("iban DE89 3704 0044 0532 0130 00 please", "iban [IBAN] please")]
    [InlineData("from 192.168.10.42", "from [IP]")]
    [InlineData("order 12345 shipped in 2024, version 1.2.3", "order 12345 shipped in 2024, version 1.2.3")]
    [InlineData("{\"age\": 39, \"hours\": 40}", "{\"age\": 39, \"hours\": 40}")]
    public void Redact_RemovesPersonalData_AndLeavesTheRest(string input, string expected) =>
        Assert.Equal(expected, PersonalDataRedactor.Redact(input));
}
