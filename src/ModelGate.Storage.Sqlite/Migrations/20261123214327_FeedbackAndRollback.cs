using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace ModelGate.Storage.Sqlite.Migrations
{
    /// <inheritdoc />
    public partial class FeedbackAndRollback : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "Prediction",
                table: "request_logs",
                type: "TEXT",
                maxLength: 200,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "LastKnownGood",
                table: "deployments",
                type: "TEXT",
                maxLength: 128,
                nullable: true);

            migrationBuilder.CreateTable(
                name: "feedback",
                columns: table => new
                {
                    Id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    RequestId = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    Deployment = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    Version = table.Column<string>(type: "TEXT", maxLength: 128, nullable: true),
                    Route = table.Column<string>(type: "TEXT", maxLength: 16, nullable: true),
                    Label = table.Column<string>(type: "TEXT", maxLength: 200, nullable: true),
                    Score = table.Column<double>(type: "REAL", nullable: true),
                    Comment = table.Column<string>(type: "TEXT", maxLength: 4000, nullable: true),
                    RequestTime = table.Column<DateTime>(type: "TEXT", nullable: false),
                    Time = table.Column<DateTime>(type: "TEXT", nullable: false),
                    Actor = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_feedback", x => x.Id);
                });

            migrationBuilder.CreateIndex(
                name: "IX_feedback_Deployment_Version_RequestTime",
                table: "feedback",
                columns: new[] { "Deployment", "Version", "RequestTime" });

            migrationBuilder.CreateIndex(
                name: "IX_feedback_RequestId",
                table: "feedback",
                column: "RequestId");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "feedback");

            migrationBuilder.DropColumn(
                name: "Prediction",
                table: "request_logs");

            migrationBuilder.DropColumn(
                name: "LastKnownGood",
                table: "deployments");
        }
    }
}
