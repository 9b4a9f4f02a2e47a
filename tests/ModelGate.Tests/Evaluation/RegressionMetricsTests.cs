using ModelGate.Evaluation.Metrics;

namespace ModelGate.Tests.Evaluation;

public sealed class RegressionMetricsTests
{
    // The scikit-learn docs' running example for mean_absolute_error, root_mean_squared_error and r2_score.
    private static readonly double[] Truth = [3, -0.5, 2, 7];
    private static readonly double[] Predicted = [2.5, 0.0, 2, 8];

    [Fact]
    public void MeanAbsoluteError_SklearnDocExample_Is05()
    {
        // (0.5 + 0.5 + 0 + 1) / 4
        Assert.Equal(0.5, RegressionMetrics.MeanAbsoluteError(Truth, Predicted));
    }

    [Fact]
    public void RootMeanSquaredError_SklearnDocExample_IsRootOf0375()
    {
        // docs: 0.612...; (0.25 + 0.25 + 0 + 1) / 4 = 0.375.
        var rmse = RegressionMetrics.RootMeanSquaredError(Truth, Predicted);
        Assert.Equal(Math.Sqrt(0.375), rmse, 1e-15);
        Assert.InRange(rmse, 0.612, 0.613);
    }

    [Fact]
    public void R2_SklearnDocExample_Is0948()
    {
        // docs: 0.948...; mean 2.875, SS_tot = .125² + 3.375² + .875² + 4.125² = 29.1875, SS_res = 1.5.
        var r2 = RegressionMetrics.R2(Truth, Predicted);
        Assert.Equal(1 - 1.5 / 29.1875, r2, 1e-15);
        Assert.InRange(r2, 0.948, 0.949);
    }

    [Theory]
    // scikit-learn r2_score docstring examples.
    [InlineData(new double[] { 1, 2, 3 }, new double[] { 1, 2, 3 }, 1.0)]
    [InlineData(new double[] { 1, 2, 3 }, new double[] { 2, 2, 2 }, 0.0)]
    [InlineData(new double[] { 1, 2, 3 }, new double[] { 3, 2, 1 }, -3.0)]
    public void R2_SklearnDocstringCases_MatchPublishedValues(double[] truth, double[] predicted, double expected)
    {
        Assert.Equal(expected, RegressionMetrics.R2(truth, predicted), 1e-15);
    }

    [Fact]
    public void R2_ConstantTruth_IsOneWhenPerfectElseZero()
    {
        // r2_score docstring: y_true [-2,-2,-2] -> 1.0 for y_pred [-2,-2,-2], 0.0 for [-2,-2,-2 + 1e-8]
        // (force_finite=True replaces nan and -inf).
        Assert.Equal(1.0, RegressionMetrics.R2([-2, -2, -2], [-2, -2, -2]));
        Assert.Equal(0.0, RegressionMetrics.R2([-2, -2, -2], [-2, -2, -2 + 1e-8]));
    }

    [Fact]
    public void R2_FewerThanTwoRows_IsNaN()
    {
        // scikit-learn warns "R^2 score is not well-defined with less than two samples" and returns nan.
        Assert.True(double.IsNaN(RegressionMetrics.R2([1.0], [1.0])));
    }

    [Fact]
    public void MeanAbsoluteError_NoRows_IsNaN()
    {
        Assert.True(double.IsNaN(RegressionMetrics.MeanAbsoluteError([], [])));
    }
}
