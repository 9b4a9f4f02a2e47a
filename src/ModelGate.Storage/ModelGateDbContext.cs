using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;
using ModelGate.Storage.Audit;
using ModelGate.Storage.Cluster;
using ModelGate.Storage.Evaluation;
using ModelGate.Storage.Gateway;
using ModelGate.Storage.Lifecycle;
using ModelGate.Storage.Monitoring;
using ModelGate.Storage.Rollouts;
using ModelGate.Storage.Registry;
using ModelGate.Storage.Security;

namespace ModelGate.Storage;

/// <summary>
/// The one EF Core model. Each database provider derives from it in its own project, which holds that provider's migrations.
/// </summary>
public abstract class ModelGateDbContext(DbContextOptions options) : DbContext(options)
{
    public DbSet<ModelEntity> Models => Set<ModelEntity>();
    public DbSet<ModelVersionEntity> ModelVersions => Set<ModelVersionEntity>();
    public DbSet<VersionArtifactEntity> VersionArtifacts => Set<VersionArtifactEntity>();
    public DbSet<VersionDatasetEntity> VersionDatasets => Set<VersionDatasetEntity>();
    public DbSet<ArtifactEntity> Artifacts => Set<ArtifactEntity>();
    public DbSet<AuditEventEntity> AuditEvents => Set<AuditEventEntity>();
    public DbSet<AuditChainHeadEntity> AuditChainHeads => Set<AuditChainHeadEntity>();
    public DbSet<ApiKeyEntity> ApiKeys => Set<ApiKeyEntity>();
    public DbSet<PrincipalEntity> Principals => Set<PrincipalEntity>();
    public DbSet<EvaluationEntity> Evaluations => Set<EvaluationEntity>();
    public DbSet<DeploymentEntity> Deployments => Set<DeploymentEntity>();
    public DbSet<RequestLogEntity> RequestLogs => Set<RequestLogEntity>();
    public DbSet<PolicyEntity> Policies => Set<PolicyEntity>();
    public DbSet<TransitionEntity> Transitions => Set<TransitionEntity>();
    public DbSet<ApprovalEntity> Approvals => Set<ApprovalEntity>();
    public DbSet<StagingVerificationEntity> StagingVerifications => Set<StagingVerificationEntity>();
    public DbSet<ModelCardEntity> ModelCards => Set<ModelCardEntity>();
    public DbSet<FeedbackEntity> Feedback => Set<FeedbackEntity>();
    public DbSet<AlertEntity> Alerts => Set<AlertEntity>();
    public DbSet<SilenceEntity> Silences => Set<SilenceEntity>();
    public DbSet<DriftBaselineEntity> DriftBaselines => Set<DriftBaselineEntity>();
    public DbSet<RolloutEntity> Rollouts => Set<RolloutEntity>();
    public DbSet<LeaseEntity> Leases => Set<LeaseEntity>();
    public DbSet<TelemetrySlotEntity> TelemetrySlots => Set<TelemetrySlotEntity>();
    public DbSet<InputSampleEntity> InputSamples => Set<InputSampleEntity>();

