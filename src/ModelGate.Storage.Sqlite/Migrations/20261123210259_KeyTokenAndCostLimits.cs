using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace ModelGate.Storage.Sqlite.Migrations
{
    /// <inheritdoc />
    public partial class KeyTokenAndCostLimits : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<double>(
                name: "CostBudget",
                table: "api_keys",
                type: "REAL",
                nullable: true);

            migrationBuilder.AddColumn<int>(
                name: "TokensPerMinute",
                table: "api_keys",
                type: "INTEGER",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "CostBudget",
                table: "api_keys");

            migrationBuilder.DropColumn(
                name: "TokensPerMinute",
                table: "api_keys");
        }
    }
}
