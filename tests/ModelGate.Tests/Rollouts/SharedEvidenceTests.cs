using System.Reflection;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using ModelGate.Client;
using ModelGate.Gateway;
using ModelGate.Gateway.Onnx;
using ModelGate.Gateway.Telemetry;
using ModelGate.Hosting;
using ModelGate.Rollouts;
using ModelGate.Storage;
using ModelGate.Storage.Cluster;
using ModelGate.Storage.Gateway;
using ModelGate.Tests.Infrastructure;

namespace ModelGate.Tests.Rollouts;

/// <summary>A leadership that is what the test says.</summary>
internal sealed class FixedLeadership(bool leads) : ILeadership
{
    public bool IsLeader => leads;

    public long? FencingToken => null;

    public async Task<LeadershipTerm> WaitForTermAsync(CancellationToken cancellationToken)
    {
        if (!leads)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }
        return new LeadershipTerm(null, CancellationToken.None);
    }
}

/// <summary>
/// Another process on the fixture's store, in the test's process: its own in-memory telemetry and sampled inputs, its
/// flusher (run by the test, not by a timer), and the judge's and drift's readers as that process has them. Its role
/// (<c>Server:Role</c>) and the fixture's database decide whether its flusher writes (<see cref="SharedTelemetry.ReadElsewhere"/>).
/// </summary>
internal sealed class TelemetryReplica
{
    public TelemetryReplica(ServerFixture server, string name, string role, bool leader = false, GatewayOptions? gateway = null)
    {
        Name = name;
        var services = server.App.Services;
        var options = Options.Create(gateway ?? services.GetRequiredService<IOptions<GatewayOptions>>().Value);
        Telemetry = new GatewayTelemetry(server.Time, services.GetRequiredService<RoutingSnapshots>(), options);
        Samples = new InputSamples(options);
        var scopes = services.GetRequiredService<IServiceScopeFactory>();
        var replica = Options.Create(new ServerOptions { Replica = name, Role = role });
        Flusher = new SharedTelemetry(Telemetry, Samples, scopes, new FixedLeadership(leader), Options.Create(new ClusterOptions()), replica,
            services.GetRequiredService<IOptions<DatabaseOptions>>(), server.Time, NullLogger<SharedTelemetry>.Instance);
        Evidence = new StoredRolloutEvidence(Telemetry, scopes, replica, server.Time, NullLogger<StoredRolloutEvidence>.Instance);
        Shared = new SharedSamples(Samples, replica, options);
    }

    public string Name { get; }
    public GatewayTelemetry Telemetry { get; }
    public InputSamples Samples { get; }
    public SharedTelemetry Flusher { get; }
    public StoredRolloutEvidence Evidence { get; }
    public SharedSamples Shared { get; }

    public Task<SharedFlush> FlushAsync() => Flusher.FlushAsync(TestContext.Current.CancellationToken);
}

/// <summary>
/// The canary judge on every replica's traffic: slots written by each replica's flusher to <c>telemetry_slots</c> and
/// merged by <see cref="StoredRolloutEvidence"/> give the analysis one process would have made of the same traffic.
/// </summary>
public abstract class SharedEvidenceTests(ServerFixture fixture) : ProviderTests(fixture)
{
    private ServerFixture server => Server;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<string> DeploymentAsync()
    {
        var model = await AdultServing.RegisterAsync(server);
        var deployment = await AdultServing.DeployAsync(server, model, new { stable = "1.0.0", candidates = new[] { new { version = "1.1.0", weight = 50 } } });
        var routes = server.App.Services.GetRequiredService<RoutingSnapshots>();
        await routes.ReloadAsync(Ct);
        Assert.NotNull(routes.Find(deployment));
        return deployment;
    }

    /// <summary>One served request and what the data plane records of it; every amount is a dyadic fraction, so sums are exact in any order.</summary>
    private sealed record Served(string Version, string Route, int Status, double LatencyMs, long Prompt, long Completion, double Cost, long[] Labels,
        float[] Probabilities, double FirstByteMs)
    {
        public void Apply(GatewayTelemetry telemetry, string deployment, DateTime now)
        {
            telemetry.Record(new RequestLogEntity
            {
                RequestId = "r", Time = now, Deployment = deployment, Version = Version, Route = Route, Protocol = "oip-v2", Status = Status,
                LatencyMs = LatencyMs, PromptTokens = Prompt, CompletionTokens = Completion, Cost = Cost,
            });
            if (Status != 200)
            {
                return;
            }
            Assert.True(ClassifierOutputs.TryRead(Outputs(Labels, Probabilities), Labels.Length, out var outputs));
            telemetry.RecordPredictions(deployment, Version, Route, now, outputs);
            telemetry.RecordFirstByte(deployment, Version, Route, now, FirstByteMs);
        }
    }