    /// <summary>Takes the cross-process write lock for the current transaction, where the provider has one.</summary>
    public abstract Task LockForWriteAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Appends <paramref name="rows"/> (values in <paramref name="columns"/>' order, as stored) to <paramref name="table"/> in one
    /// bulk operation on the open connection, where the provider has one; false (nothing done) where it has none.
    /// </summary>
    public virtual Task<bool> CopyAsync(string table, IReadOnlyList<string> columns, IEnumerable<object?[]> rows, CancellationToken cancellationToken) =>
        Task.FromResult(false);

    protected override void ConfigureConventions(ModelConfigurationBuilder configurationBuilder)
    {
        // Every time is UTC; SQLite would otherwise hand back DateTimeKind.Unspecified.
        configurationBuilder.Properties<DateTime>().HaveConversion<UtcDateTimeConverter>();
    }

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<ModelEntity>(e =>
        {
            e.ToTable("models");
            e.HasKey(m => m.Id);
            e.Property(m => m.Name).HasMaxLength(64);
            e.HasIndex(m => m.Name).IsUnique();
            e.Property(m => m.Owner).HasMaxLength(200);
            e.Property(m => m.RiskTier).HasMaxLength(16);
            e.Property(m => m.Task).HasMaxLength(32);
            e.Property(m => m.License).HasMaxLength(200);
            e.Property(m => m.Description).HasMaxLength(4000);
            e.Property(m => m.Tags).HasMaxLength(4000);
            e.Property(m => m.CreatedBy).HasMaxLength(64);
            e.HasMany(m => m.Versions).WithOne(v => v.Model).HasForeignKey(v => v.ModelId).OnDelete(DeleteBehavior.Restrict);
        });

        modelBuilder.Entity<ModelVersionEntity>(e =>
        {
            e.ToTable("model_versions");
            e.HasKey(v => v.Id);
            e.Property(v => v.Version).HasMaxLength(128);
            e.HasIndex(v => new { v.ModelId, v.Version }).IsUnique();
            e.Property(v => v.Prerelease).HasMaxLength(128);
            e.Property(v => v.Stage).HasMaxLength(16);
            e.Property(v => v.AttestationSha256).HasMaxLength(64);
            e.Property(v => v.Trainer).HasMaxLength(200);
            e.Property(v => v.TrainerPrincipal).HasMaxLength(32);
            e.Property(v => v.CodeRepo).HasMaxLength(1000);
            e.Property(v => v.CodeCommit).HasMaxLength(128);
            e.Property(v => v.BaseModel).HasMaxLength(400);
            e.HasIndex(v => v.BaseModel);
            e.Property(v => v.Architecture).HasMaxLength(400);
            e.Property(v => v.Description).HasMaxLength(4000);
            e.Property(v => v.CreatedBy).HasMaxLength(64);
            e.Property(v => v.RetirementTrigger).HasMaxLength(32);
            e.Property(v => v.ArchiveSha256).HasMaxLength(64);
            e.HasIndex(v => new { v.Stage, v.NextReviewAt });
            e.HasMany(v => v.Artifacts).WithOne().HasForeignKey(a => a.VersionId).OnDelete(DeleteBehavior.Restrict);
            e.HasMany(v => v.Datasets).WithOne().HasForeignKey(d => d.VersionId).OnDelete(DeleteBehavior.Restrict);
        });

        modelBuilder.Entity<VersionArtifactEntity>(e =>
        {
            e.ToTable("version_artifacts");
            e.HasKey(a => a.Id);
            e.Property(a => a.Sha256).HasMaxLength(64);
            e.HasIndex(a => a.Sha256);
            e.Property(a => a.FileName).HasMaxLength(255);
            e.Property(a => a.MediaType).HasMaxLength(255);
        });

        modelBuilder.Entity<VersionDatasetEntity>(e =>
        {
            e.ToTable("version_datasets");
            e.HasKey(d => d.Id);
            e.Property(d => d.Name).HasMaxLength(200);
            e.Property(d => d.Uri).HasMaxLength(2000);
            e.Property(d => d.Sha256).HasMaxLength(64);
            e.HasIndex(d => d.Sha256);
        });

        modelBuilder.Entity<ArtifactEntity>(e =>
        {
            e.ToTable("artifacts");
            e.HasKey(a => a.Sha256);
            e.Property(a => a.Sha256).HasMaxLength(64);
            e.Property(a => a.CreatedBy).HasMaxLength(64);
        });

        modelBuilder.Entity<AuditEventEntity>(e =>
        {
            e.ToTable("audit_events");
            e.HasKey(a => a.Sequence);
            e.Property(a => a.Sequence).ValueGeneratedNever();
            e.Property(a => a.Actor).HasMaxLength(64);
            e.Property(a => a.Action).HasMaxLength(64);
            e.Property(a => a.Subject).HasMaxLength(300);
            e.Property(a => a.Outcome).HasMaxLength(32);
            e.Property(a => a.PreviousHash).HasMaxLength(64);
            e.Property(a => a.Hash).HasMaxLength(64);
            e.HasIndex(a => a.Subject);
            e.HasIndex(a => a.Actor);
            e.HasIndex(a => a.Time);
        });

        modelBuilder.Entity<AuditChainHeadEntity>(e =>
        {
            e.ToTable("audit_chain_head");
            e.HasKey(a => a.Id);
            e.Property(a => a.Id).ValueGeneratedNever();
            e.Property(a => a.Hash).HasMaxLength(64);
        });

        modelBuilder.Entity<EvaluationEntity>(e =>
        {
            e.ToTable("evaluations");
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).HasMaxLength(32);
            e.HasOne<ModelVersionEntity>().WithMany().HasForeignKey(x => x.VersionId).OnDelete(DeleteBehavior.Restrict);
            e.HasIndex(x => x.VersionId);
            e.Property(x => x.Model).HasMaxLength(64);
            e.Property(x => x.Version).HasMaxLength(128);
            e.Property(x => x.SuiteSha256).HasMaxLength(64);
            e.Property(x => x.BaselineVersion).HasMaxLength(128);
            e.Property(x => x.DatasetSha256).HasMaxLength(64);
            e.Property(x => x.Status).HasMaxLength(16);
            e.Property(x => x.Evaluator).HasMaxLength(64);
            e.Property(x => x.Trainer).HasMaxLength(200);
            e.Property(x => x.ResultSha256).HasMaxLength(64);
            e.Property(x => x.Error).HasMaxLength(4000);
            e.Property(x => x.EvidenceSha256).HasMaxLength(64);
        });

