using ModelGate.Evaluation.Metrics;

namespace ModelGate.Tests.Evaluation;

public sealed class RankingMetricsTests
{
    [Fact]
    public void RocAuc_SklearnDocExample_Is075()
    {
        // scikit-learn roc_curve/auc docs: y [0,0,1,1], scores [0.1,0.4,0.35,0.8] -> fpr [0,0,.5,.5,1],
        // tpr [0,.5,.5,1,1]; area 0.75.
        Assert.Equal(0.75, RankingMetrics.RocAuc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]));
    }

    [Fact]
    public void AveragePrecision_SklearnDocExample_IsFiveSixths()
    {
        // scikit-learn average_precision_score docs: same data -> 0.83...
        // Thresholds high to low: 0.8 (R .5, P 1), 0.4 (R .5, P .5), 0.35 (R 1, P 2/3), 0.1 (R 1, P .5);
        // AP = .5*1 + 0*.5 + .5*(2/3) + 0*.5 = 5/6.
        Assert.Equal(5.0 / 6, RankingMetrics.AveragePrecision([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 1e-15);
    }

    [Fact]
    public void RocAuc_TiedPositiveAndNegative_GetHalfCredit()
    {
        // P = 2, N = 3. Pairs (positive score vs negative score): 0.9 vs 0.9 tie = 0.5, 0.9 vs 0.3 = 1, 0.9 vs 0.3 = 1,
        // 0.5 vs 0.9 = 0, 0.5 vs 0.3 = 1, 0.5 vs 0.3 = 1 -> 4.5 / 6 = 0.75.
        // Same as the trapezoid over (0,0) (1/3,1/2) (1/3,1) (1,1): 1/12 + 0 + 2/3.
        Assert.Equal(0.75, RankingMetrics.RocAuc([1, 0, 1, 0, 0], [0.9, 0.9, 0.5, 0.3, 0.3]), 1e-15);
    }

    [Fact]
    public void AveragePrecision_TiedScores_FormOneOperatingPoint()
    {
        // Thresholds: 0.9 -> tp 1 fp 1 (R .5, P .5); 0.5 -> tp 2 fp 1 (R 1, P 2/3); 0.3 -> tp 2 fp 3 (R 1, P .4).
        // AP = .5*.5 + .5*(2/3) + 0*.4 = 7/12. Splitting the 0.9 tie positive-first would give .5*1 + ... instead.
        Assert.Equal(7.0 / 12, RankingMetrics.AveragePrecision([1, 0, 1, 0, 0], [0.9, 0.9, 0.5, 0.3, 0.3]), 1e-15);
    }

    [Fact]
    public void RocAuc_AllScoresTied_IsHalf()
    {
        Assert.Equal(0.5, RankingMetrics.RocAuc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]));
        Assert.Equal(0.5, RankingMetrics.AveragePrecision([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]));
    }

    [Fact]
    public void RocAuc_PerfectAndReversedRanking_AreOneAndZero()
    {
        Assert.Equal(1.0, RankingMetrics.RocAuc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]));
        Assert.Equal(0.0, RankingMetrics.RocAuc([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]));
        Assert.Equal(1.0, RankingMetrics.AveragePrecision([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]));
    }

    [Fact]
    public void RocAuc_ScoresNeedNotBeProbabilities_OnlyTheirOrderCounts()
    {
        // Decision-function values with the doc example's order give the doc example's 0.75.
        Assert.Equal(0.75, RankingMetrics.RocAuc([0, 0, 1, 1], [-3.0, 2.5, 1.0, 40.0]));
    }

    [Fact]
    public void RocAuc_OneClassOnly_IsNaN()
    {
        // scikit-learn >= 1.6 warns "Only one class is present in y_true" and returns nan.
        Assert.True(double.IsNaN(RankingMetrics.RocAuc([1, 1, 1], [0.1, 0.5, 0.9])));
        Assert.True(double.IsNaN(RankingMetrics.RocAuc([0, 0], [0.1, 0.5])));
    }

    [Fact]
    public void AveragePrecision_NoPositives_IsZero()
    {
        // precision_recall_curve sets recall to 1 everywhere; the only non-zero recall step is at the top
        // threshold, where precision is 0/1 -> AP 0.
        Assert.Equal(0.0, RankingMetrics.AveragePrecision([0, 0, 0], [0.1, 0.5, 0.9]));
    }

    [Fact]
    public void RocAuc_ManyRowsWithTies_EqualsMannWhitneyCount()
    {
        // Independent formula: AUC = P(score_pos > score_neg) + 0.5 P(tie), counted over all pairs.
        var random = new Random(7);
        var truth = new int[400];
        var scores = new double[400];
        for (var i = 0; i < truth.Length; i++)
        {
            truth[i] = random.Next(2);
            scores[i] = Math.Round(random.NextDouble() + 0.3 * truth[i], 1); // rounding forces many ties
        }
        double wins = 0;
        long pairs = 0;
        for (var i = 0; i < truth.Length; i++)
        for (var j = 0; j < truth.Length; j++)
        {
            if (truth[i] != 1 || truth[j] != 0) continue;
            pairs++;
            wins += scores[i] > scores[j] ? 1.0 : scores[i] == scores[j] ? 0.5 : 0.0;
        }
        Assert.Equal(wins / pairs, RankingMetrics.RocAuc(truth, scores), 1e-12);
    }
}
