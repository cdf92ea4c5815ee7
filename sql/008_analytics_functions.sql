-- Analytics functions shared by both schema variants.

-- aqua_health_subscore: how well one value sits in its range, from 0 (bad) to 1 (ideal).
--   1                                   ideal_lo <= x <= ideal_hi
--   (x - tol_lo) / (ideal_lo - tol_lo)  tol_lo < x < ideal_lo   (linear, 0 at the tolerable edge)
--   (tol_hi - x) / (tol_hi - ideal_hi)  ideal_hi < x < tol_hi
--   0                                   x <= tol_lo or x >= tol_hi
--   NULL                                x is NULL or NaN (parameter not measured)
-- When an ideal edge equals its tolerable edge (ammonia and nitrate start at 0), no value falls
-- between them, so the division by zero is never reached.
CREATE FUNCTION aqua_health_subscore(
    p_value double precision,
    p_ideal_lo double precision,
    p_ideal_hi double precision,
    p_tol_lo double precision,
    p_tol_hi double precision
)
RETURNS double precision
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN p_value IS NULL OR p_value = 'NaN'::double precision THEN NULL
        WHEN p_value >= p_ideal_lo AND p_value <= p_ideal_hi THEN 1.0
        WHEN p_value <= p_tol_lo OR p_value >= p_tol_hi THEN 0.0
        WHEN p_value < p_ideal_lo THEN (p_value - p_tol_lo) / (p_ideal_lo - p_tol_lo)
        ELSE (p_tol_hi - p_value) / (p_tol_hi - p_ideal_hi)
    END;
$$;

-- aqua_health_score: water-quality health score from 0 (every parameter outside its tolerable
-- range) to 100 (every parameter ideal); NULL when no parameter is present.
--   score = 100 * sum(w_i * s_i) / sum(w_i) over the parameters that are not NULL and not NaN,
-- with s_i from aqua_health_subscore and these limits (ideal range; tolerable range; weight w):
--   water_temp_c           24-30 °C;       12-36 °C;        2
--   ph                     6.5-8.5;        5.0-10.0;        2
--   dissolved_oxygen_mg_l  5-12 mg/L;      2-20 mg/L;       3
--   ammonia_mg_l           0-0.5 mg/L;     0-3 mg/L;        2
--   nitrate_mg_l           0-50 mg/L;      0-200 mg/L;      1
--   turbidity_ntu          0-80 NTU;       0-400 NTU;       1
-- transforms/health.py implements the same formula in Python; a test compares the two.
CREATE FUNCTION aqua_health_score(
    water_temp_c double precision,
    ph double precision,
    dissolved_oxygen_mg_l double precision,
    ammonia_mg_l double precision,
    nitrate_mg_l double precision,
    turbidity_ntu double precision
)
RETURNS double precision
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT 100.0 * sum(part.weight * part.subscore) / sum(part.weight)
    FROM (
        VALUES
            (aqua_health_subscore(water_temp_c, 24, 30, 12, 36), 2.0::double precision),
            (aqua_health_subscore(ph, 6.5, 8.5, 5.0, 10.0), 2.0),
            (aqua_health_subscore(dissolved_oxygen_mg_l, 5, 12, 2, 20), 3.0),
            (aqua_health_subscore(ammonia_mg_l, 0, 0.5, 0, 3), 2.0),
            (aqua_health_subscore(nitrate_mg_l, 0, 50, 0, 200), 1.0),
            (aqua_health_subscore(turbidity_ntu, 0, 80, 0, 400), 1.0)
    ) AS part (subscore, weight)
    WHERE part.subscore IS NOT NULL;
$$;

