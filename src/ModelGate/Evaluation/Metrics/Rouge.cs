using System.Buffers;

namespace ModelGate.Evaluation.Metrics;

/// <summary>
/// ROUGE as Google's rouge-score package (<c>rouge_scorer.RougeScorer</c>) computes it. Arguments come in
/// rouge-score's order, target (the reference) first, and precision is measured against the prediction, recall
/// against the target. Text overloads tokenize with <see cref="RougeTokenizer"/>; token overloads take tokens as is.
/// </summary>
public static class Rouge
{
    /// <summary>ROUGE-N: overlap of n-gram multisets, each n-gram counted at most as often as it occurs in both.</summary>
    public static RougeScore RougeN(string target, string prediction, int n, bool useStemmer = false)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(prediction);
        return RougeN(RougeTokenizer.Tokenize(target, useStemmer), RougeTokenizer.Tokenize(prediction, useStemmer), n);
    }

    public static RougeScore RougeN(IReadOnlyList<string> targetTokens, IReadOnlyList<string> predictionTokens, int n)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        var vocabulary = new Vocabulary();
        var target = vocabulary.Encode(targetTokens);
        var prediction = vocabulary.Encode(predictionTokens);
        var targetCounts = NGram.Count(target, n);
        var predictionCounts = NGram.Count(prediction, n);
        var overlap = 0;
        foreach (var (gram, count) in targetCounts)
            if (predictionCounts.TryGetValue(gram, out var predicted)) overlap += Math.Min(count, predicted);
        // rouge-score divides by max(count, 1), so a side with no n-grams gives 0 rather than NaN.
        var targetTotal = Math.Max(target.Length - n + 1, 1);
        var predictionTotal = Math.Max(prediction.Length - n + 1, 1);
        return RougeScore.FromPrecisionRecall((double)overlap / predictionTotal, (double)overlap / targetTotal);
    }

    /// <summary>ROUGE-L: longest common subsequence of the two token sequences.</summary>
    public static RougeScore RougeL(string target, string prediction, bool useStemmer = false)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(prediction);
        return RougeL(RougeTokenizer.Tokenize(target, useStemmer), RougeTokenizer.Tokenize(prediction, useStemmer));
    }

    public static RougeScore RougeL(IReadOnlyList<string> targetTokens, IReadOnlyList<string> predictionTokens)
    {
        if (targetTokens.Count == 0 || predictionTokens.Count == 0) return RougeScore.Zero;
        var vocabulary = new Vocabulary();
        var target = vocabulary.Encode(targetTokens);
        var prediction = vocabulary.Encode(predictionTokens);
        var lcs = Lcs.Length(target, prediction);
        return RougeScore.FromPrecisionRecall((double)lcs / prediction.Length, (double)lcs / target.Length);
    }

    /// <summary>
    /// ROUGE-Lsum, summary-level LCS (section 3.2 of Lin 2004): texts are split into sentences on "\n" (empty lines
    /// dropped; rouge-score's default, no sentence tokenizer), each target sentence takes the union of its LCS with
    /// every predicted sentence, and a token scores a hit only while unused copies of it remain on both sides, as
    /// ROUGE-1.5.5 and rouge-score count.
    /// </summary>
    public static RougeScore RougeLsum(string target, string prediction, bool useStemmer = false)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(prediction);
        return RougeLsum(Sentences(target, useStemmer), Sentences(prediction, useStemmer));
    }

    public static RougeScore RougeLsum(IReadOnlyList<IReadOnlyList<string>> targetSentences, IReadOnlyList<IReadOnlyList<string>> predictionSentences)
    {
        if (targetSentences.Count == 0 || predictionSentences.Count == 0) return RougeScore.Zero;
        var vocabulary = new Vocabulary();
        var targets = targetSentences.Select(vocabulary.Encode).ToArray();
        var predictions = predictionSentences.Select(vocabulary.Encode).ToArray();
        var targetLength = targets.Sum(s => s.Length);
        var predictionLength = predictions.Sum(s => s.Length);
        if (targetLength == 0 || predictionLength == 0) return RougeScore.Zero;

        var targetUnused = new int[vocabulary.Count];
        var predictionUnused = new int[vocabulary.Count];
        foreach (var sentence in targets) foreach (var token in sentence) targetUnused[token]++;
        foreach (var sentence in predictions) foreach (var token in sentence) predictionUnused[token]++;

        var hits = 0;
        var inUnion = new bool[targets.Max(s => s.Length)];
        foreach (var reference in targets)
        {
            Array.Clear(inUnion, 0, reference.Length);
            foreach (var candidate in predictions) Lcs.MarkReferenceIndices(reference, candidate, inUnion);
            for (var i = 0; i < reference.Length; i++)
            {
                var token = reference[i];
                if (!inUnion[i] || targetUnused[token] == 0 || predictionUnused[token] == 0) continue;
                hits++;
                targetUnused[token]--;
                predictionUnused[token]--;
            }
        }
        return RougeScore.FromPrecisionRecall((double)hits / predictionLength, (double)hits / targetLength);
    }

    private static List<IReadOnlyList<string>> Sentences(string text, bool useStemmer)
    {
        var sentences = new List<IReadOnlyList<string>>();
        var span = text.AsSpan();
        foreach (var range in span.Split('\n'))
        {
            var line = span[range];
            if (!line.IsEmpty) sentences.Add(RougeTokenizer.Tokenize(line, useStemmer));
        }
        return sentences;
    }

    /// <summary>Interns tokens as small integers so LCS and n-gram comparisons are integer compares.</summary>
    private sealed class Vocabulary
    {
        private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);

        public int Count => _ids.Count;

        public int[] Encode(IReadOnlyList<string> tokens)
        {
            var ids = new int[tokens.Count];
            for (var i = 0; i < ids.Length; i++)
            {
                if (!_ids.TryGetValue(tokens[i], out var id)) _ids.Add(tokens[i], id = _ids.Count);
                ids[i] = id;
            }
            return ids;
        }
    }

    private readonly struct NGram : IEquatable<NGram>
    {
        private readonly int[] _ids;
        private readonly int _start;
        private readonly int _length;

        private NGram(int[] ids, int start, int length)
        {
            _ids = ids;
            _start = start;
            _length = length;
        }

        public static Dictionary<NGram, int> Count(int[] tokens, int n)
        {
            var counts = new Dictionary<NGram, int>();
            for (var i = 0; i + n <= tokens.Length; i++)
            {
                var gram = new NGram(tokens, i, n);
                counts[gram] = counts.GetValueOrDefault(gram) + 1;
            }
            return counts;
        }

        private ReadOnlySpan<int> Ids => _ids.AsSpan(_start, _length);

        public bool Equals(NGram other) => Ids.SequenceEqual(other.Ids);

        public override bool Equals(object? obj) => obj is NGram other && Equals(other);

        public override int GetHashCode()
        {
            var hash = new HashCode();
            foreach (var id in Ids) hash.Add(id);
            return hash.ToHashCode();
        }
    }

    private static class Lcs
    {
        public static int Length(ReadOnlySpan<int> a, ReadOnlySpan<int> b)
        {
            var rows = ArrayPool<int>.Shared.Rent(2 * (b.Length + 1));
            try
            {
                var previous = rows.AsSpan(0, b.Length + 1);
                var current = rows.AsSpan(b.Length + 1, b.Length + 1);
                previous.Clear();
                current[0] = 0;
                for (var i = 1; i <= a.Length; i++)
                {
                    for (var j = 1; j <= b.Length; j++)
                        current[j] = a[i - 1] == b[j - 1] ? previous[j - 1] + 1 : Math.Max(previous[j], current[j - 1]);
                    var swap = previous;
                    previous = current;
                    current = swap;
                }
                return previous[b.Length];
            }
            finally
            {
                ArrayPool<int>.Shared.Return(rows);
            }
        }

        /// <summary>
        /// Marks the reference indices of one longest common subsequence, chosen by rouge-score's backtrack
        /// (<c>_backtrack_norec</c>): on a mismatch it moves left only when that keeps a strictly longer LCS, else up.
        /// Which LCS is chosen changes the union, so the tie-break has to match.
        /// </summary>
        public static void MarkReferenceIndices(ReadOnlySpan<int> reference, ReadOnlySpan<int> candidate, Span<bool> marks)
        {
            var width = candidate.Length + 1;
            var buffer = ArrayPool<int>.Shared.Rent((reference.Length + 1) * width);
            try
            {
                var table = buffer.AsSpan(0, (reference.Length + 1) * width);
                table[..width].Clear();
                for (var i = 1; i <= reference.Length; i++)
                {
                    table[i * width] = 0;
                    for (var j = 1; j <= candidate.Length; j++)
                        table[i * width + j] = reference[i - 1] == candidate[j - 1]
                            ? table[(i - 1) * width + j - 1] + 1
                            : Math.Max(table[(i - 1) * width + j], table[i * width + j - 1]);
                }
                int r = reference.Length, c = candidate.Length;
                while (r > 0 && c > 0)
                {
                    if (reference[r - 1] == candidate[c - 1])
                    {
                        marks[r - 1] = true;
                        r--;
                        c--;
                    }
                    else if (table[r * width + c - 1] > table[(r - 1) * width + c]) c--;
                    else r--;
                }
            }
            finally
            {
                ArrayPool<int>.Shared.Return(buffer);
            }
        }
    }
}
