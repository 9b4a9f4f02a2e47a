using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace ModelGate.Storage.Postgres.Migrations
{
    /// <inheritdoc />
    public partial class EvaluationBaseline : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "BaselineVersion",
                table: "evaluations",
                type: "character varying(128)",
                maxLength: 128,
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "BaselineVersion",
                table: "evaluations");
        }
    }
}
