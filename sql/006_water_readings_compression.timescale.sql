-- Compression of water_readings chunks older than 30 days.
--
-- Segmenting by sensor_id keeps each sensor's readings together, so the per-sensor time-range
-- scans of feature backfills decompress only that sensor's segments; ordering by event_timestamp
-- makes consecutive values similar, which is what the delta and Gorilla encodings compress well.
-- The 30-day delay leaves the chunks that late Kafka messages and re-runs still write to
-- uncompressed. Inserts into compressed chunks still work (the unique key is checked), but slower.
ALTER TABLE water_readings SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'sensor_id',
    timescaledb.compress_orderby = 'event_timestamp'
);

SELECT add_compression_policy('water_readings', compress_after => INTERVAL '30 days');
