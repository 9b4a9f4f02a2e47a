namespace ModelGate.Gateway.Onnx;

/// <summary>
/// A classifier's answer read row by row, for the prediction evidence the canary judge compares (the rule in one place):
/// <list type="bullet">
/// <item>A model is a classifier when it outputs <c>label</c>, INT64 or BYTES, one value per row (what scikit-learn models
/// converted with skl2onnx and <c>zipmap=False</c>, such as the Adult models, give). Other models record no predictions.</item>
/// <item>Its <c>probabilities</c> output, FP32 shaped <c>[rows, classes]</c>, is optional. With two classes the model is
/// binary and the positive class is the second column — skl2onnx orders classes as scikit-learn sorts them, so class 1 of
/// 0/1 labels, the column evaluation scores too; that column is the positive-class probability.</item>
/// <item>A row of a binary classifier is predicted positive when its label is 1 (INT64) or <c>"1"</c>/<c>"true"</c> (BYTES,
/// any case). A multi-class or label-only model counts its rows as predictions but none as positive and records no
/// score: a positive rate means nothing there.</item>
/// <item>A row is invalid (not a prediction) when one of its probabilities is NaN, infinite or outside [0, 1], or its label
/// is missing; every row is invalid when an output does not have one entry (or one row of probabilities) per row.</item>
/// </list>
/// Reads the output arrays in place: nothing is copied or allocated.
/// </summary>
public readonly struct ClassifierOutputs
{
    private readonly long[]? _labels;
    private readonly string?[]? _names;
    private readonly float[]? _probabilities;
    private readonly bool _readable;

    private ClassifierOutputs(long[]? labels, string?[]? names, float[]? probabilities, int rows, int classes, bool readable)
    {
        _labels = labels;
        _names = names;
        _probabilities = probabilities;
        Rows = rows;
        Classes = classes;
        _readable = readable;
    }

    public int Rows { get; }

    /// <summary>Columns of the probability output; 0 without one.</summary>
    public int Classes { get; }

    public bool IsBinary => Classes == 2;

    /// <summary>False when the model has no <c>label</c> output of a class type: it is not read as a classifier.</summary>
    public static bool TryRead(IReadOnlyDictionary<string, OnnxOutput> outputs, int rows, out ClassifierOutputs read)
    {
        read = default;
        if (!outputs.TryGetValue("label", out var label) || label.Data is not (long[] or string[]))
        {
            return false;
        }
        var readable = label.Data.Length == rows;
        float[]? probabilities = null;
        var classes = 0;
        if (outputs.TryGetValue("probabilities", out var p) && p.Data is float[] values)
        {
            probabilities = values;
            classes = p.Shape is [_, var k] ? k : 0;
            readable &= classes > 0 && p.Shape[0] == rows && values.Length == rows * classes;
        }
        read = new ClassifierOutputs(label.Data as long[], label.Data as string[], probabilities, rows, classes, readable);
        return true;
    }

    /// <summary>Whether the row holds a prediction (see the rules above).</summary>
    public bool IsValid(int row)
    {
        if (!_readable || _names is not null && _names[row] is null)
        {
            return false;
        }
        for (var i = row * Classes; i < (row + 1) * Classes; i++)
        {
            if (!(_probabilities![i] is >= 0 and <= 1))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Binary classifiers: whether the row's label is the positive class. Call for valid rows only.</summary>
    public bool IsPositive(int row) => IsBinary && (_labels is not null
        ? _labels[row] == 1
        : _names![row] is "1" || string.Equals(_names[row], "true", StringComparison.OrdinalIgnoreCase));

    /// <summary>Binary classifiers: the row's positive-class probability. Call for valid rows only.</summary>
    public double PositiveProbability(int row) => _probabilities![row * 2 + 1];

    /// <summary>Whether the row's label equals the same row's label of <paramref name="other"/> (both valid).</summary>
    public bool SameLabel(int row, in ClassifierOutputs other) =>
        _labels is not null && other._labels is not null ? _labels[row] == other._labels[row]
        : _names is not null && other._names is not null && string.Equals(_names[row], other._names[row], StringComparison.Ordinal);
}
