using System.Runtime.CompilerServices;
using ModelGate.Gateway.Onnx;

namespace ModelGate.Gateway.Telemetry;

/// <summary>
/// What one request's classifier outputs add to a series (<see cref="SlotAggregate"/>'s prediction and comparison fields),
/// counted on the stack before the series' lock is taken once.
/// </summary>
internal struct PredictionTally
{
    public long Predictions;
    public long PositivePredictions;
    public long InvalidOutputs;
    public double ScoreSum;
    public ScoreBins Scores;
    public long Compared;
    public long Agreed;
    public double AbsDeltaPSum;

    /// <summary>Counts each row of <paramref name="outputs"/> (<see cref="ClassifierOutputs"/> says how a row is read).</summary>
    public void Add(in ClassifierOutputs outputs)
    {
        for (var row = 0; row < outputs.Rows; row++)
        {
            if (!outputs.IsValid(row))
            {
                InvalidOutputs++;
                continue;
            }
            Predictions++;
            if (!outputs.IsBinary)
            {
                continue;
            }
            if (outputs.IsPositive(row))
            {
                PositivePredictions++;
            }
            var p = outputs.PositiveProbability(row);
            Scores[BinOf(p)]++;
            ScoreSum += p;
        }
    }

    /// <summary>
    /// Compares a shadow's answer with the stable version's on the same rows: rows valid in both are compared, those with the
    /// same label agree, and |Δp| of the positive-class probability is summed where both are binary.
    /// </summary>
    public void Compare(in ClassifierOutputs shadow, in ClassifierOutputs stable)
    {
        if (shadow.Rows != stable.Rows)
        {
            return;
        }
        var binary = shadow.IsBinary && stable.IsBinary;
        for (var row = 0; row < shadow.Rows; row++)
        {
            if (!shadow.IsValid(row) || !stable.IsValid(row))
            {
                continue;
            }
            Compared++;
            if (shadow.SameLabel(row, stable))
            {
                Agreed++;
            }
            if (binary)
            {
                AbsDeltaPSum += Math.Abs(shadow.PositiveProbability(row) - stable.PositiveProbability(row));
            }
        }
    }

    /// <summary>The bin of a probability in [0, 1]: equal bins, 1 in the last.</summary>
    public static int BinOf(double p) => Math.Min((int)(p * SlotAggregate.ScoreBins), SlotAggregate.ScoreBins - 1);

    internal readonly void AddTo(SlotAggregate aggregate)
    {
        aggregate.Predictions += Predictions;
        aggregate.PositivePredictions += PositivePredictions;
        aggregate.InvalidOutputs += InvalidOutputs;
        aggregate.ScoreSum += ScoreSum;
        for (var i = 0; i < SlotAggregate.ScoreBins; i++)
        {
            aggregate.Scores[i] += Scores[i];
        }
        aggregate.Compared += Compared;
        aggregate.Agreed += Agreed;
        aggregate.AbsDeltaPSum += AbsDeltaPSum;
    }
}

/// <summary><see cref="SlotAggregate.ScoreBins"/> counts held inline (no array to allocate per request).</summary>
[InlineArray(SlotAggregate.ScoreBins)]
internal struct ScoreBins
{
    private long _first;
}
