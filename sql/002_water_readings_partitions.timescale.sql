-- Turn water_readings into a hypertable partitioned on event_timestamp (needs TimescaleDB >= 2.13
-- for by_range).
--
-- Chunk interval 7 days. A sensor sends about one reading per minute, so a chunk holds about
-- 10,000 rows (roughly 1.5 MB with indexes) per sensor. With 1,000 sensors a chunk is about
-- 1.5 GB, inside TimescaleDB's advice that the open chunks and their indexes fit in a quarter of
-- memory. Smaller chunks would multiply the planning cost of the multi-week scans that training
-- runs, and weekly chunks also line up with the 30-day compression delay (migration 006).
SELECT create_hypertable('water_readings', by_range('event_timestamp', INTERVAL '7 days'));

-- The plain-PostgreSQL variant must create monthly partitions before a load. TimescaleDB creates
-- chunks on insert, so here the function only exists to keep callers variant-agnostic.
CREATE FUNCTION aqua_ensure_partitions(p_from timestamptz, p_to timestamptz)
RETURNS integer
LANGUAGE sql
STABLE
AS $$
    SELECT 0;
$$;

COMMENT ON FUNCTION aqua_ensure_partitions(timestamptz, timestamptz) IS
    'TimescaleDB variant: no-op returning 0, because hypertable chunks are created on insert.';
