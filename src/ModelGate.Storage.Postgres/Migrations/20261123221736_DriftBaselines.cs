using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace ModelGate.Storage.Postgres.Migrations
{
    /// <inheritdoc />
    public partial class DriftBaselines : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "drift_baselines",
                columns: table => new
                {
                    VersionId = table.Column<long>(type: "bigint", nullable: false),
                    DatasetSha256 = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    Profile = table.Column<string>(type: "text", nullable: false),
                    Rows = table.Column<int>(type: "integer", nullable: false),
                    CreatedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    CreatedBy = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_drift_baselines", x => x.VersionId);
                    table.ForeignKey(
                        name: "FK_drift_baselines_model_versions_VersionId",
                        column: x => x.VersionId,
                        principalTable: "model_versions",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Restrict);
                });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "drift_baselines");
        }
    }
}
