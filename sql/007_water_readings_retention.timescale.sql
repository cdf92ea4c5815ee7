-- Retention of raw readings: chunks whose readings are all older than 10 years are dropped.
--
-- The window is long on purpose. The bundled history dates from 2020 to 2022 and is the training
-- set, so a window of a few years would delete it; shorten it only once newer history exists.
-- The pond_stats aggregates keep their rows for dropped chunks until a refresh covers that range.
SELECT add_retention_policy('water_readings', drop_after => INTERVAL '10 years');

-- Manual retention with the same name and meaning as in the plain-PostgreSQL variant: drop whole
-- chunks whose time range ends before now() - p_age and return how many were dropped.
CREATE FUNCTION aqua_drop_partitions_older_than(p_age interval)
RETURNS integer
LANGUAGE sql
AS $$
    SELECT count(*)::integer FROM drop_chunks('water_readings', older_than => p_age);
$$;
