using System.Buffers;

namespace ModelGate.Evaluation.Metrics;

/// <summary>
/// Threshold-free metrics of binary scores (positive class 1), reproducing scikit-learn's arithmetic step for step:
/// rows are ranked by score and tied scores form one operating point (so a tie between a positive and a negative
/// earns half credit in ROC AUC, and is never split in average precision), exactly as scikit-learn's
/// <c>confusion_matrix_at_thresholds</c> (formerly <c>_binary_clf_curve</c>) groups them.
/// </summary>
public static class RankingMetrics
{
    /// <summary>
    /// scikit-learn's <c>roc_auc_score</c> for binary labels: the ROC curve at every distinct score (with
    /// <c>roc_curve</c>'s default dropping of collinear points, which only changes rounding), anchored at (0, 0),
    /// integrated by the trapezoidal rule. NaN when y_true holds one class only, as scikit-learn ≥1.6 returns
    /// (with a warning) where older versions raised.
    /// </summary>
    public static double RocAuc(ReadOnlySpan<int> yTrue, ReadOnlySpan<double> scores)
    {
        using var curve = ThresholdCurve.Build(yTrue, scores);
        var m = curve.Points;
        if (m == 0 || curve.Positives == 0 || curve.Negatives == 0) return double.NaN;

        var tps = curve.TruePositives;
        var fps = curve.FalsePositives;
        var terms = ArrayPool<double>.Shared.Rent(m + 1);
        try
        {
            double negatives = curve.Negatives, positives = curve.Positives;
            double previousFpr = 0.0, previousTpr = 0.0;
            var count = 0;
            for (var k = 0; k < m; k++)
            {
                // roc_curve(drop_intermediate=True) keeps the ends and every corner; a kept point depends only on
                // exact integer counts, so this selects the same points scikit-learn integrates over.
                var isCorner = k == 0 || k == m - 1
                    || fps[k + 1] - fps[k] != fps[k] - fps[k - 1]
                    || tps[k + 1] - tps[k] != tps[k] - tps[k - 1];
                if (!isCorner) continue;
                var fpr = fps[k] / negatives;
                var tpr = tps[k] / positives;
                terms[count++] = (fpr - previousFpr) * (tpr + previousTpr) / 2.0;
                previousFpr = fpr;
                previousTpr = tpr;
            }
            return NumpySum.Sum(terms.AsSpan(0, count));
        }
        finally
        {
            ArrayPool<double>.Shared.Return(terms);
        }
    }

    /// <summary>
    /// scikit-learn's <c>average_precision_score</c> for binary labels: Σ (Rₙ − Rₙ₋₁) Pₙ over distinct scores from
    /// the highest down, a step function with no interpolation between operating points (not the trapezoidal
    /// PR AUC, which is optimistic). 0 when y_true has no positives, as scikit-learn returns (with a warning).
    /// </summary>
    public static double AveragePrecision(ReadOnlySpan<int> yTrue, ReadOnlySpan<double> scores)
    {
        using var curve = ThresholdCurve.Build(yTrue, scores);
        var m = curve.Points;
        if (m == 0) return double.NaN;

        var tps = curve.TruePositives;
        var fps = curve.FalsePositives;
        var terms = ArrayPool<double>.Shared.Rent(m);
        try
        {
            double positives = curve.Positives;
            // Summed from the lowest threshold up, the order scikit-learn's reversed arrays put the terms in.
            for (var k = m - 1; k >= 0; k--)
            {
                var recall = Recall(tps[k]);
                var previousRecall = k == 0 ? 0.0 : Recall(tps[k - 1]);
                var precision = (double)tps[k] / (tps[k] + fps[k]);
                terms[m - 1 - k] = (previousRecall - recall) * precision;
            }
            return Math.Max(0.0, -NumpySum.Sum(terms.AsSpan(0, m)));

            // With no positives scikit-learn sets recall to 1 at every threshold, which makes the sum 0.
            double Recall(long tp) => curve.Positives == 0 ? 1.0 : tp / positives;
        }
        finally
        {
            ArrayPool<double>.Shared.Return(terms);
        }
    }

    /// <summary>Cumulative counts at each distinct score, highest score first, in pooled buffers.</summary>
    private readonly struct ThresholdCurve : IDisposable
    {
        private readonly long[] _truePositives;
        private readonly long[] _falsePositives;

        private ThresholdCurve(long[] truePositives, long[] falsePositives, int points)
        {
            _truePositives = truePositives;
            _falsePositives = falsePositives;
            Points = points;
        }

        public int Points { get; }

        public ReadOnlySpan<long> TruePositives => _truePositives.AsSpan(0, Points);

        public ReadOnlySpan<long> FalsePositives => _falsePositives.AsSpan(0, Points);

        public long Positives => Points == 0 ? 0 : _truePositives[Points - 1];

        public long Negatives => Points == 0 ? 0 : _falsePositives[Points - 1];

        public static ThresholdCurve Build(ReadOnlySpan<int> yTrue, ReadOnlySpan<double> scores)
        {
            Inputs.SameLength(yTrue.Length, scores.Length, nameof(scores));
            Inputs.BinaryLabels(yTrue, nameof(yTrue));
            Inputs.FiniteScores(scores, nameof(scores));
            var n = yTrue.Length;
            var keys = ArrayPool<double>.Shared.Rent(n);
            var labels = ArrayPool<int>.Shared.Rent(n);
            var tps = ArrayPool<long>.Shared.Rent(n);
            var fps = ArrayPool<long>.Shared.Rent(n);
            try
            {
                scores.CopyTo(keys);
                yTrue.CopyTo(labels);
                // Order within a tie is irrelevant: counts are only read where the score changes.
                keys.AsSpan(0, n).Sort(labels.AsSpan(0, n));
                long tp = 0, fp = 0;
                var points = 0;
                for (var i = n - 1; i >= 0; i--)
                {
                    if (labels[i] == 1) tp++;
                    else fp++;
                    if (i == 0 || keys[i - 1] != keys[i])
                    {
                        tps[points] = tp;
                        fps[points] = fp;
                        points++;
                    }
                }
                return new ThresholdCurve(tps, fps, points);
            }
            catch
            {
                ArrayPool<long>.Shared.Return(tps);
                ArrayPool<long>.Shared.Return(fps);
                throw;
            }
            finally
            {
                ArrayPool<double>.Shared.Return(keys);
                ArrayPool<int>.Shared.Return(labels);
            }
        }

        public void Dispose()
        {
            ArrayPool<long>.Shared.Return(_truePositives);
            ArrayPool<long>.Shared.Return(_falsePositives);
        }
    }
}
