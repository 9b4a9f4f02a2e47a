namespace ModelGate.Monitoring.Statistics;

/// <summary>
/// Brent's root finder (R. P. Brent, "Algorithms for Minimization without Derivatives", 1973, ch. 4: the
/// <c>zeroin</c> procedure) — the algorithm behind R's <c>uniroot</c> and Kayenta's <c>BrentSolver</c>. The
/// Mann-Whitney interval is the root of a step function, where different root finders stop at different points
/// of the step; using the same algorithm with the same tolerance is what makes the results agree with R's
/// to far better than the tolerance.
/// </summary>
public static class BrentZeroin
{
    /// <summary>DBL_EPSILON, the spacing of doubles at 1 (not <see cref="double.Epsilon"/>, the smallest subnormal).</summary>
    public const double MachineEpsilon = 2.220446049250313e-16;

    /// <summary>
    /// A root of <paramref name="f"/> in [<paramref name="a"/>, <paramref name="b"/>], given f(a) and f(b) of
    /// opposite signs (or one of them zero). Stops when the bracket is narrower than
    /// 4·ε·|b| + <paramref name="tolerance"/>.
    /// </summary>
    public static double Solve<TFunction>(TFunction f, double a, double b, double fa, double fb, double tolerance, int maxIterations = 1000)
        where TFunction : IRootFunction
    {
        if (fa == 0) return a;
        if (fb == 0) return b;
        var c = a;
        var fc = fa;
        for (var iteration = 0; iteration <= maxIterations; iteration++)
        {
            var previousStep = b - a;
            if (Math.Abs(fc) < Math.Abs(fb))
            {
                // Keep b the best approximation so far.
                a = b; b = c; c = a;
                fa = fb; fb = fc; fc = fa;
            }
            var toleranceNow = 2 * MachineEpsilon * Math.Abs(b) + tolerance / 2;
            var step = (c - b) / 2;
            if (Math.Abs(step) <= toleranceNow || fb == 0) return b;

            if (Math.Abs(previousStep) >= toleranceNow && Math.Abs(fa) > Math.Abs(fb))
            {
                // Try interpolation: secant with two points, inverse quadratic with three.
                double p, q;
                var cb = c - b;
                if (a == c)
                {
                    var t1 = fb / fa;
                    p = cb * t1;
                    q = 1 - t1;
                }
                else
                {
                    var qa = fa / fc;
                    var t1 = fb / fc;
                    var t2 = fb / fa;
                    p = t2 * (cb * qa * (qa - t1) - (b - a) * (t1 - 1));
                    q = (qa - 1) * (t1 - 1) * (t2 - 1);
                }
                if (p > 0) q = -q;
                else p = -p;
                // Accept the interpolation only if it stays well inside the bracket and shrinks fast enough.
                if (p < 0.75 * cb * q - Math.Abs(toleranceNow * q) / 2 && p < Math.Abs(previousStep * q / 2))
                {
                    step = p / q;
                }
            }
            if (Math.Abs(step) < toleranceNow)
            {
                step = step > 0 ? toleranceNow : -toleranceNow;
            }
            a = b;
            fa = fb;
            b += step;
            fb = f.Evaluate(b);
            if ((fb > 0 && fc > 0) || (fb < 0 && fc < 0))
            {
                c = a;
                fc = fa;
            }
        }
        return b;
    }
}

/// <summary>A function whose root <see cref="BrentZeroin"/> looks for (a struct avoids a delegate per call).</summary>
public interface IRootFunction
{
    double Evaluate(double x);
}