    internal static Dictionary<string, OnnxOutput> Outputs(long[] labels, float[] probabilities) => new()
    {
        ["label"] = new("INT64", [labels.Length], labels),
        ["probabilities"] = new("FP32", [labels.Length, 2], probabilities),
    };

    private static Served Draw(Random rng, string version, bool worse)
    {
        var rows = rng.Next(1, 4);
        var labels = new long[rows];
        var probabilities = new float[rows * 2];
        for (var i = 0; i < rows; i++)
        {
            var p = Math.Min(rng.Next(0, 65) + (worse ? 4 : 0), 64) / 64f;
            labels[i] = p >= 0.5f ? 1 : 0;
            (probabilities[2 * i], probabilities[2 * i + 1]) = (1 - p, p);
        }
        var status = rng.NextDouble() < (worse ? 0.2 : 0.01) ? 500 : 200;
        var prompt = rng.Next(10, 60);
        var completion = rng.Next(5, 40);
        return new Served(version, version == "1.0.0" ? RouteKinds.Stable : RouteKinds.Canary, status, rng.Next(40, 200) * 0.25 + (worse ? 12.5 : 0),
            prompt, completion, (prompt + completion) / 1024.0, labels, probabilities, rng.Next(8, 80) * 0.5);
    }

    private static string Json(AnalysisResult result) =>
        JsonSerializer.Serialize(result.ToDto(new DateTime(2026, 11, 1, 0, 0, 0, DateTimeKind.Utc), 50), ModelGateJson.Options);

