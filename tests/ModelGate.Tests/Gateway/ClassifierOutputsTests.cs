using ModelGate.Gateway.Onnx;
using ModelGate.Gateway.Telemetry;

namespace ModelGate.Tests.Gateway;

/// <summary>How a classifier's outputs are read row by row into the prediction evidence (the rule of <see cref="ClassifierOutputs"/>).</summary>
public sealed class ClassifierOutputsTests
{
    private static Dictionary<string, OnnxOutput> Outputs(Array labels, float[]? probabilities = null, int classes = 2)
    {
        var outputs = new Dictionary<string, OnnxOutput> { ["label"] = new(labels is long[] ? "INT64" : "BYTES", [labels.Length], labels) };
        if (probabilities is not null)
        {
            outputs["probabilities"] = new("FP32", [probabilities.Length / classes, classes], probabilities);
        }
        return outputs;
    }

    private static PredictionTally Tally(Dictionary<string, OnnxOutput> outputs, int rows)
    {
        Assert.True(ClassifierOutputs.TryRead(outputs, rows, out var read));
        var tally = default(PredictionTally);
        tally.Add(read);
        return tally;
    }

    [Fact]
    public void Binary_CountsPositiveLabelsAndTheSecondColumnAsTheScore()
    {
        var tally = Tally(Outputs(new long[] { 0, 1, 1 }, [0.9f, 0.1f, 0.28f, 0.72f, 0f, 1f]), 3);
        Assert.Equal(3, tally.Predictions);
        Assert.Equal(2, tally.PositivePredictions);
        Assert.Equal(0, tally.InvalidOutputs);
        Assert.Equal(1.82, tally.ScoreSum, 6);
        Assert.Equal(1, tally.Scores[2]);   // 0.1
        Assert.Equal(1, tally.Scores[14]);  // 0.72
        Assert.Equal(1, tally.Scores[19]);  // 1 falls in the last bin
    }

    [Fact]
    public void Binary_NaNInfiniteOrOutOfRangeProbability_IsAnInvalidOutputNotAPrediction()
    {
        var tally = Tally(Outputs(new long[] { 1, 1, 0, 1 }, [float.NaN, float.NaN, 0f, float.PositiveInfinity, 1.5f, -0.5f, 0.2f, 0.8f]), 4);
        Assert.Equal(3, tally.InvalidOutputs);
        Assert.Equal(1, tally.Predictions);
        Assert.Equal(1, tally.PositivePredictions);
        Assert.Equal(0.8, tally.ScoreSum, 6);
    }

    [Fact]
    public void StringLabels_TrueAndOneArePositive_AMissingLabelIsInvalid()
    {
        var tally = Tally(Outputs(new[] { "True", "1", "0", "false", null! }, [0.2f, 0.8f, 0.1f, 0.9f, 0.6f, 0.4f, 0.7f, 0.3f, 0.5f, 0.5f]), 5);
        Assert.Equal(4, tally.Predictions);
        Assert.Equal(2, tally.PositivePredictions);
        Assert.Equal(1, tally.InvalidOutputs);
    }

    [Fact]
    public void MultiClassOrLabelOnly_CountsPredictionsButNoPositivesOrScores()
    {
        var multi = Tally(Outputs(new long[] { 1, 2 }, [0.2f, 0.5f, 0.3f, 0.1f, 0.1f, 0.8f], classes: 3), 2);
        Assert.Equal(2, multi.Predictions);
        Assert.Equal(0, multi.PositivePredictions);
        Assert.Equal(0, multi.ScoreSum);
        var labelOnly = Tally(Outputs(new long[] { 1, 0, 1 }), 3);
        Assert.Equal(3, labelOnly.Predictions);
        Assert.Equal(0, labelOnly.PositivePredictions);
    }

    [Fact]
    public void OutputsThatDoNotHaveOneEntryPerRow_MakeEveryRowInvalid()
    {
        var tally = Tally(Outputs(new long[] { 1, 0 }, [0.2f, 0.8f, 0.1f, 0.9f]), 3);
        Assert.Equal(3, tally.InvalidOutputs);
        Assert.Equal(0, tally.Predictions);
    }

    [Fact]
    public void NoLabelOutput_IsNotAClassifier()
    {
        var outputs = new Dictionary<string, OnnxOutput> { ["variable"] = new("FP32", [2, 1], new[] { 1.5f, 2.5f }) };
        Assert.False(ClassifierOutputs.TryRead(outputs, 2, out _));
    }

    [Fact]
    public void Compare_CountsRowsValidInBoth_SameLabels_AndAbsoluteProbabilityDifferences()
    {
        Assert.True(ClassifierOutputs.TryRead(Outputs(new long[] { 1, 0, 1 }, [0.4f, 0.6f, 0.9f, 0.1f, float.NaN, float.NaN]), 3, out var shadow));
        Assert.True(ClassifierOutputs.TryRead(Outputs(new long[] { 0, 0, 1 }, [0.7f, 0.3f, 0.8f, 0.2f, 0.1f, 0.9f]), 3, out var stable));
        var tally = default(PredictionTally);
        tally.Compare(shadow, stable);
        Assert.Equal(2, tally.Compared);
        Assert.Equal(1, tally.Agreed);
        Assert.Equal(0.3 + 0.1, tally.AbsDeltaPSum, 6);
    }
}
