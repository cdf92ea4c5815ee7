-- water_readings: one row per logger record (plain-PostgreSQL variant, range-partitioned by month).
--
-- The layout is wide, one column per parameter, because a logger record arrives as one
-- multi-parameter message and Feast reads one column per feature. A long (sensor, parameter, value)
-- layout would need a pivot in every point-in-time join and would store the keys six times.
-- Units are in the column names; NULL means the sensor does not measure that parameter.
--
-- The primary key (sensor_id, event_timestamp) makes every write idempotent: loaders and the
-- ingester insert with ON CONFLICT DO NOTHING, so a replayed batch or message adds nothing.
-- It contains the partition key, as PostgreSQL requires for a unique index on a partitioned table.
--
-- Monthly partitions stand in for TimescaleDB chunks: old months are dropped whole for retention
-- (aqua_drop_partitions_older_than, migration 007) and queries on a time range scan only the months
-- they touch. aqua_ensure_partitions (migration 002) creates months ahead of the data; any row
-- that still arrives for a month without a partition lands in water_readings_default, so no
-- insert fails and no row is lost.
CREATE TABLE water_readings (
    site_id               text             NOT NULL,
    pond_id               text             NOT NULL,
    sensor_id             text             NOT NULL,
    event_timestamp       timestamptz      NOT NULL,
    available_at          timestamptz      NOT NULL,
    water_temp_c          double precision,
    ph                    double precision,
    turbidity_ntu         double precision,
    dissolved_oxygen_mg_l double precision,
    ammonia_mg_l          double precision,
    nitrate_mg_l          double precision,
    source                text             NOT NULL,
    CONSTRAINT water_readings_pkey PRIMARY KEY (sensor_id, event_timestamp),
    CONSTRAINT water_readings_has_measurement CHECK (
        num_nonnulls(water_temp_c, ph, turbidity_ntu, dissolved_oxygen_mg_l, ammonia_mg_l, nitrate_mg_l) > 0
    )
) PARTITION BY RANGE (event_timestamp);

CREATE TABLE water_readings_default PARTITION OF water_readings DEFAULT;

-- Per-pond scans: the aggregates, pond dashboards and the pond-level feature views.
CREATE INDEX water_readings_pond_time_idx ON water_readings (site_id, pond_id, event_timestamp);
