using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace ModelGate.Storage.Sqlite.Migrations
{
    /// <inheritdoc />
    public partial class Lifecycle : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "ArchiveSha256",
                table: "model_versions",
                type: "TEXT",
                maxLength: 64,
                nullable: true);

            migrationBuilder.AddColumn<DateTime>(
                name: "NextReviewAt",
                table: "model_versions",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "RetirementTrigger",
                table: "model_versions",
                type: "TEXT",
                maxLength: 32,
                nullable: true);

            migrationBuilder.CreateTable(
                name: "approvals",
                columns: table => new
                {
                    Id = table.Column<string>(type: "TEXT", maxLength: 32, nullable: false),
                    VersionId = table.Column<long>(type: "INTEGER", nullable: false),
                    Decision = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    Approver = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    Role = table.Column<string>(type: "TEXT", maxLength: 32, nullable: false),
                    Time = table.Column<DateTime>(type: "TEXT", nullable: false),
                    Evidence = table.Column<string>(type: "TEXT", nullable: false),
                    RisksAccepted = table.Column<string>(type: "TEXT", maxLength: 4000, nullable: false),
                    MonitoringPlan = table.Column<string>(type: "TEXT", maxLength: 4000, nullable: false),
                    RollbackPlan = table.Column<string>(type: "TEXT", maxLength: 4000, nullable: false),
                    NextReviewAt = table.Column<DateTime>(type: "TEXT", nullable: false),
                    Comment = table.Column<string>(type: "TEXT", maxLength: 4000, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_approvals", x => x.Id);
                    table.ForeignKey(
                        name: "FK_approvals_model_versions_VersionId",
                        column: x => x.VersionId,
                        principalTable: "model_versions",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.CreateTable(
                name: "model_cards",
                columns: table => new
                {
                    VersionId = table.Column<long>(type: "INTEGER", nullable: false),
                    Card = table.Column<string>(type: "TEXT", nullable: false),
                    UpdatedAt = table.Column<DateTime>(type: "TEXT", nullable: false),
                    UpdatedBy = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_model_cards", x => x.VersionId);
                    table.ForeignKey(
                        name: "FK_model_cards_model_versions_VersionId",
                        column: x => x.VersionId,
                        principalTable: "model_versions",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.CreateTable(
                name: "policies",
                columns: table => new
                {
                    Id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    Scope = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    Revision = table.Column<int>(type: "INTEGER", nullable: false),
                    Document = table.Column<string>(type: "TEXT", nullable: false),
                    DocumentSha256 = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    CreatedAt = table.Column<DateTime>(type: "TEXT", nullable: false),
                    CreatedBy = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_policies", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "staging_verifications",
                columns: table => new
                {
                    Id = table.Column<string>(type: "TEXT", maxLength: 32, nullable: false),
                    VersionId = table.Column<long>(type: "INTEGER", nullable: false),
                    Deployment = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    Passed = table.Column<bool>(type: "INTEGER", nullable: false),
                    Checks = table.Column<string>(type: "TEXT", nullable: false),
                    CreatedAt = table.Column<DateTime>(type: "TEXT", nullable: false),
                    CreatedBy = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_staging_verifications", x => x.Id);
                    table.ForeignKey(
                        name: "FK_staging_verifications_model_versions_VersionId",
                        column: x => x.VersionId,
                        principalTable: "model_versions",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.CreateTable(
                name: "transitions",
                columns: table => new
                {
                    Id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    VersionId = table.Column<long>(type: "INTEGER", nullable: false),
                    From = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    To = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    Reason = table.Column<string>(type: "TEXT", maxLength: 2000, nullable: false),
                    Trigger = table.Column<string>(type: "TEXT", maxLength: 32, nullable: true),
                    Report = table.Column<string>(type: "TEXT", nullable: false),
                    Time = table.Column<DateTime>(type: "TEXT", nullable: false),
                    Actor = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_transitions", x => x.Id);
                    table.ForeignKey(
                        name: "FK_transitions_model_versions_VersionId",
                        column: x => x.VersionId,
                        principalTable: "model_versions",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.CreateIndex(
                name: "IX_model_versions_Stage_NextReviewAt",
                table: "model_versions",
                columns: new[] { "Stage", "NextReviewAt" });

            migrationBuilder.CreateIndex(
                name: "IX_approvals_VersionId",
                table: "approvals",
                column: "VersionId");

            migrationBuilder.CreateIndex(
                name: "IX_policies_Scope_Revision",
                table: "policies",
                columns: new[] { "Scope", "Revision" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_staging_verifications_VersionId",
                table: "staging_verifications",
                column: "VersionId");

            migrationBuilder.CreateIndex(
                name: "IX_transitions_VersionId",
                table: "transitions",
                column: "VersionId");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "approvals");

            migrationBuilder.DropTable(
                name: "model_cards");

            migrationBuilder.DropTable(
                name: "policies");

            migrationBuilder.DropTable(
                name: "staging_verifications");

            migrationBuilder.DropTable(
                name: "transitions");

            migrationBuilder.DropIndex(
                name: "IX_model_versions_Stage_NextReviewAt",
                table: "model_versions");

            migrationBuilder.DropColumn(
                name: "ArchiveSha256",
                table: "model_versions");

            migrationBuilder.DropColumn(
                name: "NextReviewAt",
                table: "model_versions");

            migrationBuilder.DropColumn(
                name: "RetirementTrigger",
                table: "model_versions");
        }
    }
}
