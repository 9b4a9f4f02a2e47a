using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace ModelGate.Storage.Postgres.Migrations
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
                type: "double precision",
                nullable: true);

            migrationBuilder.AddColumn<int>(
                name: "TokensPerMinute",
                table: "api_keys",
                type: "integer",
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
