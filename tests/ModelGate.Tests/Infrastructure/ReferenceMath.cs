namespace ModelGate.Tests.Infrastructure;

/// <summary>
/// Textbook formulas written independently of the product's metric code, for checking it where no published
/// figure applies.
/// </summary>
public static class ReferenceMath
{
    /// <summary>ROC AUC as the Mann-Whitney U statistic with average ranks for ties (equal to scikit-learn's roc_auc_score).</summary>
    public static double MannWhitneyAuc(IReadOnlyList<int> y, IReadOnlyList<double> p)
    {
        var order = Enumerable.Range(0, p.Count).OrderBy(i => p[i]).ToArray();
        var ranks = new double[p.Count];
        for (var i = 0; i < order.Length;)
        {
            var j = i;
            while (j + 1 < order.Length && p[order[j + 1]] == p[order[i]])
            {
                j++;
            }
            for (var k = i; k <= j; k++)
            {
                ranks[order[k]] = (i + j) / 2.0 + 1;
            }
            i = j + 1;
        }
        double positives = y.Count(v => v == 1), negatives = y.Count - positives;
        var rankSum = Enumerable.Range(0, y.Count).Where(i => y[i] == 1).Sum(i => ranks[i]);
        return (rankSum - positives * (positives + 1) / 2) / (positives * negatives);
    }

    /// <summary>
    /// Mean negative log-likelihood with probabilities clipped to [ε, 1−ε], ε the machine epsilon of the probabilities'
    /// dtype as scikit-learn takes it (float64: 2⁻⁵², float32: 2⁻²³).
    /// </summary>
    public static double LogLoss(IReadOnlyList<int> y, IReadOnlyList<double> p, double eps)
    {
        return -Enumerable.Range(0, y.Count).Average(i =>
        {
            var q = Math.Clamp(p[i], eps, 1 - eps);
            return y[i] == 1 ? Math.Log(q) : Math.Log(1 - q);
        });
    }
}
