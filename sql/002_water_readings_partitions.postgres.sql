-- aqua_ensure_partitions(from, to): create the monthly partitions of water_readings that cover
-- [from, to], so that loads and the ingester write into real partitions instead of the default one.
--
-- Months are calendar months in UTC; partition water_readings_pYYYYMM holds
-- [YYYY-MM-01 00:00 UTC, next month). Returns the number of partitions created.
--
-- PostgreSQL refuses to attach a partition while the DEFAULT partition holds rows of its range.
-- Such rows (written before their month existed) are therefore moved: deleted from the default
-- partition, the partition created, and the rows inserted again through the parent, all in the
-- caller's transaction. That takes an ACCESS EXCLUSIVE lock on the default partition, which is
-- small in normal operation. A transaction-level advisory lock keeps two callers from creating the
-- same month at once.
CREATE FUNCTION aqua_ensure_partitions(p_from timestamptz, p_to timestamptz)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    month_start timestamptz;
    month_end   timestamptz;
    part_name   text;
    created     integer := 0;
BEGIN
    IF p_from IS NULL OR p_to IS NULL OR p_to < p_from THEN
        RAISE EXCEPTION 'aqua_ensure_partitions: invalid range [%, %]; expected from <= to', p_from, p_to;
    END IF;

    PERFORM pg_advisory_xact_lock(hashtext('aqua_ensure_partitions'));

    month_start := date_trunc('month', p_from, 'UTC');
    WHILE month_start <= p_to LOOP
        month_end := date_trunc('month', month_start + INTERVAL '32 days', 'UTC');
        part_name := 'water_readings_p' || to_char(month_start AT TIME ZONE 'UTC', 'YYYYMM');

        IF to_regclass(quote_ident(part_name)) IS NULL THEN
            LOCK TABLE water_readings_default IN ACCESS EXCLUSIVE MODE;

            CREATE TEMP TABLE aqua_moved_readings (LIKE water_readings) ON COMMIT DROP;
            WITH moved AS (
                DELETE FROM water_readings_default
                WHERE event_timestamp >= month_start AND event_timestamp < month_end
                RETURNING *
            )
            INSERT INTO aqua_moved_readings SELECT * FROM moved;

            EXECUTE format(
                'CREATE TABLE %I PARTITION OF water_readings FOR VALUES FROM (%L) TO (%L)',
                part_name, month_start, month_end
            );

            INSERT INTO water_readings SELECT * FROM aqua_moved_readings;
            DROP TABLE aqua_moved_readings;
            created := created + 1;
        END IF;

        month_start := month_end;
    END LOOP;

    RETURN created;
END;
$$;

COMMENT ON FUNCTION aqua_ensure_partitions(timestamptz, timestamptz) IS
    'Create the monthly (UTC) partitions of water_readings covering [from, to], moving matching rows '
    'out of the default partition; returns the number of partitions created.';
