using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace ModelGate.Storage.Sqlite.Migrations
{
    /// <inheritdoc />
    public partial class RequestLogKeyIndexAndRolloutConcurrency : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateIndex(
                name: "IX_request_logs_KeyId",
                table: "request_logs",
                column: "KeyId");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_request_logs_KeyId",
                table: "request_logs");
        }
    }
}