-- aqua_reading_anomalies: readings of one sensor whose value is far from the recent median.
--
-- For each reading at time t with value x, over the sensor's readings of the same parameter in the
-- trailing window (t - p_window, t] (the current reading included, as in the transforms package):
--   median = median of the window's values
--   MAD    = median of |value - median| over the window
--   robust_z = (x - median) / (1.4826 * MAD)
-- 1.4826 scales the MAD to the standard deviation of a normal distribution, so robust_z is in
-- standard deviations and dimensionless. When MAD = 0 (a stuck or quantised sensor) robust_z is 0
-- for x = median and +/-Infinity otherwise, so any change after a flat line is reported.
-- A reading is returned when |robust_z| >= p_threshold (3.5 is the usual cut-off) and its window
-- holds at least p_min_readings values. Values are in the parameter's unit.
--
-- p_parameter must name one of the six measurement columns; it is checked against that list
-- before it reaches the query text, where format('%I') quotes it.
CREATE FUNCTION aqua_reading_anomalies(
    p_sensor_id text,
    p_parameter text,
    p_window interval,
    p_threshold double precision,
    p_min_readings integer DEFAULT 10
)
RETURNS TABLE (
    event_timestamp timestamptz,
    value double precision,
    window_median double precision,
    window_mad double precision,
    robust_z double precision,
    window_readings bigint
)
LANGUAGE plpgsql
STABLE
AS $$
BEGIN
    IF p_parameter IS NULL OR p_parameter NOT IN (
        'water_temp_c', 'ph', 'turbidity_ntu', 'dissolved_oxygen_mg_l', 'ammonia_mg_l', 'nitrate_mg_l'
    ) THEN
        RAISE EXCEPTION 'aqua_reading_anomalies: unknown parameter %', quote_nullable(p_parameter)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use one of water_temp_c, ph, turbidity_ntu, dissolved_oxygen_mg_l, ammonia_mg_l, nitrate_mg_l.';
    END IF;
    IF p_window IS NULL OR p_window <= INTERVAL '0' THEN
        RAISE EXCEPTION 'aqua_reading_anomalies: window must be a positive interval, got %', p_window
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_threshold IS NULL OR p_threshold <= 0 OR p_threshold = 'NaN'::double precision THEN
        RAISE EXCEPTION 'aqua_reading_anomalies: threshold must be a positive number, got %', p_threshold
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    RETURN QUERY EXECUTE format(
        $query$
        SELECT scored.event_timestamp, scored.value, scored.median, scored.mad, scored.robust_z, scored.n
        FROM (
            SELECT
                current_reading.event_timestamp,
                current_reading.value,
                stats.median,
                stats.mad,
                stats.n,
                CASE
                    WHEN stats.mad > 0 THEN (current_reading.value - stats.median) / (1.4826 * stats.mad)
                    WHEN current_reading.value = stats.median THEN 0.0
                    ELSE sign(current_reading.value - stats.median) * 'Infinity'::double precision
                END AS robust_z
            FROM (
                SELECT r.event_timestamp, r.%1$I AS value
                FROM water_readings AS r
                WHERE r.sensor_id = $1 AND r.%1$I IS NOT NULL
            ) AS current_reading
            CROSS JOIN LATERAL (
                SELECT
                    centre.median,
                    centre.n,
                    (
                        SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(h.%1$I - centre.median))
                        FROM water_readings AS h
                        WHERE h.sensor_id = $1
                          AND h.event_timestamp > current_reading.event_timestamp - $2
                          AND h.event_timestamp <= current_reading.event_timestamp
                          AND h.%1$I IS NOT NULL
                    ) AS mad
                FROM (
                    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY h.%1$I) AS median, count(*) AS n
                    FROM water_readings AS h
                    WHERE h.sensor_id = $1
                      AND h.event_timestamp > current_reading.event_timestamp - $2
                      AND h.event_timestamp <= current_reading.event_timestamp
                      AND h.%1$I IS NOT NULL
                ) AS centre
            ) AS stats
        ) AS scored
        WHERE scored.n >= $4 AND abs(scored.robust_z) >= $3
        ORDER BY scored.event_timestamp
        $query$,
        p_parameter
    ) USING p_sensor_id, p_window, p_threshold, p_min_readings;
END;
$$;
