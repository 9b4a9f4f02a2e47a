using ModelGate.Evaluation.Metrics;

namespace ModelGate.Tests.Evaluation;

public sealed class FairnessMetricsTests
{
    // Group a: truth [1,1,0,0], pred [1,0,1,0] -> selected 2/4, TPR 1/2, FPR 1/2.
    // Group b: truth [1,0,0,1,0], pred [1,1,1,0,0] -> selected 3/5, TPR 1/2 (rows 0 and 3 positive, row 0 caught),
    //          FPR 2/3 (rows 1, 2, 4 negative, rows 1 and 2 flagged).
    private static readonly int[] Truth = [1, 1, 0, 0, 1, 0, 0, 1, 0];
    private static readonly int[] Predicted = [1, 0, 1, 0, 1, 1, 1, 0, 0];
    private static readonly string?[] Group = ["a", "a", "a", "a", "b", "b", "b", "b", "b"];

    [Fact]
    public void ByGroup_HandWorkedExample_CountsEachGroup()
    {
        var groups = FairnessMetrics.ByGroup(Truth, Predicted, Group);
        Assert.Equal(["a", "b"], groups.Select(g => g.Group));
        Assert.Equal(new BinaryConfusionMatrix(1, 1, 1, 1), groups[0].Counts);
        Assert.Equal(new BinaryConfusionMatrix(1, 2, 1, 1), groups[1].Counts);
        Assert.Equal((0.5, 0.5, 0.5), (groups[0].SelectionRate, groups[0].TruePositiveRate, groups[0].FalsePositiveRate));
        Assert.Equal((0.6, 0.5, 2.0 / 3), (groups[1].SelectionRate, groups[1].TruePositiveRate, groups[1].FalsePositiveRate));
    }

    [Fact]
    public void SelectionRateByGroup_HandWorkedExample_IsSelectedOverGroupSize()
    {
        var rates = FairnessMetrics.SelectionRateByGroup(Predicted, Group);
        Assert.Equal(2, rates.Count);
        Assert.Equal(0.5, rates["a"]);
        Assert.Equal(0.6, rates["b"]);
    }

    [Fact]
    public void DemographicParity_HandWorkedExample_IsMaxMinusMinAndMinOverMax()
    {
        Assert.Equal(0.1, FairnessMetrics.DemographicParityDifference(Truth, Predicted, Group), 1e-15); // 0.6 - 0.5
        Assert.Equal(5.0 / 6, FairnessMetrics.DemographicParityRatio(Truth, Predicted, Group), 1e-15); // 0.5 / 0.6
    }

    [Fact]
    public void EqualizedOdds_EqualTprDifferentFpr_TakesTheFprGap()
    {
        // TPR gap 0.5 - 0.5 = 0; FPR gap 2/3 - 1/2 = 1/6; worst case = 1/6.
        Assert.Equal(1.0 / 6, FairnessMetrics.EqualizedOddsDifference(Truth, Predicted, Group), 1e-15);
        Assert.Equal(0.0, FairnessMetrics.EqualOpportunityDifference(Truth, Predicted, Group));
    }

    [Fact]
    public void EqualizedOdds_LargerTprGap_TakesTheTprGap()
    {
        // a: truth [1,1,0,0], pred [1,1,0,0] -> TPR 1, FPR 0. b: truth [1,1,0,0], pred [1,0,0,0] -> TPR 1/2, FPR 0.
        // Gaps: TPR 1/2, FPR 0; worst case 1/2.
        int[] truth = [1, 1, 0, 0, 1, 1, 0, 0];
        int[] pred = [1, 1, 0, 0, 1, 0, 0, 0];
        string?[] group = ["a", "a", "a", "a", "b", "b", "b", "b"];
        Assert.Equal(0.5, FairnessMetrics.EqualizedOddsDifference(truth, pred, group));
        Assert.Equal(0.5, FairnessMetrics.EqualOpportunityDifference(truth, pred, group));
    }

    [Fact]
    public void TruePositiveRate_GroupWithoutPositives_IsZeroAsFairlearnComputesIt()
    {
        // Fairlearn's true_positive_rate uses confusion_matrix(normalize="true"), whose 0/0 row becomes 0
        // (np.nan_to_num). Group c has no positives, so its TPR is 0 and the TPR gap is 1 - 0.
        int[] truth = [1, 0, 0, 0];
        int[] pred = [1, 0, 1, 0];
        string?[] group = ["a", "a", "c", "c"];
        var groups = FairnessMetrics.ByGroup(truth, pred, group);
        Assert.Equal(0.0, groups[1].TruePositiveRate);
        Assert.Equal(0.5, groups[1].FalsePositiveRate);
        Assert.Equal(1.0, FairnessMetrics.EqualOpportunityDifference(groups));
        Assert.Equal(1.0, FairnessMetrics.EqualizedOddsDifference(groups)); // max(TPR gap 1, FPR gap 0.5)
    }

    [Fact]
    public void ByGroup_NullAndEmptySensitiveValues_FormOneGroupNamedEmpty()
    {
        int[] truth = [1, 0, 1, 0, 1];
        int[] pred = [1, 1, 0, 0, 1];
        string?[] group = [null, "", "x", "x", null];
        var groups = FairnessMetrics.ByGroup(truth, pred, group);
        Assert.Equal(["", "x"], groups.Select(g => g.Group));
        Assert.Equal(3, groups[0].Counts.Count);
        Assert.Equal(1.0, groups[0].SelectionRate); // rows 0, 1, 4 all predicted positive
        Assert.Equal(0.0, groups[1].SelectionRate);
        Assert.Equal(1.0, FairnessMetrics.DemographicParityDifference(groups));
        Assert.Equal(0.0, FairnessMetrics.DemographicParityRatio(groups));
    }

    [Fact]
    public void DemographicParityRatio_NobodySelected_IsNaNAndDifferenceIsZero()
    {
        // Fairlearn divides group_min() by group_max(): 0/0 is NaN.
        int[] truth = [1, 0, 1, 0];
        int[] pred = [0, 0, 0, 0];
        string?[] group = ["a", "a", "b", "b"];
        Assert.True(double.IsNaN(FairnessMetrics.DemographicParityRatio(truth, pred, group)));
        Assert.Equal(0.0, FairnessMetrics.DemographicParityDifference(truth, pred, group));
    }

    [Fact]
    public void Disparities_SingleGroup_AreZeroAndRatioOne()
    {
        Assert.Equal(0.0, FairnessMetrics.DemographicParityDifference([1, 0], [1, 0], ["a", "a"]));
        Assert.Equal(1.0, FairnessMetrics.DemographicParityRatio([1, 0], [1, 0], ["a", "a"]));
    }

    [Fact]
    public void ByGroup_MismatchedLengths_Throws()
    {
        Assert.Throws<ArgumentException>(() => FairnessMetrics.ByGroup([1, 0], [1, 0], ["a"]));
    }
}
