-- pond_health_latest: the latest reading of every sensor, grouped by pond, with its health score
-- (aqua_health_score, 0-100). One row per (site_id, pond_id, sensor_id); a pond with several sensors
-- (KU-MWQ has two depths) has one row per sensor, because their parameters differ.
--
-- NOTE: DISTINCT ON reads every sensor's rows through the primary-key index; with many thousands of
-- sensors a sensor registry table and a LATERAL lookup per sensor would be faster.
CREATE VIEW pond_health_latest AS
SELECT DISTINCT ON (sensor_id)
    site_id,
    pond_id,
    sensor_id,
    event_timestamp,
    water_temp_c,
    ph,
    turbidity_ntu,
    dissolved_oxygen_mg_l,
    ammonia_mg_l,
    nitrate_mg_l,
    aqua_health_score(water_temp_c, ph, dissolved_oxygen_mg_l, ammonia_mg_l, nitrate_mg_l, turbidity_ntu)
        AS health_score
FROM water_readings
ORDER BY sensor_id, event_timestamp DESC;
