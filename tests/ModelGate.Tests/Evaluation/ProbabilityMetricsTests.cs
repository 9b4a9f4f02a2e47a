using ModelGate.Evaluation.Metrics;

namespace ModelGate.Tests.Evaluation;

public sealed class ProbabilityMetricsTests
{
    [Fact]
    public void LogLoss_SklearnDocExample_Is021616()
    {
        // scikit-learn log_loss docs: log_loss(["spam","ham","ham","spam"], [[.1,.9],[.9,.1],[.8,.2],[.35,.65]])
        // == 0.21616... Classes sort as ham=0, spam=1, so P(spam) = [.9,.1,.2,.65] and y = [1,0,0,1]:
        // -(ln .9 + ln .9 + ln .8 + ln .65) / 4.
        var loss = ProbabilityMetrics.LogLoss([1, 0, 0, 1], [0.9, 0.1, 0.2, 0.65], ProbabilityMetrics.Float64Epsilon);
        Assert.Equal(0.21616, loss, 5e-6);
        Assert.Equal(-(Math.Log(0.9) + Math.Log(0.9) + Math.Log(0.8) + Math.Log(0.65)) / 4, loss, 1e-15);
    }

    [Fact]
    public void LogLoss_CertainAndWrong_ClipsAtFloat64Epsilon()
    {
        // eps = 2^-52 (scikit-learn >= 1.5 for float64 input): each row costs -ln(2^-52) = 52 ln 2.
        Assert.Equal(52 * Math.Log(2), ProbabilityMetrics.LogLoss([1, 0], [0.0, 1.0], ProbabilityMetrics.Float64Epsilon), 1e-12);
    }

    [Fact]
    public void LogLoss_Float32Epsilon_ClipsAtTwoToMinus23()
    {
        // A float32 output of exactly 0 for a positive row costs -ln(2^-23) ~ 15.9 (scikit-learn on float32 input),
        // not the -ln(2^-52) ~ 36.0 of float64, though the value is the same once widened to double.
        Assert.Equal(23 * Math.Log(2), ProbabilityMetrics.LogLoss([1], [0.0], ProbabilityMetrics.Float32Epsilon), 1e-12);
        Assert.Equal(23 * Math.Log(2), ProbabilityMetrics.LogLoss([0], [(double)1.0f], ProbabilityMetrics.Float32Epsilon), 1e-12);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.5)]
    [InlineData(double.NaN)]
    public void LogLoss_EpsilonNotAMachineEpsilon_Throws(double epsilon)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ProbabilityMetrics.LogLoss([1], [0.5], epsilon));
    }

    [Fact]
    public void LogLoss_CertainAndRight_CostsOnlyTheClip()
    {
        // p = 1 is clipped to 1 - eps: -ln(1 - 2^-52) ~ 2.2e-16, not exactly 0.
        var loss = ProbabilityMetrics.LogLoss([1, 0], [1.0, 0.0], ProbabilityMetrics.Float64Epsilon);
        Assert.True(loss > 0 && loss < 1e-15, $"loss was {loss}");
    }

    [Fact]
    public void LogLoss_ProbabilityOutsideUnitInterval_Throws()
    {
        Assert.Throws<ArgumentException>(() => ProbabilityMetrics.LogLoss([1], [1.5], ProbabilityMetrics.Float64Epsilon));
        Assert.Throws<ArgumentException>(() => ProbabilityMetrics.BrierScore([1], [double.NaN]));
    }

    [Fact]
    public void BrierScore_SklearnDocExample_Is00375()
    {
        // scikit-learn brier_score_loss docs: y [0,1,1,0], p [.1,.9,.8,.3] -> 0.037...
        // (.01 + .01 + .04 + .09) / 4 = 0.0375.
        Assert.Equal(0.0375, ProbabilityMetrics.BrierScore([0, 1, 1, 0], [0.1, 0.9, 0.8, 0.3]), 1e-15);
    }

    [Fact]
    public void BrierScore_HardPredictions_IsErrorRate()
    {
        // scikit-learn docs: brier_score_loss(y_true, y_prob > 0.5) == 0.0 for the example above.
        Assert.Equal(0.0, ProbabilityMetrics.BrierScore([0, 1, 1, 0], [0, 1, 1, 0]));
        Assert.Equal(0.25, ProbabilityMetrics.BrierScore([0, 1, 1, 0], [1, 1, 1, 0]));
    }
}
