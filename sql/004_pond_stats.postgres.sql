-- Per-pond statistics in 15-minute and 1-hour buckets: plain-PostgreSQL materialized views with the same names and columns
-- as the TimescaleDB continuous aggregates.
--
-- One row per (site_id, pond_id, bucket). For each parameter: mean, min, max and the sample standard
-- deviation (stddev_samp, NULL for a single reading), in the parameter's own unit; reading_count
-- counts logger records of all the pond's sensors in the bucket. Aggregates ignore NULL cells, so a
-- parameter that no sensor of the pond measures is NULL throughout.
-- Buckets are aligned to UTC at the origin 2000-01-03 00:00 UTC, which is TimescaleDB's
-- time_bucket default, so both schema variants produce identical rows.
--
-- PostgreSQL has no scheduler, so aquafs.migrations.refresh_aggregates refreshes them; the loader
-- calls it after each load. The unique indexes allow REFRESH ... CONCURRENTLY, which keeps
-- readers unblocked during a refresh.

CREATE MATERIALIZED VIEW pond_stats_15m AS
SELECT
    site_id,
    pond_id,
    date_bin(INTERVAL '15 minutes', event_timestamp, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket,
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
GROUP BY site_id, pond_id, bucket;

CREATE UNIQUE INDEX pond_stats_15m_key ON pond_stats_15m (site_id, pond_id, bucket);

CREATE MATERIALIZED VIEW pond_stats_1h AS
SELECT
    site_id,
    pond_id,
    date_bin(INTERVAL '1 hour', event_timestamp, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket,
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
GROUP BY site_id, pond_id, bucket;

CREATE UNIQUE INDEX pond_stats_1h_key ON pond_stats_1h (site_id, pond_id, bucket);
