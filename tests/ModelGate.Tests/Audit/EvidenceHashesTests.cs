using System.Reflection;
using ModelGate.Audit;
using ModelGate.Storage.Evaluation;
using ModelGate.Storage.Lifecycle;

namespace ModelGate.Tests.Audit;

/// <summary>The evidence hash covers every content column of each record kind (a column added later and left out fails here), and only those.</summary>
public sealed class EvidenceHashesTests
{
    private static readonly DateTime Time = new(2026, 11, 1, 12, 0, 0, 123, DateTimeKind.Utc);

    private static EvaluationEntity Evaluation() => new()
    {
        Id = "eval_1", VersionId = 1, Model = "m", Version = "1.0.0", SuiteSha256 = new string('a', 64), BaselineVersion = "0.9.0",
        DatasetSha256 = new string('b', 64), Status = "succeeded", External = false, Evaluator = "prn_1", Trainer = "t", Independent = true,
        RowsTotal = 10, RowsDone = 10, RowsFailed = 0, CreatedAt = Time, StartedAt = Time, FinishedAt = Time, Result = "{\"passed\":false}",
        ResultSha256 = new string('c', 64), Error = "e",
    };

    private static ApprovalEntity Approval() => new()
    {
        Id = "apr_1", VersionId = 1, Decision = "approve", Approver = "prn_2", Role = "ml-lead", Time = Time, Evidence = "[\"eval_1\"]",
        RisksAccepted = "r", MonitoringPlan = "m", RollbackPlan = "b", NextReviewAt = Time, Comment = "c",
    };

    private static StagingVerificationEntity Verification() => new()
    {
        Id = "stg_1", VersionId = 1, Deployment = "d", Passed = false, Checks = "[]", CreatedAt = Time, CreatedBy = "prn_3",
    };

    private static ModelCardEntity Card() => new() { VersionId = 1, Card = "{}", UpdatedAt = Time, UpdatedBy = "prn_4" };

    public static TheoryData<string> Kinds() => new(EvidenceKinds.Evaluation, EvidenceKinds.Approval, EvidenceKinds.StagingVerification, EvidenceKinds.Card);

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Hash_AnyContentColumnChanged_Differs_AndTheEvidenceColumnsAreNotHashed(string kind)
    {
        var (create, hash) = Subject(kind);
        var baseline = hash(create());
        var columns = create().GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite).ToList();
        Assert.NotEmpty(columns);
        foreach (var column in columns)
        {
            var record = create();
            column.SetValue(record, Changed(column.PropertyType, column.GetValue(record)));
            var evidenceColumn = column.Name is "EvidenceSha256" or "EvidenceAuditSequence";
            if (evidenceColumn)
            {
                Assert.Equal(baseline, hash(record));
            }
            else
            {
                Assert.True(baseline != hash(record), $"{kind}: changing {column.Name} does not change the evidence hash");
            }
        }
    }

    [Fact]
    public void Hash_TimesBelowAMicrosecond_AreNotHashed_AsPostgreSqlDoesNotStoreThem()
    {
        var a = Evaluation();
        var b = Evaluation();
        b.CreatedAt = b.CreatedAt.AddTicks(5);
        Assert.Equal(EvidenceHashes.Evaluation(a), EvidenceHashes.Evaluation(b));
        b.CreatedAt = b.CreatedAt.AddTicks(10);
        Assert.NotEqual(EvidenceHashes.Evaluation(a), EvidenceHashes.Evaluation(b));
    }

    private static (Func<object> Create, Func<object, string> Hash) Subject(string kind) => kind switch
    {
        EvidenceKinds.Evaluation => (Evaluation, o => EvidenceHashes.Evaluation((EvaluationEntity)o)),
        EvidenceKinds.Approval => (Approval, o => EvidenceHashes.Approval((ApprovalEntity)o)),
        EvidenceKinds.StagingVerification => (Verification, o => EvidenceHashes.StagingVerification((StagingVerificationEntity)o)),
        _ => (Card, o => EvidenceHashes.Card((ModelCardEntity)o)),
    };

    /// <summary>A different value of the column's type (a null becomes a value).</summary>
    private static object? Changed(Type type, object? value)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        if (t == typeof(string))
        {
            return (string?)value + "x";
        }
        if (t == typeof(bool))
        {
            return !(bool)value!;
        }
        if (t == typeof(long))
        {
            return value is null ? 1L : (long)value + 1;
        }
        if (t == typeof(DateTime))
        {
            return value is null ? Time : ((DateTime)value).AddSeconds(1);
        }
        throw new InvalidOperationException($"no change defined for {type}");
    }
}