    [Fact]
    public async Task Analysis_TrafficSplitOverTwoGateways_EqualsTheAnalysisOfTheSameTrafficOnOneProcess()
    {
        var deployment = await DeploymentAsync();
        var a = new TelemetryReplica(server, "gateway-a", "gateway");
        var b = new TelemetryReplica(server, "gateway-b", "gateway");
        var control = new TelemetryReplica(server, "control-1", "control");
        var alone = new TelemetryReplica(server, "all-in-one", "all"); // the same traffic served by one process (never flushed)
        var rng = new Random(20);
        var flushes = new List<SharedFlush>();
        for (var slot = 0; slot < 30; slot++)
        {
            server.Time.Advance(GatewayTelemetry.SlotLength);
            var now = server.Time.GetUtcNow().UtcDateTime;
            for (var i = 0; i < 40; i++)
            {
                var served = Draw(rng, i % 2 == 0 ? "1.0.0" : "1.1.0", worse: i % 2 == 1);
                served.Apply(rng.Next(2) == 0 ? a.Telemetry : b.Telemetry, deployment, now);
                served.Apply(alone.Telemetry, deployment, now);
                // Feedback reaches the control process (a gateway serves no control-plane API), for half the requests.
                if (served.Status == 200 && rng.Next(2) == 0)
                {
                    var score = served.Version == "1.0.0" ? rng.Next(4) > 0 ? 1 : 0 : rng.Next(2);
                    control.Telemetry.RecordFeedback(deployment, served.Version, served.Route, now, score);
                    alone.Telemetry.RecordFeedback(deployment, served.Version, served.Route, now, score);
                }
            }
            if (slot % 3 == 2)
            {
                flushes.Add(await a.FlushAsync());
                flushes.Add(await b.FlushAsync());
            }
        }
        var from = server.Time.GetUtcNow().UtcDateTime.AddMinutes(-5);
        var settings = new AnalysisSettings();
        var expected = RolloutAnalysis.Analyze(alone.Telemetry.Slots(deployment, "1.0.0", from), alone.Telemetry.Slots(deployment, "1.1.0", from), false, settings);
        Assert.Equal(AnalysisOutcomes.Fail, expected.Outcome); // a verdict worth comparing: the candidate's errors and latency are worse
        Assert.Contains(expected.Judgement.Metrics, m => m.Name == "feedback_score" && m.ControlCount > 0);

        // The judge on the control process: its memory holds only feedback, the gateways' slots come from the store.
        var judged = await RolloutAnalysis.AnalyzeAsync(control.Evidence, deployment, "1.0.0", "1.1.0", from, false, settings, Ct);
        Assert.Equal(Json(expected), Json(judged));

        // One gateway alone judges a part of the traffic: the merge is what makes the figures equal.
        var partial = await RolloutAnalysis.AnalyzeAsync(new TelemetryRolloutEvidence(a.Telemetry), deployment, "1.0.0", "1.1.0", from, false, settings, Ct);
        Assert.True(partial.StableRequests < expected.StableRequests && partial.StableRequests > 0, $"{partial.StableRequests} of {expected.StableRequests}");

        // The control process's own rows (its feedback) are in the store too now on PostgreSQL: still counted once, from its memory.
        // On SQLite it is the one judge on its store: nobody reads its rows, so it writes none.
        var controlFlush = await control.FlushAsync();
        Assert.Equal(server.Provider == "postgres", controlFlush.SlotRows > 0);
        Assert.Equal(Json(expected), Json(await RolloutAnalysis.AnalyzeAsync(control.Evidence, deployment, "1.0.0", "1.1.0", from, false, settings, Ct)));
        if (server.Provider == "postgres")
        {
            // A gateway's view (its memory, the other gateway's rows and the control process's feedback rows) is the same, its own rows skipped.
            Assert.Equal(Json(expected), Json(await RolloutAnalysis.AnalyzeAsync(a.Evidence, deployment, "1.0.0", "1.1.0", from, false, settings, Ct)));
            // And a new control process (a standby taking over, nothing in memory) reads everything from the store.
            var standby = new TelemetryReplica(server, "control-2", "control");
            Assert.Equal(Json(expected), Json(await RolloutAnalysis.AnalyzeAsync(standby.Evidence, deployment, "1.0.0", "1.1.0", from, false, settings, Ct)));
        }

        // Writes: a flush every 3 slots writes the 3 slots since the previous flush (the ones before it are unchanged, so
        // skipped) of the 2 series (stable, candidate) that replica served.
        Assert.All(flushes, f => Assert.Equal(new SharedFlush(2 * 3, 2, 0), f));
        var rows = await server.WithDbAsync(db => db.TelemetrySlots.AsNoTracking().Where(s => s.Deployment == deployment).ToListAsync(Ct));
        Assert.Equal(rows.Count, rows.Select(r => (r.Version, r.Shadow, r.Slot, r.Replica)).Distinct().Count());
        TestContext.Current.TestOutputHelper?.WriteLine($"slot rows per flush: {string.Join(", ", flushes.Select(f => f.SlotRows))}; " +
            $"payload bytes: mean {rows.Average(r => r.Payload.Length):F0}, max {rows.Max(r => r.Payload.Length)} (each slot ~20 requests, predictions, first bytes; feedback rows {(rows.Where(r => r.Replica == "control-1").Select(r => (double?)r.Payload.Length).Average() is { } feedback ? $"{feedback:F0}" : "none, on SQLite")})");
    }