        modelBuilder.Entity<DeploymentEntity>(e =>
        {
            e.ToTable("deployments");
            e.HasKey(x => x.Id);
            e.Property(x => x.Name).HasMaxLength(64);
            e.HasIndex(x => x.Name).IsUnique();
            e.Property(x => x.Environment).HasMaxLength(16);
            e.HasOne<ModelEntity>().WithMany().HasForeignKey(x => x.ModelId).OnDelete(DeleteBehavior.Restrict);
            e.Property(x => x.Model).HasMaxLength(64);
            e.Property(x => x.LastKnownGood).HasMaxLength(128);
            e.Property(x => x.CreatedBy).HasMaxLength(64);
            e.Property(x => x.UpdatedBy).HasMaxLength(64);
            e.HasIndex(x => x.UpdatedAt);
        });

        modelBuilder.Entity<AlertEntity>(e =>
        {
            e.ToTable("alerts");
            e.HasKey(a => a.Id);
            e.Property(a => a.Key).HasMaxLength(200);
            e.HasIndex(a => new { a.Key, a.Status });
            e.HasIndex(a => a.FiredAt);
            e.Property(a => a.Group).HasMaxLength(64);
            e.Property(a => a.Kind).HasMaxLength(32);
            e.Property(a => a.Severity).HasMaxLength(16);
            e.Property(a => a.Status).HasMaxLength(16);
            e.Property(a => a.Summary).HasMaxLength(2000);
            e.Property(a => a.Delivery).HasMaxLength(16);
        });

        modelBuilder.Entity<RolloutEntity>(e =>
        {
            e.ToTable("rollouts");
            e.HasKey(r => r.Id);
            e.Property(r => r.Id).HasMaxLength(32);
            e.Property(r => r.Deployment).HasMaxLength(64);
            e.HasIndex(r => new { r.Deployment, r.Status });
            e.HasIndex(r => new { r.Status, r.NextCheckAt });
            e.Property(r => r.Stable).HasMaxLength(128);
            e.Property(r => r.Candidate).HasMaxLength(128);
            e.Property(r => r.Strategy).HasMaxLength(16);
            e.Property(r => r.Status).HasMaxLength(16);
            // Every change to a rollout appends to its history: a save from a stale read fails instead of overwriting.
            e.Property(r => r.History).IsConcurrencyToken();
            e.Property(r => r.Reason).HasMaxLength(2000);
            e.Property(r => r.CreatedBy).HasMaxLength(64);
        });

        modelBuilder.Entity<DriftBaselineEntity>(e =>
        {
            e.ToTable("drift_baselines");
            e.HasKey(b => b.VersionId);
            e.Property(b => b.DatasetSha256).HasMaxLength(64);
            e.Property(b => b.CreatedBy).HasMaxLength(64);
            e.HasOne<ModelVersionEntity>().WithOne().HasForeignKey<DriftBaselineEntity>(b => b.VersionId).OnDelete(DeleteBehavior.Restrict);
        });

        modelBuilder.Entity<SilenceEntity>(e =>
        {
            e.ToTable("silences");
            e.HasKey(x => x.Id);
            e.Property(x => x.KeyPrefix).HasMaxLength(200);
            e.Property(x => x.Reason).HasMaxLength(2000);
            e.Property(x => x.CreatedBy).HasMaxLength(64);
        });

