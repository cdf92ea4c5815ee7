-- Retention of raw readings on plain PostgreSQL: aqua_drop_partitions_older_than(age).
--
-- Drops every monthly partition water_readings_pYYYYMM whose whole month ends at or before
-- now() - age, like TimescaleDB's drop_chunks drops whole chunks, and deletes rows older than
-- now() - age from the default partition. Returns the number of partitions dropped.
-- Partition bounds are read from the names that aqua_ensure_partitions gives them; partitions
-- named otherwise are left alone.
--
-- There is no scheduler on plain PostgreSQL, so an operator runs it from cron, for example
-- SELECT aqua_drop_partitions_older_than(INTERVAL '10 years'), matching the TimescaleDB policy.
-- The window is long because the bundled 2020-2022 history is the training set.
CREATE FUNCTION aqua_drop_partitions_older_than(p_age interval)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    cutoff      timestamptz;
    partition   record;
    month_end   timestamptz;
    dropped     integer := 0;
BEGIN
    IF p_age IS NULL OR p_age <= INTERVAL '0' THEN
        RAISE EXCEPTION 'aqua_drop_partitions_older_than: age must be a positive interval, got %', p_age;
    END IF;
    cutoff := now() - p_age;

    PERFORM pg_advisory_xact_lock(hashtext('aqua_ensure_partitions'));

    FOR partition IN
        SELECT child.relname
        FROM pg_inherits
        JOIN pg_class AS child ON child.oid = pg_inherits.inhrelid
        WHERE pg_inherits.inhparent = 'water_readings'::regclass
          AND child.relname ~ '^water_readings_p[0-9]{6}$'
        ORDER BY child.relname
    LOOP
        -- Month arithmetic on a timestamp without time zone, then UTC, so the session time zone's
        -- daylight-saving shifts cannot move the bound.
        month_end := (
            make_date(substr(partition.relname, 17, 4)::integer, substr(partition.relname, 21, 2)::integer, 1)
            + INTERVAL '1 month'
        ) AT TIME ZONE 'UTC';
        IF month_end <= cutoff THEN
            EXECUTE format('DROP TABLE %I', partition.relname);
            dropped := dropped + 1;
        END IF;
    END LOOP;

    DELETE FROM water_readings_default WHERE event_timestamp < cutoff;
    RETURN dropped;
END;
$$;
