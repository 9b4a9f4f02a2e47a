namespace ModelGate.Gateway;

/// <summary>
/// A version's endpoints: the primary ones share its load by weight, in a smooth weighted rotation (the counts of any run of
/// requests stay within one or two of the weights' shares), skipping those whose circuit is open; the fallbacks are tried in
/// order when no primary endpoint answered.
/// </summary>
public sealed class UpstreamPool
{
    /// <summary>The length of the rotation when the weights are not small whole numbers.</summary>
    private const int MaxCycle = 1000;

    private readonly double[] _weights;
    private readonly byte[] _rotation;
    private int _next = -1;

    public UpstreamPool(IReadOnlyList<(UpstreamRoute Endpoint, double Weight)> primaries, IReadOnlyList<UpstreamRoute> fallbacks)
    {
        Primaries = [.. primaries.Select(p => p.Endpoint)];
        Fallbacks = [.. fallbacks];
        _weights = [.. primaries.Select(p => p.Weight)];
        _rotation = Rotation(_weights);
    }

    public UpstreamRoute[] Primaries { get; }

    public UpstreamRoute[] Fallbacks { get; }

    /// <summary>
    /// The primary endpoint of the next attempt: the rotation's next one, unless <paramref name="tried"/> (a bit per endpoint)
    /// already has it or its circuit is open; then another endpoint not tried yet whose circuit is closed, by weight; when
    /// every such endpoint was tried, any whose circuit is closed; null when all circuits are open.
    /// </summary>
    public UpstreamRoute? Choose(ref int tried, CircuitBreakers breakers)
    {
        int index = _rotation[(uint)Interlocked.Increment(ref _next) % (uint)_rotation.Length];
        if ((tried & (1 << index)) != 0 || breakers.IsOpen(breakers.For(Primaries[index])))
        {
            index = ByWeight(tried, breakers);
            if (index < 0)
            {
                index = ByWeight(0, breakers);
            }
            if (index < 0)
            {
                return null;
            }
        }
        tried |= 1 << index;
        return Primaries[index];
    }

    private int ByWeight(int excluded, CircuitBreakers breakers)
    {
        var total = 0.0;
        Span<bool> open = stackalloc bool[Primaries.Length];
        for (var i = 0; i < Primaries.Length; i++)
        {
            open[i] = (excluded & (1 << i)) != 0 || breakers.IsOpen(breakers.For(Primaries[i]));
            total += open[i] ? 0 : _weights[i];
        }
        if (total <= 0)
        {
            return -1;
        }
        var point = Random.Shared.NextDouble() * total;
        var last = -1;
        for (var i = 0; i < Primaries.Length; i++)
        {
            if (open[i])
            {
                continue;
            }
            last = i;
            point -= _weights[i];
            if (point < 0)
            {
                return i;
            }
        }
        return last;
    }

    /// <summary>
    /// Smooth weighted round-robin (as nginx balances upstreams) over one cycle: whole-number weights give a cycle of their
    /// sum (reduced by their common divisor) with exact shares, other weights a cycle of <see cref="MaxCycle"/> within one of them.
    /// </summary>
    internal static byte[] Rotation(IReadOnlyList<double> weights)
    {
        var whole = weights.All(w => w == Math.Floor(w));
        var length = MaxCycle;
        if (whole)
        {
            var divisor = weights.Select(w => (long)w).Aggregate(0L, Gcd);
            var sum = weights.Sum(w => (long)w / divisor);
            length = (int)Math.Min(sum, MaxCycle);
        }
        var total = weights.Sum();
        var current = new double[weights.Count];
        var rotation = new byte[length];
        for (var step = 0; step < length; step++)
        {
            var best = 0;
            for (var i = 0; i < weights.Count; i++)
            {
                current[i] += weights[i];
                if (current[i] > current[best])
                {
                    best = i;
                }
            }
            current[best] -= total;
            rotation[step] = (byte)best;
        }
        return rotation;
    }

    private static long Gcd(long a, long b) => b == 0 ? a : Gcd(b, a % b);
}
