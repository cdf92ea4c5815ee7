-- Per-pond statistics in 15-minute and 1-hour buckets: TimescaleDB continuous aggregates.
--
-- One row per (site_id, pond_id, bucket). For each parameter: mean, min, max and the sample standard
-- deviation (stddev_samp, NULL for a single reading), in the parameter's own unit; reading_count
-- counts logger records of all the pond's sensors in the bucket. Aggregates ignore NULL cells, so a
-- parameter that no sensor of the pond measures is NULL throughout.
-- Buckets are aligned to UTC at the origin 2000-01-03 00:00 UTC, which is TimescaleDB's
-- time_bucket default, so both schema variants produce identical rows.
--
-- materialized_only = true: a query sees what the last refresh wrote, exactly like the
-- materialized views of the plain-PostgreSQL variant. The refresh policy is in migration 005;
-- history loaded later is refreshed by aquafs.migrations.refresh_aggregates.
-- WITH NO DATA lets this run inside the migration's transaction.

CREATE MATERIALIZED VIEW pond_stats_15m
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT
    site_id,
    pond_id,
    time_bucket(INTERVAL '15 minutes', event_timestamp) AS bucket,
    count(*) AS reading_count,
    avg(water_temp_c) AS water_temp_c_mean,
    min(water_temp_c) AS water_temp_c_min,
    max(water_temp_c) AS water_temp_c_max,
    stddev_samp(water_temp_c) AS water_temp_c_stddev,
    avg(ph) AS ph_mean,
    min(ph) AS ph_min,
    max(ph) AS ph_max,
    stddev_samp(ph) AS ph_stddev,
    avg(turbidity_ntu) AS turbidity_ntu_mean,
    min(turbidity_ntu) AS turbidity_ntu_min,
    max(turbidity_ntu) AS turbidity_ntu_max,
    stddev_samp(turbidity_ntu) AS turbidity_ntu_stddev,
    avg(dissolved_oxygen_mg_l) AS dissolved_oxygen_mg_l_mean,
    min(dissolved_oxygen_mg_l) AS dissolved_oxygen_mg_l_min,
    max(dissolved_oxygen_mg_l) AS dissolved_oxygen_mg_l_max,
    stddev_samp(dissolved_oxygen_mg_l) AS dissolved_oxygen_mg_l_stddev,
    avg(ammonia_mg_l) AS ammonia_mg_l_mean,
    min(ammonia_mg_l) AS ammonia_mg_l_min,
    max(ammonia_mg_l) AS ammonia_mg_l_max,
    stddev_samp(ammonia_mg_l) AS ammonia_mg_l_stddev,
    avg(nitrate_mg_l) AS nitrate_mg_l_mean,
    min(nitrate_mg_l) AS nitrate_mg_l_min,
    max(nitrate_mg_l) AS nitrate_mg_l_max,
    stddev_samp(nitrate_mg_l) AS nitrate_mg_l_stddev
FROM water_readings
GROUP BY site_id, pond_id, bucket
WITH NO DATA;

CREATE MATERIALIZED VIEW pond_stats_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT
    site_id,
    pond_id,
    time_bucket(INTERVAL '1 hour', event_timestamp) AS bucket,
    count(*) AS reading_count,
    avg(water_temp_c) AS water_temp_c_mean,
    min(water_temp_c) AS water_temp_c_min,
    max(water_temp_c) AS water_temp_c_max,
    stddev_samp(water_temp_c) AS water_temp_c_stddev,
    avg(ph) AS ph_mean,
    min(ph) AS ph_min,
    max(ph) AS ph_max,
    stddev_samp(ph) AS ph_stddev,
    avg(turbidity_ntu) AS turbidity_ntu_mean,
    min(turbidity_ntu) AS turbidity_ntu_min,
    max(turbidity_ntu) AS turbidity_ntu_max,
    stddev_samp(turbidity_ntu) AS turbidity_ntu_stddev,
    avg(dissolved_oxygen_mg_l) AS dissolved_oxygen_mg_l_mean,
    min(dissolved_oxygen_mg_l) AS dissolved_oxygen_mg_l_min,
    max(dissolved_oxygen_mg_l) AS dissolved_oxygen_mg_l_max,
    stddev_samp(dissolved_oxygen_mg_l) AS dissolved_oxygen_mg_l_stddev,
    avg(ammonia_mg_l) AS ammonia_mg_l_mean,
    min(ammonia_mg_l) AS ammonia_mg_l_min,
    max(ammonia_mg_l) AS ammonia_mg_l_max,
    stddev_samp(ammonia_mg_l) AS ammonia_mg_l_stddev,
    avg(nitrate_mg_l) AS nitrate_mg_l_mean,
    min(nitrate_mg_l) AS nitrate_mg_l_min,
    max(nitrate_mg_l) AS nitrate_mg_l_max,
    stddev_samp(nitrate_mg_l) AS nitrate_mg_l_stddev
FROM water_readings
GROUP BY site_id, pond_id, bucket
WITH NO DATA;