    [Fact]
    public async Task Flush_UpsertsTheCurrentSlot_SkipsUnchangedSlots_AndWritesPastSlotsFeedbackChanged()
    {
        var deployment = await DeploymentAsync();
        var gateway = new TelemetryReplica(server, "gateway-a", "gateway");
        var control = new TelemetryReplica(server, "control-1", "control");
        var rng = new Random(7);
        server.Time.Advance(GatewayTelemetry.SlotLength);
        var served = server.Time.GetUtcNow().UtcDateTime;
        var first = Draw(rng, "1.0.0", worse: false) with { Status = 200 };
        first.Apply(gateway.Telemetry, deployment, served);
        Assert.Equal(new SharedFlush(1, 1, 0), await gateway.FlushAsync());
        Assert.Equal(new SharedFlush(0, 0, 0), await gateway.FlushAsync()); // nothing changed: nothing written
        first.Apply(gateway.Telemetry, deployment, served);
        Assert.Equal(new SharedFlush(1, 1, 0), await gateway.FlushAsync()); // the same slot again: one row, updated
        var row = Assert.Single(await server.WithDbAsync(db => db.TelemetrySlots.AsNoTracking().Where(s => s.Deployment == deployment).ToListAsync(Ct)));
        Assert.Equal((GatewayTelemetry.SlotOf(served), "gateway-a", false), (row.Slot, row.Replica, row.Shadow));
        Assert.Equal(2, SlotPayload.Read(row.Slot, row.Payload).Requests);

        // Five minutes later, feedback on that request reaches the control process: its flush writes that past slot.
        server.Time.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal(new SharedFlush(0, 0, 0), await control.FlushAsync());
        control.Telemetry.RecordFeedback(deployment, "1.0.0", RouteKinds.Stable, served, 1);
        control.Telemetry.RecordBusiness(deployment, "1.0.0", RouteKinds.Stable, served, "conversion", 0.5);
        if (server.Provider == "postgres")
        {
            Assert.Equal(new SharedFlush(1, 1, 0), await control.FlushAsync());
            var standby = new TelemetryReplica(server, "control-2", "control");
            var slot = Assert.Single(await standby.Evidence.SlotsAsync(deployment, "1.0.0", served.AddSeconds(-1), false, Ct));
            Assert.Equal((2, 1, 1.0, new MetricSum(1, 0.5)), (slot.Requests, slot.FeedbackCount, slot.FeedbackSum, slot.Business!["conversion"]));
        }
        else
        {
            // On SQLite the control process judges from its own memory (feedback and all): nobody reads its rows.
            Assert.Equal(new SharedFlush(0, 0, 0), await control.FlushAsync());
            var slot = Assert.Single(await control.Evidence.SlotsAsync(deployment, "1.0.0", served.AddSeconds(-1), false, Ct));
            Assert.Equal((2, 1, 1.0, new MetricSum(1, 0.5)), (slot.Requests, slot.FeedbackCount, slot.FeedbackSum, slot.Business!["conversion"]));
        }

        // Feedback on a request older than the slots kept is not counted: its slot would take the ring entry of a recent slot
        // (the same index, an hour apart) and reset it.
        var recent = SlotPayload.Write(Assert.Single(gateway.Telemetry.Slots(deployment, "1.0.0", served.AddSeconds(-1))));
        gateway.Telemetry.RecordFeedback(deployment, "1.0.0", RouteKinds.Stable, served - GatewayTelemetry.Horizon, 1);
        Assert.Equal(recent, SlotPayload.Write(Assert.Single(gateway.Telemetry.Slots(deployment, "1.0.0", served.AddSeconds(-1)))));
    }

    [Fact]
    public async Task Evidence_OwnStoredSlots_AreNotCountedTwice()
    {
        var deployment = await DeploymentAsync();
        var gateway = new TelemetryReplica(server, "gateway-a", "gateway");
        var rng = new Random(3);
        for (var slot = 0; slot < 4; slot++)
        {
            server.Time.Advance(GatewayTelemetry.SlotLength);
            for (var i = 0; i < 10; i++)
            {
                Draw(rng, "1.0.0", worse: false).Apply(gateway.Telemetry, deployment, server.Time.GetUtcNow().UtcDateTime);
            }
            await gateway.FlushAsync();
        }
        var from = server.Time.GetUtcNow().UtcDateTime.AddMinutes(-1);
        var live = gateway.Telemetry.Slots(deployment, "1.0.0", from);
        var read = await gateway.Evidence.SlotsAsync(deployment, "1.0.0", from, false, Ct);
        Assert.Equal(40, read.Sum(s => s.Requests));
        Assert.Equal(live.Select(SlotPayload.Write), read.Select(SlotPayload.Write));
        // The same rows read by another process count once too.
        var other = await new TelemetryReplica(server, "control-1", "control").Evidence.SlotsAsync(deployment, "1.0.0", from, false, Ct);
        Assert.Equal(live.Select(SlotPayload.Write), other.Select(SlotPayload.Write));
    }

