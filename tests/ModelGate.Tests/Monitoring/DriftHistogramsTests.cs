using ModelGate.Monitoring.Drift;

namespace ModelGate.Tests.Monitoring;

/// <summary>The drift page's histograms against counts done by hand: decile bins for numbers, categories (pooled, unseen) for the rest.</summary>
public sealed class DriftHistogramsTests
{
    private static DatasetProfile Profile(string name, params string?[] values) =>
        DatasetProfile.FromColumns([KeyValuePair.Create(name, (IReadOnlyList<string?>)values)]);

    private static DriftWindow Window(string name, params string[] values) => new DriftWindow(values.Length).Add(name, values);

    [Fact]
    public void Numeric_BinsAtTheReferenceDeciles_ClosedOnTheRight_LeavingOutMissingAndInvalidValues()
    {
        // 1..10: numpy's deciles are 1.9, 2.8, …, 9.1, so each reference value has a bin of its own.
        var profile = Profile("x", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10");
        var window = Window("x", "1", "1.9", "2", "5.5", "5.6", "100", "", "abc", "-3");

        var histogram = Assert.Single(DriftHistograms.Compute(profile, window));

        Assert.Equal(["≤ 1.9", "1.9–2.8", "2.8–3.7", "3.7–4.6", "4.6–5.5", "5.5–6.4", "6.4–7.3", "7.3–8.2", "8.2–9.1", "> 9.1"], histogram.Bins.Select(b => b.Label));
        Assert.Equal([1L, 1, 1, 1, 1, 1, 1, 1, 1, 1], histogram.Bins.Select(b => b.Reference));
        // 1, 1.9 and -3 are ≤ 1.9; 2 is in (1.9, 2.8]; 5.5 in (4.6, 5.5]; 5.6 in (5.5, 6.4]; 100 above 9.1; "" and "abc" are left out.
        Assert.Equal([3L, 1, 0, 0, 1, 1, 0, 0, 0, 1], histogram.Bins.Select(b => b.Current));
        Assert.Equal(7, histogram.CurrentTotal);
    }

    [Fact]
    public void Numeric_TiedDecilesMergeIntoOneEdge()
    {
        // Sorted 1×8, 2, 3: deciles 1 (d1–d7), 1.2 (d8: 1 + 0.2·(2 − 1)), 2.1 (d9: 2 + 0.1·(3 − 2)).
        var profile = Profile("x", "1", "1", "1", "1", "1", "1", "1", "1", "2", "3");
        // (2.05 rather than 2.1 itself: numpy's and this interpolation give 2.0999999999999996 for d9.)
        var window = Window("x", "0.5", "1", "1.1", "2.05", "2.2", "3");

        var histogram = Assert.Single(DriftHistograms.Compute(profile, window));

        Assert.Equal(["≤ 1", "1–1.2", "1.2–2.1", "> 2.1"], histogram.Bins.Select(b => b.Label));
        Assert.Equal([8L, 0, 1, 1], histogram.Bins.Select(b => b.Reference));
        Assert.Equal([2L, 1, 1, 2], histogram.Bins.Select(b => b.Current));
    }

    [Fact]
    public void Categorical_CountsTheReferencesCategories_AndTheWindowsUnseenOnesApart()
    {
        var profile = Profile("c", "a", "a", "a", "b", "b", "c", "");
        var window = Window("c", "a", "b", "b", "d", "d", "", "e");

        var histogram = Assert.Single(DriftHistograms.Compute(profile, window));

        Assert.Equal(["a", "b", "c", DriftHistograms.Unseen], histogram.Bins.Select(b => b.Label));
        Assert.Equal([3L, 2, 1, 0], histogram.Bins.Select(b => b.Reference));
        Assert.Equal([1L, 2, 0, 3], histogram.Bins.Select(b => b.Current));
    }

    [Fact]
    public void Categorical_BeyondTwelveCategories_PoolsTheRestAsOther_WhichIsNotUnseen()
    {
        // k0 ×14, k1 ×13, …, k13 ×1: the twelve most frequent are drawn, k12 (2) and k13 (1) pooled.
        var values = Enumerable.Range(0, 14).SelectMany(k => Enumerable.Repeat($"k{k:00}", 14 - k)).ToArray();
        var profile = Profile("c", values);
        var window = Window("c", "k00", "k13", "k13", "zz");

        var histogram = Assert.Single(DriftHistograms.Compute(profile, window));

        Assert.Equal(14, histogram.Bins.Count);
        Assert.Equal(Enumerable.Range(0, 12).Select(k => $"k{k:00}").Append(DriftHistograms.Other).Append(DriftHistograms.Unseen), histogram.Bins.Select(b => b.Label));
        Assert.Equal((3L, 2L), (histogram.Bins[12].Reference, histogram.Bins[12].Current));
        Assert.Equal((0L, 1L), (histogram.Bins[13].Reference, histogram.Bins[13].Current));
        Assert.Equal(1, histogram.Bins[0].Current);
        Assert.Equal(14, histogram.Bins[0].Reference);
    }

    [Fact]
    public void ColumnsTheWindowLacks_AreLeftOut()
    {
        var profile = DatasetProfile.FromColumns([
            KeyValuePair.Create("x", (IReadOnlyList<string?>)["1", "2"]),
            KeyValuePair.Create("y", (IReadOnlyList<string?>)["a", "b"]),
        ]);
        Assert.Equal(["y"], DriftHistograms.Compute(profile, Window("y", "a")).Select(h => h.Column));
    }
}
