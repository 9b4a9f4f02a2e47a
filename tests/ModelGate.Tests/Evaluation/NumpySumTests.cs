using ModelGate.Evaluation.Metrics;

namespace ModelGate.Tests.Evaluation;

public sealed class NumpySumTests
{
    [Fact]
    public void Sum_TenTenths_IsOneAsInNumpy()
    {
        // Python's sum([0.1] * 10) is 0.9999999999999999; np.sum(np.full(10, 0.1)) is 1.0 because numpy adds
        // pairwise in eight accumulators. A mean over rows should round the way scikit-learn's does.
        Assert.Equal(1.0, NumpySum.Sum(Enumerable.Repeat(0.1, 10).ToArray()));
        var naive = 0.0;
        for (var i = 0; i < 10; i++) naive += 0.1;
        Assert.Equal(0.9999999999999999, naive);
    }

    [Fact]
    public void Sum_LargeArray_StaysWithinRoundingOfExactSum()
    {
        var values = Enumerable.Range(1, 100_000).Select(i => 1.0 / i).ToArray();
        // Python's math.fsum (exactly rounded) of the same doubles: 12.090146129863427.
        Assert.Equal(12.090146129863427, NumpySum.Sum(values), 1e-13);
    }
}
