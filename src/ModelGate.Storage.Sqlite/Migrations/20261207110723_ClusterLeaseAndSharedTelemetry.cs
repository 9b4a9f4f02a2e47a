using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace ModelGate.Storage.Sqlite.Migrations
{
    /// <inheritdoc />
    public partial class ClusterLeaseAndSharedTelemetry : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "input_samples",
                columns: table => new
                {
                    Id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    Replica = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    Deployment = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    Version = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    Time = table.Column<DateTime>(type: "TEXT", nullable: false),
                    Columns = table.Column<string>(type: "TEXT", nullable: false),
                    Values = table.Column<string>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_input_samples", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "leases",
                columns: table => new
                {
                    Name = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    Holder = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    Token = table.Column<long>(type: "INTEGER", nullable: false),
                    AcquiredAt = table.Column<DateTime>(type: "TEXT", nullable: false),
                    ExpiresAt = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_leases", x => x.Name);
                });

            migrationBuilder.CreateTable(
                name: "telemetry_slots",
                columns: table => new
                {
                    Deployment = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    Version = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    Shadow = table.Column<bool>(type: "INTEGER", nullable: false),
                    Slot = table.Column<long>(type: "INTEGER", nullable: false),
                    Replica = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    Payload = table.Column<string>(type: "TEXT", nullable: false),
                    UpdatedAt = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_telemetry_slots", x => new { x.Deployment, x.Version, x.Shadow, x.Slot, x.Replica });
                });

            migrationBuilder.CreateIndex(
                name: "IX_input_samples_Deployment_Version_Time",
                table: "input_samples",
                columns: new[] { "Deployment", "Version", "Time" });

            migrationBuilder.CreateIndex(
                name: "IX_input_samples_Time",
                table: "input_samples",
                column: "Time");

            migrationBuilder.CreateIndex(
                name: "IX_telemetry_slots_UpdatedAt",
                table: "telemetry_slots",
                column: "UpdatedAt");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "input_samples");

            migrationBuilder.DropTable(
                name: "leases");

            migrationBuilder.DropTable(
                name: "telemetry_slots");
        }
    }
}
