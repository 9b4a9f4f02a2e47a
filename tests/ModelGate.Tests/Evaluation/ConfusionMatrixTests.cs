using ModelGate.Evaluation.Metrics;

namespace ModelGate.Tests.Evaluation;

public sealed class ConfusionMatrixTests
{
    // Hand-worked: scores >= 0.5 give predictions [0,1,1,0,1,1,1,0] (0.5 itself counts as positive).
    // (truth, prediction) per row: (0,0) tn, (0,1) fp, (1,1) tp, (1,0) fn, (1,1) tp, (0,1) fp, (1,1) tp, (0,0) tn
    // => tn 2, fp 2, fn 1, tp 3.
    private static readonly int[] Truth = [0, 0, 1, 1, 1, 0, 1, 0];
    private static readonly double[] Scores = [0.2, 0.6, 0.7, 0.4, 0.5, 0.5, 0.9, 0.1];

    [Fact]
    public void FromScores_DefaultThreshold_CountsScoreEqualToThresholdAsPositive()
    {
        Assert.Equal(new BinaryConfusionMatrix(2, 2, 1, 3), ClassificationMetrics.ConfusionMatrix(Truth, Scores));
    }

    [Fact]
    public void Rates_HandWorkedExample_MatchArithmetic()
    {
        // accuracy (3 + 2) / 8; precision 3 / (3 + 2); recall 3 / (3 + 1); F1 2*3 / (2*3 + 2 + 1) = 6/9;
        // positive rate (3 + 2) / 8.
        Assert.Equal(5.0 / 8, ClassificationMetrics.Accuracy(Truth, Scores));
        Assert.Equal(3.0 / 5, ClassificationMetrics.Precision(Truth, Scores));
        Assert.Equal(3.0 / 4, ClassificationMetrics.Recall(Truth, Scores));
        Assert.Equal(6.0 / 9, ClassificationMetrics.F1(Truth, Scores), 1e-15);
        Assert.Equal(5.0 / 8, ClassificationMetrics.PositiveRate(Scores));
    }

    [Fact]
    public void Rates_HigherThreshold_ReclassifiesTheTiedRows()
    {
        // At 0.55 predictions are [0,1,1,0,0,0,1,0]: tn 3, fp 1, fn 2, tp 2.
        var m = ClassificationMetrics.ConfusionMatrix(Truth, Scores, threshold: 0.55);
        Assert.Equal(new BinaryConfusionMatrix(3, 1, 2, 2), m);
        Assert.Equal(2.0 / 3, m.Precision);
        Assert.Equal(0.5, m.Recall);
        Assert.Equal(4.0 / 7, m.F1, 1e-15); // 2*2 / (2*2 + 1 + 2)
        Assert.Equal(3.0 / 8, ClassificationMetrics.PositiveRate(Scores, 0.55));
    }

    [Fact]
    public void FromLabels_SklearnDocExample_RavelsAsTnFpFnTp()
    {
        // scikit-learn confusion_matrix docs: confusion_matrix([0, 1, 0, 1], [1, 1, 1, 0]).ravel() == (0, 2, 1, 1).
        Assert.Equal(new BinaryConfusionMatrix(0, 2, 1, 1), BinaryConfusionMatrix.FromLabels([0, 1, 0, 1], [1, 1, 1, 0]));
    }

    [Fact]
    public void Rates_NoPredictedOrActualPositives_AreZeroNotNaN()
    {
        // zero_division=0: precision 0/0, recall 0/0 and F1 0/0 all become 0.
        var none = BinaryConfusionMatrix.FromLabels([0, 0, 0], [0, 0, 0]);
        Assert.Equal((0.0, 0.0, 0.0, 1.0), (none.Precision, none.Recall, none.F1, none.Accuracy));

        // Positives exist but none predicted: precision 0/0 -> 0, recall 0/2, F1 0/(0 + 0 + 2).
        var missed = BinaryConfusionMatrix.FromLabels([1, 1], [0, 0]);
        Assert.Equal((0.0, 0.0, 0.0, 0.0), (missed.Precision, missed.Recall, missed.F1, missed.Accuracy));
    }

    [Fact]
    public void Accuracy_NoRows_IsNaN()
    {
        Assert.True(double.IsNaN(ClassificationMetrics.Accuracy([], [])));
        Assert.True(double.IsNaN(ClassificationMetrics.PositiveRate([])));
    }

    [Fact]
    public void Predict_ThresholdIsInclusive_WritesOnesAtAndAbove()
    {
        Assert.Equal([0, 1, 1], ClassificationMetrics.Predict([0.29, 0.3, 0.31], threshold: 0.3));
    }

    [Fact]
    public void FromScores_LabelOutsideZeroOne_Throws()
    {
        Assert.Throws<ArgumentException>(() => ClassificationMetrics.Accuracy([0, 2], [0.1, 0.9]));
        Assert.Throws<ArgumentException>(() => ClassificationMetrics.Accuracy([0, 1], [0.1]));
        Assert.Throws<ArgumentException>(() => ClassificationMetrics.Accuracy([0, 1], [0.1, double.NaN]));
    }
}