    [Fact]
    public async Task Retention_DeletesOnlyOldRows_AndOnlyOnTheLeader()
    {
        var deployment = ServerFixture.UniqueName("retained");
        var now = server.Time.GetUtcNow().UtcDateTime;
        var retention = new ClusterOptions().SharedTelemetryRetention;
        DateTime[] times = [now - retention - TimeSpan.FromMinutes(1), now - retention + TimeSpan.FromMinutes(1), now];
        await server.WithDbAsync(async db =>
        {
            foreach (var (time, i) in times.Select((t, i) => (t, i)))
            {
                db.TelemetrySlots.Add(new TelemetrySlotEntity { Deployment = deployment, Version = "1", Slot = i, Replica = "r", Payload = "{}", UpdatedAt = time });
                db.InputSamples.Add(new InputSampleEntity { Deployment = deployment, Version = "1", Replica = "r", Time = time, Columns = "[\"x\"]", Values = "[\"1\"]" });
            }
            return await db.SaveChangesAsync(Ct);
        });
        var standby = new TelemetryReplica(server, "gateway-a", "gateway", leader: false);
        Assert.Null(await standby.Flusher.DeleteExpiredAsync(Ct));
        Assert.Equal(3, await server.WithDbAsync(db => db.TelemetrySlots.CountAsync(s => s.Deployment == deployment, Ct)));
        Assert.Equal(3, await server.WithDbAsync(db => db.InputSamples.CountAsync(s => s.Deployment == deployment, Ct)));

        var leader = new TelemetryReplica(server, "control-1", "control", leader: true);
        var (slots, samples) = (await leader.Flusher.DeleteExpiredAsync(Ct))!.Value;
        Assert.True(slots >= 1 && samples >= 1); // this deployment's one old row each (and any other test's expired rows)
        Assert.Equal([1L, 2L], await server.WithDbAsync(db => db.TelemetrySlots.Where(s => s.Deployment == deployment).Select(s => s.Slot).OrderBy(s => s).ToListAsync(Ct)));
        Assert.Equal(times[1..], await server.WithDbAsync(db => db.InputSamples.Where(s => s.Deployment == deployment).Select(s => s.Time).OrderBy(t => t).ToListAsync(Ct)));
    }

