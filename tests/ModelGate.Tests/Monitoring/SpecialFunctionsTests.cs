using ModelGate.Monitoring.Statistics;

namespace ModelGate.Tests.Monitoring;

/// <summary>
/// The special functions against tabulated values (Abramowitz and Stegun; the standard normal quantiles quoted to 16
/// digits in every table of critical values) and against closed forms that hold for particular arguments.
/// </summary>
public sealed class SpecialFunctionsTests
{
    [Theory]
    [InlineData(0.5, 0.57236494292470008707)]   // ln √π
    [InlineData(1.0, 0.0)]
    [InlineData(3.5, 1.2009736023470742248)]    // ln(15√π / 8)
    [InlineData(10.0, 12.801827480081469611)]   // ln 9!
    [InlineData(100.0, 359.13420536957539878)]  // ln 99!
    [InlineData(0.1, 2.2527126517342059599)]    // ln Γ(0.1) = ln 9.5135076986687318
    public void LogGamma_MatchesTabulatedValues(double x, double expected)
    {
        Assert.Equal(expected, SpecialFunctions.LogGamma(x), Math.Max(1e-14, Math.Abs(expected) * 2e-15));
    }

    [Theory]
    [InlineData(0.0, 0.5)]
    [InlineData(1.0, 0.84134474606854294859)]
    [InlineData(-1.0, 0.15865525393145705141)]
    [InlineData(-3.0, 0.0013498980316300945267)]
    [InlineData(-5.0, 2.8665157187919391167e-7)]
    [InlineData(-10.0, 7.6198530241605260659e-24)]
    public void NormalCdf_MatchesTabulatedValues(double z, double expected)
    {
        Assert.Equal(expected, SpecialFunctions.NormalCdf(z), expected * 5e-15);
    }

    [Theory]
    [InlineData(0.975, 1.9599639845400542355)]
    [InlineData(0.99, 2.3263478740408411009)]
    [InlineData(0.995, 2.5758293035489007660)]
    [InlineData(0.025, -1.9599639845400542355)]
    [InlineData(0.5, 0.0)]
    public void NormalQuantile_MatchesTabulatedValues(double p, double expected)
    {
        Assert.Equal(expected, SpecialFunctions.NormalQuantile(p), 4e-15);
    }

    [Fact]
    public void NormalQuantile_InvertsNormalCdfInTheTails()
    {
        foreach (var p in new[] { 1e-300, 1e-100, 1e-20, 1e-10, 1e-5, 0.01, 0.2 })
        {
            var z = SpecialFunctions.NormalQuantile(p);
            Assert.Equal(p, SpecialFunctions.NormalCdf(z), p * 1e-12);
        }
    }

    [Theory]
    [InlineData(3.8414588206941236, 1, 0.05)]   // published chi-square critical values
    [InlineData(6.6348966010212145, 1, 0.01)]
    [InlineData(18.307038053275146, 10, 0.05)]
    [InlineData(43.772971825742182, 30, 0.05)]
    public void ChiSquareSurvival_AtTabulatedCriticalValues(double x, double df, double expected)
    {
        Assert.Equal(expected, SpecialFunctions.ChiSquareSurvival(x, df), 1e-12);
    }

    [Fact]
    public void ChiSquareSurvival_EvenDegrees_MatchesPoissonSum()
    {
        // For even k, P(χ²_k ≥ x) = e^(−x/2) Σ_{i<k/2} (x/2)^i / i!.
        foreach (var k in new[] { 2, 4, 6, 12, 40 })
        {
            foreach (var x in new[] { 0.3, 1.0, 5.5, 17.0, 60.0 })
            {
                double term = 1, sum = 0;
                for (var i = 0; i < k / 2; i++)
                {
                    sum += term;
                    term *= x / 2 / (i + 1);
                }
                var expected = Math.Exp(-x / 2) * sum;
                Assert.Equal(expected, SpecialFunctions.ChiSquareSurvival(x, k), Math.Max(expected * 1e-13, 1e-300));
            }
        }
    }

    [Fact]
    public void RegularizedGamma_OneIsExponential()
    {
        foreach (var x in new[] { 0.01, 0.5, 2.0, 30.0 })
        {
            Assert.Equal(1 - Math.Exp(-x), SpecialFunctions.RegularizedGammaP(1, x), 1e-15);
            Assert.Equal(Math.Exp(-x), SpecialFunctions.RegularizedGammaQ(1, x), Math.Exp(-x) * 1e-14);
        }
    }
}