        modelBuilder.Entity<FeedbackEntity>(e =>
        {
            e.ToTable("feedback");
            e.HasKey(f => f.Id);
            e.HasIndex(f => f.RequestId);
            e.HasIndex(f => new { f.Deployment, f.Version, f.RequestTime });
            e.Property(f => f.RequestId).HasMaxLength(64);
            e.Property(f => f.Deployment).HasMaxLength(64);
            e.Property(f => f.Version).HasMaxLength(128);
            e.Property(f => f.Route).HasMaxLength(16);
            e.Property(f => f.Label).HasMaxLength(200);
            e.Property(f => f.Comment).HasMaxLength(4000);
            e.Property(f => f.Metric).HasMaxLength(64);
            e.Property(f => f.Actor).HasMaxLength(64);
        });

        modelBuilder.Entity<LeaseEntity>(e =>
        {
            e.ToTable("leases");
            e.HasKey(x => x.Name);
            e.Property(x => x.Name).HasMaxLength(LeaseEntity.NameLength);
            e.Property(x => x.Holder).HasMaxLength(LeaseEntity.HolderLength);
        });

        modelBuilder.Entity<TelemetrySlotEntity>(e =>
        {
            e.ToTable("telemetry_slots");
            e.HasKey(x => new { x.Deployment, x.Version, x.Shadow, x.Slot, x.Replica });
            e.Property(x => x.Deployment).HasMaxLength(RequestLogEntity.DeploymentLength);
            e.Property(x => x.Version).HasMaxLength(RequestLogEntity.VersionLength);
            e.Property(x => x.Replica).HasMaxLength(TelemetrySlotEntity.ReplicaLength);
            e.HasIndex(x => x.UpdatedAt);
        });

        modelBuilder.Entity<InputSampleEntity>(e =>
        {
            e.ToTable("input_samples");
            e.HasKey(x => x.Id);
            e.Property(x => x.Replica).HasMaxLength(TelemetrySlotEntity.ReplicaLength);
            e.Property(x => x.Deployment).HasMaxLength(RequestLogEntity.DeploymentLength);
            e.Property(x => x.Version).HasMaxLength(RequestLogEntity.VersionLength);
            e.HasIndex(x => new { x.Deployment, x.Version, x.Time });
            e.HasIndex(x => x.Time);
        });

        modelBuilder.Entity<RequestLogEntity>(e =>
        {
            e.ToTable("request_logs");
            e.HasKey(x => x.Id);
            e.Property(x => x.RequestId).HasMaxLength(RequestLogEntity.RequestIdLength);
            e.Property(x => x.KeyId).HasMaxLength(32);
            e.Property(x => x.Deployment).HasMaxLength(RequestLogEntity.DeploymentLength);
            e.Property(x => x.Version).HasMaxLength(RequestLogEntity.VersionLength);
            e.Property(x => x.Route).HasMaxLength(RequestLogEntity.RouteLength);
            e.Property(x => x.Protocol).HasMaxLength(16);
            e.Property(x => x.UsageSource).HasMaxLength(16);
            e.Property(x => x.Prediction).HasMaxLength(RequestLogEntity.PredictionLength);
            e.HasIndex(x => x.Time);
            e.HasIndex(x => new { x.Deployment, x.Time });
            e.HasIndex(x => x.RequestId);
            e.HasIndex(x => x.KeyId); // a key's past spending (its cost budget) and usage per key, without a scan of the log
        });

        modelBuilder.Entity<ApiKeyEntity>(e =>
        {
            e.ToTable("api_keys");
            e.HasKey(k => k.Id);
            e.Property(k => k.Id).HasMaxLength(32);
            e.Property(k => k.Name).HasMaxLength(200);
            e.Property(k => k.Prefix).HasMaxLength(16);
            e.Property(k => k.KeyHash).HasMaxLength(64);
            e.HasIndex(k => k.KeyHash).IsUnique();
            e.Property(k => k.Roles).HasMaxLength(400);
            e.Property(k => k.CreatedBy).HasMaxLength(64);
            e.Property(k => k.RevokedBy).HasMaxLength(64);
            e.Property(k => k.Deployments).HasMaxLength(4000);
            e.Property(k => k.PrincipalId).HasMaxLength(32);
            e.HasIndex(k => k.PrincipalId);
        });