    /// <summary>Every field of <see cref="SlotAggregate"/>, through its stored payload and back, against figures computed here from what was sent.</summary>
    [Fact]
    public void Payload_RoundTripsEveryField()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(2026, 11, 1, 12, 0, 0, TimeSpan.Zero));
        var options = Options.Create(new GatewayOptions());
        var routes = new RoutingSnapshots(null!, null!, null!, new EndpointTelemetry(), null!, NullLogger<RoutingSnapshots>.Instance);
        var telemetry = new GatewayTelemetry(time, routes, options);
        const string d = GatewayTelemetry.Unrouted; // no routing table here: every record counts under the unrouted deployment
        var now = time.GetUtcNow().UtcDateTime;
        (int Status, double Latency, long Prompt, long Completion, double Cost)[] sent =
            [(200, 12.3, 10, 20, 0.0013), (200, 0.004, 3, 0, 0.1), (404, 250, 0, 0, 0), (429, 1.1, 0, 0, 0), (502, 30_000, 0, 0, 0), (500, 7, 1, 1, 1e-7), (503, 2e6, 0, 0, 0)];
        foreach (var (status, latency, prompt, completion, cost) in sent)
        {
            telemetry.Record(new RequestLogEntity { RequestId = "r", Time = now, Deployment = "d", Version = "1", Route = RouteKinds.Stable, Protocol = "openai",
                Status = status, LatencyMs = latency, PromptTokens = prompt, CompletionTokens = completion, Cost = cost });
        }
        telemetry.RecordFeedback(d, "1", RouteKinds.Stable, now, 1);
        telemetry.RecordFeedback(d, "1", RouteKinds.Stable, now, 0.3);
        telemetry.RecordBusiness(d, "1", RouteKinds.Stable, now, "conversion", 1);
        telemetry.RecordBusiness(d, "1", RouteKinds.Stable, now, "revenue_eur", 12.34);
        telemetry.RecordBusiness(d, "1", RouteKinds.Stable, now, "revenue_eur", 0.01);
        telemetry.RecordFallback(d, "1", RouteKinds.Stable, now);
        telemetry.RecordFirstByte(d, "1", RouteKinds.Stable, now, 45);
        telemetry.RecordFirstByte(d, "1", RouteKinds.Stable, now, 0.3);
        // Rows: p = 0.72 (label 1), 0.1 (label 0), an invalid row (NaN).
        Assert.True(ClassifierOutputs.TryRead(Outputs([1, 0, 1], [0.28f, 0.72f, 0.9f, 0.1f, float.NaN, float.NaN]), 3, out var served));
        telemetry.RecordPredictions(d, "1", RouteKinds.Stable, now, served);
        // A shadow's rows against stable's: p 0.6 vs 0.72 (same label), 0.55 vs 0.1 (labels differ).
        Assert.True(ClassifierOutputs.TryRead(Outputs([1, 1], [0.4f, 0.6f, 0.45f, 0.55f]), 2, out var shadow));
        Assert.True(ClassifierOutputs.TryRead(Outputs([1, 0], [0.28f, 0.72f, 0.9f, 0.1f]), 2, out var stable));
        telemetry.RecordShadowPredictions(d, "1", now, shadow, stable);
        telemetry.RecordCompletionComparison(d, "1", now, -7, 12.5);
        var original = SlotAggregate.Merge(GatewayTelemetry.SlotOf(now),
            telemetry.Slots(d, "1", now.AddMinutes(-1)).Concat(telemetry.Slots(d, "1", now.AddMinutes(-1), shadow: true)));

        var json = SlotPayload.Write(original);
        var read = SlotPayload.Read(original.Slot, json);

        // The figures, from what was sent.
        static int Bucket(double ms) => LatencyHistogram.UpperBoundsMs.Count(bound => bound < ms);
        Assert.Equal(sent.Length, read.Requests);
        Assert.Equal([1L, 1L, 2L, 1L], read.Errors); // client 404; throttled 429; upstream 502, 503; server 500
        Assert.Equal(14, read.PromptTokens);
        Assert.Equal(21, read.CompletionTokens);
        Assert.Equal(sent.Sum(s => s.Cost), read.Cost, 15);
        Assert.Equal(sent.Sum(s => s.Latency), read.LatencySumMs, 9);
        Assert.Equal(sent.GroupBy(s => Bucket(s.Latency)).OrderBy(g => g.Key).Select(g => (g.Key, (long)g.Count())),
            read.Latency.Select((c, i) => (i, c)).Where(x => x.c > 0));
        Assert.Equal(2, read.FeedbackCount);
        Assert.Equal(1.3, read.FeedbackSum, 12);
        Assert.Equal(1, read.Fallbacks);
        Assert.Equal((2 + 2, 1 + 2, 1), (read.Predictions, read.PositivePredictions, read.InvalidOutputs));
        Assert.Equal((double)0.72f + 0.1f + 0.6f + 0.55f, read.ScoreSum, 12);
        Assert.Equal([(2, 1L), (11, 1L), (12, 1L), (14, 1L)], read.Scores.Select((c, i) => (i, c)).Where(x => x.c > 0));
        Assert.Equal([(Bucket(0.3), 1L), (Bucket(45), 1L)], read.FirstByte.Select((c, i) => (i, c)).Where(x => x.c > 0));
        Assert.Equal((2 + 1, 1), (read.Compared, read.Agreed));
        Assert.Equal(Math.Abs((double)0.6f - 0.72f) + Math.Abs((double)0.55f - 0.1f), read.AbsDeltaPSum, 12);
        Assert.Equal((-7.0, 12.5), (read.CompletionTokensDeltaSum, read.LatencyDeltaSumMs));
        Assert.Equal(new MetricSum(1, 1), read.Business!["conversion"]);
        Assert.Equal((2, 12.35), (read.Business["revenue_eur"].Count, Math.Round(read.Business["revenue_eur"].Sum, 9)));

        // Every property, whatever it is, is set here and comes back equal: a field added to the aggregate but not to the
        // payload fails this test.
        foreach (var property in typeof(SlotAggregate).GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.Name != nameof(SlotAggregate.ServerErrors)))
        {
            var (before, after) = (property.GetValue(original), property.GetValue(read));
            Assert.False(before is long[] counts ? counts.All(x => x == 0) : before is null || before.Equals(Activator.CreateInstance(property.PropertyType)),
                $"{property.Name} is not set by this test");
            Assert.True(JsonSerializer.Serialize(before) == JsonSerializer.Serialize(after), $"{property.Name}: {JsonSerializer.Serialize(before)} became {JsonSerializer.Serialize(after)}");
        }
        Assert.Equal(json, SlotPayload.Write(read));

        // Sums that are not finite survive too, and a payload that is not one says so.
        var odd = new SlotAggregate { Slot = 1, Requests = 1, Cost = double.PositiveInfinity, LatencySumMs = double.NaN };
        var back = SlotPayload.Read(1, SlotPayload.Write(odd));
        Assert.Equal((double.PositiveInfinity, double.NaN), (back.Cost, back.LatencySumMs));
        Assert.Throws<FormatException>(() => SlotPayload.Read(1, "[1]"));
        Assert.Throws<FormatException>(() => SlotPayload.Read(1, """{"latency": {"999": 1}}"""));
    }
}

public sealed class SharedEvidenceTests_Sqlite(SqliteServerFixture fixture) : SharedEvidenceTests(fixture), IClassFixture<SqliteServerFixture>;

public sealed class SharedEvidenceTests_Postgres(PostgresServerFixture fixture) : SharedEvidenceTests(fixture), IClassFixture<PostgresServerFixture>;
