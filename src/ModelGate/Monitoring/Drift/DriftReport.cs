using System.Text.Json.Serialization;

namespace ModelGate.Monitoring.Drift;

/// <summary>The per-column tests, named as Evidently names them.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<DriftTest>))]
public enum DriftTest
{
    /// <summary>Two-sample Kolmogorov-Smirnov (scipy ks_2samp); drift when p ≤ 0.05.</summary>
    KolmogorovSmirnov,
    /// <summary>Wasserstein-1 distance divided by the reference standard deviation (at least 0.001); drift when ≥ 0.1.</summary>
    Wasserstein,
    /// <summary>Pearson chi-square of the window counts against the reference shares (scipy chisquare); drift when p &lt; 0.05.</summary>
    ChiSquare,
    /// <summary>Two-proportion Z-test for a two-valued column; drift when p &lt; 0.05.</summary>
    ZTest,
    /// <summary>Jensen-Shannon distance (natural log) between the bucket shares; drift when ≥ 0.1.</summary>
    JensenShannon,
    /// <summary>Population stability index over the same buckets, zero shares filled; drift when ≥ 0.1.</summary>
    Psi,
}

/// <summary>How a window is compared with a profile.</summary>
public sealed record DriftOptions
{
    /// <summary>Evidently's choice depends on whether the reference column has at most this many values.</summary>
    public const int SmallReference = 1000;

    /// <summary>One test for every column instead of Evidently's default choice (e.g. <see cref="DriftTest.Psi"/> on request).</summary>
    public DriftTest? Test { get; init; }

    /// <summary>Tests for particular columns; they win over <see cref="Test"/>.</summary>
    public IReadOnlyDictionary<string, DriftTest>? ColumnTests { get; init; }

    /// <summary>Thresholds that replace the tests' defaults, per column.</summary>
    public IReadOnlyDictionary<string, double>? ColumnThresholds { get; init; }

    /// <summary>The dataset drifts when at least this share of the tested columns drift (Evidently's drift_share).</summary>
    public double DatasetDriftShare { get; init; } = 0.5;

    /// <summary>A column is flagged when its missing rate in the window exceeds the reference's by at least this much (absolute).</summary>
    public double MissingRateIncrease { get; init; } = 0.1;

    /// <summary>How many unseen categories a column result lists (the most frequent first); all are counted.</summary>
    public int MaxUnseenCategoriesListed { get; init; } = 20;

    /// <summary>The test's default threshold, as Evidently defines it.</summary>
    public static double DefaultThreshold(DriftTest test) => test switch
    {
        DriftTest.KolmogorovSmirnov or DriftTest.ChiSquare or DriftTest.ZTest => 0.05,
        _ => 0.1,
    };
}

/// <summary>The drift of one window against a profile.</summary>
public sealed record DriftReport
{
    public int ReferenceRows { get; init; }
    public int WindowRows { get; init; }
    public required IReadOnlyList<ColumnDriftResult> Columns { get; init; }

    /// <summary>Columns compared with a distribution test (present in both, with values on both sides).</summary>
    public int TestedColumns { get; init; }

    public int DriftedColumns { get; init; }

    /// <summary>Drifted columns / tested columns.</summary>
    public double DriftShare { get; init; }

    public double DatasetDriftShare { get; init; }

    /// <summary>True when <see cref="DriftShare"/> ≥ <see cref="DatasetDriftShare"/>.</summary>
    public bool DatasetDrift { get; init; }

    /// <summary>Columns that drifted or carry a missing-rate or unseen-category flag.</summary>
    public required IReadOnlyList<string> FlaggedColumns { get; init; }

    /// <summary>Profile columns the window does not have.</summary>
    public required IReadOnlyList<string> MissingColumns { get; init; }
}

/// <summary>The comparison of one column.</summary>
public sealed record ColumnDriftResult
{
    public required string Column { get; init; }
    public ColumnKind Kind { get; init; }

    /// <summary>The test run; null when the column could not be tested (no values on one side).</summary>
    public DriftTest? Test { get; init; }

    /// <summary>
    /// KS: D; Wasserstein: the normalized distance; chi-square: χ² (infinite when the window holds a value the
    /// reference never had); Z-test: z; Jensen-Shannon: the distance; PSI: the index.
    /// </summary>
    [JsonNumberHandling(JsonNumberHandling.AllowNamedFloatingPointLiterals)]
    public double? Statistic { get; init; }

    /// <summary>The p-value of KS, chi-square and Z-tests; null for the distances.</summary>
    public double? PValue { get; init; }

    /// <summary>Drift when the p-value is at or below (KS) or below (chi-square, Z) this, or the distance at or above it.</summary>
    public double? Threshold { get; init; }

    public bool Drifted { get; init; }

    /// <summary>Values in the distribution, reference and window (missing and invalid values left out).</summary>
    public long ReferenceCount { get; init; }
    public long WindowCount { get; init; }

    public double ReferenceMissingRate { get; init; }
    public double WindowMissingRate { get; init; }

    /// <summary>The window's missing rate exceeds the reference's by at least <see cref="DriftOptions.MissingRateIncrease"/>.</summary>
    public bool MissingRateJump { get; init; }

    /// <summary>Window values of a numeric column that are not numbers.</summary>
    public int WindowInvalidCount { get; init; }

    /// <summary>Rows whose category the reference never had.</summary>
    public long UnseenCount { get; init; }

    /// <summary>The most frequent unseen categories with their window counts.</summary>
    public required IReadOnlyList<CategoryCount> UnseenCategories { get; init; }

    /// <summary>Drifted, or flagged for its missing rate or unseen categories.</summary>
    public bool Flagged => Drifted || MissingRateJump || UnseenCount > 0;

    /// <summary>Why the column was not tested, or what limits the result.</summary>
    public string? Note { get; init; }
}
