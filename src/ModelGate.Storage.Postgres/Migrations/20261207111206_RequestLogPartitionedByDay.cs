using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace ModelGate.Storage.Postgres.Migrations
{
    /// <summary>
    /// PostgreSQL only, raw SQL, the EF model unchanged: <c>request_logs</c> becomes a table partitioned by range of <c>Time</c>,
    /// one partition per UTC day (<c>request_logs_pYYYYMMDD</c>) and a DEFAULT partition (<c>request_logs_default</c>) so that
    /// no insert ever fails for want of a partition. Retention then drops whole days (ModelGate.Storage.RequestLogPartitions).
    /// </summary>
    /// <remarks>
    /// PostgreSQL 15 requires the partition key in every unique constraint, so the primary key is (<c>Id</c>, <c>Time</c>),
    /// and allows no identity column on a partitioned table (before 17), so <c>Id</c> takes a sequence default that carries on
    /// from the old identity. The model still says <c>Id</c> is the key and store-generated: what EF writes and reads is the same.
    /// </remarks>
    public partial class RequestLogPartitionedByDay : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""
                ALTER TABLE request_logs RENAME TO request_logs_unpartitioned;
                ALTER TABLE request_logs_unpartitioned RENAME CONSTRAINT "PK_request_logs" TO "PK_request_logs_unpartitioned";
                DROP INDEX "IX_request_logs_Time";
                DROP INDEX "IX_request_logs_Deployment_Time";
                DROP INDEX "IX_request_logs_RequestId";
                DROP INDEX "IX_request_logs_KeyId";

                CREATE TABLE request_logs (LIKE request_logs_unpartitioned) PARTITION BY RANGE ("Time");
                ALTER TABLE request_logs ADD CONSTRAINT "PK_request_logs" PRIMARY KEY ("Id", "Time");
                CREATE TABLE request_logs_default PARTITION OF request_logs DEFAULT;

                -- One partition per UTC day that holds rows (within a year: older rows go to DEFAULT, where retention deletes
                -- them row by row), and today and the next three days.
                DO $$
                DECLARE
                    today date := (now() AT TIME ZONE 'UTC')::date;
                    day date;
                BEGIN
                    FOR day IN
                        SELECT DISTINCT ("Time" AT TIME ZONE 'UTC')::date FROM request_logs_unpartitioned
                        WHERE "Time" >= ((today - 365)::timestamp AT TIME ZONE 'UTC') AND "Time" < ((today + 4)::timestamp AT TIME ZONE 'UTC')
                        UNION SELECT generate_series(today, today + 3, interval '1 day')::date
                        ORDER BY 1
                    LOOP
                        EXECUTE format('CREATE TABLE %I PARTITION OF request_logs FOR VALUES FROM (%L) TO (%L)',
                            'request_logs_p' || to_char(day, 'YYYYMMDD'), day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
                    END LOOP;
                END $$;

                INSERT INTO request_logs SELECT * FROM request_logs_unpartitioned;

                -- Ids carry on after the old identity's last value (not only after the largest id kept: deleted rows' ids are not reused).
                -- Named as the identity's sequence it replaces once that is gone with the old table.
                CREATE SEQUENCE request_logs_id_carried AS bigint;
                DO $$
                DECLARE
                    old_sequence text := pg_get_serial_sequence('request_logs_unpartitioned', 'Id');
                    last bigint;
                BEGIN
                    EXECUTE format('SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM %s', old_sequence) INTO last;
                    last := greatest(last, (SELECT coalesce(max("Id"), 0) FROM request_logs_unpartitioned));
                    PERFORM setval('request_logs_id_carried', greatest(last, 0) + 1, false);
                END $$;
                DROP TABLE request_logs_unpartitioned;
                ALTER SEQUENCE request_logs_id_carried RENAME TO "request_logs_Id_seq";
                ALTER SEQUENCE "request_logs_Id_seq" OWNED BY request_logs."Id";
                ALTER TABLE request_logs ALTER COLUMN "Id" SET DEFAULT nextval('"request_logs_Id_seq"');

                -- The model's indexes under their names (KeyId's covers Cost: a key's budget seed, the sum of its cost, is read
                -- from the index alone), built once the rows are in; every partition gets its own, present and future.
                CREATE INDEX "IX_request_logs_Time" ON request_logs ("Time");
                CREATE INDEX "IX_request_logs_Deployment_Time" ON request_logs ("Deployment", "Time");
                CREATE INDEX "IX_request_logs_RequestId" ON request_logs ("RequestId");
                CREATE INDEX "IX_request_logs_KeyId" ON request_logs ("KeyId") INCLUDE ("Cost");
                ANALYZE request_logs;
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""
                ALTER TABLE request_logs RENAME TO request_logs_partitioned;
                ALTER TABLE request_logs_partitioned RENAME CONSTRAINT "PK_request_logs" TO "PK_request_logs_partitioned";
                DROP INDEX "IX_request_logs_Time";
                DROP INDEX "IX_request_logs_Deployment_Time";
                DROP INDEX "IX_request_logs_RequestId";
                DROP INDEX "IX_request_logs_KeyId";

                CREATE TABLE request_logs (LIKE request_logs_partitioned);
                INSERT INTO request_logs SELECT * FROM request_logs_partitioned;
                ALTER TABLE request_logs ADD CONSTRAINT "PK_request_logs" PRIMARY KEY ("Id");
                DO $$
                DECLARE
                    last bigint;
                BEGIN
                    SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END INTO last FROM "request_logs_Id_seq";
                    last := greatest(last, (SELECT coalesce(max("Id"), 0) FROM request_logs));
                    -- Its partitions and sequence go with it, so that the identity's sequence takes back its usual name.
                    DROP TABLE request_logs_partitioned;
                    EXECUTE format('ALTER TABLE request_logs ALTER COLUMN "Id" ADD GENERATED BY DEFAULT AS IDENTITY (START WITH %s)', greatest(last, 0) + 1);
                END $$;

                CREATE INDEX "IX_request_logs_Time" ON request_logs ("Time");
                CREATE INDEX "IX_request_logs_Deployment_Time" ON request_logs ("Deployment", "Time");
                CREATE INDEX "IX_request_logs_RequestId" ON request_logs ("RequestId");
                CREATE INDEX "IX_request_logs_KeyId" ON request_logs ("KeyId");
                """);
        }
    }
}
