using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace ModelGate.Storage.Postgres.Migrations
{
    /// <inheritdoc />
    public partial class Principals : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<long>(
                name: "EvidenceAuditSequence",
                table: "staging_verifications",
                type: "bigint",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "EvidenceSha256",
                table: "staging_verifications",
                type: "character varying(64)",
                maxLength: 64,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "TrainerPrincipal",
                table: "model_versions",
                type: "character varying(32)",
                maxLength: 32,
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "EvidenceAuditSequence",
                table: "model_cards",
                type: "bigint",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "EvidenceSha256",
                table: "model_cards",
                type: "character varying(64)",
                maxLength: 64,
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "EvidenceAuditSequence",
                table: "evaluations",
                type: "bigint",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "EvidenceSha256",
                table: "evaluations",
                type: "character varying(64)",
                maxLength: 64,
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "EvidenceAuditSequence",
                table: "approvals",
                type: "bigint",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "EvidenceSha256",
                table: "approvals",
                type: "character varying(64)",
                maxLength: 64,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "PrincipalId",
                table: "api_keys",
                type: "character varying(32)",
                maxLength: 32,
                nullable: false,
                defaultValue: "");

            migrationBuilder.CreateTable(
                name: "principals",
                columns: table => new
                {
                    Id = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    Kind = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    Identity = table.Column<string>(type: "character varying(320)", maxLength: 320, nullable: false),
                    IdentityKey = table.Column<string>(type: "character varying(320)", maxLength: 320, nullable: false),
                    DisplayName = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: true),
                    Roles = table.Column<string>(type: "character varying(400)", maxLength: 400, nullable: false),
                    Source = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    CreatedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    CreatedBy = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    DisabledAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    DisabledBy = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_principals", x => x.Id);
                });

            migrationBuilder.CreateIndex(
                name: "IX_api_keys_PrincipalId",
                table: "api_keys",
                column: "PrincipalId");

            migrationBuilder.CreateIndex(
                name: "IX_principals_IdentityKey",
                table: "principals",
                column: "IdentityKey",
                unique: true);

            // Every key that existed before principals becomes the service principal it always was: its id is the key's id, so
            // the actors recorded so far (key ids) name it, and the separation-of-duties rules compare it as before.
            migrationBuilder.Sql("""
                INSERT INTO principals ("Id", "Kind", "Identity", "IdentityKey", "DisplayName", "Roles", "Source", "CreatedAt", "CreatedBy")
                SELECT "Id", 'service', 'key:' || "Id", 'key:' || lower("Id"), "Name", "Roles", 'migration', "CreatedAt", "CreatedBy" FROM api_keys
                """);
            migrationBuilder.Sql("""UPDATE api_keys SET "PrincipalId" = "Id" """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "principals");

            migrationBuilder.DropIndex(
                name: "IX_api_keys_PrincipalId",
                table: "api_keys");

            migrationBuilder.DropColumn(
                name: "EvidenceAuditSequence",
                table: "staging_verifications");

            migrationBuilder.DropColumn(
                name: "EvidenceSha256",
                table: "staging_verifications");

            migrationBuilder.DropColumn(
                name: "TrainerPrincipal",
                table: "model_versions");

            migrationBuilder.DropColumn(
                name: "EvidenceAuditSequence",
                table: "model_cards");

            migrationBuilder.DropColumn(
                name: "EvidenceSha256",
                table: "model_cards");

            migrationBuilder.DropColumn(
                name: "EvidenceAuditSequence",
                table: "evaluations");

            migrationBuilder.DropColumn(
                name: "EvidenceSha256",
                table: "evaluations");

            migrationBuilder.DropColumn(
                name: "EvidenceAuditSequence",
                table: "approvals");

            migrationBuilder.DropColumn(
                name: "EvidenceSha256",
                table: "approvals");

            migrationBuilder.DropColumn(
                name: "PrincipalId",
                table: "api_keys");
        }
    }
}
