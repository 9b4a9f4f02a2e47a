using System.Net;
using System.Net.Http.Json;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using ModelGate.Client;
using ModelGate.Rollouts;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Monitoring;

/// <summary>Feedback that carries a named business metric (<c>{"requestId", "metric": "conversion", "value": 1}</c>).</summary>
public sealed class BusinessFeedbackTests(SqliteServerFixture server) : IClassFixture<SqliteServerFixture>
{
    [Fact]
    public async Task Feedback_WithAMetric_IsStoredAndAddedToTheServingVersion()
    {
        var deployment = await AdultServing.DeployAsync(server, await AdultServing.RegisterAsync(server), new { stable = "1.0.0" });
        var ids = await InferAsync(deployment, 10);

        var api = server.Api();
        for (var i = 0; i < ids.Count; i++)
        {
            var sent = await SendAsync(new FeedbackRequest(ids[i], Metric: "conversion", Value: i < 6 ? 1 : 0));
            Assert.Equal("conversion", sent.Metric);
            Assert.Equal(i < 6 ? 1 : 0, sent.Value);
            Assert.Equal("1.0.0", sent.Version);
            Assert.Null(sent.Score);
        }
        // A metric may come with a label: both count.
        var both = await SendAsync(new FeedbackRequest(ids[0], Label: "0", Metric: "revenue_eur", Value: 12.5));
        Assert.NotNull(both.Score);

        var series = (await api.GetDeploymentMetricsAsync(deployment, "5m")).Series.Single();
        Assert.Equal(new BusinessMetric(10, 6, 0.6), series.Business!["conversion"]);
        Assert.Equal(new BusinessMetric(1, 12.5, 12.5), series.Business["revenue_eur"]);
        Assert.Equal(1, series.FeedbackCount); // a metric alone is no quality score
        var slot = Assert.Single(await server.App.Services.GetRequiredService<IRolloutEvidence>()
            .SlotsAsync(deployment, "1.0.0", server.Time.GetUtcNow().UtcDateTime.AddMinutes(-1), shadow: false, TestContext.Current.CancellationToken));
        Assert.Equal(6, slot.Business!["conversion"].Sum);

        var stored = await server.WithDbAsync(db => db.Feedback.Where(f => f.Deployment == deployment && f.Metric == "conversion").ToListAsync());
        Assert.Equal(10, stored.Count);
        Assert.Equal(6, stored.Sum(f => f.MetricValue));
    }

    [Theory]
    [InlineData("{\"metric\":\"Conversion\",\"value\":1}", "metric")]
    [InlineData("{\"metric\":\"1st\",\"value\":1}", "metric")]
    [InlineData("{\"metric\":\"con-version\",\"value\":1}", "metric")]
    [InlineData("{\"metric\":\"conversion\\u0007\",\"value\":1}", null)]
    [InlineData("{\"metric\":\"conversion\\n\",\"value\":1}", null)]
    [InlineData("{\"metric\":\"a0123456789012345678901234567890123456789012345678901234567890123\",\"value\":1}", "metric")]
    [InlineData("{\"metric\":\"conversion\"}", "value")]
    [InlineData("{\"value\":1}", "metric")]
    [InlineData("{\"metric\":\"conversion\",\"value\":1e999}", null)]
    public async Task Feedback_WithABadMetricOrValue_IsRefused(string fields, string? field)
    {
        var deployment = await AdultServing.DeployAsync(server, await AdultServing.RegisterAsync(server), new { stable = "1.0.0" });
        var id = (await InferAsync(deployment, 1))[0];
        await SendAsync(new FeedbackRequest(id, Comment: "the request log holds the request"));
        var body = $"{{\"requestId\":\"{id}\",{fields[1..]}";
        using var response = await server.Client().PostAsync("/api/v1/feedback", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        if (field is not null)
        {
            var problem = await ProblemAssert.IsProblem(response, HttpStatusCode.BadRequest, "validation_failed");
            Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.ToString());
        }
        Assert.Equal(1, await server.WithDbAsync(db => db.Feedback.CountAsync(f => f.RequestId == id)));
    }

    private async Task<List<string>> InferAsync(string deployment, int count)
    {
        var ids = new List<string>();
        for (var row = 0; row < count; row++)
        {
            using var response = await server.Client().PostAsJsonAsync($"/v2/models/{deployment}/infer", AdultServing.Request(row, 1));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            ids.Add(response.Headers.GetValues("x-modelgate-request-id").Single());
        }
        return ids;
    }

    /// <summary>Sends feedback once the request log has written what was served.</summary>
    private async Task<FeedbackDto> SendAsync(FeedbackRequest request)
    {
        await server.FlushRequestLogAsync();
        return await server.Api().SendFeedbackAsync(request);
    }
}