        modelBuilder.Entity<PrincipalEntity>(e =>
        {
            e.ToTable("principals");
            e.HasKey(p => p.Id);
            e.Property(p => p.Id).HasMaxLength(32);
            e.Property(p => p.Kind).HasMaxLength(16);
            e.Property(p => p.Identity).HasMaxLength(320);
            e.Property(p => p.IdentityKey).HasMaxLength(320);
            e.HasIndex(p => p.IdentityKey).IsUnique();
            e.Property(p => p.DisplayName).HasMaxLength(200);
            e.Property(p => p.Roles).HasMaxLength(400);
            e.Property(p => p.Source).HasMaxLength(16);
            e.Property(p => p.CreatedBy).HasMaxLength(64);
            e.Property(p => p.DisabledBy).HasMaxLength(64);
        });

        modelBuilder.Entity<PolicyEntity>(e =>
        {
            e.ToTable("policies");
            e.HasKey(p => p.Id);
            e.Property(p => p.Scope).HasMaxLength(64);
            e.HasIndex(p => new { p.Scope, p.Revision }).IsUnique();
            e.Property(p => p.DocumentSha256).HasMaxLength(64);
            e.Property(p => p.CreatedBy).HasMaxLength(64);
        });

        modelBuilder.Entity<TransitionEntity>(e =>
        {
            e.ToTable("transitions");
            e.HasKey(t => t.Id);
            e.HasIndex(t => t.VersionId);
            e.Property(t => t.From).HasMaxLength(16);
            e.Property(t => t.To).HasMaxLength(16);
            e.Property(t => t.Reason).HasMaxLength(2000);
            e.Property(t => t.Trigger).HasMaxLength(32);
            e.Property(t => t.Actor).HasMaxLength(64);
            e.HasOne<ModelVersionEntity>().WithMany().HasForeignKey(t => t.VersionId).OnDelete(DeleteBehavior.Restrict);
        });

        modelBuilder.Entity<ApprovalEntity>(e =>
        {
            e.ToTable("approvals");
            e.HasKey(a => a.Id);
            e.Property(a => a.Id).HasMaxLength(32);
            e.HasIndex(a => a.VersionId);
            e.Property(a => a.Decision).HasMaxLength(16);
            e.Property(a => a.Approver).HasMaxLength(64);
            e.Property(a => a.Role).HasMaxLength(32);
            e.Property(a => a.RisksAccepted).HasMaxLength(4000);
            e.Property(a => a.MonitoringPlan).HasMaxLength(4000);
            e.Property(a => a.RollbackPlan).HasMaxLength(4000);
            e.Property(a => a.Comment).HasMaxLength(4000);
            e.HasOne<ModelVersionEntity>().WithMany().HasForeignKey(a => a.VersionId).OnDelete(DeleteBehavior.Restrict);
            e.Property(a => a.EvidenceSha256).HasMaxLength(64);
        });

        modelBuilder.Entity<StagingVerificationEntity>(e =>
        {
            e.ToTable("staging_verifications");
            e.HasKey(s => s.Id);
            e.Property(s => s.Id).HasMaxLength(32);
            e.HasIndex(s => s.VersionId);
            e.Property(s => s.Deployment).HasMaxLength(64);
            e.Property(s => s.CreatedBy).HasMaxLength(64);
            e.HasOne<ModelVersionEntity>().WithMany().HasForeignKey(s => s.VersionId).OnDelete(DeleteBehavior.Restrict);
            e.Property(s => s.EvidenceSha256).HasMaxLength(64);
        });

        modelBuilder.Entity<ModelCardEntity>(e =>
        {
            e.ToTable("model_cards");
            e.HasKey(c => c.VersionId);
            e.Property(c => c.UpdatedBy).HasMaxLength(64);
            e.HasOne<ModelVersionEntity>().WithOne().HasForeignKey<ModelCardEntity>(c => c.VersionId).OnDelete(DeleteBehavior.Restrict);
            e.Property(c => c.EvidenceSha256).HasMaxLength(64);
        });
    }
}

internal sealed class UtcDateTimeConverter() : ValueConverter<DateTime, DateTime>(
    v => v.Kind == DateTimeKind.Utc ? v : v.ToUniversalTime(),
    v => DateTime.SpecifyKind(v, DateTimeKind.Utc));
